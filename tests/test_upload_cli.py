"""The command line with local images: --image takes a file, `upload`, `file-quota`, batch lines naming files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from evolink_images.cli import main
from evolink_images.testing.fake import FakeEvoLink, TaskPlan

from .conftest import CANARY_KEY


def png(colour: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 400), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEvoLink:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)
    return FakeEvoLink(api_key=CANARY_KEY, plan=TaskPlan(duration=2))


def cli(fake: FakeEvoLink, *argv: str) -> int:
    return main(list(argv), client_factory=lambda base_url: fake.client())


def test_edit_takes_a_local_file_uploads_it_and_edits_it(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png())
    argv = ["edit", "--model", "qwen-image-edit", "--prompt", "sepia", "--image", str(photo)]
    assert cli(fake, *argv, "--image", "https://example.com/b.png", "--out", str(tmp_path / "out"), "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["files"]) == 1
    [task] = fake.tasks.values()
    assert task.image_urls[0].startswith(f"{fake.files_url}/uploads/")
    assert task.image_urls[1] == "https://example.com/b.png"


def test_every_bad_image_is_named_however_long_their_paths(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / ("d" * 200)
    folder.mkdir()
    (folder / "notes.txt").write_text("not a picture")
    argv = ["edit", "--model", "wan2.5-image-to-image", "--prompt", "x", "--image", str(folder / "notes.txt")]
    assert cli(fake, *argv, "--image", str(folder / "missing.png")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid request: image_urls[0]: ")
    assert "; image_urls[1]: " in err  # the second problem is not lost in a cut of the whole line
    assert "characters cut" not in err  # each under the 400 characters a problem may take
    assert fake.recorded == []


def test_a_local_file_that_is_not_an_allowed_image_is_exit_2_and_nothing_is_sent(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    argv = ["edit", "--model", "wan2.5-image-to-image", "--prompt", "x", "--image", str(text)]
    assert cli(fake, *argv, "--image", str(tmp_path / "missing.png")) == 2
    err = capsys.readouterr().err
    assert "image_urls[0]" in err
    assert "image_urls[1]" in err
    assert "does not exist" in err
    assert fake.recorded == []


def test_validate_checks_a_local_file_with_no_key_and_no_network(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    photo = tmp_path / "tiny.png"
    Image.new("RGB", (10, 10)).save(photo)
    argv = ["validate", "--model", "wan2.5-image-to-image", "--prompt", "x", "--image", str(photo)]
    assert main(argv) == 2
    assert "is 10x10 px" in capsys.readouterr().err


def test_upload_prints_the_file_url_and_says_when_it_expires(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png())
    assert cli(fake, "upload", str(photo)) == 0
    out, err = capsys.readouterr()
    assert out.strip().startswith(f"{fake.files_url}/uploads/")
    assert "stored until" in err
    assert "72 h" in err
    assert cli(fake, "upload", str(photo), "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["task"] is None
    assert document["files"] == []
    assert document["upload"]["mime_type"] == "image/png"
    assert document["upload"]["expires_at"]


def test_a_refused_upload_is_exit_3_names_the_file_and_says_no_task_was_made(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png())
    fake.file_host.refuse_next_upload(40003, "file quota exceeded")
    argv = ["edit", "--model", "wan2.5-image-to-image", "--prompt", "x", "--image", str(photo), "--json"]
    assert cli(fake, *argv) == 3
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    assert error["type"] == "UploadError"
    assert error["task_may_exist"] is False
    assert "40003" in err
    assert str(photo) in err
    assert "may have been created" not in err
    assert CANARY_KEY not in out + err


def test_file_quota_prints_the_quota(fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(fake, "file-quota", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["quota"]["max_files"] == 100
    assert document["quota"]["used_files"] == 0


def test_batch_lines_name_local_files_relative_to_the_batch_file_and_a_rerun_does_not_upload_again(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "a.png").write_bytes(png())
    (folder / "b.png").write_bytes(png((200, 0, 0)))
    lines = [
        {"model": "wan2.5-image-to-image", "prompt": "Night", "image_urls": ["a.png"]},
        {"model": "qwen-image-edit", "prompt": "Hat", "image_urls": ["a.png", "b.png"]},
        {"model": "qwen-image-edit", "prompt": "Snow", "image_urls": [str(folder / "b.png")]},
    ]
    edits = folder / "edits.jsonl"
    edits.write_text("".join(json.dumps(line) + "\n" for line in lines[:2]))
    out = tmp_path / "results"
    assert cli(fake, "batch", str(edits), "--out", str(out)) == 0
    assert fake.file_host.uploads == 2
    journal = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert len([line for line in journal if "upload" in line]) == 2
    edits.write_text("".join(json.dumps(line) + "\n" for line in lines))  # one more line, the same pictures
    fresh = FakeEvoLink(api_key=CANARY_KEY, plan=TaskPlan(duration=2))
    fresh.file_host = fake.file_host  # the same file host, a new process's client
    fresh.tasks = fake.tasks
    assert cli(fresh, "batch", str(edits), "--out", str(out)) == 0
    assert "3 saved" in capsys.readouterr().out
    assert fake.file_host.uploads == 2  # the journal's uploads were reused


def test_a_batch_line_naming_a_missing_file_is_refused_before_anything_is_sent(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edits = tmp_path / "edits.jsonl"
    edits.write_text(json.dumps({"model": "wan2.5-image-to-image", "prompt": "x", "image_urls": ["gone.png"]}) + "\n")
    assert cli(fake, "batch", str(edits), "--out", str(tmp_path / "out")) == 2
    assert "line 1: image_urls[0]" in capsys.readouterr().err
    assert fake.recorded == []
