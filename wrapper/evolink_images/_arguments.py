"""Checks of a call's arguments other than the request (``_rules.py`` checks requests).

Every public method runs its arguments through here first, so that a wrong type or value becomes a
``RequestValidationError`` naming the argument, never a ``TypeError`` from deep inside.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._errors import RequestValidationError, Violation, shown
from ._task import Task

__all__ = [
    "MAX_TASK_ID",
    "check_count",
    "check_dest_dir",
    "check_flag",
    "check_headers",
    "check_retries",
    "check_seconds",
    "check_task",
    "check_task_id",
    "is_task_id",
]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_RESERVED_HEADERS = frozenset(
    {"authorization", "host", "content-length", "transfer-encoding", "content-type", "accept-encoding"}
)
_PER_SUBMIT = "idempotency-key"
"""One per submit (``submit(idempotency_key=...)``, or the client's own): never one shared by every request."""

MAX_TASK_ID = 256
"""Ids are short (``task-unified-1757156493-imcg5zqt``); a longer one cannot be a task's."""


def _refuse(name: str, value: Any, limit: str) -> RequestValidationError:
    return RequestValidationError([Violation(name, f"is {shown(value)}", limit)])


def is_task_id(text: object) -> bool:
    """True when ``text`` can name a task in ``GET /v1/tasks/{id}`` (the API's answers are held to it too)."""
    return (
        isinstance(text, str)
        and bool(text.strip())
        and text.isprintable()
        and len(text) <= MAX_TASK_ID
        and text.strip() not in {".", ".."}  # a path segment, not an id: /v1/tasks/.. is /v1
    )


def check_task_id(task_id: Any) -> str:
    """Return the id ``task_id`` names (a ``Task`` names its own)."""
    if isinstance(task_id, Task):
        return task_id.id
    if not is_task_id(task_id):
        raise _refuse("task_id", task_id, "a task id such as task-unified-..., at most 256 characters")
    return str(task_id)


def check_task(task: Any) -> Task:
    """Return ``task`` if it is a ``Task``."""
    if not isinstance(task, Task):
        raise _refuse("task", task, "a Task, as returned by submit, get_task or wait")
    return task


def check_seconds(name: str, value: Any) -> float:
    """Return ``value`` if it is a positive, finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise _refuse(name, value, "a positive number of seconds")
    try:
        return float(value)
    except OverflowError:  # an int beyond any float: 10**400 is below float("inf") but not a float
        raise _refuse(name, value, "a positive number of seconds") from None


def check_retries(name: str, value: Any) -> int:
    """Return ``value`` if it is a whole number of retries (0 or more)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _refuse(name, value, "a whole number of at least 0")
    return value


def check_count(name: str, value: Any) -> int:
    """Return ``value`` if it is a whole number of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _refuse(name, value, "a whole number of at least 1")
    return value


def check_dest_dir(dest_dir: Any) -> Path:
    """Return ``dest_dir`` as a path, if it names a folder that is or can be made."""
    if not isinstance(dest_dir, str | os.PathLike) or not os.fspath(dest_dir) or "\x00" in os.fspath(dest_dir):
        raise _refuse("dest_dir", dest_dir, "a folder path")
    return Path(dest_dir)


def check_headers(name: str, headers: Any) -> tuple[tuple[str, str], ...]:
    """Return ``headers`` (a mapping of header names to values) as pairs, if each may be sent.

    The key goes only in the ``Authorization`` header the client writes itself, the client frames
    and decodes the body, and an ``Idempotency-Key`` belongs to one submit (a header sent with
    every request would make different submits look like retries of one): those headers may not be
    set this way.
    """
    if headers is None:
        return ()
    if not isinstance(headers, Mapping):
        raise _refuse(name, headers, "a mapping of header names to text values")
    pairs = []
    for key, value in headers.items():
        if not isinstance(key, str) or not _TOKEN.fullmatch(key):
            raise _refuse(name, key, "header names made of token characters (RFC 9110)")
        if key.lower() == _PER_SUBMIT:
            raise _refuse(f"{name}[{key!r}]", value, "no Idempotency-Key header: pass submit(idempotency_key=...)")
        if key.lower() in _RESERVED_HEADERS:
            raise _refuse(f"{name}[{key!r}]", value, f"any header but {', '.join(sorted(_RESERVED_HEADERS))}")
        if not isinstance(value, str) or any(ch in value for ch in "\r\n\x00") or not value.isascii():
            raise _refuse(f"{name}[{key!r}]", value, "ASCII text on one line")
        pairs.append((key, value))
    return tuple(pairs)


def check_flag(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (an opt-in is never inferred from a truthy value)."""
    if not isinstance(value, bool):
        raise _refuse(name, value, "True or False")
    return value
