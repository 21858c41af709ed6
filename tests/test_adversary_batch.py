"""An adversary's attacks on batches (issue 10), from outside, kept as regression tests.

They use the public API, the command line and a counting loopback server written from scratch
(``benchmarks/adversary_server.py``).

Each case has a time budget; the longer random-kill campaign is ``scripts/adversary-batch``.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.adversary_server import AdversaryServer, State, canonical, refused_url
from evolink_images import (
    AsyncClient,
    Client,
    JournalDamagedError,
    JournalWarning,
    PollSchedule,
    RequestValidationError,
    WaitTimeoutError,
    WanImageToImage,
)

ROOT = Path(__file__).resolve().parent.parent
CLI = [str(Path(sys.executable).parent / "evolink-images")]
KEY = "sk-evo-adversary-0000000000000000"
IMAGE = "https://example.com/in.png"


def line(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model": "wan2.5-image-to-image", "prompt": prompt, "image_urls": [IMAGE], **extra}


def write(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


def wire(item: dict[str, Any]) -> str:
    """The canonical JSON the server counts an item's POSTs under."""
    return canonical(item)


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str], seconds: float) -> None:
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"rc={self.rc} {self.seconds:.1f}s\nstdout:{self.out}\nstderr:{self.err}"


def batch(url: str, *args: str | Path, budget: float = 20.0, **popen: Any) -> Run:
    env = dict(os.environ, EVOLINK_API_KEY=KEY, EVOLINK_BASE_URL=url)
    env.pop("EVOLINK_LOG", None)
    if "preexec_fn" in popen:  # a child under a file size limit cannot save coverage data: not measured
        env = {k: v for k, v in env.items() if not k.startswith("COVERAGE_PROCESS")}
    start = time.monotonic()
    proc = subprocess.run(  # noqa: S603 - the project's own console script
        [*CLI, "batch", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=budget,
        cwd=ROOT,
        **popen,
    )
    return Run(proc, time.monotonic() - start)


def pngs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


@pytest.fixture
def server() -> Iterator[AdversaryServer]:
    with AdversaryServer(State(task_seconds=0.2)) as srv:
        yield srv


# ---------------------------------------------------------------- results are never lost


def test_a_result_host_500_leaves_the_item_unsaved_and_a_rerun_downloads_it_without_paying(
    server: AdversaryServer, tmp_path: Path
) -> None:
    items = [line("a"), line("b", n=2)]
    src = write(tmp_path / "in.jsonl", items)
    server.state.results_status = 500
    first = batch(server.url, src, "--out", tmp_path / "out")
    assert first.rc == 3, first
    assert "0 saved" in first.out, first
    assert pngs(tmp_path / "out") == []
    server.state.results_status = None
    second = batch(server.url, src, "--out", tmp_path / "out")
    assert second.rc == 0, second
    assert len(pngs(tmp_path / "out")) == 3
    assert server.state.snapshot()["posts"] == {wire(i): 1 for i in items}


def test_a_wait_that_timed_out_is_waited_on_again_by_a_rerun(server: AdversaryServer, tmp_path: Path) -> None:
    server.state.slow_seconds = 2.5
    items = [line("quick"), line("[slow] one")]
    src = write(tmp_path / "in.jsonl", items)
    first = batch(server.url, src, "--out", tmp_path / "out", "--timeout", "1")
    assert first.rc == 3, first
    assert "1 saved" in first.out, first
    assert "1 not finished" in first.out, first
    time.sleep(1.6)
    second = batch(server.url, src, "--out", tmp_path / "out", "--timeout", "10")
    assert second.rc == 0, second
    assert len(pngs(tmp_path / "out")) == 2
    assert max(server.state.snapshot()["posts"].values()) == 1


def test_a_python_wait_timeout_is_a_wait_timeout_error_and_stays_submitted(
    server: AdversaryServer, tmp_path: Path
) -> None:
    server.state.slow_seconds = 30
    with Client(api_key=KEY, base_url=server.url) as client:
        (result,) = client.run_many(
            [WanImageToImage(prompt="[slow]", image_urls=[IMAGE])], journal=tmp_path / "j", timeout=0.5
        )
        assert isinstance(result.error, WaitTimeoutError), result
        assert result.outcome == "unfinished", result
        assert result.state == "submitted", result
        assert result.error.task_id is not None
        (again,) = client.run_many(
            [WanImageToImage(prompt="[slow]", image_urls=[IMAGE])], journal=tmp_path / "j", timeout=0.3
        )
        assert isinstance(again.error, WaitTimeoutError), again
        assert again.error.task_id == result.error.task_id, again
    assert sum(server.state.snapshot()["posts"].values()) == 1


def test_an_error_that_proves_no_task_exists_leaves_the_item_to_be_sent_by_a_rerun(
    server: AdversaryServer, tmp_path: Path
) -> None:
    items = [line(f"[{code}] x") for code in (401, 402, 403, 429, 503)]
    src = write(tmp_path / "in.jsonl", items)
    first = batch(server.url, src, "--out", tmp_path / "out")
    assert first.rc == 3, first
    assert "5 not finished" in first.out, first
    server.state.refuse.clear()
    second = batch(server.url, src, "--out", tmp_path / "out")
    assert second.rc == 0, second
    assert server.state.snapshot()["created"] == {wire(item): 1 for item in items}
    assert len(pngs(tmp_path / "out")) == 5


def test_a_refused_connection_leaves_every_item_to_be_sent_by_a_rerun(server: AdversaryServer, tmp_path: Path) -> None:
    items = [line("a"), line("b")]
    src = write(tmp_path / "in.jsonl", items)
    first = batch(refused_url(), src, "--out", tmp_path / "out")
    assert first.rc == 3, first
    assert first.seconds < 8, first  # submit() alone gives up in 1.4 s
    assert "2 not finished" in first.out, first
    second = batch(server.url, src, "--out", tmp_path / "out")
    assert second.rc == 0, second
    assert server.state.snapshot()["posts"] == {wire(i): 1 for i in items}


def test_a_400_is_final_and_never_sent_again(server: AdversaryServer, tmp_path: Path) -> None:
    items = [line("[400] bad"), line("good")]
    src = write(tmp_path / "in.jsonl", items)
    first = batch(server.url, src, "--out", tmp_path / "out")
    assert first.rc == 4, first
    assert "1 saved, 1 failed" in first.out, first
    second = batch(server.url, src, "--out", tmp_path / "out")
    assert second.rc == 4, second
    assert server.state.snapshot()["posts"] == {wire(i): 1 for i in items}


def test_a_500_after_the_task_was_made_is_uncertain_and_resent_only_on_request_with_its_key(
    server: AdversaryServer, tmp_path: Path
) -> None:
    items = [line("[500] maybe")]
    src = write(tmp_path / "in.jsonl", items)
    first = batch(server.url, src, "--out", tmp_path / "out")
    assert first.rc == 3, first
    assert "1 uncertain" in first.out, first
    assert batch(server.url, src, "--out", tmp_path / "out").rc == 3
    assert server.state.snapshot()["posts"] == {wire(items[0]): 1}
    server.state.refuse.discard(500)
    third = batch(server.url, src, "--out", tmp_path / "out", "--resend-uncertain")
    assert third.rc == 0, third
    snap = server.state.snapshot()
    keys = snap["keys"][wire(items[0])]
    assert len(keys) == 2, keys
    assert keys[0] == keys[1], keys
    assert snap["created"] == {wire(items[0]): 1}


# ---------------------------------------------------------------- identity by content


def test_editing_reordering_and_appending_lines_never_pays_again(server: AdversaryServer, tmp_path: Path) -> None:
    items = [line(f"p{i}") for i in range(6)]
    src = write(tmp_path / "in.jsonl", items)
    assert batch(server.url, src, "--out", tmp_path / "out").rc == 0
    edited = [*reversed(items[1:]), line("new1"), line("new2")]
    write(src, edited)
    second = batch(server.url, src, "--out", tmp_path / "out")
    assert second.rc == 0, second
    posts = server.state.snapshot()["posts"]
    assert sum(posts.values()) == 8, posts
    assert max(posts.values()) == 1, posts
    tasks = server.state.snapshot()["tasks"]
    deleted_task = next(tid for tid, body in tasks.items() if body == wire(items[0]))
    assert deleted_task in second.out + second.err, second


def test_identical_lines_are_separate_items_each_paid_once(server: AdversaryServer, tmp_path: Path) -> None:
    items = [line("same"), line("same"), line("other"), line("same")]
    src = write(tmp_path / "in.jsonl", items)
    assert batch(server.url, src, "--out", tmp_path / "out").rc == 0
    write(src, [line("same"), line("other"), line("same"), line("same")])
    assert batch(server.url, src, "--out", tmp_path / "out").rc == 0
    assert server.state.snapshot()["created"] == {wire(line("same")): 3, wire(line("other")): 1}


def test_two_runs_of_the_same_list_use_different_idempotency_keys(server: AdversaryServer, tmp_path: Path) -> None:
    requests = [WanImageToImage(prompt=p, image_urls=[IMAGE]) for p in ("k1", "k2")]
    with Client(api_key=KEY, base_url=server.url) as client:
        for journal in ("one", "two"):
            assert all(r.ok for r in client.run_many(requests, journal=tmp_path / journal))
    keys = server.state.snapshot()["keys"]
    all_keys = [k for ks in keys.values() for k in ks]
    assert len(set(all_keys)) == 4, keys


# ---------------------------------------------------------------- one process, damage, disks


def test_a_second_process_on_a_journal_in_use_is_refused_at_once_having_sent_nothing(
    server: AdversaryServer, tmp_path: Path
) -> None:
    server.state.slow_seconds = 4
    src = write(tmp_path / "in.jsonl", [line("[slow] a")])
    env = dict(os.environ, EVOLINK_API_KEY=KEY, EVOLINK_BASE_URL=server.url)
    first = subprocess.Popen(  # noqa: S603 - the project's own console script
        [*CLI, "batch", str(src), "--out", str(tmp_path / "out")], env=env, cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 10
        while not server.state.snapshot()["posts"] and time.monotonic() < deadline:
            time.sleep(0.05)
        other = write(tmp_path / "other.jsonl", [line("b"), line("c")])
        second = batch(server.url, other, "--out", tmp_path / "out2", "--journal", tmp_path / "out" / "journal.jsonl")
        assert second.rc == 2, second
        assert second.seconds < 5, second
        assert sum(server.state.snapshot()["posts"].values()) == 1
    finally:
        first.kill()
        first.wait()


def _fsize_limit(limit: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return apply


def test_a_full_disk_stops_the_batch_with_exit_1_and_a_rerun_finishes_without_paying_twice(
    server: AdversaryServer, tmp_path: Path
) -> None:
    items = [line(f"disk {i} " + "x" * 200) for i in range(12)]
    src = write(tmp_path / "in.jsonl", items)
    first = batch(
        server.url,
        src,
        "--out",
        tmp_path / "out",
        "--journal",
        tmp_path / "j.jsonl",
        preexec_fn=_fsize_limit(3000),
        budget=15,
    )
    assert first.rc == 1, first
    assert "Traceback" not in first.err, first
    second = batch(server.url, src, "--out", tmp_path / "out", "--journal", tmp_path / "j.jsonl")
    assert second.rc in (0, 3), second
    third = batch(server.url, src, "--out", tmp_path / "out", "--journal", tmp_path / "j.jsonl", "--resend-uncertain")
    assert third.rc == 0, third
    assert max(server.state.snapshot()["created"].values()) == 1


def test_a_full_disk_under_the_results_folder_never_hangs_nor_loses_a_paid_result(
    server: AdversaryServer, tmp_path: Path
) -> None:
    items = [line(f"png {i}", n=4) for i in range(6)]
    src = write(tmp_path / "in.jsonl", items)
    first = batch(server.url, src, "--out", tmp_path / "out", preexec_fn=_fsize_limit(2500), budget=15)
    assert first.rc in (1, 3), first
    assert "Traceback" not in first.err, first
    second = batch(server.url, src, "--out", tmp_path / "out", "--resend-uncertain")
    assert second.rc == 0, second
    assert len(pngs(tmp_path / "out")) == 24
    assert max(server.state.snapshot()["created"].values()) == 1


def test_a_journal_that_is_a_folder_is_a_clear_error_before_any_post(server: AdversaryServer, tmp_path: Path) -> None:
    (tmp_path / "jdir").mkdir()
    src = write(tmp_path / "in.jsonl", [line("a")])
    run = batch(server.url, src, "--out", tmp_path / "out", "--journal", tmp_path / "jdir")
    assert run.rc in (1, 2), run
    assert "Traceback" not in run.err
    assert server.state.snapshot()["posts"] == {}


def test_a_torn_last_journal_line_is_dropped_with_a_warning(server: AdversaryServer, tmp_path: Path) -> None:
    items = [line("t1"), line("t2")]
    src = write(tmp_path / "in.jsonl", items)
    assert batch(server.url, src, "--out", tmp_path / "out").rc == 0
    journal = tmp_path / "out" / "journal.jsonl"
    for tail in (b'{"item": "abc', b"\xff\xfe\x00garbage", b'{"item":"x","state":"sub'):
        with journal.open("ab") as handle:
            handle.write(tail)
        again = batch(server.url, src, "--out", tmp_path / "out")
        assert again.rc == 0, (tail, again)
        assert "torn" in again.err.lower(), (tail, again)
    assert max(server.state.snapshot()["posts"].values()) == 1


def test_damage_before_the_last_line_is_refused_with_its_line_number_and_nothing_sent(
    server: AdversaryServer, tmp_path: Path
) -> None:
    items = [line("d1"), line("d2")]
    src = write(tmp_path / "in.jsonl", items)
    assert batch(server.url, src, "--out", tmp_path / "out").rc == 0
    journal = tmp_path / "out" / "journal.jsonl"
    whole = journal.read_bytes()
    lines = whole.splitlines(keepends=True)
    write(src, [*items, line("d3")])
    for junk in (b"this is not json\n", b"\xff\xfe\xfd\n", b'{"item": 5, "state": []}\n', b"[1,2,3]\n"):
        journal.write_bytes(b"".join(lines[:2]) + junk + b"".join(lines[2:]))
        again = batch(server.url, src, "--out", tmp_path / "out")
        assert again.rc == 2, (junk, again)
        assert "line 3" in again.err, (junk, again)
        assert "Traceback" not in again.err
    assert sum(server.state.snapshot()["posts"].values()) == 2
    journal.write_bytes(b"".join(lines[:2]) + b"\n" + b"".join(lines[2:]))  # a blank line records nothing
    again = batch(server.url, src, "--out", tmp_path / "out")
    assert again.rc == 0, again
    assert sum(server.state.snapshot()["posts"].values()) == 3


def test_a_python_torn_journal_warns_and_damage_raises_before_sending(server: AdversaryServer, tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    with Client(api_key=KEY, base_url=server.url) as client:
        client.run_many([WanImageToImage(prompt="w", image_urls=[IMAGE])], journal=journal)
        journal.write_bytes(journal.read_bytes() + b'{"ite')
        with pytest.warns(JournalWarning):
            (r,) = client.run_many([WanImageToImage(prompt="w", image_urls=[IMAGE])], journal=journal)
        assert r.ok
        assert r.resumed
        content = journal.read_bytes().splitlines(keepends=True)
        journal.write_bytes(content[0] + b"\x00junk\n" + b"".join(content[1:]))
        with pytest.raises(JournalDamagedError, match="line 2"):
            client.run_many([WanImageToImage(prompt="w2", image_urls=[IMAGE])], journal=journal)
    assert sum(server.state.snapshot()["posts"].values()) == 1


# ---------------------------------------------------------------- isolation


def test_an_estimated_time_string_never_deadlocks_a_batch(server: AdversaryServer, tmp_path: Path) -> None:
    import threading

    requests = [WanImageToImage(prompt=f"[est-str] {i}", image_urls=[IMAGE]) for i in range(5)]
    quick = PollSchedule(min_interval=0.1, max_interval=0.3)  # no estimate: the default waits 6 s to poll
    results: list[Any] = []
    with Client(api_key=KEY, base_url=server.url, poll_schedule=quick) as client:
        runner = threading.Thread(
            target=lambda: results.extend(client.run_many(requests, concurrency=2, journal=tmp_path / "j")),
            daemon=True,
        )
        runner.start()
        runner.join(15)
    assert not runner.is_alive(), "the batch deadlocked"
    assert [r.ok for r in results] == [True] * 5, results


class _Boom(httpx.BaseTransport):
    """Passes requests through, but raises a non-httpx error for one prompt's POST."""

    def __init__(self, url: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.url = url

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and b"boom" in request.read():
            raise RuntimeError("a bug in someone's transport")
        return self.inner.handle_request(request)


class _AsyncBoom(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and b"boom" in await request.aread():
            raise RuntimeError("a bug in someone's transport")
        return await self.inner.handle_async_request(request)


def _mixed() -> list[WanImageToImage]:
    return [WanImageToImage(prompt=p, image_urls=[IMAGE]) for p in ("ok1", "boom", "ok2", "boom 2", "ok3", "ok4")]


def test_any_exception_in_one_item_is_that_items_result_and_no_slot_leaks(
    server: AdversaryServer, tmp_path: Path
) -> None:
    start = time.monotonic()
    boom = _Boom(server.url)
    with boom.inner, Client(api_key=KEY, base_url=server.url, transport=boom) as client:
        results = client.run_many(_mixed(), concurrency=2, journal=tmp_path / "j", save_to=tmp_path / "out")
    assert time.monotonic() - start < 15
    assert [r.ok for r in results] == [True, False, True, False, True, True], results
    assert all(r.error is not None for r in results if not r.ok)


async def _async_mixed(url: str, tmp_path: Path) -> list[Any]:
    boom = _AsyncBoom()
    async with boom.inner, AsyncClient(api_key=KEY, base_url=url, transport=boom) as client:
        return await client.run_many(_mixed(), concurrency=2, journal=tmp_path / "j", save_to=tmp_path / "out")


def test_any_exception_in_one_async_item_is_that_items_result_and_no_slot_leaks(
    server: AdversaryServer, tmp_path: Path
) -> None:
    import asyncio

    results = asyncio.run(asyncio.wait_for(_async_mixed(server.url, tmp_path), 15))
    assert [r.ok for r in results] == [True, False, True, False, True, True], results


def test_an_unserialisable_extra_body_is_that_items_validation_error_and_nothing_is_sent_before(
    server: AdversaryServer, tmp_path: Path
) -> None:
    bad = WanImageToImage(prompt="bad", image_urls=[IMAGE], extra_body={"x": object()})
    good = [WanImageToImage(prompt=f"g{i}", image_urls=[IMAGE]) for i in range(3)]
    with Client(api_key=KEY, base_url=server.url) as client:
        results = client.run_many([*good, bad], journal=tmp_path / "j", save_to=tmp_path / "out")
    assert [r.ok for r in results] == [True, True, True, False]
    assert isinstance(results[3].error, RequestValidationError), results[3]
    assert sum(server.state.snapshot()["posts"].values()) == 3


def test_an_unserialisable_extra_body_in_a_streamed_async_batch_is_only_that_items_result(
    server: AdversaryServer, tmp_path: Path
) -> None:
    import asyncio

    def stream() -> Iterator[WanImageToImage]:
        for i in range(3):
            yield WanImageToImage(prompt=f"s{i}", image_urls=[IMAGE])
        yield WanImageToImage(prompt="bad", image_urls=[IMAGE], extra_body={"x": {1, 2}})
        yield WanImageToImage(prompt="s4", image_urls=[IMAGE])

    async def go() -> list[Any]:
        async with AsyncClient(api_key=KEY, base_url=server.url) as client:
            return await client.run_many(stream(), concurrency=2, journal=tmp_path / "j")

    results = asyncio.run(asyncio.wait_for(go(), 15))
    assert [r.ok for r in results] == [True, True, True, False, True], results
    assert isinstance(results[3].error, RequestValidationError)


def test_a_bad_line_anywhere_or_an_unusable_out_sends_nothing(server: AdversaryServer, tmp_path: Path) -> None:
    src = write(tmp_path / "in.jsonl", [line("a"), line("b"), line("")])
    run = batch(server.url, src, "--out", tmp_path / "out")
    assert run.rc == 2, run
    assert "line 3" in run.err, run
    (tmp_path / "file").write_text("x")
    good = write(tmp_path / "good.jsonl", [line("a")])
    run = batch(server.url, good, "--out", tmp_path / "file")
    assert run.rc == 2, run
    with (tmp_path / "junk.jsonl").open("wb") as handle:
        handle.write(json.dumps(line("a")).encode() + b"\n{not json\n")
    run = batch(server.url, tmp_path / "junk.jsonl", "--out", tmp_path / "out")
    assert run.rc == 2, run
    assert "line 2" in run.err, run
    assert server.state.snapshot()["posts"] == {}


# ---------------------------------------------------------------- time: Retry-After, Ctrl-C


def test_an_http_date_retry_after_of_two_seconds_pauses_about_two_seconds(
    server: AdversaryServer, tmp_path: Path
) -> None:
    server.state.post_429_once = True
    server.state.retry_after_s = 2.0
    src = write(tmp_path / "in.jsonl", [line("r1"), line("r2")])
    run = batch(server.url, src, "--out", tmp_path / "out", budget=20)
    assert run.rc == 0, run
    assert run.seconds < 8, run


def _last_states(journal: Path) -> list[str]:
    last: dict[str, str] = {}
    for raw in journal.read_text(encoding="utf-8").splitlines()[1:]:
        record = json.loads(raw)
        last[record["item"]] = record["state"]
    return list(last.values())


@pytest.mark.parametrize(("phase", "interrupts"), [("waiting", 1), ("submitting", 1), ("submitting", 2)])
def test_the_first_ctrl_c_stops_within_a_second_exits_130_and_says_how_to_resume(
    server: AdversaryServer, tmp_path: Path, phase: str, interrupts: int
) -> None:
    server.state.slow_seconds = 60
    if phase == "submitting":
        server.state.post_delay = 3.0
    items = [line(f"[slow] {phase} {i}") for i in range(6)]
    src = write(tmp_path / "in.jsonl", items)
    env = dict(os.environ, EVOLINK_API_KEY=KEY, EVOLINK_BASE_URL=server.url)
    proc = subprocess.Popen(  # noqa: S603 - the project's own console script
        [*CLI, "batch", str(src), "--out", str(tmp_path / "out"), "--concurrency", "2"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while sum(server.state.snapshot()["posts"].values()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    if interrupts == 2:  # an impatient user: the second Ctrl-C must not spoil the report
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    stopped = time.monotonic() - sent
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert stopped < 2.0, stopped
    assert "Traceback" not in err, err
    assert "evolink-images batch" in err, err
    counts = re.search(r"(\d+) saved, (\d+) failed, (\d+) uncertain, (\d+) not finished, of (\d+)", err)
    assert counts is not None, err
    *parts, total = map(int, counts.groups())
    assert sum(parts) == total, f"the summary after Ctrl-C leaves items uncounted: {counts.group(0)}"
    uncertain = _last_states(tmp_path / "out" / "journal.jsonl").count("submitting")
    assert parts[2] == uncertain, (counts.group(0), uncertain)
    assert sum(server.state.snapshot()["posts"].values()) <= 2 + 1, server.state.snapshot()["posts"]


def test_summary_counts_and_exit_status_of_a_mixed_batch(server: AdversaryServer, tmp_path: Path) -> None:
    server.state.slow_seconds = 30
    items = [line("ok"), line("[fail] f"), line("[cancel] c"), line("[500] u"), line("[slow] s"), line("[401] k")]
    src = write(tmp_path / "in.jsonl", items)
    run = batch(server.url, src, "--out", tmp_path / "out", "--timeout", "1", "--json")
    assert run.rc == 4, run
    summary = json.loads(run.out.strip().splitlines()[-1])["summary"]
    assert summary == {**summary, "done": 1, "failed": 2, "uncertain": 1, "unfinished": 2, "total": 6}, summary
    server.state.refuse.clear()
    rerun = batch(server.url, src, "--out", tmp_path / "out", "--timeout", "1", "--json")
    summary = json.loads(rerun.out.strip().splitlines()[-1])["summary"]
    assert summary == {**summary, "done": 2, "failed": 2, "uncertain": 1, "unfinished": 1}, summary


# ---------------------------------------------------------------- stopping early never invents doubt


def test_a_callback_error_in_an_async_batch_leaves_no_item_uncertain_that_was_never_sent(
    server: AdversaryServer, tmp_path: Path
) -> None:
    import asyncio

    prompts = [f"acb{i}" for i in range(6)]

    def callback(result: Any, _progress: Any) -> None:
        if result.request.prompt == "acb1":
            raise ValueError("a bug in the user's callback")

    async def go() -> list[Any]:
        async with AsyncClient(api_key=KEY, base_url=server.url) as client:
            with pytest.raises(ValueError, match="user's callback"):
                await client.run_many(
                    [WanImageToImage(prompt=p, image_urls=[IMAGE]) for p in prompts],
                    concurrency=2,
                    journal=tmp_path / "j",
                    on_result=callback,
                )
            return await client.run_many(
                [WanImageToImage(prompt=p, image_urls=[IMAGE]) for p in prompts], concurrency=2, journal=tmp_path / "j"
            )

    results = asyncio.run(asyncio.wait_for(go(), 20))
    accepted = server.state.snapshot()["accepted"]
    for r in results:
        if r.outcome == "uncertain":
            assert accepted.get(wire(line(r.request.prompt)), 0) == 1, f"{r.request.prompt} never sent yet uncertain"
    assert max(accepted.values()) == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_input_that_raises_stops_the_batch_within_seconds_and_a_rerun_pays_nothing_more(
    server: AdversaryServer, tmp_path: Path, mode: str
) -> None:
    import asyncio

    server.state.slow_seconds = 30

    def stream(fail: bool) -> Iterator[WanImageToImage]:
        yield WanImageToImage(prompt="[slow] g0", image_urls=[IMAGE])
        yield WanImageToImage(prompt="[slow] g1", image_urls=[IMAGE])
        if fail:
            raise ValueError("line 3 of the user's file is not JSON")

    def sync() -> None:
        with Client(api_key=KEY, base_url=server.url) as client:
            client.run_many(stream(True), journal=tmp_path / "j")

    async def in_async() -> None:
        async with AsyncClient(api_key=KEY, base_url=server.url) as client:
            await client.run_many(stream(True), journal=tmp_path / "j")

    start = time.monotonic()
    with pytest.raises(ValueError, match="not JSON"):
        sync() if mode == "sync" else asyncio.run(asyncio.wait_for(in_async(), 40))
    assert time.monotonic() - start < 5
    with Client(api_key=KEY, base_url=server.url) as client:
        results = client.run_many(stream(False), journal=tmp_path / "j", timeout=0.5)
    assert [r.state for r in results] == ["submitted", "submitted"], results
    assert max(server.state.snapshot()["accepted"].values()) == 1


def _memory_limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_a_journal_that_is_not_a_regular_file_is_refused_at_once(
    server: AdversaryServer, tmp_path: Path, kind: str
) -> None:
    journal = tmp_path / "fifo"
    if kind == "fifo":
        os.mkfifo(journal)
    else:
        journal = Path(kind)
    src = write(tmp_path / "in.jsonl", [line("nr")])
    run = batch(server.url, src, "--out", tmp_path / "out", "--journal", journal, budget=10, preexec_fn=_memory_limit)
    assert run.rc in (1, 2), run
    assert "Traceback" not in run.err, run
    assert "journal" in run.err, run
    assert server.state.snapshot()["posts"] == {}


def test_an_input_file_saved_with_a_bom_and_crlf_line_ends_is_read(server: AdversaryServer, tmp_path: Path) -> None:
    src = tmp_path / "windows.jsonl"
    src.write_bytes(b"\xef\xbb\xbf" + b"".join(json.dumps(line(f"w{i}")).encode() + b"\r\n" for i in range(2)))
    run = batch(server.url, src, "--out", tmp_path / "out")
    assert run.rc == 0, run
    assert len(pngs(tmp_path / "out")) == 2


def test_a_line_edited_into_nonsense_while_the_batch_runs_stops_it_with_a_summary_never_exit_2(
    server: AdversaryServer, tmp_path: Path
) -> None:
    items = [line(f"{i:02d} " + "z" * 1990) for i in range(12)]  # 2 KB lines: the reader cannot buffer them all
    src = write(tmp_path / "in.jsonl", items)
    env = dict(os.environ, EVOLINK_API_KEY=KEY, EVOLINK_BASE_URL=server.url)
    proc = subprocess.Popen(  # noqa: S603 - the project's own console script
        [*CLI, "batch", str(src), "--out", str(tmp_path / "out"), "--concurrency", "4"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while not server.state.snapshot()["posts"] and time.monotonic() < deadline:
        time.sleep(0.01)
    write(src, [*items[:10], line(""), items[11]])
    try:
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    sent = sum(server.state.snapshot()["accepted"].values())
    assert sent > 0
    assert proc.returncode != 2, err  # 2 means "nothing was sent"
    if proc.returncode != 0:  # the edit came after the line was read: nothing to see
        assert "line 11" in err, err
        assert "evolink-images batch" in err, err
        assert f"{sent} saved" in err or "not finished" in err, err


def test_edit_against_a_refused_connection_never_says_a_task_may_have_been_made(tmp_path: Path) -> None:
    env = dict(os.environ, EVOLINK_API_KEY=KEY, EVOLINK_BASE_URL=refused_url())
    proc = subprocess.run(  # noqa: S603 - the project's own console script
        [*CLI, "edit", "--model", "wan2.5-image-to-image", "--prompt", "x", "--image", IMAGE, "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert "Connection refused" in proc.stderr, proc.stderr
    assert "may have been created" not in proc.stderr, proc.stderr


def test_a_stopped_sync_batch_leaves_no_thread_polling_behind(server: AdversaryServer, tmp_path: Path) -> None:
    import threading

    server.state.slow_seconds = 60

    def stop_at_first(_result: Any, _progress: Any) -> None:
        raise ValueError("the caller stops the batch")

    requests = [WanImageToImage(prompt="fast", image_urls=[IMAGE])]
    requests += [WanImageToImage(prompt=f"[slow] {i}", image_urls=[IMAGE]) for i in range(3)]
    with Client(api_key=KEY, base_url=server.url) as client, pytest.raises(ValueError, match="caller stops"):
        client.run_many(requests, concurrency=4, journal=tmp_path / "j", on_result=stop_at_first)
    deadline = time.monotonic() + 3
    while any(t.name == "evolink-batch" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name == "evolink-batch"]
    polls = server.state.snapshot()["polls"]
    time.sleep(1.0)
    assert server.state.snapshot()["polls"] == polls
