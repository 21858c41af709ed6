"""The transports that put every exchange under the wire policy: deadline, bounded decoding, cap, redaction.

``GuardedTransport`` (sync) and ``AsyncGuardedTransport`` wrap the transport that really sends. For
each request they:

1. fix its deadline: the one the retry layer put on the request (``DEADLINE``, from the call's
   budget), else now plus the policy's default budget;
2. send it under that deadline, so the socket layer (``sockets.py``) bounds the status line and
   headers, carrying the key only if it goes to the API's origin and only while it is sent
   (``credentials.py``);
3. hand the response back with headers and reason phrase that carry no key, its ``Content-Encoding``
   undone in bounded steps (``decoding.py``), and a body stream that checks the deadline between
   chunks, counts decoded bytes against the cap, and (for API answers) carries no key.

The per-chunk checks hold whatever transport is underneath (a caller's own ``http_client``, a mock);
the socket-level bound needs the client's own transport, where ``install_deadline_backend`` is applied.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx

from . import deadline as wire_deadline
from . import reach
from .credentials import Credentials
from .decoding import BodyTooLarge, Decoder
from .redaction import Redactor

__all__ = ["CAP", "DEADLINE", "PUBLIC_ONLY", "AsyncGuardedTransport", "GuardedTransport", "WirePolicy"]

DEADLINE = "evolink_deadline"
"""Request extension: the ``time.monotonic()`` value by which this attempt must have ended."""
CAP = "evolink_max_body"
"""Request extension: the most decoded body bytes accepted for this request (absent: the policy's)."""
PUBLIC_ONLY = "evolink_public_only"
"""Request extension: connect only to public addresses, whatever the host name resolves to."""


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
    credentials: Credentials | None = None
    """The key, for requests to the API's origin (none for result hosts)."""


class _Exchange:
    """One request under the policy: its deadline, cap and credentials, and how its response is guarded.

    Shared by both transports. The response is guarded in place (its ``stream`` replaced, its
    headers redacted only when they hold the key) rather than copied: this runs for every request.
    The key is taken off the request whenever the exchange fails, since the request then lives on
    in the exception; an exchange that succeeds hands its response only to the client's parser.
    """

    __slots__ = ("cap", "deadline", "policy", "request", "signed")

    def __init__(self, policy: WirePolicy, request: httpx.Request) -> None:
        self.policy = policy
        self.request = request
        extensions = request.extensions
        deadline = extensions.get(DEADLINE)
        self.deadline: float = deadline if deadline is not None else time.monotonic() + policy.budget
        cap = extensions.get(CAP)
        self.cap: int | None = cap if cap is not None else policy.max_body
        self.signed = False

    def check(self) -> None:
        """Raise ``DeadlineExceeded`` once the deadline has passed."""
        if time.monotonic() >= self.deadline:
            self.failed()
            raise wire_deadline.DeadlineExceeded("the call's time budget ran out")

    def sign(self) -> None:
        """Check the deadline, then add the key if the request goes to the API's origin."""
        self.check()
        credentials = self.policy.credentials
        self.signed = credentials is not None and credentials.attach(self.request)

    def failed(self) -> None:
        """The exchange failed: the request, kept by the exception, must not keep the key."""
        if self.signed:
            Credentials.detach(self.request)
            self.signed = False

    def guard(
        self, response: httpx.Response, stream: type[_GuardedStream] | type[_AsyncGuardedStream]
    ) -> httpx.Response:
        """Put ``response`` under the policy; return it (or, rarely, a guarded copy)."""
        self.check()
        redactor = self.policy.redactor
        raw_headers = response.headers.raw
        encoding = ""
        for name, value in raw_headers:
            if redactor.holds(value):
                response.headers = httpx.Headers(redactor.headers(raw_headers))
            if name.lower() == b"content-encoding":
                encoding = value.decode("latin-1")
        reason = response.extensions.get("reason_phrase")
        if reason and redactor.holds(reason):
            response.extensions["reason_phrase"] = redactor.data(reason)
        if hasattr(response, "_content"):
            # Read already (an httpx.Response built with content=, as mocks are): the bytes are in hand.
            if not encoding:
                return self._in_hand(response)
            # httpx decoded them with its own, unbounded decoder: decode the raw stream again, bounded.
            response = httpx.Response(
                response.status_code, headers=response.headers, stream=response.stream, extensions=response.extensions
            )
        response.stream = stream(self, response.stream, encoding)  # type: ignore[arg-type]
        if encoding:
            del response.headers["content-encoding"]
            response.headers.pop("content-length", None)
        return response

    def _in_hand(self, response: httpx.Response) -> httpx.Response:
        content = response.content
        if self.cap is not None and len(content) > self.cap:
            raise BodyTooLarge(f"the body is over its cap of {self.cap} bytes (decoded)")
        redactor = self.policy.redactor
        if self.policy.redact_bodies and redactor.holds(content):
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                content=redactor.data(content),
                extensions=response.extensions,
                request=self.request,
            )
        return response


class _GuardedStream(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange, raw: httpx.SyncByteStream, encoding: str) -> None:
        self._exchange = exchange
        self._raw = raw
        self._decoder = Decoder(encoding, exchange.cap)

    def __iter__(self) -> Iterator[bytes]:
        exchange, decoder = self._exchange, self._decoder
        redactor = exchange.policy.redactor.stream() if exchange.policy.redact_bodies else None
        raw = iter(self._raw)
        try:
            while True:
                token = wire_deadline.enter(exchange.deadline)
                try:
                    chunk = next(raw, None)
                finally:
                    wire_deadline.leave(token)
                exchange.check()
                for piece in decoder.finish() if chunk is None else decoder.feed(chunk):
                    yield redactor.feed(piece) if redactor else piece
                if chunk is None:
                    break
        except BaseException:
            exchange.failed()
            raise
        if redactor:
            yield redactor.finish()

    def close(self) -> None:
        self._raw.close()


class _AsyncGuardedStream(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange, raw: httpx.AsyncByteStream, encoding: str) -> None:
        self._exchange = exchange
        self._raw = raw
        self._decoder = Decoder(encoding, exchange.cap)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        exchange, decoder = self._exchange, self._decoder
        redactor = exchange.policy.redactor.stream() if exchange.policy.redact_bodies else None
        raw = self._raw.__aiter__()
        try:
            while True:
                token = wire_deadline.enter(exchange.deadline)
                try:
                    chunk: bytes | None = await raw.__anext__()
                except StopAsyncIteration:
                    chunk = None
                finally:
                    wire_deadline.leave(token)
                exchange.check()
                for piece in decoder.finish() if chunk is None else decoder.feed(chunk):
                    yield redactor.feed(piece) if redactor else piece
                if chunk is None:
                    break
        except BaseException:
            exchange.failed()
            raise
        if redactor:
            yield redactor.finish()

    async def aclose(self) -> None:
        await self._raw.aclose()


class GuardedTransport(httpx.BaseTransport):
    """Applies a ``WirePolicy`` to every exchange sent through ``inner``."""

    def __init__(self, inner: httpx.BaseTransport, policy: WirePolicy) -> None:
        self._inner = inner
        self._policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exchange = _Exchange(self._policy, request)
        exchange.sign()
        token = wire_deadline.enter(exchange.deadline)
        public = reach.enter(bool(request.extensions.get(PUBLIC_ONLY)))
        try:
            response = self._inner.handle_request(request)
        except BaseException:
            exchange.failed()
            raise
        finally:
            reach.leave(public)
            wire_deadline.leave(token)
        try:
            return exchange.guard(response, _GuardedStream)
        except BaseException:
            exchange.failed()
            response.close()
            raise

    def close(self) -> None:
        self._inner.close()


class AsyncGuardedTransport(httpx.AsyncBaseTransport):
    """Applies a ``WirePolicy`` to every exchange sent through ``inner`` (async)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: WirePolicy) -> None:
        self._inner = inner
        self._policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = _Exchange(self._policy, request)
        exchange.sign()
        token = wire_deadline.enter(exchange.deadline)
        public = reach.enter(bool(request.extensions.get(PUBLIC_ONLY)))
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            exchange.failed()
            raise
        finally:
            reach.leave(public)
            wire_deadline.leave(token)
        try:
            return exchange.guard(response, _AsyncGuardedStream)
        except BaseException:
            exchange.failed()
            await response.aclose()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()
