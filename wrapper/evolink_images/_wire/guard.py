"""The transports that put every exchange under the wire policy: deadline, bounded decoding, cap, redaction.

``GuardedTransport`` (sync) and ``AsyncGuardedTransport`` wrap the transport that really sends. For
each request they:

1. fix its deadline: the one the retry layer put on the request (``DEADLINE``, from the call's
   budget), else now plus the policy's default budget;
2. send under that deadline, so the socket layer (``sockets.py``) bounds the status line and headers;
3. hand back a response whose headers and reason phrase carry no key, whose ``Content-Encoding`` is
   already undone in bounded steps (``decoding.py``), and whose body stream checks the deadline
   between chunks, counts decoded bytes against the cap, and (for API answers) carries no key.

The per-chunk checks hold whatever transport is underneath (a caller's own ``http_client``, a mock);
the socket-level bound needs the client's own transport, where ``install_deadline_backend`` is applied.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx

from . import deadline as wire_deadline
from .decoding import Decoder
from .redaction import Redactor

__all__ = ["CAP", "DEADLINE", "AsyncGuardedTransport", "GuardedTransport", "WirePolicy"]

DEADLINE = "evolink_deadline"
"""Request extension: the ``time.monotonic()`` value by which this attempt must have ended."""
CAP = "evolink_max_body"
"""Request extension: the most decoded body bytes accepted for this request (absent: the policy's)."""

_DROPPED_HEADERS = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})


@dataclass(frozen=True)
class WirePolicy:
    """What a guarded transport enforces on each exchange."""

    budget: float
    """Seconds an exchange may take in all when the request carries no deadline of its own."""
    max_body: int | None
    """The most decoded body bytes (None: the reader decides, as a streamed download does)."""
    redactor: Redactor
    redact_bodies: bool
    """Cut the key out of bodies too (API answers); result images are left byte for byte."""


class _Exchange:
    """One request under the policy: its deadline, and how its response is rebuilt. Shared by both transports."""

    __slots__ = ("cap", "deadline", "policy")

    def __init__(self, policy: WirePolicy, request: httpx.Request) -> None:
        self.policy = policy
        deadline = request.extensions.get(DEADLINE)
        self.deadline: float = deadline if deadline is not None else time.monotonic() + policy.budget
        cap = request.extensions.get(CAP)
        self.cap: int | None = cap if cap is not None else policy.max_body

    def check(self) -> None:
        """Raise ``DeadlineExceeded`` once the deadline has passed."""
        if wire_deadline.deadline_passed(self.deadline):
            raise wire_deadline.DeadlineExceeded("the call's time budget ran out")

    def response(
        self, response: httpx.Response, stream: httpx.SyncByteStream | httpx.AsyncByteStream
    ) -> httpx.Response:
        """The response to hand up: redacted headers and reason, the guarded stream, no encoding left."""
        redactor = self.policy.redactor
        headers = [
            (name, value)
            for name, value in redactor.headers(response.headers.raw)
            if name.lower() not in _DROPPED_HEADERS
        ]
        extensions = dict(response.extensions)
        reason = extensions.get("reason_phrase")
        if isinstance(reason, bytes):
            extensions["reason_phrase"] = redactor.data(reason)
        return httpx.Response(response.status_code, headers=headers, stream=stream, extensions=extensions)

    def decoder(self, response: httpx.Response) -> Decoder:
        return Decoder(response.headers.get("content-encoding", ""), self.cap)


class _GuardedStream(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange, response: httpx.Response) -> None:
        self._exchange = exchange
        self._response = response
        self._decoder = exchange.decoder(response)

    def __iter__(self) -> Iterator[bytes]:
        exchange, decoder = self._exchange, self._decoder
        redactor = exchange.policy.redactor.stream() if exchange.policy.redact_bodies else None
        raw = iter(self._response.stream)  # type: ignore[arg-type]
        while True:
            with wire_deadline.scope(exchange.deadline):
                chunk = next(raw, None)
            exchange.check()
            pieces = decoder.finish() if chunk is None else decoder.feed(chunk)
            for piece in pieces:
                yield redactor.feed(piece) if redactor else piece
            if chunk is None:
                break
        if redactor:
            yield redactor.finish()

    def close(self) -> None:
        self._response.close()


class _AsyncGuardedStream(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange, response: httpx.Response) -> None:
        self._exchange = exchange
        self._response = response
        self._decoder = exchange.decoder(response)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        exchange, decoder = self._exchange, self._decoder
        redactor = exchange.policy.redactor.stream() if exchange.policy.redact_bodies else None
        raw = self._response.stream.__aiter__()  # type: ignore[union-attr]
        while True:
            with wire_deadline.scope(exchange.deadline):
                try:
                    chunk: bytes | None = await raw.__anext__()
                except StopAsyncIteration:
                    chunk = None
            exchange.check()
            pieces = decoder.finish() if chunk is None else decoder.feed(chunk)
            for piece in pieces:
                yield redactor.feed(piece) if redactor else piece
            if chunk is None:
                break
        if redactor:
            yield redactor.finish()

    async def aclose(self) -> None:
        await self._response.aclose()


class GuardedTransport(httpx.BaseTransport):
    """Applies a ``WirePolicy`` to every exchange sent through ``inner``."""

    def __init__(self, inner: httpx.BaseTransport, policy: WirePolicy) -> None:
        self._inner = inner
        self._policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exchange = _Exchange(self._policy, request)
        exchange.check()
        with wire_deadline.scope(exchange.deadline):
            response = self._inner.handle_request(request)
        try:
            guarded = exchange.response(response, _GuardedStream(exchange, response))
            exchange.check()
        except BaseException:
            response.close()
            raise
        return guarded

    def close(self) -> None:
        self._inner.close()


class AsyncGuardedTransport(httpx.AsyncBaseTransport):
    """Applies a ``WirePolicy`` to every exchange sent through ``inner`` (async)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: WirePolicy) -> None:
        self._inner = inner
        self._policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = _Exchange(self._policy, request)
        exchange.check()
        with wire_deadline.scope(exchange.deadline):
            response = await self._inner.handle_async_request(request)
        try:
            guarded = exchange.response(response, _AsyncGuardedStream(exchange, response))
            exchange.check()
        except BaseException:
            await response.aclose()
            raise
        return guarded

    async def aclose(self) -> None:
        await self._inner.aclose()
