"""A call's total budget, as a deadline on the real monotonic clock that every step of the call consumes.

A per-read timeout bounds silence, not duration: a server that sends one byte every half second
never trips it. So each exchange runs under a deadline fixed when the call starts; the socket layer
(``sockets.py``) shrinks every connect, read and write to what is left of it, and the body reader
(``guard.py``) checks it between chunks. The deadline lives in a context variable, so it follows the
exchange into httpcore's reads (same thread for the sync client, same task for the async one)
without being threaded through httpx.
"""

from __future__ import annotations

import contextvars
import time
from types import TracebackType

import httpx

__all__ = ["DeadlineExceeded", "bounded", "current", "deadline_passed", "enter", "leave", "scope"]

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("evolink_wire_deadline", default=None)


class DeadlineExceeded(httpx.TimeoutException):
    """The call's total time budget ran out (whatever the server was doing: silent, slow or trickling)."""


def current() -> float | None:
    """The deadline in force (a ``time.monotonic()`` value), or None."""
    return _DEADLINE.get()


def deadline_passed(deadline: float | None) -> bool:
    """True when ``deadline`` is set and has passed."""
    return deadline is not None and time.monotonic() >= deadline


def bounded(timeout: float | None) -> float | None:
    """Return ``timeout`` shrunk to what is left of the deadline in force.

    Raises:
        DeadlineExceeded: nothing is left.
    """
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("the call's time budget ran out")
    return left if timeout is None else min(timeout, left)


def enter(deadline: float) -> contextvars.Token[float | None]:
    """Put ``deadline`` in force until ``leave`` (the cheap form of ``scope``, for every chunk of every body)."""
    return _DEADLINE.set(deadline)


def leave(token: contextvars.Token[float | None]) -> None:
    """Restore the deadline that was in force before ``enter``."""
    _DEADLINE.reset(token)


class scope:
    """Put ``deadline`` in force inside the block (None leaves the one in force as it is).

    A class rather than a generator-based context manager: it wraps every chunk of every body.
    """

    __slots__ = ("_deadline", "_token")

    def __init__(self, deadline: float | None) -> None:
        self._deadline = deadline
        self._token: contextvars.Token[float | None] | None = None

    def __enter__(self) -> None:
        if self._deadline is not None:
            self._token = _DEADLINE.set(self._deadline)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._token is not None:
            _DEADLINE.reset(self._token)
            self._token = None
