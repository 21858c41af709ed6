"""``evolink-images batch``: every line checked first, results saved by the runner, honest exit codes, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.loopback import CountingServer
from evolink_images import Client, _journal
from evolink_images._journal import Journal
from evolink_images.cli import main
from evolink_images.testing.fake import FakeEvoLink, TaskPlan

from .conftest import CANARY_KEY
from .test_journal import _FillingDisk

URL = "https://example.com/cat.png"
WAN_LINE = {"model": "wan2.5-image-to-image", "prompt": "Night", "image_urls": [URL], "n": 2}
QWEN_LINE = {"model": "qwen-image-edit", "prompt": "Add a hat", "image_urls": [URL]}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEvoLink:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)
    return FakeEvoLink(api_key=CANARY_KEY, plan=TaskPlan(duration=20))


def cli(fake: FakeEvoLink, *argv: str, refuse_posts: int = 0, status: int = 402) -> int:
    left = [refuse_posts]

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and left[0]:
            left[0] -= 1
            return httpx.Response(status, json={"error": {"code": "no", "message": "refused", "type": "quota"}})
        return fake.handler(request)

    def client(base_url: str | None) -> Client:
        clock = fake.clock
        sleep = getattr(clock, "sleep", None)
        transport = httpx.MockTransport(handle)
        return Client(fake.api_key, base_url=fake.base_url, transport=transport, clock=clock, sleep=sleep)

    return main(list(argv), client_factory=client)


def write_lines(path: Path, *lines: object) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_batch_runs_every_line_saves_results_and_resumes_without_resubmitting(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = write_lines(tmp_path / "edits.jsonl", WAN_LINE, "", QWEN_LINE, QWEN_LINE)
    out = tmp_path / "results"
    assert cli(fake, "batch", str(lines), "--out", str(out), "--concurrency", "2", "--json") == 0
    captured = capsys.readouterr()
    *items, summary = map(json.loads, captured.out.splitlines())
    assert sorted(item["line"] for item in items) == [1, 3, 4]
    assert [item["outcome"] for item in items] == ["done"] * 3
    assert sum(len(item["files"]) for item in items) == 4
    assert summary["summary"]["done"] == 3
    assert len([p for p in out.iterdir() if p.suffix == ".png"]) == 4
    assert fake.created == 3
    assert cli(fake, "batch", str(lines), "--out", str(out)) == 0
    captured = capsys.readouterr()
    assert "(earlier)" in captured.err
    assert "3 saved, 0 failed, 0 uncertain, 0 not finished, of 3" in captured.out
    assert fake.created == 3


def test_batch_checks_every_line_before_sending_anything(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = write_lines(
        tmp_path / "edits.jsonl",
        WAN_LINE,
        {**QWEN_LINE, "prompt": ""},
        {**QWEN_LINE, "n": 2},
        {**QWEN_LINE, "seed": 1},
        "not json",
        {"model": "dall-e"},
    )
    assert cli(fake, "batch", str(lines), "--out", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    for expected in ["line 2: prompt", "line 3: n", "line 4: seed", "line 5: is not JSON", "line 6: model"]:
        assert expected in err
    assert fake.requests == []


def test_an_out_folder_that_cannot_be_written_is_invalid_input_and_nothing_is_sent(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = write_lines(tmp_path / "edits.jsonl", QWEN_LINE)
    (tmp_path / "a-file").write_text("")
    assert cli(fake, "batch", str(lines), "--out", str(tmp_path / "a-file")) == 2
    assert "--out: cannot be written" in capsys.readouterr().err
    assert fake.requests == []


def test_an_empty_batch_file_is_invalid_input(fake: FakeEvoLink, tmp_path: Path) -> None:
    assert cli(fake, "batch", str(write_lines(tmp_path / "e.jsonl", "")), "--out", str(tmp_path)) == 2


def test_batch_exits_4_when_an_item_fails_and_goes_on_with_the_others(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.next_task(outcome="failed", error_code="content_policy_violation")
    lines = write_lines(tmp_path / "edits.jsonl", QWEN_LINE, QWEN_LINE)
    assert cli(fake, "batch", str(lines), "--out", str(tmp_path / "out"), "--concurrency", "1") == 4
    assert "1 saved, 1 failed, 0 uncertain, 0 not finished, of 2" in capsys.readouterr().out


def test_an_unfinished_item_exits_3_and_a_rerun_finishes_the_job(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = write_lines(tmp_path / "edits.jsonl", QWEN_LINE, WAN_LINE)
    out = tmp_path / "out"
    assert cli(fake, "batch", str(lines), "--out", str(out), "--concurrency", "1", refuse_posts=1) == 3
    captured = capsys.readouterr()
    assert "1 saved, 0 failed, 0 uncertain, 1 not finished, of 2" in captured.out
    assert f"re-run to finish them: evolink-images batch {lines} --out {out}" in captured.err
    assert cli(fake, "batch", str(lines), "--out", str(out)) == 0
    assert fake.created == 2


def test_an_uncertain_item_exits_3_and_is_resent_only_with_resend_uncertain(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = write_lines(tmp_path / "edits.jsonl", QWEN_LINE)
    out = tmp_path / "out"
    assert cli(fake, "batch", str(lines), "--out", str(out), refuse_posts=1, status=502) == 3
    assert "--resend-uncertain" in capsys.readouterr().err
    assert cli(fake, "batch", str(lines), "--out", str(out)) == 3
    assert fake.posts() == 0
    assert cli(fake, "batch", str(lines), "--out", str(out), "--resend-uncertain") == 0
    assert fake.created == 1


def test_a_journal_in_use_exits_2_and_nothing_is_sent(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = write_lines(tmp_path / "edits.jsonl", QWEN_LINE)
    with Journal(tmp_path / "out" / "journal.jsonl"):
        assert cli(fake, "batch", str(lines), "--out", str(tmp_path / "out")) == 2
    assert "in use by another process" in capsys.readouterr().err
    assert fake.requests == []


def test_a_journal_that_cannot_be_written_stops_the_batch_with_exit_1(
    fake: FakeEvoLink, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = write_lines(tmp_path / "edits.jsonl", *({**QWEN_LINE, "prompt": f"p{i}"} for i in range(6)))
    Journal(tmp_path / "out" / "journal.jsonl").close()
    monkeypatch.setattr(_journal, "os", _FillingDisk(room=2))
    assert cli(fake, "batch", str(lines), "--out", str(tmp_path / "out")) == 1
    err = capsys.readouterr().err
    assert "cannot be written (No space left on device); the batch stopped" in err
    assert "resume with: evolink-images batch" in err


def _run_cli(server: CountingServer, source: Path, out: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", "from evolink_images.cli import run; run()", "--base-url", server.base_url]
    command += ["batch", str(source), "--out", str(out), "--concurrency", "3"]
    env = {**os.environ, "EVOLINK_API_KEY": CANARY_KEY, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(  # noqa: S603 - the project's own command line
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_the_first_ctrl_c_stops_the_batch_within_a_second_says_how_to_resume_and_exits_130(tmp_path: Path) -> None:
    prompts = [f"ctrl-c {i}" for i in range(6)]
    source = write_lines(tmp_path / "edits.jsonl", *({**QWEN_LINE, "prompt": prompt} for prompt in prompts))
    out = tmp_path / "out"
    with CountingServer(duration=30) as server:
        process = _run_cli(server, source, out)
        deadline = time.monotonic() + 20
        while sum(server.stats()["posts"].values()) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # the three are now waiting (tasks of 30 s)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
        took = time.monotonic() - interrupted
        assert process.returncode == 130
        assert took < 2.5  # within a second, plus the interpreter's exit
        assert f"Resume with: evolink-images batch {source} --out {out}" in err
        assert CANARY_KEY not in err
        assert sum(server.stats()["posts"].values()) == 3  # nothing submitted after Ctrl-C
    states: dict[str, Any] = {}
    for line in (out / "journal.jsonl").read_text().splitlines()[1:]:
        record = json.loads(line)
        states[record["item"]] = record["state"]
    assert sorted(states.values()) == ["submitted"] * 3
