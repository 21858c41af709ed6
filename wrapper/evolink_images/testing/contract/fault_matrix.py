"""The fault matrix: every fault crossed with every operation, for both clients, through the fake.

    python -m evolink_images.testing.contract.fault_matrix      # prints the matrix (scripts/fault-matrix)

Each fault is injected for every request of the operation under test (``wait`` meets it on its
first three polls, then the task goes on), so retries meet it too. A cell records the outcome (the
result, or the exception's class), the POSTs the operation sent, the tasks it created, and whether
an exception raised after a task existed carried the task's id. ``check`` states the rules.
"""

from __future__ import annotations

import asyncio
import email.utils
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evolink_images import EvoLinkError, Task, WanImageToImage
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan

__all__ = ["FAULTS", "OPERATIONS", "Cell", "check", "render", "run"]

OPERATIONS = ["submit", "get_task", "wait", "download"]
NO_TASK_FAULTS = {"connection refused", "connect timeout", "429", "429 Retry-After: 2", "429 Retry-After: date", "503"}
"""Faults that prove no task was created: only these may make a submit send more than one POST."""


def _date_in(seconds: float) -> str:
    return email.utils.formatdate(time.time() + seconds, usegmt=True)


# name: (fault kind, options); the target (POST, GET or the result host) follows the operation.
FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "connection refused": ("connect_error", {}),
    "connect timeout": ("connect_timeout", {}),
    "read timeout": ("read_timeout", {}),
    "429": ("rate_limit", {}),
    "429 Retry-After: 2": ("rate_limit", {"retry_after": "2"}),
    "429 Retry-After: date": ("rate_limit", {"retry_after": "date"}),
    "500": ("server_error", {}),
    "502 HTML page": ("bad_gateway_html", {}),
    "503": ("unavailable", {}),
    "520": ("status_520", {}),
    "truncated JSON": ("truncated_json", {}),
    "200 not JSON": ("not_json", {}),
    "empty body": ("empty_body", {}),
    "unknown status": ("unknown_status", {}),
    "missing fields": ("missing_fields", {}),
    "task_info: null": ("task_info_null", {}),
    "completed without results": ("completed_without_results", {}),
    "very large body": ("huge_body", {}),
    "result URL 404": ("not_found", {}),
    "result URL HTML": ("html_result", {}),
}
_RESULT_HOST_ONLY = {"result URL 404", "result URL HTML"}


@dataclass(frozen=True)
class Cell:
    """One fault meeting one operation of one client."""

    client: str
    fault: str
    operation: str
    outcome: str
    posts: int
    created: int
    error: EvoLinkError | None
    task_id: str | None
    """The id of the task that existed before the error, if one did."""

    @property
    def applies(self) -> bool:
        """False where the fault cannot meet the operation (a result-host fault on an API call)."""
        return self.operation == "download" or self.fault not in _RESULT_HOST_ONLY


def _inject(fake: FakeEvoLink, fault: str, target: str, times: int) -> None:
    kind, options = FAULTS[fault]
    options = {**options}
    if options.get("retry_after") == "date":
        options["retry_after"] = _date_in(3)
    fake.inject(kind, target=target, times=times, **options)  # type: ignore[arg-type]


def _cell(kind: str, fault: str, operation: str) -> Cell:
    clock = FakeClock()
    fake = FakeEvoLink(clock=clock, plan=TaskPlan(duration=10))
    request = WanImageToImage("Make it night", ["https://example.com/a.png"])
    calls = _calls(kind, fake)
    existing: Task | None = None
    if operation != "submit":
        existing = calls["submit"](request)
        if operation == "download":
            clock.advance(60)
            existing = calls["get_task"](existing.id)
    posts_before = fake.posts()
    target = {"submit": "POST", "download": "files"}.get(operation, "GET")
    if fault in _RESULT_HOST_ONLY and operation != "download":
        target = "files"  # it cannot meet this operation: recorded as not applying
    _inject(fake, fault, target, times=3 if operation == "wait" else 100)
    error: EvoLinkError | None = None
    try:
        if operation == "submit":
            result: object = calls["submit"](request)
        elif operation == "download":
            assert existing is not None
            with tempfile.TemporaryDirectory() as folder:
                result = calls["download"](existing, folder)
        else:
            assert existing is not None
            result = calls[operation](existing if operation == "wait" else existing.id)
        outcome = _describe(result)
    except EvoLinkError as raised:
        error, outcome = raised, type(raised).__name__
    except Exception as raised:
        outcome = f"UNDOCUMENTED {type(raised).__name__}"
    return Cell(kind, fault, operation, outcome, fake.posts() - posts_before, fake.created, error,
                existing.id if existing else None)  # fmt: skip


def _describe(result: object) -> str:
    if isinstance(result, Task):
        return f"ok ({result.status})"
    if isinstance(result, list):
        return f"ok ({len(result)} files)"
    return "ok"


def _calls(kind: str, fake: FakeEvoLink) -> dict[str, Callable[..., Any]]:
    if kind == "sync":
        client = fake.client()
        return {
            "submit": client.submit,
            "get_task": client.get_task,
            "wait": lambda task: client.wait(task, timeout=600),
            "download": client.download,
        }
    aclient = fake.async_client()

    def run(name: str) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            method = getattr(aclient, name)
            extra = {"timeout": 600} if name == "wait" else {}
            return asyncio.run(method(*args, **extra))

        return call

    return {name: run(name) for name in OPERATIONS}


def run(kinds: tuple[str, ...] = ("sync", "async")) -> list[Cell]:
    """Every cell of the matrix."""
    return [_cell(kind, fault, operation) for kind in kinds for fault in FAULTS for operation in OPERATIONS]


def check(cell: Cell) -> list[str]:
    """The rules a cell breaks (empty when it keeps them all)."""
    problems = []
    if cell.outcome.startswith("UNDOCUMENTED"):
        problems.append(f"raised an undocumented {cell.outcome.split()[-1]}")
    if cell.posts > 1 and cell.fault not in NO_TASK_FAULTS:
        problems.append(f"sent {cell.posts} POSTs although the fault does not prove that no task exists")
    if cell.created > 1:
        problems.append(f"created {cell.created} tasks")
    if cell.error is not None and cell.task_id is not None and cell.error.task_id != cell.task_id:
        problems.append("an error raised after the task existed does not carry its id")
    if cell.operation == "submit" and cell.error is not None and cell.created and not _says_may_exist(cell.error):
        problems.append("a failed submit that created a task does not say a task may exist")
    return problems


def _says_may_exist(error: EvoLinkError) -> bool:
    return bool(getattr(error, "task_may_exist", False))


def render(cells: list[Cell]) -> str:
    """The matrix as Markdown: faults down, operations across; each cell: outcome, POSTs."""
    lines = []
    for kind in dict.fromkeys(cell.client for cell in cells):
        lines.append(f"\n### {'Client' if kind == 'sync' else 'AsyncClient'}\n")
        lines.append("| fault | " + " | ".join(OPERATIONS) + " |")
        lines.append("|---|" + "---|" * len(OPERATIONS))
        for fault in FAULTS:
            row = []
            for operation in OPERATIONS:
                cell = next(c for c in cells if (c.client, c.fault, c.operation) == (kind, fault, operation))
                text = "n/a" if not cell.applies else f"{cell.outcome}, {cell.posts} POST"
                if cell.applies and check(cell):
                    text += " **BREAKS: " + "; ".join(check(cell)) + "**"
                row.append(text)
            lines.append(f"| {fault} | " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    matrix = run()
    print(render(matrix))
    broken = [cell for cell in matrix if cell.applies and check(cell)]
    print(f"\n{len(matrix)} cells, {sum(c.applies for c in matrix)} that apply, {len(broken)} breaking a rule.")
    raise SystemExit(1 if broken else 0)
