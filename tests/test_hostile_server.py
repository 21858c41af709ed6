"""Every public call against a hostile server on raw sockets: in time, in memory, only documented errors.

The server (``hostile_server.py``) shares none of the client's assumptions: it trickles, goes
silent, bombs, garbles and echoes the key. The matrix (``hostile_matrix.py``) runs every behaviour
against every call, sync and async, side by side (they mostly wait on sockets); each case is
bounded by the client's own budget, and these tests hold the client to it with a couple of seconds
of slack for a busy machine.
"""

from __future__ import annotations

import gc
import types

import pytest

from evolink_images._config import DEFAULT_MAX_RESPONSE_BYTES
from evolink_images._rules import WAN_RULES

from .hostile_matrix import MAX_BYTES, MEMORY_BEHAVIOURS, Outcome, every_case, expected, run_case, run_many
from .hostile_server import HostileServer

SLACK = 2.0
"""Seconds of slack on every time limit, for a busy 2-core machine."""
MEMORY_SLACK = 16 * 1024 * 1024
"""Bytes of slack on every memory cap: the interpreter's and httpx's own allocations."""
KEY = HostileServer.key


@pytest.fixture(scope="module")
def matrix() -> list[Outcome]:
    return run_many(every_case())


def describe(outcomes: list[Outcome]) -> str:
    return "\n".join(f"{o.behaviour} / {o.operation} / {o.kind}: {o.wall:.1f} s, {o.error!r}" for o in outcomes)


def test_every_call_ends_in_its_documented_error_whatever_the_server_does(matrix: list[Outcome]) -> None:
    wrong = [o for o in matrix if type(o.error) is not expected(o.behaviour, o.operation)]
    assert wrong == [], describe(wrong)


def test_no_server_behaviour_stretches_a_call_past_its_budget(matrix: list[Outcome]) -> None:
    late = [o for o in matrix if o.wall > o.limit + SLACK]
    assert late == [], describe(late)


def test_a_trickling_server_is_cut_off_at_the_budget_not_after_its_last_byte(matrix: list[Outcome]) -> None:
    # The trickles last LIFETIME (8 s) at least: a per-read timeout would have let each run its course.
    trickles = [o for o in matrix if o.behaviour.startswith("trickled") and o.operation in {"submit", "get_task"}]
    assert len(trickles) == 12
    assert all(o.wall <= o.limit + SLACK for o in trickles), describe(trickles)


@pytest.mark.parametrize("behaviour", MEMORY_BEHAVIOURS)
@pytest.mark.parametrize("operation", ["submit", "get_task", "download", "preflight"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_no_body_holds_more_memory_than_its_cap(behaviour: str, operation: str, kind: str) -> None:
    outcome = run_case(behaviour, operation, kind, measure_memory=True)
    cap = {"download": MAX_BYTES, "preflight": WAN_RULES.image_max_bytes}.get(operation, DEFAULT_MAX_RESPONSE_BYTES)
    assert cap is not None
    assert outcome.peak is not None
    assert outcome.peak <= cap + MEMORY_SLACK, f"{outcome.peak / 2**20:.1f} MiB for a cap of {cap / 2**20:.1f} MiB"
    assert type(outcome.error) is expected(behaviour, operation)


def holds_key(root: object) -> list[str]:
    """Where the key shows in anything reachable from ``root`` (tracebacks aside: frames hold the client)."""
    seen: set[int] = set()
    stack, found = [root], []
    while stack and len(seen) < 50_000:
        item = stack.pop()
        if id(item) in seen or isinstance(item, type | types.ModuleType | types.FunctionType | types.TracebackType):
            continue
        seen.add(id(item))
        if isinstance(item, str):
            if KEY in item:
                found.append(repr(item)[:120])
            continue
        if isinstance(item, bytes | bytearray):
            if KEY.encode() in item:
                found.append(repr(item)[:120])
            continue
        stack.extend(gc.get_referents(item))
    return found


def test_the_key_reaches_no_attribute_of_any_error_or_task_whatever_the_server_echoes(matrix: list[Outcome]) -> None:
    echoes = [o for o in matrix if "key" in o.behaviour]
    assert len(echoes) == 40
    leaks = {
        f"{o.behaviour} / {o.operation} / {o.kind}": holds_key(o.error if o.error is not None else o.value)
        for o in matrix
    }
    assert {case: where for case, where in leaks.items() if where} == {}
    texts = [str(o.error) + repr(o.error) for o in echoes if o.error is not None]
    assert all(KEY not in text for text in texts)
    assert any("<redacted>" in text for text in texts)
