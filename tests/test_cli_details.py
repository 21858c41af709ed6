"""The command line's printed interface in detail: cuts, redaction, escapes, progress, help, exit codes, JSON."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from evolink_images import Client, Task
from evolink_images._batch import BatchProgress, BatchResult
from evolink_images._errors import EvoLinkError, UploadError
from evolink_images._journal import JournalDamagedError, JournalError, JournalLockedError, JournalWarning
from evolink_images.cli import main
from evolink_images.cli._commands import Session, image_source
from evolink_images.cli._output import cut, printable, redact
from evolink_images.cli._parser import build_parser
from evolink_images.cli._progress import Progress
from evolink_images.testing.fake import FakeEvoLink, TaskPlan
from evolink_images.testing.payloads import task_json

from .conftest import CANARY_KEY

URL = "https://example.com/cat.png"
EDIT = ["edit", "--model", "qwen-image-edit", "--prompt", "Add a hat", "--image", URL]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEvoLink:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)
    return FakeEvoLink(api_key=CANARY_KEY, plan=TaskPlan(duration=2))


def cli(fake: FakeEvoLink, *argv: str) -> int:
    return main(list(argv), client_factory=lambda base_url: fake.client())


# --- values cut in the middle (400 characters at most by default) ---


def test_a_value_of_400_characters_is_printed_whole() -> None:
    text = "a" * 200 + "b" * 200
    assert cut(text) == text


def test_a_value_of_401_characters_keeps_its_first_and_last_200() -> None:
    text = "a" * 200 + "m" + "z" * 200
    assert cut(text) == "a" * 200 + " [... 1 characters cut ...] " + "z" * 200


def test_a_value_of_exactly_the_limit_is_not_cut() -> None:
    assert cut("abcdef", 6) == "abcdef"
    assert cut("abcdefg", 6) == "abc [... 1 characters cut ...] efg"


def test_an_odd_limit_keeps_half_rounded_down_at_each_end() -> None:
    assert cut("0123456789", 5) == "01 [... 6 characters cut ...] 89"


# --- the key is never printed ---


@pytest.mark.parametrize("key", ["12345678", "sk-evo-CANARY-5f1d2e7a9b"])
def test_a_key_of_eight_characters_or_more_is_redacted(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", key)
    assert redact(f"the key {key} leaked") == "the key <redacted> leaked"


def test_a_key_shorter_than_eight_characters_is_not_searched_for(monkeypatch: pytest.MonkeyPatch) -> None:
    # A key that short is no real key: replacing "1234567" everywhere would mangle ids and numbers.
    monkeypatch.setenv("EVOLINK_API_KEY", "1234567")
    assert redact("task 1234567 done") == "task 1234567 done"


def test_the_key_is_redacted_without_the_spaces_around_it_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", "  sk-evo-secret-key\n")
    assert redact("Bearer sk-evo-secret-key") == "Bearer <redacted>"


def test_without_a_key_in_the_environment_nothing_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    assert redact("XXXX and <redacted>") == "XXXX and <redacted>"


# --- control characters escaped ---


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("\x00\x08\x0b\x1f", "\\x00\\x08\\x0b\\x1f"),
        ("del\x7f c1\x80\x9f", "del\\x7f c1\\x80\\x9f"),
        ("bidi\u202e\u2066\u200f", "bidi\\u202e\\u2066\\u200f"),
        ("lone\ud800", "lone\\ud800"),
        ("tab\tnewline\n", "tab\tnewline\n"),
        ("caf\u00e9 \u00a0\u4e2d", "caf\u00e9 \u00a0\u4e2d"),
    ],
    ids=["escape", "c0", "c1", "bidi", "surrogate", "tab-newline-kept", "text-kept"],
)
def test_control_characters_are_printed_as_escapes(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_printable_also_redacts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)
    assert printable(f"{CANARY_KEY}\x1b") == "<redacted>\\x1b"


# --- the progress line ---


class Pipe(io.StringIO):
    """A stream that is not a terminal and that shows only what was flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.shown = ""

    def flush(self) -> None:
        self.shown = self.getvalue()


class Terminal(Pipe):
    def isatty(self) -> bool:
        return True


def task(status: str, **overrides: object) -> Task:
    return Task.from_dict(task_json(status, id="task-unified-7", **overrides))


def test_off_a_terminal_each_state_is_a_line_of_its_own_flushed_at_once() -> None:
    pipe = Pipe()
    now = [100.0]
    progress = Progress(pipe, clock=lambda: now[0])
    now[0] = 102.5
    progress(task("pending"))
    assert pipe.shown == "task-unified-7  pending      0%  elapsed   2.5s  ~28s left (estimate 30s)\n"
    now[0] = 112.0
    progress(task("processing", progress=40))  # no estimate of its own: the first one is kept
    now[0] = 140.0
    progress(task("processing", progress=95))  # past the estimate: never a negative time left
    now[0] = 141.0
    progress(task("completed"))
    progress.finish()
    assert pipe.shown.splitlines() == [
        "task-unified-7  pending      0%  elapsed   2.5s  ~28s left (estimate 30s)",
        "task-unified-7  processing  40%  elapsed  12.0s  ~18s left (estimate 30s)",
        "task-unified-7  processing  95%  elapsed  40.0s  ~0s left (estimate 30s)",
        "task-unified-7  completed  100%  elapsed  41.0s",
    ]
    assert pipe.getvalue() == pipe.shown  # finish() adds nothing off a terminal


def test_a_later_estimate_replaces_the_first() -> None:
    pipe = Pipe()
    progress = Progress(pipe, clock=lambda: 0.0)
    progress(task("pending"))
    progress(task("processing", task_info={"estimated_time": 50}))
    assert pipe.shown.splitlines()[-1].endswith("~50s left (estimate 50s)")


def test_without_an_estimate_the_line_shows_no_time_left() -> None:
    pipe = Pipe()
    Progress(pipe, clock=lambda: 0.0)(task("processing"))
    assert pipe.shown == "task-unified-7  processing  40%  elapsed   0.0s\n"


def test_an_id_over_80_and_a_status_over_40_characters_are_cut_and_escaped_on_the_progress_line() -> None:
    pipe = Pipe()
    long_id = "task-" + "i" * 75 + "Z"  # 81 characters
    body = task_json("processing", id=long_id)
    body["status"] = "s" * 18 + "\x1b]0" + "t" * 20  # 41 characters, an escape sequence in the kept start
    Progress(pipe, clock=lambda: 0.0)(Task.from_dict(body))
    shown_id = "task-" + "i" * 35 + " [... 1 characters cut ...] " + "i" * 39 + "Z"
    shown_status = "s" * 18 + "\\x1b]" + " [... 1 characters cut ...] " + "t" * 20
    assert pipe.shown == f"{shown_id}  {shown_status}  40%  elapsed   0.0s\n"


def test_an_id_of_80_and_a_status_of_40_characters_are_shown_whole() -> None:
    pipe = Pipe()
    long_id = "task-" + "i" * 75
    body = task_json("processing", id=long_id)
    body["status"] = "s" * 40
    Progress(pipe, clock=lambda: 0.0)(Task.from_dict(body))
    assert pipe.shown == f"{long_id}  {'s' * 40}  40%  elapsed   0.0s\n"


def test_on_a_terminal_finish_ends_the_line_once_and_only_if_one_was_drawn() -> None:
    screen = Terminal()
    progress = Progress(screen, clock=lambda: 0.0)
    progress.finish()
    assert screen.getvalue() == ""
    progress(task("processing"))
    assert screen.shown == "\r\x1b[Ktask-unified-7  processing  40%  elapsed   0.0s"
    progress.finish()
    assert screen.shown.endswith("elapsed   0.0s\n")
    progress.finish()
    progress(task("completed"))
    progress.finish()
    assert screen.shown.count("\n") == 2
    assert screen.shown.endswith("\r\x1b[Ktask-unified-7  completed  100%  elapsed   0.0s\n")


def test_the_progress_line_goes_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    Progress(clock=lambda: 0.0)(task("processing"))
    out, err = capsys.readouterr()
    assert (out, err) == ("", "task-unified-7  processing  40%  elapsed   0.0s\n")


# --- each kind of failure: its exit code, its one line on stderr, its JSON document ---


def failing(fake: FakeEvoLink, method: str, error: BaseException) -> Client:
    """A client of the fake whose ``method`` raises ``error``."""
    client = fake.client()

    def raise_it(*args: Any, **kwargs: Any) -> Any:
        raise error

    setattr(client, method, raise_it)
    return client


def with_client(client: Client, *argv: str) -> int:
    return main(list(argv), client_factory=lambda base_url: client)


def error_of(out: str) -> dict[str, Any]:
    """The --json error document: ``{"error": {...}}`` and nothing else on stdout."""
    document: dict[str, Any] = json.loads(out)
    assert list(document) == ["error"]
    return dict(document["error"])


def test_a_timeout_is_exit_5_with_the_command_that_resumes_instead_of_the_library_call(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)
    fake = FakeEvoLink(api_key=CANARY_KEY, plan=TaskPlan(duration=20))
    assert cli(fake, *EDIT, "--timeout", "5", "--out", str(tmp_path), "--json") == 5
    [task_id] = fake.tasks
    out, err = capsys.readouterr()
    message = (
        f"task {task_id} was still processing (22%) after 5 s; task {task_id} goes on;"
        f" resume with: evolink-images status {task_id} --wait"
    )
    assert err.splitlines()[-1] == f"error: {message}"
    assert error_of(out) == {
        "kind": "timeout",
        "type": "WaitTimeoutError",
        "message": message,
        "task_id": task_id,
        "task_may_exist": True,
    }


def test_waiting_on_someone_elses_task_past_the_timeout_says_it_goes_on(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.next_task(duration=50)
    cli(fake, *EDIT, "--no-wait")
    [task_id] = fake.tasks
    capsys.readouterr()
    assert cli(fake, "status", task_id, "--wait", "--timeout", "1", "--json") == 5
    document = error_of(capsys.readouterr().out)
    assert document["message"].endswith(
        f"; task {task_id} goes on; resume with: evolink-images status {task_id} --wait"
    )
    assert (document["task_id"], document["task_may_exist"]) == (task_id, True)


@pytest.mark.parametrize("outcome", ["failed", "cancelled"])
def test_a_failed_or_cancelled_task_is_exit_4_with_nothing_to_resume(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path, outcome: Any
) -> None:
    fake.next_task(outcome=outcome, error_code="content_policy_violation")
    assert cli(fake, *EDIT, "--out", str(tmp_path), "--json") == 4
    [task_id] = fake.tasks
    out, err = capsys.readouterr()
    document = error_of(out)
    assert document["kind"] == "task failed or cancelled"
    assert document["type"] == {"failed": "TaskFailedError", "cancelled": "TaskCancelledError"}[outcome]
    assert (document["task_id"], document["task_may_exist"]) == (task_id, True)
    assert "resume" not in err
    assert err.splitlines()[-1] == f"error: {document['message']}"


def test_an_unknown_task_id_is_an_api_error_exit_3(fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(fake, "status", "task-nope", "--json") == 3
    out, err = capsys.readouterr()
    message = "GET /v1/tasks/task-nope failed with HTTP 404: task task-nope not found"
    assert err == f"error: {message}\n"
    assert error_of(out) == {
        "kind": "API error",
        "type": "NotFoundError",
        "message": message,
        "task_id": "task-nope",
        "task_may_exist": False,
    }


def test_downloading_a_running_task_is_exit_6_and_the_hint_carries_the_base_url_quoted(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cli(fake, *EDIT, "--no-wait")
    [task_id] = fake.tasks
    capsys.readouterr()
    argv = ["--base-url", "http://127.0.0.1:9/a b", "download", task_id, "--out", str(tmp_path), "--json"]
    assert cli(fake, *argv) == 6
    out, err = capsys.readouterr()
    message = (
        f"task {task_id} is pending (0%): not finished yet;"
        f" wait for it with: evolink-images --base-url 'http://127.0.0.1:9/a b' status {task_id} --wait"
    )
    assert err == f"error: {message}\n"
    assert error_of(out) == {
        "kind": "not finished",
        "type": "NotFinishedError",
        "message": message,
        "task_id": task_id,
        "task_may_exist": False,
    }


def test_a_failed_download_of_someone_elses_task_says_how_to_fetch_it_again(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cli(fake, *EDIT, "--no-wait")
    [task_id] = fake.tasks
    cli(fake, "status", task_id, "--wait")
    capsys.readouterr()
    fake.inject("html_result", target="files")
    assert cli(fake, "download", task_id, "--out", str(tmp_path / "res"), "--json") == 3
    document = error_of(capsys.readouterr().out)
    again = f"evolink-images download {task_id} --out {tmp_path / 'res'}"
    assert document["message"].endswith(f"; task {task_id} is completed; fetch its results again with: {again}")
    assert (document["kind"], document["type"]) == ("API error", "DownloadError")
    assert (document["task_id"], document["task_may_exist"]) == (task_id, True)


def test_a_missing_key_is_exit_2_with_the_library_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    assert main(["file-quota", "--json"]) == 2
    out, err = capsys.readouterr()
    message = "no API key: pass api_key=... or set the EVOLINK_API_KEY environment variable"
    assert err == f"error: {message}\n"
    assert error_of(out) == {
        "kind": "invalid input",
        "type": "ConfigurationError",
        "message": message,
        "task_id": None,
        "task_may_exist": False,
    }


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            FileNotFoundError(2, "No such file or directory", "/no/photo.png"),
            "/no/photo.png: No such file or directory",
        ),
        (OSError(28, "No space left on device"), "OSError: [Errno 28] No space left on device"),
    ],
    ids=["a file named", "no file named"],
)
def test_a_local_file_problem_is_invalid_input_exit_2(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], error: OSError, message: str
) -> None:
    assert with_client(failing(fake, "upload", error), "upload", "photo.png", "--json") == 2
    out, err = capsys.readouterr()
    assert err == f"error: {message}\n"
    assert error_of(out) == {
        "kind": "invalid input",
        "type": type(error).__name__,
        "message": message,
        "task_id": None,
        "task_may_exist": False,
    }


def test_an_os_error_naming_a_file_without_a_reason_gives_its_type(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]
) -> None:
    error = PermissionError()
    error.filename = "/locked/photo.png"
    assert with_client(failing(fake, "upload", error), "upload", "photo.png") == 2
    assert capsys.readouterr().err == "error: /locked/photo.png: PermissionError\n"


def test_a_file_that_is_not_utf8_names_the_first_bad_byte_and_where(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        b"abc\xffd".decode("utf-8")
    except UnicodeDecodeError as decode_error:
        error = decode_error
    assert with_client(failing(fake, "upload", error), "upload", "photo.png") == 2
    assert capsys.readouterr().err == "error: an input file is not UTF-8 text (byte b'\\xff' at 3)\n"


def test_another_unicode_error_is_invalid_input_with_its_type(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]
) -> None:
    error = UnicodeError("cannot encode the name")
    assert with_client(failing(fake, "upload", error), "upload", "photo.png") == 2
    assert capsys.readouterr().err == "error: UnicodeError: cannot encode the name\n"


def test_an_unexpected_error_is_exit_1_and_asks_for_a_report(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]
) -> None:
    assert with_client(failing(fake, "file_quota", RuntimeError("boom\nagain")), "file-quota", "--json") == 1
    out, err = capsys.readouterr()
    message = "unexpected RuntimeError: boom again (please report it)"  # one line, whatever the text
    assert err == f"error: {message}\n"
    assert error_of(out) == {
        "kind": "internal error",
        "type": "RuntimeError",
        "message": message,
        "task_id": None,
        "task_may_exist": False,
    }


def test_ctrl_c_before_any_request_ends_the_line_and_says_only_interrupted(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]
) -> None:
    assert with_client(failing(fake, "file_quota", KeyboardInterrupt()), "file-quota", "--json") == 130
    out, err = capsys.readouterr()
    assert err == "\ninterrupted\n"
    assert error_of(out) == {
        "kind": "interrupted",
        "type": "KeyboardInterrupt",
        "message": "interrupted",
        "task_id": None,
        "task_may_exist": False,
    }


def test_a_long_error_is_cut_in_the_middle_and_the_hint_after_it_is_whole(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client = failing(fake, "download", RuntimeError("s" * 300 + "e" * 300))
    assert with_client(client, *EDIT, "--out", str(tmp_path)) == 1
    [task_id] = fake.tasks
    message = "unexpected RuntimeError: " + "s" * 300 + "e" * 300 + " (please report it)"
    cut_message = message[:200] + " [... 244 characters cut ...] " + message[-200:]
    again = f"evolink-images download {task_id} --out {tmp_path}"
    hint = f"task {task_id} is completed; fetch its results again with: {again}"
    assert capsys.readouterr().err.splitlines()[-1] == f"error: {cut_message}; {hint}"


def test_the_json_error_never_shows_the_key(fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]) -> None:
    client = failing(fake, "file_quota", RuntimeError(f"sent {CANARY_KEY}"))
    assert with_client(client, "file-quota", "--json") == 1
    out, err = capsys.readouterr()
    assert error_of(out)["message"] == "unexpected RuntimeError: sent <redacted> (please report it)"
    assert err == "error: unexpected RuntimeError: sent <redacted> (please report it)\n"


def test_a_failed_upload_before_the_submit_says_nothing_of_a_task(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    error = UploadError("the file host refused photo.png", file_name="photo.png")
    client = failing(fake, "submit", error)
    assert with_client(client, *EDIT, "--out", str(tmp_path), "--json") == 3
    out, err = capsys.readouterr()
    assert err == "error: the file host refused photo.png\n"
    assert error_of(out) == {
        "kind": "API error",
        "type": "UploadError",
        "message": "the file host refused photo.png",
        "task_id": None,
        "task_may_exist": False,
    }


def test_a_submit_refused_with_401_says_no_task_may_exist(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"code": "unauthorized", "message": "bad key"}})

    client = Client(CANARY_KEY, transport=httpx.MockTransport(refuse))
    assert with_client(client, *EDIT, "--out", str(tmp_path), "--json") == 3
    out, err = capsys.readouterr()
    document = error_of(out)
    assert (document["type"], document["task_id"], document["task_may_exist"]) == ("AuthenticationError", None, False)
    assert "may have been created" not in err
    assert err == f"error: {document['message']}\n"


def test_an_unexpected_error_during_a_submit_says_a_task_may_exist(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client = failing(fake, "submit", RuntimeError("boom"))
    assert with_client(client, *EDIT, "--out", str(tmp_path), "--json") == 1
    out, err = capsys.readouterr()
    note = (
        "a task may have been created (and billed) although its id never arrived: check your recent tasks"
        " (the EvoLink dashboard's task history) before submitting again"
    )
    assert err == f"error: unexpected RuntimeError: boom (please report it); {note}\n"
    document = error_of(out)
    assert (document["task_id"], document["task_may_exist"]) == (None, True)


# --- the help: every command's description, example, exit codes and options, as printed ---

EXITS = (
    "exit codes: 0 ok, 1 internal error, 2 invalid input, 3 API error, 4 task failed or cancelled, 5 timeout,"
    " 6 not finished, 130 interrupted"
)
HELP_LINES: dict[str, list[str]] = {
    "": [
        "Edit images with EvoLink (wan2.5-image-to-image, qwen-image-edit).",
        "The API key is read from EVOLINK_API_KEY (never from the command line, never printed).",
        "example:",
        "  evolink-images demo        # no key, no network: a local fake EvoLink",
        EXITS,
        "  COMMAND",
        ("    edit               Validate, submit, wait with progress, download the results and print their paths."),
        "    status             Show a task; with --wait, wait for it to end.",
        "    download           Save a completed task's result images (URLs expire 24 h after completion).",
        "    validate           Check a request against its model's rules, with no network and no key.",
        ("    batch              Run every request of a JSON-lines file, at most N tasks in flight; re-run to resume."),
        (
            "    upload             Upload a local image to EvoLink's file host; print its"
            " URL and when it expires (72 h)."
        ),
        (
            "    file-quota         Show the account's file quota: uploads held (each until"
            " it expires) and how many more fit."
        ),
        ("    serve-fake         Serve a fake EvoLink on loopback, for tests in any language (Ctrl-C stops it)."),
        ("    demo               Edit a sample image end to end against a local fake EvoLink: no key, no network."),
        (
            "    contract-check     Run the contract suite against the fake (JUnit report),"
            " or --live the zero-credit probe of the API."
        ),
        "  -h, --help           show this help message and exit",
        "  --base-url BASE_URL  the API's URL (default: $EVOLINK_BASE_URL, else https://api.evolink.ai)",
        "  --json               print JSON, and nothing else, on stdout",
        "  --version            show program's version number and exit",
    ],
    "edit": [
        "Validate, submit, wait with progress, download the results and print their paths.",
        "example:",
        ("  evolink-images edit --model qwen-image-edit --prompt 'Add a hat' --image https://example.com/cat.png"),
        EXITS,
        "  -h, --help                    show this help message and exit",
        ("  --base-url BASE_URL           the API's URL (default: $EVOLINK_BASE_URL, else https://api.evolink.ai)"),
        "  --json                        print JSON, and nothing else, on stdout",
        "  --model {wan2.5-image-to-image,qwen-image-edit}",
        "  --prompt PROMPT               how to edit the images (1 to 2000 characters)",
        (
            "  --image URL_OR_FILE           an input image: an http(s) URL, or a local"
            " JPEG, PNG or WEBP file, uploaded first (repeat)"
        ),
        "  --n N                         images to make, 1 to 4 (wan2.5-image-to-image only)",
        "  --callback-url CALLBACK_URL   an https URL on a public host, called when the task ends",
        "  --no-wait                     submit, print the task id and stop",
        "  --out OUT                     where to save the results (default: ./out)",
        "  --timeout TIMEOUT             seconds to wait (default 600)",
    ],
    "status": [
        "Show a task; with --wait, wait for it to end.",
        "example:",
        "  evolink-images status task-unified-... --wait",
        EXITS,
        "  TASK_ID",
        "  -h, --help           show this help message and exit",
        "  --base-url BASE_URL  the API's URL (default: $EVOLINK_BASE_URL, else https://api.evolink.ai)",
        "  --json               print JSON, and nothing else, on stdout",
        "  --wait               poll until the task ends",
        "  --timeout TIMEOUT    seconds to wait (default 600)",
    ],
    "download": [
        "Save a completed task's result images (URLs expire 24 h after completion).",
        "example:",
        "  evolink-images download task-unified-... --out results/",
        EXITS,
        "  TASK_ID",
        "  -h, --help           show this help message and exit",
        "  --base-url BASE_URL  the API's URL (default: $EVOLINK_BASE_URL, else https://api.evolink.ai)",
        "  --json               print JSON, and nothing else, on stdout",
        "  --out OUT            the folder to save into (default: ./out)",
    ],
    "validate": [
        "Check a request against its model's rules, with no network and no key.",
        "example:",
        ("  evolink-images validate --model wan2.5-image-to-image --prompt 'Night' --image https://e.com/a.png --n 5"),
        EXITS,
        "  -h, --help                    show this help message and exit",
        ("  --base-url BASE_URL           the API's URL (default: $EVOLINK_BASE_URL, else https://api.evolink.ai)"),
        "  --json                        print JSON, and nothing else, on stdout",
        "  --model {wan2.5-image-to-image,qwen-image-edit}",
        "  --prompt PROMPT               how to edit the images (1 to 2000 characters)",
        (
            "  --image URL_OR_FILE           an input image: an http(s) URL, or a local"
            " JPEG, PNG or WEBP file, uploaded first (repeat)"
        ),
        "  --n N                         images to make, 1 to 4 (wan2.5-image-to-image only)",
        "  --callback-url CALLBACK_URL   an https URL on a public host, called when the task ends",
    ],
    "batch": [
        "Run every request of a JSON-lines file, at most N tasks in flight; re-run to resume.",
        "example:",
        "  evolink-images batch edits.jsonl --out results/ --concurrency 8",
        EXITS,
        (
            '  FILE.jsonl                 one request per line: {"model": ..., "prompt":'
            ' ..., "image_urls": [URL or a file path relative to FILE\'s folder], ...}'
        ),
        "  -h, --help                 show this help message and exit",
        ("  --base-url BASE_URL        the API's URL (default: $EVOLINK_BASE_URL, else https://api.evolink.ai)"),
        "  --json                     print JSON, and nothing else, on stdout",
        "  --out OUT                  where to save the results",
        "  --concurrency CONCURRENCY  the most tasks in flight (default 8)",
        "  --journal JOURNAL          the resume journal (default: OUT/journal.jsonl)",
        "  --timeout TIMEOUT          seconds to wait for each task (default 600)",
        (
            "  --resend-uncertain         send again, with the same idempotency key, items"
            " whose submit an earlier run left uncertain (if the API ignores the key and a"
            " task was made, that item is paid twice)"
        ),
    ],
    "upload": [
        "Upload a local image to EvoLink's file host; print its URL and when it expires (72 h).",
        "example:",
        "  evolink-images upload photo.jpg",
        EXITS,
        "  FILE                 a JPEG, PNG, GIF or WEBP file (at most 100 MB)",
        "  -h, --help           show this help message and exit",
        "  --base-url BASE_URL  the API's URL (default: $EVOLINK_BASE_URL, else https://api.evolink.ai)",
        "  --json               print JSON, and nothing else, on stdout",
    ],
    "file-quota": [
        "Show the account's file quota: uploads held (each until it expires) and how many more fit.",
        "example:",
        "  evolink-images file-quota",
        EXITS,
        "  -h, --help           show this help message and exit",
        "  --base-url BASE_URL  the API's URL (default: $EVOLINK_BASE_URL, else https://api.evolink.ai)",
        "  --json               print JSON, and nothing else, on stdout",
    ],
    "serve-fake": [
        "Serve a fake EvoLink on loopback, for tests in any language (Ctrl-C stops it).",
        "example:",
        "  evolink-images serve-fake --port 8080",
        EXITS,
        "  -h, --help           show this help message and exit",
        "  --base-url BASE_URL  the API's URL (default: $EVOLINK_BASE_URL, else https://api.evolink.ai)",
        "  --json               print JSON, and nothing else, on stdout",
        "  --port PORT          the port on 127.0.0.1 (default: a free one)",
        "  --duration DURATION  seconds each fake task takes (default 5)",
    ],
    "demo": [
        "Edit a sample image end to end against a local fake EvoLink: no key, no network.",
        "example:",
        "  evolink-images demo --out out/demo",
        EXITS,
        "  -h, --help           show this help message and exit",
        "  --base-url BASE_URL  the API's URL (default: $EVOLINK_BASE_URL, else https://api.evolink.ai)",
        "  --json               print JSON, and nothing else, on stdout",
        "  --out OUT            where to save the results (default: ./out/demo)",
        "  --prompt PROMPT      the edit to ask for",
        "  --n N                how many variations (1 to 4)",
    ],
    "contract-check": [
        "Run the contract suite against the fake (JUnit report), or --live the zero-credit probe of the API.",
        "example:",
        "  evolink-images contract-check --junit report.xml -- -k schemathesis",
        "exit codes: pytest's (0 every test passed); with --live: 0 kept, 1 broken, 2 not sent (no key)",
        "  -- PYTEST_ARGS       passed to pytest (after --)",
        "  -h, --help           show this help message and exit",
        "  --base-url BASE_URL  the API's URL (default: $EVOLINK_BASE_URL, else https://api.evolink.ai)",
        "  --json               print JSON, and nothing else, on stdout",
        "  --junit JUNIT        the JUnit report (default contract-report.xml)",
        "  --live               probe the live API at no cost (needs EVOLINK_API_KEY)",
        "  --task-id TASK_ID    with --live, also read this existing task and check it against the spec",
    ],
}


@pytest.mark.parametrize("command", list(HELP_LINES), ids=lambda command: command or "main")
def test_the_help_of_every_command_reads_as_documented(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # no wrapping: one line per option
    with pytest.raises(SystemExit) as exited:
        main([*([command] if command else []), "--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    lines = help_text.split("\n\n", 1)[1].splitlines()  # after the usage
    assert [line for line in lines if line.strip() and line not in ("options:", "positional arguments:")] == (
        HELP_LINES[command]
    )


# --- the options' defaults, and the global options before or after the command ---


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (EDIT, {"out": "out", "timeout": 600.0, "no_wait": False, "n": None, "callback_url": None}),
        (["status", "t"], {"wait": False, "timeout": 600.0}),
        (["download", "t"], {"out": "out"}),
        (
            ["batch", "f.jsonl", "--out", "o"],
            {"concurrency": 8, "timeout": 600.0, "journal": None, "resend_uncertain": False},
        ),
        (["serve-fake"], {"port": 0, "duration": 5.0}),
        (["demo"], {"out": "out/demo", "prompt": "Make it night, with stars", "n": 2}),
        (
            ["contract-check"],
            {"junit": "contract-report.xml", "live": False, "task_id": None, "pytest_args": []},
        ),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else "",
)
def test_each_option_has_its_documented_default(argv: list[str], expected: dict[str, object]) -> None:
    args = vars(build_parser().parse_args(argv))
    assert {key: args[key] for key in expected} == expected
    assert (args["base_url"], args["json"]) == (None, False)


@pytest.mark.parametrize(
    "argv",
    [
        ["--base-url", "http://127.0.0.1:9", "--json", "status", "t"],
        ["status", "t", "--base-url", "http://127.0.0.1:9", "--json"],
        ["--base-url", "http://127.0.0.1:9", "status", "t", "--json"],
        ["--json", "status", "t", "--base-url", "http://127.0.0.1:9"],
    ],
    ids=["before", "after", "split", "split-the-other-way"],
)
def test_global_options_stand_wherever_they_are_given(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.base_url, args.json) == ("http://127.0.0.1:9", True)


def test_the_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


# --- contract-check: the live probe's base URL ---


@pytest.mark.parametrize(
    ("argv", "environment", "base_url"),
    [
        (["--base-url", "http://127.0.0.1:9"], "https://env.example", "http://127.0.0.1:9"),
        ([], "https://env.example", "https://env.example"),
        ([], None, "https://api.evolink.ai"),
    ],
    ids=["option", "environment", "default"],
)
def test_contract_check_live_probes_the_base_url_given_else_the_environment_else_the_api(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], environment: str | None, base_url: str
) -> None:
    from evolink_images.testing.contract import live_probe, run

    calls: list[dict[str, Any]] = []

    def probe(**kwargs: Any) -> int:
        calls.append(kwargs)
        return 7

    monkeypatch.setattr(live_probe, "probe", probe)
    monkeypatch.setattr(run, "offline", lambda *args: pytest.fail("not the offline suite"))
    if environment is None:
        monkeypatch.delenv("EVOLINK_BASE_URL", raising=False)
    else:
        monkeypatch.setenv("EVOLINK_BASE_URL", environment)
    assert main(["contract-check", "--live", *argv]) == 7
    assert calls == [{"live": True, "base_url": base_url, "task_id": None}]


def test_contract_check_with_a_task_id_alone_reads_that_task_without_live(monkeypatch: pytest.MonkeyPatch) -> None:
    from evolink_images.testing.contract import live_probe

    calls: list[dict[str, Any]] = []

    def probe(**kwargs: Any) -> int:
        calls.append(kwargs)
        return 0

    monkeypatch.setattr(live_probe, "probe", probe)
    monkeypatch.delenv("EVOLINK_BASE_URL", raising=False)
    assert main(["contract-check", "--task-id", "task-1"]) == 0
    assert calls == [{"live": False, "base_url": "https://api.evolink.ai", "task_id": "task-1"}]


def test_contract_check_offline_passes_the_report_and_pytest_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    from evolink_images.testing.contract import run

    calls: list[tuple[Any, ...]] = []

    def offline(*args: Any) -> int:
        calls.append(args)
        return 3

    monkeypatch.setattr(run, "offline", offline)
    assert main(["contract-check", "--junit", "r.xml", "--", "-k", "fake"]) == 3
    assert calls == [("r.xml", ["-k", "fake"])]


@pytest.mark.parametrize(
    ("command", "module", "message"),
    [
        (
            ["contract-check"],
            "evolink_images.testing.contract",
            "contract-check needs the testing extra (evolink_images.testing.contract is missing):"
            " pip install 'evolink-images[testing]'",
        ),
        (
            ["serve-fake"],
            "evolink_images.testing.server",
            "this command needs the cli extra (evolink_images.testing.server is missing):"
            " pip install 'evolink-images[cli]'",
        ),
        (
            ["demo"],
            "evolink_images.testing.render",
            "this command needs the cli extra (evolink_images.testing.render is missing):"
            " pip install 'evolink-images[cli]'",
        ),
    ],
    ids=["contract-check", "serve-fake", "demo"],
)
def test_a_command_whose_extra_is_missing_says_which_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str], module: str, message: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # an import of it fails, as when the extra is not installed
    assert main([*command, "--json"]) == 2
    out, err = capsys.readouterr()
    assert err == f"error: {message}\n"
    assert error_of(out)["type"] == "ConfigurationError"


# --- serve-fake, in-process ---


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_serve_fake_serves_on_the_port_asked_with_tasks_of_the_duration_asked_until_sigterm(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handlers: dict[int, Any] = {}
    fake_signal = SimpleNamespace(signal=handlers.setdefault, SIGTERM=signal.SIGTERM)
    monkeypatch.setattr("evolink_images.cli._fake_commands.signal", fake_signal)
    seen: list[Task] = []

    def sleep(seconds: float) -> None:  # what SIGTERM does while the fake serves
        assert seconds == 3600
        base_url = capsys.readouterr().out.splitlines()[0].split()[-1]
        with Client("sk-evo-fake-0000000000000000", base_url=base_url) as client:
            from evolink_images import QwenImageEdit

            seen.append(client.submit(QwenImageEdit("x", [URL])))  # it serves, with the key it printed
        handlers[signal.SIGTERM](signal.SIGTERM, None)

    monkeypatch.setattr(
        "evolink_images.cli._fake_commands.time", SimpleNamespace(sleep=sleep, monotonic=time.monotonic)
    )
    port = free_port()
    assert main(["serve-fake", "--duration", "7", "--port", str(port)]) == 0
    [task] = seen
    assert task.estimated_time == 7
    assert capsys.readouterr().err == "stopped\n"


def test_serve_fake_on_a_free_port_lets_the_system_choose_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "evolink_images.cli._fake_commands.signal", SimpleNamespace(signal=lambda *args: None, SIGTERM=15)
    )
    served: list[str] = []

    def sleep(seconds: float) -> None:
        served.append(capsys.readouterr().out.splitlines()[0].split()[-1])
        raise KeyboardInterrupt

    monkeypatch.setattr(
        "evolink_images.cli._fake_commands.time", SimpleNamespace(sleep=sleep, monotonic=time.monotonic)
    )
    assert main(["serve-fake"]) == 0
    [base_url] = served
    host, port = base_url.removeprefix("http://").split(":")
    assert host == "127.0.0.1"
    assert int(port) > 1024


def test_the_installed_serve_fake_prints_all_it_says_before_it_waits(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "EVOLINK_API_KEY"}
    command = [sys.executable, "-c", "from evolink_images.cli import run; run()", "serve-fake", "--duration", "0"]
    process = subprocess.Popen(  # noqa: S603 - the project's own command line
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        lines.extend(process.stdout.readline() for _ in range(5))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=20)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    assert lines[-1:] == ["Ctrl-C (or SIGTERM) stops it.\n"]  # flushed: a script reading the lines does not wait
    assert (process.returncode, out, err) == (0, "", "stopped\n")


def test_serve_fake_hosts_a_sample_image_and_says_where_everything_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_signal = SimpleNamespace(signal=lambda signum, handler: None, SIGTERM=signal.SIGTERM)
    monkeypatch.setattr("evolink_images.cli._fake_commands.signal", fake_signal)
    printed: list[str] = []
    stdout = Pipe()
    monkeypatch.setattr(sys, "stdout", stdout)

    def sleep(seconds: float) -> None:
        printed.extend(stdout.shown.splitlines())  # flushed before the wait: a script reading them does not hang
        base_url = printed[0].split()[-1]
        sample = httpx.get(f"{base_url}/files/inputs/sample.png", timeout=5)
        assert sample.content.startswith(b"\x89PNG")
        raise KeyboardInterrupt

    monkeypatch.setattr(
        "evolink_images.cli._fake_commands.time", SimpleNamespace(sleep=sleep, monotonic=time.monotonic)
    )
    assert main(["serve-fake"]) == 0
    base_url = printed[0].split()[-1]
    assert printed == [
        f"Fake EvoLink on {base_url}",
        "  API key:      sk-evo-fake-0000000000000000  (the fake's own; it works nowhere else)",
        f"  sample image: {base_url}/files/inputs/sample.png",
        f"  file host:    {base_url}/api/v1/files/ (uploads of local images, the quota)",
        "Ctrl-C (or SIGTERM) stops it.",
    ]


# --- demo, in-process (the edit itself replaced: the installed demo's test runs it whole) ---


def test_demo_makes_its_output_folder_and_the_folders_above_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def run_edit(session: Session, *args: Any, **options: Any) -> int:
        assert session.client is not None  # built, so that it is closed
        return 0

    monkeypatch.setattr("evolink_images.cli._fake_commands.run_edit", run_edit)
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--n", "1"]) == 0
    assert (tmp_path / "out" / "demo" / "input.png").read_bytes().startswith(b"\x89PNG")  # ./out/demo by default


def test_demo_serves_a_fake_uploads_the_sample_and_asks_for_the_edit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    def run_edit(session: Any, request: Any, *, out: Path, timeout: float) -> int:
        seen.update(request=request, out=out, timeout=timeout, task=session.client.submit(request))
        return 0

    monkeypatch.setattr("evolink_images.cli._fake_commands.run_edit", run_edit)
    out = tmp_path / "demo"
    out.mkdir()  # a folder left by an earlier demo is used again
    assert main(["demo", "--out", str(out), "--n", "3", "--prompt", "sepia"]) == 0
    picture = out / "input.png"
    assert picture.read_bytes().startswith(b"\x89PNG")
    request = seen["request"]
    assert (request.model, request.prompt, request.n, list(request.image_urls)) == (
        "wan2.5-image-to-image",
        "sepia",
        3,
        [picture],
    )
    assert (seen["out"], seen["timeout"]) == (out, 60.0)
    assert seen["task"].estimated_time == 4.0  # the fake's tasks take 4 s, as the README's transcript shows
    served, asked, uploaded = capsys.readouterr().err.splitlines()
    base_url = served.split()[6]
    assert served == f"A fake EvoLink is serving on {base_url} (no key, no network)."
    assert int(base_url.rpartition(":")[2]) > 1024  # a free loopback port, as the README says
    assert asked == f"Input image: {picture} (a local file: uploaded first); asking for 3 x 'sepia'."
    pattern = (
        rf"Uploaded to {re.escape(base_url)}/files/uploads/\S+-input\.png \(expires \d{{4}}-\d\d-\d\d \d\d:\d\d UTC\)\."
    )
    assert re.fullmatch(pattern, uploaded)


# --- what each command prints ---


def test_validate_prints_one_line_or_a_json_document_of_the_common_shape(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    argv = ["validate", "--model", "qwen-image-edit", "--prompt", "x", "--image", URL]
    assert main(argv) == 0
    assert capsys.readouterr() == ("valid: nothing wrong with this request\n", "")
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"task": None, "files": [], "valid": True, "violations": []}


def test_qwen_with_n_is_refused_by_name_even_when_nothing_else_is_wrong(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["validate", "--model", "qwen-image-edit", "--prompt", "x", "--image", URL, "--n", "1"]
    assert cli(fake, *argv) == 2
    assert capsys.readouterr().err == "error: invalid request: n: is set to 1 (limit: qwen-image-edit takes no n)\n"


def test_edit_sends_the_options_it_was_given(fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["edit", "--model", "wan2.5-image-to-image", "--prompt", "Night", "--image", URL, "--image", URL]
    assert cli(fake, *argv, "--n", "3", "--callback-url", "https://example.com/hook", "--no-wait") == 0
    [post] = [request for request in fake.recorded if request.method == "POST"]
    assert post.json == {
        "model": "wan2.5-image-to-image",
        "prompt": "Night",
        "image_urls": [URL, URL],
        "n": 3,
        "callback_url": "https://example.com/hook",
    }


def test_qwen_edit_sends_its_callback_url(fake: FakeEvoLink) -> None:
    assert cli(fake, *EDIT, "--callback-url", "https://example.com/hook", "--no-wait") == 0
    [post] = [request for request in fake.recorded if request.method == "POST"]
    assert post.json["callback_url"] == "https://example.com/hook"


def test_no_wait_submits_even_when_out_is_a_file_since_nothing_is_saved(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    assert cli(fake, *EDIT, "--no-wait", "--out", str(blocker), "--json") == 0
    [task_id] = fake.tasks
    out, err = capsys.readouterr()
    assert err == f"submitted {task_id}; follow it with: evolink-images status {task_id} --wait\n"
    document = json.loads(out)
    assert (document["task"]["id"], document["task"]["status"], document["files"]) == (task_id, "pending", [])


def test_a_bad_timeout_is_named_before_the_output_folder_is_checked(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    assert cli(fake, *EDIT, "--timeout", "0", "--out", str(blocker)) == 2
    assert (
        capsys.readouterr().err == "error: invalid request: --timeout: is 0.0 (limit: a positive number of seconds)\n"
    )
    assert fake.requests == []


def test_an_output_folder_that_is_a_file_is_named_with_its_limit(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    assert cli(fake, "download", "task-1", "--out", str(blocker)) == 2
    assert capsys.readouterr().err == (
        f"error: invalid request: --out: {str(blocker)!r}: it is a file, not a folder"
        " (limit: a folder you can write into)\n"
    )


def test_status_prints_id_status_progress_then_each_result_url(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(fake, "edit", "--model", "wan2.5-image-to-image", "--prompt", "x", "--image", URL, "--n", "2", "--no-wait")
    [task_id] = fake.tasks
    capsys.readouterr()
    assert cli(fake, "status", task_id) == 0
    assert capsys.readouterr().out == f"{task_id}  pending  0%\n"
    assert cli(fake, "status", task_id, "--wait") == 0
    assert capsys.readouterr().out == (
        f"{task_id}  completed  100%\n"
        f"{fake.files_url}/results/{task_id}-0.png\n"
        f"{fake.files_url}/results/{task_id}-1.png\n"
    )


def answering(body: dict[str, Any]) -> Client:
    """A client whose every GET of a task answers ``body``."""

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    return Client(CANARY_KEY, transport=httpx.MockTransport(handle))


def test_status_cuts_a_status_over_100_characters_and_escapes_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)
    body = task_json("processing", id="task-9")
    body["status"] = "\x1b[2J" + "s" * 97  # 101 characters
    assert with_client(answering(body), "status", "task-9") == 0
    shown = "\\x1b[2J" + "s" * 46 + " [... 1 characters cut ...] " + "s" * 50
    assert capsys.readouterr().out == f"task-9  {shown}  40%\n"
    body["status"] = "s" * 100
    assert with_client(answering(body), "status", "task-9") == 0
    assert capsys.readouterr().out == f"task-9  {'s' * 100}  40%\n"


def test_the_json_of_a_failed_task_carries_its_error_code_message_and_cause(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)
    body = task_json("failed", id="task-9", model="qwen-image-edit")
    assert with_client(answering(body), "status", "task-9", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "task": {
            "id": "task-9",
            "status": "failed",
            "progress": 0,
            "results": [],
            "error": {"code": "service_error", "message": "The service failed", "cause": "service"},
            "estimated_time": None,
            "model": "qwen-image-edit",
        },
        "files": [],
    }


def test_json_output_is_indented_and_escapes_nothing_it_need_not(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)
    body = task_json("pending", id="task-9")
    assert with_client(answering(body), "status", "task-9", "--json") == 0
    out = capsys.readouterr().out
    assert out.startswith('{\n  "task": {\n    "id": "task-9",\n')
    assert out.endswith('  "files": []\n}\n')


def test_downloading_a_failed_task_is_exit_4_and_saves_nothing(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake.next_task(outcome="failed")
    cli(fake, *EDIT, "--no-wait")
    [task_id] = fake.tasks
    cli(fake, "status", task_id, "--wait")
    capsys.readouterr()
    assert cli(fake, "download", task_id, "--out", str(tmp_path), "--json") == 4
    document = error_of(capsys.readouterr().out)
    assert (document["kind"], document["task_id"], document["task_may_exist"]) == (
        "task failed or cancelled",
        task_id,
        False,
    )
    assert list(tmp_path.iterdir()) == []


def test_upload_prints_the_url_on_stdout_and_the_expiry_on_stderr(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (300, 300), (1, 2, 3)).save(photo)
    assert cli(fake, "upload", str(photo)) == 0
    out, err = capsys.readouterr()
    assert re.fullmatch(rf"{re.escape(fake.files_url)}/uploads/\S+-photo\.png\n", out)
    pattern = r"\d{4}-\d\d-\d\d \d\d:\d\d"
    assert re.fullmatch(
        rf"{re.escape(str(photo))}: stored until {pattern} UTC \(72 h; one slot of the file quota\)\n", err
    )
    assert cli(fake, "upload", str(photo), "--json") == 0
    out, err = capsys.readouterr()
    assert err == ""
    document = json.loads(out)
    assert (document["task"], document["files"]) == (None, [])
    upload = document["upload"]
    assert set(upload) == {"file_url", "expires_at", "file_id", "size", "mime_type", "sha256"}
    assert upload["file_url"].startswith(f"{fake.files_url}/uploads/")
    assert (upload["size"], upload["mime_type"]) == (photo.stat().st_size, "image/png")
    assert upload["file_id"] in upload["file_url"]
    assert len(upload["sha256"]) == 64
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", upload["expires_at"])


def test_file_quota_prints_one_line_or_its_four_numbers(fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(fake, "file-quota") == 0
    assert capsys.readouterr().out == "0 of 100 files held; 100 more fit (uploads last 72 h)\n"
    assert cli(fake, "file-quota", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "task": None,
        "files": [],
        "quota": {"used_files": 0, "max_files": 100, "remain_files": 100, "user_group": "default"},
    }


def test_an_image_with_a_scheme_is_a_url_anything_else_a_file_relative_to_the_folder() -> None:
    folder = Path("/data/batch")
    assert image_source("https://e.com/a.png", folder) == "https://e.com/a.png"
    assert image_source("a.png", folder) == Path("/data/batch/a.png")
    assert image_source("/abs/a.png", folder) == Path("/abs/a.png")
    assert image_source("a.png") == Path("a.png")
    assert image_source("~/a.png") == Path.home() / "a.png"


def test_a_suggested_command_carries_the_base_url_and_is_quoted_for_a_shell() -> None:
    def never() -> Client:
        raise AssertionError("no client is needed")

    session = Session(never)
    assert session.command("status", "task 1", "--wait") == "evolink-images status 'task 1' --wait"
    session = Session(never, base_url="http://h:1/a b")
    assert session.command("download", "t") == "evolink-images --base-url 'http://h:1/a b' download t"


# --- batch: the file checked line by line ---

QWEN = {"model": "qwen-image-edit", "prompt": "Add a hat", "image_urls": [URL]}


def batch_file(path: Path, *lines: object) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_every_bad_line_is_named_with_its_problem_and_limit(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # short paths: the library shortens a long one in its messages
    source = Path("edits.jsonl")
    source.write_bytes(
        b'\xef\xbb\xbf{"model": 1}\n'  # a BOM first (Notepad's) is not part of the line
        b"[1]\n"
        b'{"x": 1, "a": 2, "prompt": "p"}\n'
        b"\xff\n"
        b'{"model": "qwen-image-edit", "n": 2}\n'
        b"\n"
        b'{"model": "wan2.5-image-to-image", "prompt": "", "image_urls": ["missing.png"]}\n'
        b"{oops\n"
        b'{"model": "qwen-image-edit"}\n'
        b"\x80\n"
        b'{"model": "wan2.5-image-to-image", "prompt": "x", "image_urls": [5]}\n'
    )
    assert cli(fake, "batch", str(source), "--out", "out") == 2
    err = capsys.readouterr().err
    problems = [
        "line 1: model: is 1 (limit: wan2.5-image-to-image or qwen-image-edit)",
        "line 2: is not a JSON object (limit: one JSON object per line)",
        "line 3: a, x: is not a request field (limit: callback_url, image_urls, model, n, prompt)",
        "line 4: is not UTF-8 text (limit: one JSON object per line, in UTF-8)",
        "line 5: n: is set to 2 (limit: qwen-image-edit takes no n)",
        "line 7: prompt: has 0 characters (limit: 1 to 2000 characters)",
        "line 7: image_urls[0]: missing.png does not exist"
        " (limit: a local JPEG, PNG or WEBP image of at most 10000000 bytes for wan2.5-image-to-image)",
        "line 8: is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
        " (limit: one JSON object per line)",
        "line 9: prompt: must be a string, not NoneType (limit: 1 to 2000 characters)",
        "line 9: image_urls: must be a list of URLs, not NoneType"
        " (limit: 1 to 3 absolute http(s) URLs (or local images) for qwen-image-edit)",
        "line 10: is not UTF-8 text (limit: one JSON object per line, in UTF-8)",
        "line 11: image_urls[0]: 5 is not an absolute http(s) URL"
        " (limit: http(s)://, a host name, an IPv4 or a public IPv6 literal, RFC 3986 characters only)",
    ]
    assert err == "error: invalid request: " + "; ".join(problems) + "\n"
    assert fake.requests == []


def test_fifty_problems_are_listed_and_the_rest_only_counted(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    two_problems = {"model": "wan2.5-image-to-image", "prompt": "", "image_urls": [URL], "n": 9}
    source = batch_file(tmp_path / "edits.jsonl", *["[1]"] * 49, two_problems, "[2]", QWEN)
    assert cli(fake, "batch", str(source), "--out", str(tmp_path / "out")) == 2
    problems = capsys.readouterr().err.removeprefix("error: invalid request: ").rstrip("\n").split("; ")
    assert len(problems) == 51
    assert problems[48] == "line 49: is not a JSON object (limit: one JSON object per line)"
    assert problems[49] == "line 50: prompt: has 0 characters (limit: 1 to 2000 characters)"
    assert problems[50] == "FILE: has 2 more problem(s) (limit: fix the ones above first)"


def test_exactly_fifty_problems_are_all_listed_with_no_count(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = batch_file(tmp_path / "edits.jsonl", *["[1]"] * 50)
    assert cli(fake, "batch", str(source), "--out", str(tmp_path / "out")) == 2
    problems = capsys.readouterr().err.removeprefix("error: invalid request: ").rstrip("\n").split("; ")
    assert len(problems) == 50
    assert problems[-1] == "line 50: is not a JSON object (limit: one JSON object per line)"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda folder: folder / "nope.jsonl",
            "FILE: cannot be read (No such file or directory) (limit: a readable file)",
        ),
        (
            lambda folder: batch_file(folder / "e.jsonl", "", "  "),
            "FILE: holds no request (limit: one JSON object per line)",
        ),
    ],
    ids=["missing", "blank"],
)
def test_a_batch_file_that_holds_nothing_to_run_is_named(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path, make: Any, message: str
) -> None:
    assert cli(fake, "batch", str(make(tmp_path)), "--out", str(tmp_path / "out")) == 2
    assert capsys.readouterr().err == f"error: invalid request: {message}\n"


def test_an_out_that_cannot_be_a_folder_is_named_with_the_reason(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = batch_file(tmp_path / "edits.jsonl", QWEN)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    assert cli(fake, "batch", str(source), "--out", str(blocker / "sub")) == 2
    assert capsys.readouterr().err == (
        f"error: invalid request: --out: cannot be written (Not a directory): {blocker / 'sub'}"
        " (limit: a folder you can write to)\n"
    )
    assert cli(fake, "batch", str(source), "--out", str(tmp_path / "new" / "deeper")) == 0  # made, parents too


def test_a_long_out_path_is_cut_to_200_characters_in_the_message(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = batch_file(tmp_path / "edits.jsonl", QWEN)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    out = str(blocker / ("d" * 250))
    assert cli(fake, "batch", str(source), "--out", out) == 2
    err = capsys.readouterr().err
    assert f": {out[:200]} (limit: a folder you can write to)\n" in err


# --- batch: what it prints as items end, and its exit code ---


class Runner:
    """Stands in for ``Client.run_many``: reads the items and reports the results it is given."""

    def __init__(self, *outcomes: dict[str, Any], error: BaseException | None = None) -> None:
        self.outcomes = outcomes
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def __call__(self, requests: Any, **options: Any) -> None:
        self.calls.append(options)
        items = list(requests)
        done = failed = 0
        for index, outcome in enumerate(self.outcomes):
            result = BatchResult(index=index, request=items[index], **outcome)
            done += result.ok
            failed += result.outcome == "failed"
            progress = BatchProgress(total=len(items), done=done, failed=failed, in_flight=0, concurrency=3)
            options["on_result"](result, progress)
        if self.error is not None:
            raise self.error


def run_batch(fake: FakeEvoLink, runner: Runner, *argv: str) -> int:
    client = fake.client()
    setattr(client, "run_many", runner)  # noqa: B010 - a stand-in of another type
    return with_client(client, "batch", *argv)


def test_the_batch_passes_its_options_to_the_runner(fake: FakeEvoLink, tmp_path: Path) -> None:
    source = batch_file(tmp_path / "edits.jsonl", QWEN)
    runner = Runner({"task": None})
    argv = [str(source), "--out", str(tmp_path / "out"), "--concurrency", "3", "--timeout", "7.5"]
    assert run_batch(fake, runner, *argv, "--resend-uncertain", "--journal", str(tmp_path / "j.jsonl")) == 0
    [options] = runner.calls
    del options["on_result"]
    assert options == {
        "concurrency": 3,
        "timeout": 7.5,
        "journal": tmp_path / "j.jsonl",
        "save_to": tmp_path / "out",
        "resend_uncertain": True,
        "collect": False,
    }
    assert run_batch(fake, runner, str(source), "--out", str(tmp_path / "out")) == 0
    assert runner.calls[1]["journal"] == tmp_path / "out" / "journal.jsonl"
    assert (runner.calls[1]["concurrency"], runner.calls[1]["resend_uncertain"]) == (8, False)


def test_each_item_is_a_line_naming_its_line_number_outcome_and_the_counts(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = batch_file(tmp_path / "edits.jsonl", QWEN, "", QWEN, QWEN, QWEN)
    saved = (tmp_path / "a.png", tmp_path / "b.png")
    runner = Runner(
        {"files": saved, "state": "saved"},
        {"files": saved[:1], "state": "saved", "resumed": True},
        {"outcome": "failed", "error": EvoLinkError("refused")},
        {"outcome": "unfinished", "state": "submitted", "error": EvoLinkError("went away")},
    )
    out_folder = tmp_path / "out"
    assert run_batch(fake, runner, str(source), "--out", str(out_folder)) == 4
    out, err = capsys.readouterr()
    counts = "uncertain 0, not finished 0, concurrency 3)"
    assert err.splitlines()[:4] == [
        f"[1/4] line 1: saved {saved[0]} {saved[1]}  (saved 1, failed 0, {counts}",
        f"[2/4] line 3: saved {saved[0]} (earlier)  (saved 2, failed 0, {counts}",
        f"[3/4] line 4: failed: refused  (saved 2, failed 1, {counts}",
        f"[4/4] line 5: not finished (submitted): went away  (saved 2, failed 1, {counts}",
    ]
    journal = out_folder / "journal.jsonl"
    assert out == f"2 saved, 1 failed, 0 uncertain, 1 not finished, of 4; journal: {journal}\n"
    assert err.splitlines()[4:] == [
        f"1 item(s) not finished: re-run to finish them: evolink-images batch {source} --out {out_folder}"
    ]


def test_uncertain_items_exit_3_and_name_the_way_to_resend_them(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = batch_file(tmp_path / "edits.jsonl", QWEN, QWEN)
    runner = Runner({"state": "saved"}, {"outcome": "uncertain", "state": "submitting", "error": EvoLinkError("cut")})
    assert run_batch(fake, runner, str(source), "--out", str(tmp_path / "out")) == 3
    out, err = capsys.readouterr()
    assert out.startswith("1 saved, 0 failed, 1 uncertain, 0 not finished, of 2; journal: ")
    assert err.splitlines()[-1] == (
        "1 item(s) uncertain (a submit was interrupted; a task may exist): check your recent tasks, or re-run"
        " with --resend-uncertain to send them again with the same idempotency key"
    )
    assert "uncertain: cut" in err


def test_batch_json_prints_one_line_per_item_then_the_summary(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = batch_file(tmp_path / "edits.jsonl", "", QWEN, QWEN)
    saved = tmp_path / "a.png"
    done = Task.from_dict(task_json("completed", id="task-1", model="qwen-image-edit"))
    runner = Runner(
        {"task": done, "files": (saved,), "state": "saved", "resumed": True},
        {"outcome": "unfinished", "state": "pending", "error": EvoLinkError("two\nlines")},
    )
    journal = tmp_path / "j.jsonl"
    assert run_batch(fake, runner, str(source), "--out", str(tmp_path), "--journal", str(journal), "--json") == 3
    out, err = capsys.readouterr()
    first, second, summary = out.splitlines()
    assert json.loads(first) == {
        "line": 2,
        "outcome": "done",
        "state": "saved",
        "resumed": True,
        "task": {
            "id": "task-1",
            "status": "completed",
            "progress": 100,
            "results": list(done.results),
            "error": None,
            "estimated_time": None,
            "model": "qwen-image-edit",
        },
        "error": None,
        "files": [str(saved)],
    }
    assert json.loads(second) == {
        "line": 3,
        "outcome": "unfinished",
        "state": "pending",
        "resumed": False,
        "task": None,
        "error": "two lines",
        "files": [],
    }
    assert json.loads(summary) == {
        "summary": {"done": 1, "failed": 0, "uncertain": 0, "unfinished": 1, "total": 2, "journal": str(journal)}
    }
    assert err == (
        f"1 item(s) not finished: re-run to finish them: evolink-images batch {source} --out {tmp_path}"
        f" --journal {journal}\n"
    )


@pytest.mark.parametrize(
    ("error", "code", "lines"),
    [
        (
            JournalLockedError("the journal j is in use by another process"),
            2,
            ["error: the journal j is in use by another process"],
        ),
        (JournalDamagedError("the journal j is damaged at line 3"), 2, ["error: the journal j is damaged at line 3"]),
        (
            JournalError("the journal j cannot be written"),
            1,
            ["error: the journal j cannot be written", "resume with: evolink-images batch {source} --out {out}"],
        ),
    ],
    ids=["locked", "damaged", "unwritable"],
)
def test_journal_errors_have_their_own_exit_codes(
    fake: FakeEvoLink,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    error: JournalError,
    code: int,
    lines: list[str],
) -> None:
    source = batch_file(tmp_path / "edits.jsonl", QWEN)
    out = tmp_path / "out"
    assert run_batch(fake, Runner(error=error), str(source), "--out", str(out)) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [line.format(source=source, out=out) for line in lines]


@pytest.mark.parametrize("failed", [False, True])
def test_ctrl_c_counts_the_lines_never_reached_as_not_finished_and_says_how_to_resume(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path, failed: bool
) -> None:
    source = batch_file(tmp_path / "edits.jsonl", QWEN, QWEN, QWEN)
    out = tmp_path / "out"
    first: dict[str, Any] = {"outcome": "failed", "error": EvoLinkError("no")} if failed else {"state": "saved"}
    assert run_batch(fake, Runner(first, error=KeyboardInterrupt()), str(source), "--out", str(out)) == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    counts = "0 saved, 1 failed" if failed else "1 saved, 0 failed"
    assert captured.err.splitlines()[1:] == [
        "",
        f"interrupted: {counts}, 0 uncertain, 2 not finished, of 3; journal: {out / 'journal.jsonl'};"
        " nothing more is sent.",
        f"Tasks already submitted go on. Resume with: evolink-images batch {source} --out {out}",
    ]


@pytest.mark.parametrize("failed", [False, True], ids=["saved first", "failed first"])
def test_a_line_changed_while_the_batch_ran_stops_it_with_a_summary(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failed: bool
) -> None:
    from evolink_images.cli import _batch_command

    source = batch_file(tmp_path / "edits.jsonl", QWEN, QWEN, QWEN)
    checked = _batch_command.check_file

    def check_then_edit(path: Path) -> int:
        count = checked(path)
        batch_file(path, QWEN, {**QWEN, "prompt": ""}, QWEN)  # someone edits line 2 meanwhile
        return count

    monkeypatch.setattr(_batch_command, "check_file", check_then_edit)
    out = tmp_path / "out"

    class FirstThenPull(Runner):
        def __call__(self, requests: Any, **options: Any) -> None:
            first = next(requests)
            result = BatchResult(index=0, request=first, **self.outcomes[0])
            options["on_result"](result, BatchProgress(total=1, done=1, failed=0, in_flight=0, concurrency=3))
            next(requests)

    first: dict[str, Any] = {"outcome": "failed", "error": EvoLinkError("no")} if failed else {"state": "saved"}
    assert run_batch(fake, FirstThenPull(first), str(source), "--out", str(out)) == (4 if failed else 3)
    err = capsys.readouterr().err.splitlines()
    counts = "0 saved, 1 failed" if failed else "1 saved, 0 failed"
    assert err[1].startswith("error: the file changed while the batch ran, and ")
    assert err[2:] == [
        "  - line 2: prompt: has 0 characters (limit: 1 to 2000 characters)",
        f"stopped: {counts}, 0 uncertain, 2 not finished, of 3; journal: {out / 'journal.jsonl'};"
        " nothing more is sent.",
        f"Fix the line and resume with: evolink-images batch {source} --out {out}",
    ]


def test_journal_warnings_are_printed_as_one_line_each(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import warnings

    class Warning(Runner):
        def __call__(self, requests: Any, **options: Any) -> None:
            super().__call__(requests, **options)
            warnings.warn(JournalWarning("the last line was torn and dropped"), stacklevel=1)
            warnings.warn(JournalWarning("the last line was torn and dropped"), stacklevel=1)

    source = batch_file(tmp_path / "edits.jsonl", QWEN)
    assert run_batch(fake, Warning({"state": "saved"}), str(source), "--out", str(tmp_path / "out")) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[1:] == ["warning: the last line was torn and dropped"] * 2  # every time, not once


# --- the console script's entry point ---


def test_the_entry_point_interrupts_at_the_first_ctrl_c_and_ignores_the_next(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import evolink_images.cli as cli_module

    installed: list[tuple[int, Any]] = []
    monkeypatch.setattr(signal, "signal", lambda signum, handler: installed.append((signum, handler)))
    monkeypatch.setattr(sys, "argv", ["evolink-images", "validate", "--model", "qwen-image-edit", "--prompt", "x"])
    monkeypatch.setattr(sys, "argv", [*sys.argv, "--image", URL])
    with pytest.raises(SystemExit) as exited:
        cli_module.run()
    assert exited.value.code == 0
    assert capsys.readouterr().out == "valid: nothing wrong with this request\n"
    assert installed == [(signal.SIGINT, cli_module._interrupt_once)]
    with pytest.raises(KeyboardInterrupt):
        cli_module._interrupt_once(signal.SIGINT, None)
    assert installed[1:] == [(signal.SIGINT, signal.SIG_IGN)]


def test_the_entry_point_run_off_the_main_thread_leaves_signals_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import evolink_images.cli as cli_module

    monkeypatch.setattr(sys, "argv", ["evolink-images", "validate", "--model", "qwen-image-edit", "--prompt", "x"])
    monkeypatch.setattr(sys, "argv", [*sys.argv, "--image", URL])
    ended: list[BaseException] = []

    def run() -> None:
        try:
            cli_module.run()
        except BaseException as error:  # what ended the thread is the result
            ended.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    [error] = ended
    assert isinstance(error, SystemExit)  # not "signal only works in main thread"
    assert error.code == 0


# --- more of what main says after a task exists ---


def test_a_library_error_after_the_submit_gets_the_command_to_resume_not_the_python_call(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client = fake.client()

    def wait(task: Task, **options: Any) -> Task:
        raise EvoLinkError("the poll went wrong", task_id=task.id)

    client.wait = wait  # type: ignore[method-assign,assignment]
    assert with_client(client, *EDIT, "--out", str(tmp_path)) == 3
    [task_id] = fake.tasks
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: the poll went wrong; task {task_id} goes on; resume with: evolink-images status {task_id} --wait"
    )


def test_ctrl_c_while_downloading_someone_elses_completed_task_says_how_to_fetch_it_again(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cli(fake, *EDIT, "--no-wait")
    [task_id] = fake.tasks
    cli(fake, "status", task_id, "--wait")
    capsys.readouterr()
    client = failing(fake, "download", KeyboardInterrupt())
    assert with_client(client, "download", task_id, "--out", str(tmp_path), "--json") == 130
    out, err = capsys.readouterr()
    again = f"evolink-images download {task_id} --out {tmp_path}"
    message = f"interrupted; task {task_id} is completed; fetch its results again with: {again}"
    assert err == f"\n{message}\n"
    assert error_of(out) == {
        "kind": "interrupted",
        "type": "KeyboardInterrupt",
        "message": message,
        "task_id": task_id,
        "task_may_exist": True,
    }


def test_the_client_is_closed_when_the_command_ends(fake: FakeEvoLink, capsys: pytest.CaptureFixture[str]) -> None:
    client = fake.client()
    closed: list[bool] = []
    client.close = lambda: closed.append(True)  # type: ignore[method-assign]
    assert with_client(client, "file-quota") == 0
    assert closed == [True]


@pytest.mark.parametrize(
    "command", [[*EDIT, "--out", "{out}"], ["status", "{id}", "--wait"]], ids=["edit", "status --wait"]
)
def test_on_a_terminal_the_progress_line_is_ended_before_the_results(
    fake: FakeEvoLink,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: list[str],
) -> None:
    cli(fake, *EDIT, "--no-wait")
    [task_id] = fake.tasks
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    assert cli(fake, *[word.format(id=task_id, out=tmp_path) for word in command]) == 0
    assert screen.shown.startswith("\r\x1b[K")
    assert screen.shown.endswith("completed  100%  elapsed   0.0s\n")


def test_upload_expands_a_home_folder(
    fake: FakeEvoLink, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    monkeypatch.setenv("HOME", str(tmp_path))
    Image.new("RGB", (300, 300), (1, 2, 3)).save(tmp_path / "photo.png")
    assert cli(fake, "upload", "~/photo.png") == 0
    assert capsys.readouterr().out.startswith(f"{fake.files_url}/uploads/")


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        (["edit"], "--model, --prompt, --image"),
        (["validate"], "--model, --prompt, --image"),
        (["batch", "edits.jsonl"], "--out"),
        (["status"], "TASK_ID"),
    ],
)
def test_required_options_are_named_when_missing(
    capsys: pytest.CaptureFixture[str], argv: list[str], missing: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: the following arguments are required: {missing}")


def test_a_create_answer_the_client_cannot_read_still_names_the_task_id_it_carried(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "task-x", "status": 5, "object": "image.generation.task"})

    client = Client(CANARY_KEY, transport=httpx.MockTransport(handle))
    assert with_client(client, *EDIT, "--out", str(tmp_path), "--json") == 3
    out, err = capsys.readouterr()
    document = error_of(out)
    assert (document["kind"], document["type"], document["task_id"]) == ("API error", "APIResponseError", "task-x")
    assert "task task-x" in err
    assert err.count("a task may have been created (and billed)") == 1


def test_batch_json_flushes_each_item_line_as_it_ends(
    fake: FakeEvoLink, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stdout = Pipe()
    monkeypatch.setattr(sys, "stdout", stdout)
    shown: list[str] = []

    class Watching(Runner):
        def __call__(self, requests: Any, **options: Any) -> None:
            report = options["on_result"]

            def on_result(result: BatchResult, progress: BatchProgress) -> None:
                report(result, progress)
                shown.append(stdout.shown)  # what a reader of the pipe has by now

            super().__call__(requests, **{**options, "on_result": on_result})

    source = batch_file(tmp_path / "edits.jsonl", QWEN, QWEN)
    runner = Watching({"state": "saved"}, {"state": "saved"})
    assert run_batch(fake, runner, str(source), "--out", str(tmp_path / "out"), "--json") == 0
    assert [len(text.splitlines()) for text in shown] == [1, 2]
    assert [json.loads(line)["line"] for line in shown[-1].splitlines()] == [1, 2]


def test_the_entry_point_prints_what_stdout_cannot_encode_as_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    import evolink_images.cli as cli_module

    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)
    body = task_json("processing", id="task-9")
    body["status"] = "caf\u00e9 \U0001f600"  # a server's text, on a terminal that is not UTF-8
    monkeypatch.setattr(cli_module, "Client", lambda base_url: answering(body))
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "argv", ["evolink-images", "status", "task-9"])
    monkeypatch.setattr(signal, "signal", lambda signum, handler: None)
    with pytest.raises(SystemExit) as exited:
        cli_module.run()
    assert exited.value.code == 0  # not "invalid input" for an UnicodeEncodeError
    stdout.flush()
    assert raw.getvalue() == b"task-9  caf\\xe9 \\U0001f600  40%\n"


def test_a_session_prints_text_unless_asked_for_json(capsys: pytest.CaptureFixture[str]) -> None:
    def never() -> Client:
        raise AssertionError("no client is needed")

    Session(never).emit("plain words", {"a": 1})
    Session(never, as_json=True).emit("plain words", {"a": 1})
    assert capsys.readouterr().out == 'plain words\n{\n  "a": 1\n}\n'
