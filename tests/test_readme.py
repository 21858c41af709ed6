"""The README's usage example runs as written, against a respx mock of the API."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import respx

from evolink_images.testing import FakeEvoLink
from evolink_images.testing.payloads import task_json

README = Path(__file__).resolve().parents[1] / "README.md"
RESULTS = ["https://files.evolink.ai/r/0.png", "https://files.evolink.ai/r/1.png"]


def usage_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Usage", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return str(blocks[0])


def test_the_readme_usage_example_edits_an_image_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", "sk-evo-readme")
    monkeypatch.chdir(tmp_path)
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    with respx.mock(assert_all_called=True) as api:
        api.post("https://api.evolink.ai/v1/images/generations").respond(200, json=task_json("pending", id="task-r"))
        api.get("https://api.evolink.ai/v1/tasks/task-r").respond(
            200, json=task_json("completed", id="task-r", results=RESULTS)
        )
        for url in RESULTS:
            api.get(url).respond(200, content=b"\x89PNG\r\n\x1a\n" + bytes(24), headers={"content-type": "image/png"})
        exec(compile(usage_example(), str(README), "exec"), {})  # noqa: S102 - the README's own example
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["task-r-0.png", "task-r-1.png"]
    output = capsys.readouterr().out
    assert "pending 0" in output
    assert "completed 100" in output
    assert slept == [pytest.approx(9.0, abs=0.5)]  # three tenths of the estimated 30 s, then the completed poll


def test_the_readme_local_image_example_uploads_the_photo_and_edits_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_evolink: FakeEvoLink
) -> None:
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (640, 480), (120, 160, 220)).save(tmp_path / "photo.jpg", "JPEG")
    section = README.read_text(encoding="utf-8").split("## Local images", 1)[1]
    block = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    exec(compile(block, str(README), "exec"), {})  # noqa: S102 - the README's own example
    [stored] = fake_evolink.file_host.files.values()
    assert stored.data == (tmp_path / "photo.jpg").read_bytes()
    [task] = fake_evolink.tasks.values()
    assert task.image_urls == [f"{fake_evolink.files_url}/uploads/{stored.file_id}/{stored.file_name}"]
    [result] = (tmp_path / "out").iterdir()
    with Image.open(result) as edited:
        assert edited.size == (640, 480)  # the photo itself, edited
