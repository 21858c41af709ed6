"""The command line never loses a paid task, refuses bad local input before paying (exit 2), and never shows the key."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from evolink_images import Client
from evolink_images.cli import main
from evolink_images.testing.fake import FakeEvoLink, TaskPlan
from evolink_images.testing.payloads import task_json

from .conftest import CANARY_KEY
from .loopback import Answer, LoopbackServer

URL = "https://example.com/cat.png"
EDIT = ["edit", "--model", "qwen-image-edit", "--prompt", "Add a hat", "--image", URL]
MAY_EXIST = "a task may have been created (and billed)"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEvoLink:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)
    return FakeEvoLink(api_key=CANARY_KEY, plan=TaskPlan(duration=2))


def cli(fake: FakeEvoLink, *argv: str) -> int:
    return main(list(argv), client_factory=lambda base_url: fake.client())


def interrupted_after_the_post(fake: FakeEvoLink) -> Client:
    """A client whose POST reaches the fake (a task is created), then the user presses Ctrl-C."""

    def handler(request: httpx.Request) -> httpx.Response:
        response = fake.handler(request)
        if request.method == "POST":
            raise KeyboardInterrupt
        return response

    return Client(CANARY_KEY, base_url=fake.base_url, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_during_a_submit_the_server_received_says_a_task_may_exist_and_how_to_find_it(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path, as_json: bool
) -> None:
    client = interrupted_after_the_post(fake)
    argv = [*EDIT, "--out", str(tmp_path), *(["--json"] if as_json else [])]
    assert main(argv, client_factory=lambda base_url: client) == 130
    out, err = capsys.readouterr()
    assert fake.created == 1
    assert MAY_EXIST in err
    assert "check your recent tasks" in err
    if as_json:
        assert json.loads(out)["error"] == {
            "kind": "interrupted",
            "type": "KeyboardInterrupt",
            "message": err.strip(),
            "task_id": None,
            "task_may_exist": True,
        }


def test_ctrl_c_before_anything_was_sent_says_nothing_of_a_task(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("evolink_images.cli._commands.validate", interrupt)
    assert cli(fake, *EDIT) == 130
    assert capsys.readouterr().err.strip() == "interrupted"
    assert fake.requests == []


def test_an_unexpected_error_after_the_task_exists_names_it(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client = fake.client()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk caught fire")

    client.download = broken  # type: ignore[method-assign]
    assert main([*EDIT, "--out", str(tmp_path), "--json"], client_factory=lambda base_url: client) == 1
    out, err = capsys.readouterr()
    [task_id] = fake.tasks
    assert f"evolink-images download {task_id} --out {tmp_path}" in err
    assert json.loads(out)["error"]["task_id"] == task_id


def test_a_download_that_fails_after_the_task_completed_names_it_and_how_to_fetch_again(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake.inject("html_result", target="files")
    assert cli(fake, *EDIT, "--out", str(tmp_path)) == 3
    err = capsys.readouterr().err
    [task_id] = fake.tasks
    assert "is not an image" in err
    assert (
        f"task {task_id} is completed; fetch its results again with: evolink-images download {task_id} --out {tmp_path}"
        in err
    )


@pytest.mark.parametrize("command", ["edit", "download"])
def test_out_naming_an_existing_file_is_exit_2_before_anything_is_sent(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    existing = tmp_path / "photo.png"
    existing.write_bytes(b"mine")
    argv = [*EDIT] if command == "edit" else ["download", "task-1"]
    assert cli(fake, *argv, "--out", str(existing), "--json") == 2
    out, err = capsys.readouterr()
    assert fake.requests == []
    assert str(existing) in err
    assert "it is a file, not a folder" in err
    assert "please report it" not in err
    assert json.loads(out)["error"]["kind"] == "invalid input"
    assert existing.read_bytes() == b"mine"


def test_an_unwritable_out_folder_is_exit_2_before_anything_is_sent(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    if os.geteuid() == 0:  # root ignores the mode: refuse the way the kernel would for anyone else
        real_open = os.open

        def refusing(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
            if Path(path).parent == folder:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, flags, mode, **kwargs)

        monkeypatch.setattr(os, "open", refusing)
    try:
        assert cli(fake, *EDIT, "--out", str(folder)) == 2
    finally:
        folder.chmod(0o700)
    err = capsys.readouterr().err
    assert fake.requests == []
    assert f"{str(folder)!r}: Permission denied" in err


def test_a_bad_timeout_is_exit_2_before_anything_is_sent(fake: FakeEvoLink, tmp_path: Path) -> None:
    assert cli(fake, *EDIT, "--out", str(tmp_path), "--timeout", "-1") == 2
    assert fake.requests == []


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda folder: folder / "missing.jsonl", "No such file"),
        (lambda folder: _write(folder / "binary.jsonl", b"\x89PNG\r\n\x1a\n\xff\xfe"), "not UTF-8"),
        (lambda folder: folder, "Is a directory"),
    ],
    ids=["missing", "binary", "a folder"],
)
def test_a_bad_batch_file_is_exit_2_not_please_report_it(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path, setup: Any, reason: str
) -> None:
    path = setup(tmp_path)
    assert cli(fake, "batch", str(path), "--out", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert reason in err
    assert "please report it" not in err
    assert fake.requests == []


def test_batch_out_naming_a_file_is_exit_2(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    requests = _write(
        tmp_path / "edits.jsonl", json.dumps({"model": "qwen-image-edit", "prompt": "x", "image_urls": [URL]}).encode()
    )
    blocker = _write(tmp_path / "out", b"a file")
    assert cli(fake, "batch", str(requests), "--out", str(blocker)) == 2
    err = capsys.readouterr().err
    assert str(blocker) in err
    assert fake.requests == []


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_huge_value_is_not_echoed_whole(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    huge = "x" * 20_000_000
    line = json.dumps({"model": "qwen-image-edit", "prompt": "x", "image_urls": [URL], "n": huge, huge: 1})
    requests = _write(tmp_path / "edits.jsonl", line.encode())
    assert cli(fake, "batch", str(requests), "--out", str(tmp_path / "out"), "--json") == 2
    out, err = capsys.readouterr()
    assert len(err) < 2_000
    assert len(out) < 3_000
    assert "characters cut" in err
    assert fake.requests == []


def test_the_cli_never_prints_a_key_the_server_echoes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)
    echoed = task_json("failed", id="task-1", error={"code": "service_error", "message": f"key {CANARY_KEY}"})
    echoed["status"] = "failed"
    odd = task_json("processing", id="task-2")
    odd["status"] = f"weird-{CANARY_KEY}"
    routes = {
        "/v1/tasks/task-1": Answer(200, {"content-type": "application/json"}, json.dumps(echoed).encode()),
        "/v1/tasks/task-2": Answer(200, {"content-type": "application/json"}, json.dumps(odd).encode()),
        "/v1/tasks/task-3": Answer(
            401,
            {"content-type": "application/json", "x-request-id": CANARY_KEY},
            json.dumps(
                {"error": {"code": "unauthorized", "message": f"Incorrect API key provided: {CANARY_KEY}"}}
            ).encode(),
        ),
    }
    with LoopbackServer(routes) as server:

        def run(*argv: str) -> int:
            return main(list(argv), client_factory=lambda base_url: Client(CANARY_KEY, base_url=server.url))

        codes = [
            run("status", "task-1", "--json"),
            run("status", "task-1", "--wait", "--timeout", "5"),
            run("status", "task-2", "--json"),
            run("status", "task-2"),
            run("status", "task-3", "--json"),
            run("download", "task-3", "--out", str(tmp_path)),
        ]
        seen = [seen.headers.get("authorization") for seen in server.seen]
    out, err = capsys.readouterr()
    assert codes == [0, 4, 0, 0, 3, 3]
    assert CANARY_KEY not in out + err
    assert "<redacted>" in out + err
    assert set(seen) == {f"Bearer {CANARY_KEY}"}  # it was sent (to the API), just never printed


def test_ctrl_c_during_the_download_says_the_task_is_completed_and_how_to_fetch_it(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client = fake.client()

    def interrupt(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    client.download = interrupt  # type: ignore[method-assign]
    assert main([*EDIT, "--out", str(tmp_path)], client_factory=lambda base_url: client) == 130
    [task_id] = fake.tasks
    again = f"evolink-images download {task_id} --out {tmp_path}"
    assert f"interrupted; task {task_id} is completed; fetch its results again with: {again}" in capsys.readouterr().err


def test_a_submit_that_may_have_created_a_task_says_so_in_text_and_json(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake.inject("server_error", target="POST")
    assert cli(fake, *EDIT, "--out", str(tmp_path), "--json") == 3
    out, err = capsys.readouterr()
    assert err.count(MAY_EXIST) == 1
    assert json.loads(out)["error"]["task_may_exist"] is True


def test_an_unknown_task_id_given_by_the_user_gets_no_resume_hint(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(fake, "status", "task-nope", "--json") == 3
    out, err = capsys.readouterr()
    assert "resume with" not in err
    assert json.loads(out)["error"]["task_id"] == "task-nope"
