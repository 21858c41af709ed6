"""Attacks on the batch runner, as an unlucky user would make them (``scripts/crash-campaign``).

A counting loopback server (``loopback.py``) runs in this process; batches run in child processes
(``Client.run_many``, ``AsyncClient.run_many`` and ``evolink-images batch``) that are SIGKILLed at
random points and resumed until they end by themselves. Afterwards the server's counts and the
journal are checked against each other:

- the most POSTs any one item received (must be 1: no item paid twice);
- items whose results were lost (must be 0): a task the server made whose results are not saved,
  while the journal neither reports the item uncertain nor can go on with it;
- every POST the server saw was preceded by a durable ``submitting`` record;
- the exit codes of every run.

Then: two processes on one journal; a full disk (``RLIMIT_FSIZE`` in the child); a torn last line
and a damaged middle line; an edited input file (a line deleted, lines reordered, lines appended).

``python -m benchmarks.crash_campaign --kills 20`` (per runner, so 60 in all); the test suite runs
the same attacks with a few kills (``tests/test_batch_attacks.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .loopback import CountingServer, Faults

__all__ = ["Campaign", "CampaignReport", "main", "run_all"]

KEY = "sk-campaign-not-a-real-key-0000"
RUNNERS = ("sync", "async", "cli")
ROOT = Path(__file__).resolve().parent.parent
RUN_LIMIT = 60.0
"""Seconds a run left alone may take before the campaign calls it hung."""


def _line(prompt: str) -> str:
    return json.dumps({"model": "qwen-image-edit", "prompt": prompt, "image_urls": ["https://example.com/a.png"]})


def write_input(path: Path, prompts: list[str]) -> Path:
    """A batch file, one request per prompt."""
    path.write_text("".join(_line(prompt) + "\n" for prompt in prompts))
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "EVOLINK_API_KEY": KEY, "PYTHONPATH": str(ROOT)}


def child_command(runner: str, source: Path, out: Path, base_url: str, *extra: str) -> list[str]:
    """The command line of one batch run by ``runner``."""
    if runner == "cli":
        cli = "from evolink_images.cli import run; run()"
        common = [str(source), "--out", str(out), "--concurrency", "4", "--timeout", "30"]
        return [sys.executable, "-c", cli, "--base-url", base_url, "batch", *common, *extra]
    return [sys.executable, "-m", "benchmarks.crash_campaign", "child", runner, str(source), str(out), base_url, *extra]


def _child(runner: str, source: str, out: str, base_url: str) -> int:
    """A batch run through the library (``sync`` or ``async``): exit 0 if all done, 5 if any unfinished, else 3."""
    from evolink_images import AsyncClient, Client, PollSchedule, QwenImageEdit

    schedule = PollSchedule(min_interval=0.05, max_interval=0.2)

    def requests() -> Iterator[QwenImageEdit]:
        with open(source, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield QwenImageEdit(json.loads(line)["prompt"], ["https://example.com/a.png"])

    options: dict[str, Any] = {
        "concurrency": 4,
        "timeout": 30,
        "journal": Path(out) / "journal.jsonl",
        "save_to": out,
        "collect": False,
    }
    ended: Counter[str] = Counter()
    options["on_result"] = lambda result, progress: ended.update([result.outcome])
    if runner == "sync":
        with Client(KEY, base_url=base_url, poll_schedule=schedule) as client:
            client.run_many(requests(), **options)
    else:

        async def main() -> None:
            async with AsyncClient(KEY, base_url=base_url, poll_schedule=schedule) as client:
                await client.run_many(requests(), **options)

        asyncio.run(main())
    if ended["unfinished"]:
        return 5
    return 0 if set(ended) <= {"done"} else 3


@dataclass
class CampaignReport:
    """What one attack saw."""

    name: str
    kills: int = 0
    exit_codes: list[int] = field(default_factory=list)
    most_posts: int = 0
    lost: list[str] = field(default_factory=list)
    uncertain: int = 0
    unjournaled_posts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    passed: bool = True

    def line(self) -> str:
        """One line for the report (then its notes, indented)."""
        codes = dict(sorted(Counter(self.exit_codes).items()))
        verdict = "ok" if self.passed else "FAILED"
        text = (
            f"{self.name:28} kills {self.kills:3}  most POSTs for one item {self.most_posts}  lost results"
            f" {len(self.lost)}  uncertain {self.uncertain}  POSTs without a journal record"
            f" {len(self.unjournaled_posts)}  exit codes {codes}  {verdict}"
        )
        return "\n    ".join([text, *self.notes])


def last_states(journal: Path) -> dict[str, dict[str, Any]]:
    """Each item's last record (the torn last line, if any, is left out)."""
    states: dict[str, dict[str, Any]] = {}
    if not journal.exists():
        return states
    for line in journal.read_bytes().split(b"\n")[1:-1]:
        record = json.loads(line)
        states[record["item"]] = record
    return states


def _identity(prompt: str, occurrence: int = 1) -> str:
    from evolink_images import QwenImageEdit
    from evolink_images._batch_feed import item_identity

    return item_identity(QwenImageEdit(prompt, ["https://example.com/a.png"]), occurrence)


class Campaign:
    """One server, one scratch folder, and the checks every attack ends with."""

    def __init__(self, folder: Path, *, seed: int = 1, duration: float = 0.3) -> None:
        self.folder = folder
        self.random = random.Random(seed)  # noqa: S311 - kill times, not secrets
        faults = Faults(post_429=0.05, retry_after_date=True, download_503=0.1, post_delay=0.15)
        self.server = CountingServer(duration, faults).start()

    def close(self) -> None:
        """Stop the server."""
        self.server.stop()

    def run(
        self, runner: str, source: Path, out: Path, *extra: str, kill_after: float | None = None, **popen: Any
    ) -> int | None:
        """One batch run; SIGKILLed after ``kill_after`` seconds if given (then None if it was still running)."""
        command = child_command(runner, source, out, self.server.base_url, *extra)
        process = subprocess.Popen(
            command, env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen
        )
        try:
            _, err = process.communicate(timeout=kill_after if kill_after is not None else RUN_LIMIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return None
        self.last_stderr = err.decode(errors="replace")
        return process.returncode

    def check(self, report: CampaignReport, prompts: list[str], out: Path) -> None:
        """Compare the server's counts with the journal and the saved files."""
        stats = self.server.stats()
        posts = {prompt: stats["posts"].get(prompt, 0) for prompt in prompts}
        report.most_posts = max(posts.values(), default=0)
        states = last_states(out / "journal.jsonl")
        for prompt in prompts:
            record = states.get(_identity(prompt))
            state = record["state"] if record else "none"
            if posts[prompt] and state in {"none", "pending"}:
                report.unjournaled_posts.append(prompt)
            if state == "submitting":
                report.uncertain += 1
                continue
            if posts[prompt] and state != "saved":
                report.lost.append(f"{prompt} ({state})")
            if (
                state == "saved"
                and record is not None
                and not all(Path(path).read_bytes().startswith(b"\x89PNG") for path in record["files"])
            ):
                report.lost.append(f"{prompt} (saved, but a file is missing or not an image)")
        report.passed = report.passed and report.most_posts <= 1 and not report.lost and not report.unjournaled_posts


def _prompts(name: str, count: int) -> list[str]:
    return [f"{name} item {index}" for index in range(count)]


def kill_campaign(campaign: Campaign, runner: str, kills: int, items: int = 16) -> CampaignReport:
    """``kills`` SIGKILLs at random points of one runner's batch, then runs until it ends by itself."""
    report = CampaignReport(f"SIGKILL x{kills}, {runner}")
    prompts = _prompts(f"kill-{runner}", items)
    work = campaign.folder / f"kill-{runner}"
    work.mkdir(parents=True)
    source = write_input(work / "edits.jsonl", prompts)
    out = work / "out"
    window = 2.5 if runner == "cli" else 1.6  # the CLI polls on the default (slower) schedule
    while report.kills < kills:
        code = campaign.run(runner, source, out, kill_after=campaign.random.uniform(0.25, window))
        if code is None:
            report.kills += 1
        else:
            report.exit_codes.append(code)
            if code == 0:  # it finished before the kill: start over with fresh items
                prompts += _prompts(f"kill-{runner}-{report.kills}-{len(prompts)}", items)
                write_input(source, prompts)
    for _ in range(5):  # resume until it ends by itself (uncertain items keep it at 3)
        code = campaign.run(runner, source, out)
        report.exit_codes.append(code if code is not None else -9)
        if code == 0 or (code == 3 and "item(s) not finished" not in campaign.last_stderr):
            break
    campaign.check(report, prompts, out)
    return report


def two_processes(campaign: Campaign, items: int = 24) -> CampaignReport:
    """A second batch on a journal in use is refused at once (exit 2), having sent nothing."""
    report = CampaignReport("two processes, one journal")
    prompts = _prompts("two", items)
    work = campaign.folder / "two"
    work.mkdir()
    source = write_input(work / "edits.jsonl", prompts)
    out = work / "out"
    first = subprocess.Popen(
        child_command("cli", source, out, campaign.server.base_url),
        env=_env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not (out / "journal.jsonl").exists() or (out / "journal.jsonl").stat().st_size < 300:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    started = time.monotonic()
    second = campaign.run("cli", source, out)
    took = time.monotonic() - started
    first.wait(RUN_LIMIT)
    report.exit_codes += [second if second is not None else -9, first.returncode]
    report.notes.append(f"second process: exit {second} after {took:.2f} s: {campaign.last_stderr.strip()[:160]}")
    if second != 2 or "in use" not in campaign.last_stderr or took > 5:
        report.passed = False
    campaign.check(report, prompts, out)
    return report


def full_disk(campaign: Campaign, runner: str = "cli", items: int = 16) -> CampaignReport:
    """A journal that cannot grow (RLIMIT_FSIZE): the batch stops with an error, never hangs; a re-run finishes."""
    report = CampaignReport(f"full disk (RLIMIT_FSIZE), {runner}")
    prompts = _prompts(f"disk-{runner}", items)
    work = campaign.folder / f"disk-{runner}"
    work.mkdir()
    source = write_input(work / "edits.jsonl", prompts)
    out = work / "out"

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # then a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))

    started = time.monotonic()
    code = campaign.run(runner, source, out, preexec_fn=small_files)
    took = time.monotonic() - started
    report.exit_codes.append(code if code is not None else -9)
    message = campaign.last_stderr.strip().splitlines()
    error = next((line for line in message if line.startswith("error:")), "no error line")
    report.notes.append(f"limited run: exit {code} after {took:.1f} s: {error[:200]}")
    if code is None or code == 0 or "cannot be written" not in campaign.last_stderr:
        report.passed = False
    code = campaign.run(runner, source, out)
    report.exit_codes.append(code if code is not None else -9)
    if code not in {0, 3}:
        report.passed = False
    campaign.check(report, prompts, out)
    return report


def torn_and_damaged(campaign: Campaign) -> CampaignReport:
    """A torn last line is dropped with a warning; a damaged middle line is refused with its number."""
    report = CampaignReport("torn last line, damaged line")
    prompts = _prompts("torn", 8)
    work = campaign.folder / "torn"
    work.mkdir()
    source = write_input(work / "edits.jsonl", prompts)
    out = work / "out"
    campaign.run("cli", source, out, kill_after=1.2)
    report.kills += 1
    journal = out / "journal.jsonl"
    if not journal.exists():  # killed before it wrote anything (a slow start on a busy machine): let it run
        campaign.run("cli", source, out)
    with journal.open("ab") as handle:
        handle.write(b'{"item":"0123abc#1","state":"subm')
    code = campaign.run("cli", source, out)
    report.exit_codes.append(code if code is not None else -9)
    report.notes.append(f"torn: exit {code}; {_first_warning(campaign.last_stderr)}")
    if code != 0 or "torn" not in campaign.last_stderr:
        report.passed = False
    lines = journal.read_bytes().split(b"\n")
    lines[2] = b"\x00\xff garbage"
    journal.write_bytes(b"\n".join(lines))
    posts = sum(campaign.server.stats()["posts"].values())
    code = campaign.run("cli", source, out)
    report.exit_codes.append(code if code is not None else -9)
    report.notes.append(f"damaged line 3: exit {code}; {campaign.last_stderr.strip()[:160]}")
    if code != 2 or "line 3" not in campaign.last_stderr or sum(campaign.server.stats()["posts"].values()) != posts:
        report.passed = False
    lines[2] = b'{"item":"fffffffffffffffffffffffffffffff0#1","state":"pending","index":0}'
    journal.write_bytes(b"\n".join(lines))
    campaign.check(report, prompts, out)
    return report


def edited_input(campaign: Campaign) -> CampaignReport:
    """After a complete run: a line deleted, the rest reordered, two appended: only the new two are sent."""
    report = CampaignReport("edited input file")
    prompts = _prompts("edit", 6)
    work = campaign.folder / "edit"
    work.mkdir()
    source = write_input(work / "edits.jsonl", prompts)
    out = work / "out"
    report.exit_codes.append(campaign.run("cli", source, out) or 0)
    before = sum(campaign.server.stats()["posts"].get(prompt, 0) for prompt in prompts)
    edited = [*reversed(prompts[1:]), "edit item new 1", "edit item new 2"]
    write_input(source, edited)
    code = campaign.run("cli", source, out)
    report.exit_codes.append(code if code is not None else -9)
    after = sum(campaign.server.stats()["posts"].get(prompt, 0) for prompt in [*prompts, *edited[-2:]])
    report.notes.append(
        f"POSTs: {before} for 6 lines; {after - before} more after deleting 1, reversing 5, appending 2;"
        f" {_first_warning(campaign.last_stderr)}"
    )
    if code != 0 or after - before != 2 or "match no item" not in campaign.last_stderr:
        report.passed = False
    campaign.check(report, [*prompts[1:], *edited[-2:]], out)
    return report


def _first_warning(stderr: str) -> str:
    return next((line[:200] for line in stderr.splitlines() if line.startswith("warning:")), "no warning")


@contextmanager
def _campaign(folder: Path | None, seed: int) -> Iterator[Campaign]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="evolink-campaign-") as scratch:
        campaign = Campaign(folder or Path(scratch), seed=seed)
        try:
            yield campaign
        finally:
            campaign.close()


def run_all(kills: int, seed: int = 1, folder: Path | None = None) -> list[CampaignReport]:
    """Every attack; ``kills`` SIGKILLs per runner."""
    with _campaign(folder, seed) as campaign:
        reports = [kill_campaign(campaign, runner, kills) for runner in RUNNERS]
        reports += [two_processes(campaign), full_disk(campaign), torn_and_damaged(campaign), edited_input(campaign)]
    return reports


def main(argv: list[str] | None = None) -> int:
    """Run the campaign and print one line per attack; exit 1 if any check failed."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        return _child(*argv[1:5])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per runner (sync, async, cli); default 20")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.monotonic()
    reports = run_all(args.kills, args.seed)
    for report in reports:
        print(report.line())
    total = sum(report.kills for report in reports)
    verdict = "all checks passed" if all(report.passed for report in reports) else "CHECKS FAILED"
    print(f"{total} SIGKILLs in all, {time.monotonic() - started:.0f} s; {verdict}")
    return 0 if all(report.passed for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
