"""Content-Encoding decoded in bounded steps, and bodies held under a cap counted on decoded bytes.

httpx decodes a compressed body one network chunk at a time, each in a single call: 1,844 bytes of
gzip inside gzip become 1 GiB in memory before anyone can count them. Here every decompression
step yields at most ``STEP`` bytes, stacked encodings are decoded as a lazy pipeline (one chunk in
flight per layer), and the decoded total is counted as it grows. Only ``gzip``, ``deflate`` and
``identity`` are understood (the client asks for nothing else); any other encoding is refused
rather than passed on undecoded.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

import httpx

__all__ = ["ACCEPT_ENCODING", "STEP", "BodyTooLarge", "Decoder", "UnsupportedEncoding"]

STEP = 64 * 1024
"""The most bytes one decompression step (or one chunk handed on) may produce."""

ACCEPT_ENCODING = "gzip, deflate"
"""What the client asks servers for: the encodings ``Decoder`` can bound."""


class BodyTooLarge(httpx.DecodingError):
    """A body grew past its cap (counted on decoded bytes, as they were decoded)."""


class UnsupportedEncoding(httpx.DecodingError):
    """A body came in an encoding the client did not ask for and cannot decode in bounded steps."""


class _Inflate:
    """One zlib layer (gzip, or deflate with or without its zlib wrapper), decoded in bounded steps."""

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if kind == "gzip" else zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._kind == "deflate" and not self._started and data:
            # RFC 9110 says zlib-wrapped; some servers send raw deflate. Decide on the first bytes.
            self._started = True
            try:
                zlib.decompressobj(zlib.MAX_WBITS).decompress(data[:2], 1)
            except zlib.error:
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        while data or not self._zlib.eof:
            try:
                out = self._zlib.decompress(data, STEP)
            except zlib.error as error:
                raise httpx.DecodingError(f"{self._kind} body is corrupt: {error}") from None
            data = self._zlib.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < STEP:
                return
        # Past the end of the stream: whatever follows (a second gzip member) is ignored, not decoded.

    def finish(self) -> Iterator[bytes]:
        if not self._started and self._kind == "deflate":
            return
        try:
            out = self._zlib.flush(STEP)
        except zlib.error as error:  # pragma: no cover - flush raises only on a corrupt stream already fed
            raise httpx.DecodingError(f"{self._kind} body is corrupt: {error}") from None
        if out:
            yield out


def _layers(content_encoding: str) -> list[_Inflate]:
    """The decoders for a Content-Encoding header, outermost coding first (the order they are undone)."""
    layers = []
    for name in reversed([part.strip().lower() for part in content_encoding.split(",")]):
        if name in {"", "identity"}:
            continue
        if name in {"gzip", "x-gzip"}:
            layers.append(_Inflate("gzip"))
        elif name == "deflate":
            layers.append(_Inflate("deflate"))
        else:
            raise UnsupportedEncoding(f"the body's Content-Encoding {name[:40]!r} was not asked for")
    return layers


class Decoder:
    """Turns raw body chunks into decoded chunks of at most ``STEP`` bytes, under ``cap`` in all.

    Push-based (``feed`` each raw chunk, then ``finish``), so that the sync and async body readers
    share it: each only pulls raw chunks and iterates what comes out.
    """

    def __init__(self, content_encoding: str, cap: int | None) -> None:
        self._layers = _layers(content_encoding)
        self._cap = cap
        self.size = 0
        """Decoded bytes so far."""

    def feed(self, raw: bytes) -> Iterator[bytes]:
        """Decode one raw chunk."""
        if not self._layers:  # identity: the chunk as it came (a network read is at most 64 KiB)
            return self._count((raw,))
        return self._count(self._through(0, raw))

    def finish(self) -> Iterator[bytes]:
        """Decode whatever the layers still hold once the raw body has ended."""
        return self._count(self._finish(0))

    def _through(self, depth: int, data: bytes) -> Iterator[bytes]:
        if depth == len(self._layers):
            for start in range(0, len(data), STEP):
                yield data[start : start + STEP]
            return
        for piece in self._layers[depth].feed(data):
            yield from self._through(depth + 1, piece)

    def _finish(self, depth: int) -> Iterator[bytes]:
        if depth == len(self._layers):
            return
        for piece in self._layers[depth].finish():
            yield from self._through(depth + 1, piece)
        yield from self._finish(depth + 1)

    def _count(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self.size += len(piece)
            if self._cap is not None and self.size > self._cap:
                raise BodyTooLarge(f"the body is over its cap of {self._cap} bytes (decoded)")
            yield piece
