"""Faults the fake EvoLink can inject: what each one does to one response, and whether a task is created.

A fault is queued with ``FakeEvoLink.inject(kind, target=..., times=...)`` and consumed by the next
matching requests. ``after_create`` says whether a POST that meets the fault still creates (and
bills) the task, as a real server that failed after accepting the request would; by default it is
what the fault implies (a read timeout or a 500 may come after the task exists; a refused
connection, a 429 or a 503 cannot).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from .wire import FakeResponse, error_response

__all__ = [
    "BODY_FAULTS",
    "FAULT_KINDS",
    "STATUS_FAULTS",
    "TARGETS",
    "TRANSPORT_FAULTS",
    "Fault",
    "FaultKind",
    "Target",
    "apply_fault",
]

Target = Literal["POST", "GET", "files", "upload", "quota"]
"""Which requests a fault meets: task creations, task reads, result downloads, uploads, or quota reads.

For an upload, ``after_create`` says whether the file is stored all the same (a quota slot used)."""
TARGETS: frozenset[str] = frozenset(get_args(Target))

FaultKind = Literal[
    "connect_error",
    "connect_timeout",
    "read_timeout",
    "dropped",
    "rate_limit",
    "server_error",
    "bad_gateway_html",
    "unavailable",
    "status_520",
    "not_found",
    "truncated_json",
    "not_json",
    "empty_body",
    "unknown_status",
    "extra_fields",
    "missing_fields",
    "task_info_null",
    "completed_without_results",
    "huge_body",
    "html_result",
]
"""Every fault the fake can inject; the sets below sort them by what they do (a test checks they agree)."""

TRANSPORT_FAULTS: frozenset[str] = frozenset({"connect_error", "connect_timeout", "read_timeout", "dropped"})
"""No HTTP response at all: the respx face raises the httpx exception, the server face hangs or hangs up."""

STATUS_FAULTS: dict[str, int] = {
    "rate_limit": 429,
    "server_error": 500,
    "bad_gateway_html": 502,
    "unavailable": 503,
    "status_520": 520,
    "not_found": 404,
}
"""An error status (with the documented JSON body, or an HTML page for ``bad_gateway_html``)."""

BODY_FAULTS: frozenset[str] = frozenset(
    {
        "truncated_json",
        "not_json",
        "empty_body",
        "unknown_status",
        "extra_fields",
        "missing_fields",
        "task_info_null",
        "completed_without_results",
        "huge_body",
        "html_result",
    }
)
"""A 200 whose body is damaged or unusual (``html_result`` applies to result downloads)."""

FAULT_KINDS: frozenset[FaultKind] = frozenset(get_args(FaultKind))

_CREATES_BY_DEFAULT = frozenset(
    {"read_timeout", "dropped", "server_error", "bad_gateway_html", "status_520"} | BODY_FAULTS
)


@dataclass
class Fault:
    """One queued fault."""

    kind: FaultKind
    target: Target = "GET"
    times: int = 1
    retry_after: str | None = None
    """The ``Retry-After`` header to send with ``rate_limit`` or ``unavailable`` (seconds or an HTTP date)."""
    after_create: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(sorted(FAULT_KINDS))}")
        if self.target not in TARGETS:
            raise ValueError(f"unknown fault target {self.target!r}; known: {', '.join(sorted(TARGETS))}")
        if self.times < 1:
            raise ValueError("times must be at least 1")

    @property
    def creates_task(self) -> bool:
        """Whether a POST meeting this fault still creates the task."""
        if self.after_create is not None:
            return self.after_create
        return self.kind in _CREATES_BY_DEFAULT


def apply_fault(fault: Fault, body: dict[str, Any] | None, plain: FakeResponse | None = None) -> FakeResponse:
    """Apply ``fault`` to the response that ``body`` (a task) or ``plain`` would have been."""
    kind = fault.kind
    if kind in TRANSPORT_FAULTS:
        return FakeResponse(0, {}, b"", transport_fault=kind)
    if kind in STATUS_FAULTS:
        status = STATUS_FAULTS[kind]
        extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        if kind == "bad_gateway_html":
            return FakeResponse(status, {"content-type": "text/html"}, b"<html><h1>502 Bad Gateway</h1></html>")
        return error_response(status, kind, f"injected fault: {kind}", **extra)
    if kind == "html_result":
        return FakeResponse(200, {"content-type": "text/html"}, b"<html>expired</html>")
    text = json.dumps(body if body is not None else {}).encode()
    damaged: dict[str, Callable[[], FakeResponse]] = {
        "truncated_json": lambda: FakeResponse(200, {"content-type": "application/json"}, text[: len(text) // 2]),
        "not_json": lambda: FakeResponse(200, {"content-type": "text/plain"}, b"OK"),
        "empty_body": lambda: FakeResponse(200, {"content-type": "application/json"}, b""),
    }
    if kind in damaged:
        return damaged[kind]()
    changed = dict(body or {})
    if kind == "unknown_status":
        changed["status"] = "queued_for_moderation"
    elif kind == "extra_fields":
        changed["watermark"] = {"position": "bottom-right"}
        changed["task_info"] = {**changed.get("task_info", {}), "queue_position": 3}
    elif kind == "missing_fields":
        changed = {key: changed[key] for key in ("id", "status") if key in changed}
    elif kind == "task_info_null":
        changed["task_info"] = None
    elif kind == "completed_without_results":
        changed["status"] = "completed"
        changed.pop("results", None)
    elif kind == "huge_body":
        changed["padding"] = "x" * 5_000_000
    return FakeResponse.json(200, changed)
