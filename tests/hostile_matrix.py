"""Every public call against every hostile behaviour: how long it took, how much memory, what it raised.

``run_case`` drives one call (sync or async) against a ``HostileServer`` and measures it;
``expected`` says the one exception each case must end in. ``tests/test_hostile_server.py`` asserts
the whole matrix; ``scripts/hostile-matrix`` prints it as the README's table.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import tracemalloc
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolink_images import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    Client,
    DownloadError,
    RequestValidationError,
    Task,
    TaskFailedError,
    WaitTimeoutError,
    WanImageToImage,
)

from .hostile_server import BEHAVIOURS, HostileServer, build_bombs

__all__ = ["BUDGET", "MEMORY_BEHAVIOURS", "OPERATIONS", "WAIT", "Outcome", "expected", "run_case", "run_many"]

BUDGET = 1.5
"""Each call's total budget: the clients' ``timeout`` (preflight included) and ``download(timeout=...)``."""
WAIT = 2.5
"""``wait(timeout=WAIT)``: it must end within WAIT + 1 s."""
MAX_BYTES = 1024 * 1024
"""The download cap used here (the API answer cap is 1 MiB by default)."""
OPERATIONS = ("submit", "get_task", "wait", "download", "preflight")
MEMORY_BEHAVIOURS = ("gzip bomb", "deflate bomb", "stacked gzip bomb", "2 GiB body", "endless chunked body")
_TASK_ECHOES = ("key in a failed task", "key escaped in a task", "key in the status")
_SLOW = {"trickled status line", "trickled headers", "trickled body", "silent after headers", "silent"}


@dataclass(frozen=True)
class Outcome:
    """How one case ended."""

    behaviour: str
    operation: str
    kind: str
    wall: float
    peak: int | None
    """Peak traced memory in bytes, when measured."""
    error: BaseException | None
    value: Any = None
    """What the call returned, when it did not raise."""

    @property
    def limit(self) -> float:
        """The wall time the call promises (before slack for a busy machine)."""
        return WAIT + 1.0 if self.operation == "wait" else BUDGET


def expected(behaviour: str, operation: str) -> type[BaseException] | type[None]:
    """The one exception a case must end in."""
    if operation == "download":
        return DownloadError
    if operation == "preflight":
        return RequestValidationError
    if behaviour == "echoed key":
        return AuthenticationError
    if behaviour in _TASK_ECHOES and operation != "wait":
        return type(None)  # a task body that parses: the call returns it
    if behaviour in _TASK_ECHOES:
        return TaskFailedError if "failed" in behaviour or "escaped" in behaviour else WaitTimeoutError
    if behaviour == "redirect loop":
        return APIStatusError
    if operation == "wait":
        return WaitTimeoutError
    if behaviour in _SLOW:
        return APITimeoutError
    if behaviour in {"1 MB of headers", "garbled status line"}:
        return APIConnectionError
    return APIResponseError


def _call(client: Any, operation: str, server: HostileServer, folder: Path) -> Any:
    """The call to make (a coroutine for an ``AsyncClient``)."""
    if operation == "submit":
        return client.submit(WanImageToImage("x", ["https://example.com/a.png"]))
    if operation == "get_task":
        return client.get_task("task-unified-1-hostile")
    if operation == "wait":
        return client.wait("task-unified-1-hostile", timeout=WAIT)
    if operation == "download":
        task = Task(id="task-unified-1-hostile", status="completed", results=(f"{server.url}/files/r.png",))
        return client.download(task, folder, max_bytes=MAX_BYTES, timeout=BUDGET)
    return client.submit(WanImageToImage("x", [f"{server.url}/files/in.png"]), preflight=True)


def run_case(behaviour: str, operation: str, kind: str, *, measure_memory: bool = False) -> Outcome:
    """Run one call against a fresh hostile server and measure it."""
    build_bombs()
    with HostileServer(BEHAVIOURS[behaviour]) as server, tempfile.TemporaryDirectory() as folder:
        options: dict[str, Any] = {"base_url": server.url, "timeout": BUDGET}
        if measure_memory:
            tracemalloc.start()
        start = time.monotonic()
        error: BaseException | None = None
        value: Any = None
        try:
            if kind == "sync":
                with Client(server.key, **options) as client:
                    value = _call(client, operation, server, Path(folder))
            else:

                async def main() -> Any:
                    async with AsyncClient(server.key, **options) as client:
                        return await _call(client, operation, server, Path(folder))

                value = asyncio.run(main())
        except BaseException as raised:
            error = raised
        wall = time.monotonic() - start
        peak = None
        if measure_memory:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    return Outcome(behaviour, operation, kind, wall, peak, error, value)


def run_many(cases: Iterable[tuple[str, str, str]], workers: int = 12) -> list[Outcome]:
    """Run cases side by side (they mostly wait on sockets); return their outcomes in order."""
    build_bombs()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda case: run_case(*case), cases))


def every_case() -> list[tuple[str, str, str]]:
    """Every behaviour crossed with every operation, sync and async."""
    return [(b, o, k) for b in BEHAVIOURS for o in OPERATIONS for k in ("sync", "async")]


def table(outcomes: list[Outcome], memory: dict[tuple[str, str], int]) -> str:
    """The README's table: per behaviour and operation, what it raised and the worst wall time."""
    lines = [
        "| behaviour | " + " | ".join(OPERATIONS) + " |",
        "|---|" + "---|" * len(OPERATIONS),
    ]
    for behaviour in BEHAVIOURS:
        cells = []
        for operation in OPERATIONS:
            both = [o for o in outcomes if (o.behaviour, o.operation) == (behaviour, operation)]
            names = sorted({type(o.error).__name__ if o.error else "no error" for o in both})
            cell = f"{'/'.join(names)}, {max(o.wall for o in both):.1f} s"
            if (behaviour, operation) in memory:
                cell += f", {memory[behaviour, operation] / 2**20:.1f} MiB"
            cells.append(cell)
        lines.append(f"| {behaviour} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Print the matrix (``scripts/hostile-matrix``)."""
    start = time.monotonic()
    outcomes = run_many(every_case())
    memory: dict[tuple[str, str], int] = {}
    for behaviour in MEMORY_BEHAVIOURS:
        for operation in ("submit", "get_task", "download", "preflight"):
            for kind in ("sync", "async"):
                peak = run_case(behaviour, operation, kind, measure_memory=True).peak or 0
                memory[behaviour, operation] = max(memory.get((behaviour, operation), 0), peak)
    print(table(outcomes, memory))
    wrong = [o for o in outcomes if type(o.error) is not expected(o.behaviour, o.operation)]
    print(
        f"\n{len(outcomes)} cases in {time.monotonic() - start:.0f} s; budget {BUDGET} s, wait {WAIT} s;"
        f" {len(wrong)} ended in an unexpected way"
    )
    for outcome in wrong:
        print(f"  {outcome.behaviour} / {outcome.operation} / {outcome.kind}: {outcome.error!r}")


if __name__ == "__main__":
    main()
