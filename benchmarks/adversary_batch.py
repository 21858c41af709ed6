"""The adversary's random-kill campaign against batches (issue 10): ``scripts/adversary-batch``.

For each runner (the command line, ``Client.run_many`` and ``AsyncClient.run_many`` in a user's
script, ``benchmarks/adversary_runner.py``), it SIGKILLs the process at random points, resumes it
each time, then lets it finish (with ``--resend-uncertain`` last, against a server that honours
idempotency keys), all against ``benchmarks/adversary_server.py``: POST answers delayed up to
0.2 s, 5% of POSTs answered 429 with an HTTP-date ``Retry-After``, 10% of downloads 503.

Per campaign it prints the most POSTs for one item before the final resend, not counting those
answered 429 (must be 1), the most
tasks created for one item (must be 1), the paid tasks whose results are missing at the end (must
be 0), the exit codes seen and the leftover temporary files. Bounded: ``--kills`` per runner
(default 20) and ``--max-seconds`` per campaign (default 150). Exits 1 on any broken promise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.adversary_server import AdversaryServer, State, canonical

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-evo-adversary-campaign-0000000000"


def items(count: int) -> list[dict[str, Any]]:
    """``count`` distinct lines plus one duplicate."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        item: dict[str, Any] = {"model": "wan2.5-image-to-image", "prompt": f"campaign item {i}"}
        item["image_urls"] = ["https://example.com/in.png"]
        if i % 3 == 0:
            item["n"] = 2
        out.append(item)
    out.append(dict(out[1]))  # one duplicate line: two items, two tasks
    return out


def command(runner: str, src: Path, work: Path, resend: bool) -> list[str]:
    """The command line of one run."""
    if runner == "cli":
        cmd = [str(Path(sys.executable).parent / "evolink-images"), "batch", str(src), "--out", str(work / "out")]
        cmd += ["--concurrency", "4", "--timeout", "60"]
        return [*cmd, "--resend-uncertain"] if resend else cmd
    cmd = [sys.executable, "-m", "benchmarks.adversary_runner", runner, str(src), str(work / "journal.jsonl")]
    cmd += [str(work / "out"), "60"]
    return [*cmd, "--resend-uncertain"] if resend else cmd


def campaign(runner: str, kills: int, max_seconds: float, rng: random.Random) -> dict[str, Any]:
    """Kills one runner at random points, resumes it until done, and counts."""
    state = State(task_seconds=0.6, post_delay=0.2, post_429_rate=0.05, download_503_rate=0.1, retry_after_s=1)
    work = Path(tempfile.mkdtemp(prefix=f"adversary-{runner}-"))
    lines = items(12)
    src = work / "in.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    codes: Counter[str] = Counter()
    tracebacks = 0
    done_kills = 0
    start = time.monotonic()
    with AdversaryServer(state) as server:
        env = dict(os.environ, EVOLINK_API_KEY=KEY, EVOLINK_BASE_URL=server.url)
        env.pop("EVOLINK_LOG", None)

        def run(kill_after: float | None, resend: bool = False) -> int:
            nonlocal tracebacks
            with tempfile.TemporaryFile() as err:
                proc = subprocess.Popen(
                    command(runner, src, work, resend), env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err
                )
                try:
                    rc = proc.wait(timeout=kill_after if kill_after is not None else 120)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    rc = proc.wait()
                err.seek(0)
                if b"Traceback" in err.read():
                    tracebacks += 1
            return rc

        while done_kills < kills and time.monotonic() - start < max_seconds:
            rc = run(rng.uniform(0.3, 3.0))
            codes[str(rc)] += 1
            if rc == -signal.SIGKILL:
                done_kills += 1
            elif rc in (0, 3, 4):
                # ended by itself (3: items left uncertain by a kill, never resent without asking): more
                # work to kill, appended (appending never re-pays)
                more = [{**lines[0], "prompt": f"campaign more {done_kills}-{i}"} for i in range(4)]
                lines.extend(more)
                src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
        final = run(None)
        codes[f"final {final}"] += 1
        before_resend = state.snapshot()
        if final != 0:
            final = run(None, resend=True)
            codes[f"resend {final}"] += 1
        snap = state.snapshot()
    occurrences = Counter(canonical(x) for x in lines)
    accepted = before_resend["accepted"]
    most_posts = max(accepted.get(k, 0) / occurrences[k] for k in occurrences)
    most_sent = max(before_resend["posts"].get(k, 0) / occurrences[k] for k in occurrences)
    most_created = max(snap["created"].get(k, 0) / occurrences[k] for k in occurrences)
    files = {p.name for p in (work / "out").glob("*.png")}
    lost = 0
    for task_id, body in snap["tasks"].items():
        n = json.loads(body).get("n", 1)
        if not all(f"{task_id}-{i}.png" in files for i in range(n)):
            lost += 1
    leftovers = [p.name for p in (work / "out").iterdir() if p.name.startswith(".")]
    shutil.rmtree(work, ignore_errors=True)
    return {
        "runner": runner,
        "kills": done_kills,
        "items": len(lines),
        "most_posts_per_item": most_posts,
        "most_posts_with_429s": most_sent,
        "most_tasks_per_item": most_created,
        "lost_results": lost,
        "missing_items": sum(1 for k in occurrences if snap["created"].get(k, 0) < occurrences[k]),
        "exit_codes": dict(codes),
        "tracebacks": tracebacks,
        "leftover_temp_files": len(leftovers),
        "seconds": round(time.monotonic() - start, 1),
        "final": final,
    }


def main(argv: list[str] | None = None) -> int:
    """Runs every campaign; 1 if any promise broke."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per runner (default 20)")
    parser.add_argument("--max-seconds", type=float, default=150.0, help="bound per campaign (default 150)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--runners", default="cli,sync,async")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)  # noqa: S311 - kill times
    rng = random.Random(seed)  # noqa: S311 - kill times, not secrets
    print(f"seed {seed}")
    broken = False
    for runner in args.runners.split(","):
        result = campaign(runner, args.kills, args.max_seconds, rng)
        print(json.dumps(result), flush=True)
        bad = (
            result["most_posts_per_item"] > 1
            or result["most_tasks_per_item"] > 1
            or result["lost_results"]
            or result["missing_items"]
            or result["tracebacks"]
            or result["final"] != 0
        )
        broken = broken or bool(bad)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
