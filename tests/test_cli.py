"""The command line: every command, --json, each exit code, Ctrl-C, secrets; in-process and as installed."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import evolink_images
from evolink_images import Client, NotFoundError
from evolink_images.cli import main
from evolink_images.testing.fake import FakeEvoLink, TaskPlan

from .conftest import CANARY_KEY

URL = "https://example.com/cat.png"
EDIT = ["edit", "--model", "qwen-image-edit", "--prompt", "Add a hat", "--image", URL]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEvoLink:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)
    return FakeEvoLink(api_key=CANARY_KEY, plan=TaskPlan(duration=20))


def cli(fake: FakeEvoLink, *argv: str) -> int:
    return main(list(argv), client_factory=lambda base_url: fake.client())


def test_edit_waits_downloads_and_prints_the_paths(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(fake, *EDIT, "--out", str(tmp_path)) == 0
    out, err = capsys.readouterr()
    paths = out.split()
    assert len(paths) == 1
    assert Path(paths[0]).parent == tmp_path
    assert Path(paths[0]).read_bytes().startswith(b"\x89PNG")
    assert "processing" in err
    assert "left (estimate 20s)" in err
    assert "completed  100%" in err


def test_edit_json_prints_json_and_nothing_else(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(fake, *EDIT, "--out", str(tmp_path), "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["task"]["status"] == "completed"
    assert [Path(p).exists() for p in document["files"]] == [True]


def test_edit_no_wait_prints_only_the_task_id_and_how_to_follow_it_on_stderr(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(fake, *EDIT, "--no-wait") == 0
    [task_id] = fake.tasks
    out, err = capsys.readouterr()
    assert out == f"{task_id}\n"  # a script can take it as it is: TASK=$(evolink-images edit ... --no-wait)
    assert f"evolink-images status {task_id} --wait" in err


def test_status_download_and_status_wait(fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli(fake, *EDIT, "--no-wait")
    [task_id] = fake.tasks
    capsys.readouterr()
    assert cli(fake, "status", task_id, "--json") == 0
    assert json.loads(capsys.readouterr().out)["task"]["status"] == "pending"
    assert cli(fake, "status", task_id, "--wait") == 0
    assert "completed" in capsys.readouterr().out
    assert cli(fake, "download", task_id, "--out", str(tmp_path)) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / f"{task_id}-0.png")


def test_validate_needs_no_network_and_no_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    good = ["validate", "--model", "wan2.5-image-to-image", "--prompt", "Night", "--image", URL, "--n", "4"]
    assert main(good) == 0
    assert main([*good[:-1], "5", "--json"]) == 2
    out, err = capsys.readouterr()
    assert "valid" in out
    assert json.loads(out.splitlines()[-1])["error"]["kind"] == "invalid input"
    assert err.count("\n") == 1
    assert "n: is 5 (limit: an integer from 1 to 4)" in err


def test_invalid_input_is_one_line_exit_2_and_nothing_is_sent(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(fake, "edit", "--model", "qwen-image-edit", "--prompt", "", "--image", URL, "--n", "2") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid request: n: is set to 2 (limit: qwen-image-edit takes no n); prompt:")
    assert err.count("\n") == 1
    assert fake.requests == []


def test_a_missing_key_is_invalid_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    assert main(EDIT) == 2
    assert "EVOLINK_API_KEY" in capsys.readouterr().err


def test_an_api_error_is_exit_3_and_never_shows_the_key(fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]) -> None:
    def leaky(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"code": "unauthorized", "message": f"bad key {CANARY_KEY}"}})

    client = Client(CANARY_KEY, http_client=httpx.Client(transport=httpx.MockTransport(leaky)))
    assert main([*EDIT, "--json"], client_factory=lambda base_url: client) == 3
    out, err = capsys.readouterr()
    assert "HTTP 401" in err
    assert json.loads(out)["error"]["type"] == "AuthenticationError"
    assert CANARY_KEY not in out + err


def test_a_failed_task_is_exit_4(fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]) -> None:
    fake.next_task(outcome="failed", error_code="content_policy_violation")
    assert cli(fake, *EDIT) == 4
    assert "content_policy_violation" in capsys.readouterr().err


def test_a_timeout_is_exit_5_and_says_how_to_resume(fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(fake, *EDIT, "--timeout", "5") == 5
    [task_id] = fake.tasks
    assert f"resume with: evolink-images status {task_id} --wait" in capsys.readouterr().err


def test_ctrl_c_during_a_wait_prints_the_task_id_and_how_to_resume(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    client = fake.client()
    client._sleep = interrupt  # the user presses Ctrl-C while the client sleeps between polls
    assert main(EDIT, client_factory=lambda base_url: client) == 130
    [task_id] = fake.tasks
    assert (
        f"interrupted; task {task_id} goes on; resume with: evolink-images status {task_id} --wait"
        in capsys.readouterr().err
    )
    assert fake.created == 1


@pytest.mark.parametrize(
    "command", ["edit", "status", "download", "validate", "batch", "upload", "file-quota", "serve-fake", "demo"]
)
def test_every_command_has_help_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert f"example:\n  evolink-images {command}" in capsys.readouterr().out


def installed(*argv: str, cwd: Path) -> subprocess.Popen[str]:
    """Start the installed console script, without any API key in its environment."""
    script = Path(sys.executable).with_name("evolink-images")
    env = {key: value for key, value in os.environ.items() if key != "EVOLINK_API_KEY"}
    return subprocess.Popen(  # noqa: S603 - the project's own console script
        [str(script), *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job starts with SIGINT ignored, and children inherit that: give the
        # child the default disposition, so that Ctrl-C reaches it wherever the suite runs.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_the_installed_demo_edits_a_real_image_with_no_key(tmp_path: Path) -> None:
    process = installed("demo", "--n", "1", cwd=tmp_path)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    from PIL import Image

    [result] = [Path(line) for line in out.split()]
    with Image.open(tmp_path / result) as edited, Image.open(tmp_path / "out/demo/input.png") as original:
        assert edited.size == original.size
        assert edited.tobytes() != original.tobytes()
    assert "fake EvoLink is serving on http://127.0.0.1:" in err
    assert "(a local file: uploaded first)" in err
    assert "/files/uploads/" in err  # the local picture went through the fake's file host
    assert "completed  100%" in err


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_installed_serve_fake_serves_until_ctrl_c_or_sigterm(tmp_path: Path, stop: signal.Signals) -> None:
    process = installed("serve-fake", "--duration", "0", cwd=tmp_path)
    assert process.stdout is not None
    base_url = process.stdout.readline().split()[-1]
    key = process.stdout.readline().split()[2]
    try:
        with Client(key, base_url=base_url) as client, pytest.raises(NotFoundError):
            client.get_task("task-unified-none")
    finally:
        process.send_signal(stop)
        process.communicate(timeout=10)
    assert process.returncode == 0


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_progress_line_is_redrawn_in_place() -> None:
    from evolink_images import Task
    from evolink_images.cli._progress import Progress
    from evolink_images.testing.payloads import task_json

    screen = Terminal()
    now = [0.0]
    progress = Progress(screen, clock=lambda: now[0])
    progress(Task.from_dict(task_json("pending")))
    now[0] = 12.0
    progress(Task.from_dict(task_json("processing", progress=40)))
    progress.finish()
    progress.finish()
    text = screen.getvalue()
    assert text.count("\r\x1b[K") == 2
    assert "processing  40%  elapsed  12.0s  ~18s left (estimate 30s)" in text
    assert text.endswith("\n")
    assert text.count("\n") == 1


def test_every_command_answers_json_of_one_shape(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    documents = []
    for words in (
        [*EDIT, "--no-wait", "--json"],
        ["status", "{id}", "--json"],
        ["status", "{id}", "--wait", "--json"],
        ["download", "{id}", "--out", str(tmp_path), "--json"],
        [*EDIT, "--json", "--out", str(tmp_path / "edit")],
    ):
        task_id = next(iter(fake.tasks), "")
        assert cli(fake, *[word.format(id=task_id) for word in words]) == 0
        documents.append(json.loads(capsys.readouterr().out))
    assert all(set(document) == {"task", "files"} for document in documents)
    assert all(document["task"]["id"] for document in documents)  # jq -r .task.id works after every command
    assert [len(document["files"]) for document in documents] == [0, 0, 0, 1, 1]


def test_download_of_a_task_still_running_is_its_own_exit_code_with_the_next_step(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(fake, *EDIT, "--no-wait")
    [task_id] = fake.tasks
    capsys.readouterr()
    assert cli(fake, "download", task_id, "--out", str(tmp_path)) == 6
    err = capsys.readouterr().err
    assert "not finished yet" in err
    assert f"evolink-images status {task_id} --wait" in err
    assert list(tmp_path.iterdir()) == []


def test_download_saves_into_out_by_default_like_edit(
    fake: FakeEvoLink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    cli(fake, *EDIT, "--no-wait")
    [task_id] = fake.tasks
    cli(fake, "status", task_id, "--wait")
    capsys.readouterr()
    assert cli(fake, "download", task_id) == 0
    assert capsys.readouterr().out.strip() == str(Path("out") / f"{task_id}-0.png")


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_go_before_or_after_the_command_and_into_every_hint(
    where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[str | None] = []

    def factory(base_url: str | None) -> Client:
        seen.append(base_url)
        raise KeyboardInterrupt  # stop at once: only the options and the hint matter here

    words = ["status", "task-unified-1", "--wait"]
    options = ["--base-url", "http://127.0.0.1:9", "--json"]
    argv = [*options, *words] if where == "before" else [*words, *options]
    assert main(argv, client_factory=factory) == 130
    out, err = capsys.readouterr()
    assert seen == ["http://127.0.0.1:9"]
    assert json.loads(out)["error"]["kind"] == "interrupted"
    assert "evolink-images --base-url http://127.0.0.1:9 status task-unified-1 --wait" in err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"evolink-images {evolink_images.__version__}"


def test_evolink_base_url_reaches_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("EVOLINK_API_KEY", "sk-evo-cli-0000000000")
    made: list[Client] = []

    def factory(base_url: str | None) -> Client:
        made.append(Client(base_url=base_url))
        raise KeyboardInterrupt

    main(["status", "task-unified-1"], client_factory=factory)
    assert repr(made[0]) == "Client(base_url='http://127.0.0.1:9')"
