"""The API key, cut out of whatever a server sends back before anything of ours can hold it.

A server may echo the key (a 401 saying "Incorrect API key provided: sk-evo-..."), in a header, the
reason phrase, the body, or inside JSON strings written with escapes. ``Redactor`` replaces it in
each: header values and the reason phrase as they arrive, body bytes as they stream (holding back
just enough bytes to catch a key split across two chunks), and the strings of parsed JSON.

httpcore logs what it reads off the socket (the status line and every header) at DEBUG, before the
guard sees the response, and httpx logs the URL of every request at INFO: ``redact_logs`` puts a
filter on those loggers (and ours) that cuts the key of every live client out of each record.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable
from typing import Any

__all__ = ["LOGGERS", "MARK", "Redactor", "redact_logs"]

LOGGERS = (
    "evolink_images",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
"""The loggers that may write what a server sent: ours, httpx's and every one of httpcore's."""

MARK = "<redacted>"


class Redactor:
    """Knows one secret and removes it from text, bytes, headers and parsed JSON."""

    __slots__ = ("__weakref__", "_key", "_key_bytes")

    def __init__(self, key: str) -> None:
        self._key = key
        self._key_bytes = key.encode("utf-8")

    def __repr__(self) -> str:
        return "Redactor(<redacted>)"

    def holds(self, data: bytes) -> bool:
        """True when ``data`` carries the key."""
        return bool(self._key_bytes) and self._key_bytes in data

    def text(self, text: str) -> str:
        """``text`` without the key."""
        return text.replace(self._key, MARK) if self._key and self._key in text else text

    def data(self, data: bytes) -> bytes:
        """``data`` without the key."""
        key = self._key_bytes
        return data.replace(key, MARK.encode()) if key and key in data else data

    def headers(self, raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """Raw header pairs with the key cut out of every value."""
        return [(name, self.data(value)) for name, value in raw]

    def json(self, value: Any) -> Any:
        """Parsed JSON with the key cut out of every string and key (it may have been written escaped)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, dict):
            return {self.text(key): self.json(item) for key, item in value.items()}
        return value

    def stream(self) -> _StreamRedactor:
        """A redactor for one body arriving in chunks."""
        return _StreamRedactor(self)


class _StreamRedactor:
    """Redacts a body chunk by chunk, holding back a key's length less one so a split key is caught."""

    __slots__ = ("_held", "_redactor")

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        """Return what can be passed on of the body so far."""
        data = self._redactor.data(self._held + chunk)
        keep = len(self._redactor._key_bytes) - 1
        if keep <= 0 or len(data) <= keep:
            self._held = data if keep > 0 else b""
            return b"" if keep > 0 else data
        self._held = data[-keep:]
        return data[:-keep]

    def finish(self) -> bytes:
        """Return the rest once the body has ended."""
        rest, self._held = self._held, b""
        return rest


class _LogRedaction(logging.Filter):
    """Cuts the key of every live ``Redactor`` out of a record's message (it runs only for records logged).

    Records are logged from any thread (``run_many``'s workers) while clients are built: the redactors
    are a tuple of weak references, replaced whole under a lock and read without one.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._refs: tuple[weakref.ref[Redactor], ...] = ()

    def add(self, redactor: Redactor) -> None:
        """Redact ``redactor``'s key too, for as long as it lives."""
        with self._lock:
            live = tuple(ref for ref in self._refs if ref() is not None)
            self._refs = (*live, weakref.ref(redactor))

    def filter(self, record: logging.LogRecord) -> bool:
        redactors = [redactor for redactor in (ref() for ref in self._refs) if redactor is not None]
        if not redactors:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is the logging module's to report
            return True
        clean = message
        for redactor in redactors:
            clean = redactor.text(clean)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_LOG_REDACTION = _LogRedaction()


def redact_logs(redactor: Redactor) -> None:
    """Keep ``redactor``'s key out of every record of ``LOGGERS`` for as long as it lives."""
    _LOG_REDACTION.add(redactor)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _LOG_REDACTION not in logger.filters:
            logger.addFilter(_LOG_REDACTION)
