"""The API key, cut out of whatever a server sends back before anything of ours can hold it.

A server may echo the key (a 401 saying "Incorrect API key provided: sk-evo-..."), in a header, the
reason phrase, the body, or inside JSON strings written with escapes. ``Redactor`` replaces it in
each: header values and the reason phrase as they arrive, body bytes as they stream (holding back
just enough bytes to catch a key split across two chunks), and the strings of parsed JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["MARK", "Redactor"]

MARK = "<redacted>"


class Redactor:
    """Knows one secret and removes it from text, bytes, headers and parsed JSON."""

    __slots__ = ("_key", "_key_bytes")

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
