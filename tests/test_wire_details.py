"""The wire policy in detail: the key's two origins, bounded decoding, the deadline at every socket operation."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import httpcore
import httpx
import pytest

from evolink_images import Client
from evolink_images._wire import (
    AsyncGuardedTransport,
    BodyTooLarge,
    Credentials,
    DeadlineExceeded,
    GuardedTransport,
    Redactor,
    Secret,
    UnsupportedEncoding,
    WirePolicy,
    reach,
)
from evolink_images._wire import deadline as wire_deadline
from evolink_images._wire import guard as wire_guard
from evolink_images._wire.decoding import ACCEPT_ENCODING, STEP, Decoder
from evolink_images._wire.sockets import AsyncDeadlineBackend, DeadlineBackend, install_deadline_backend

from .loopback import Answer, LoopbackServer

KEY = "sk-evo-details-canary-77"
API = httpx.URL("https://api.evolink.ai")
FILES = httpx.URL("https://files-api.evolink.ai")


# --- credentials: EvoLink's two origins, and only while sent ---------------------------------------------------


def test_a_secret_and_the_credentials_never_show_the_key() -> None:
    secret = Secret(KEY)
    assert repr(secret) == "<redacted>"
    assert str(secret) == "<redacted>"
    assert secret.reveal() == KEY
    assert repr(Credentials(secret, API, FILES)) == "Credentials(<redacted>)"


@pytest.mark.parametrize(
    "url", ["https://api.evolink.ai/v1/tasks/t", "https://files-api.evolink.ai/api/v1/files/quota"]
)
def test_the_key_goes_as_a_bearer_header_to_the_api_and_to_the_file_host(url: str) -> None:
    credentials = Credentials(Secret(KEY), API, FILES)
    request = httpx.Request("GET", url)
    assert credentials.attach(request) is True
    assert request.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    "url",
    [
        "http://api.evolink.ai/v1/tasks/t",  # another scheme
        "https://api.evolink.ai:8443/v1/tasks/t",  # another port
        "https://evolink.ai/v1/tasks/t",  # another host
        "https://files.evolink.ai/u/a.png",  # where uploads are served from: not the file host's API
        "https://cdn.example.com/r.png",
    ],
)
def test_no_other_origin_gets_the_key(url: str) -> None:
    credentials = Credentials(Secret(KEY), API, FILES)
    request = httpx.Request("GET", url)
    assert credentials.attach(request) is False
    assert "authorization" not in request.headers


def test_without_a_file_host_only_the_api_origin_gets_the_key() -> None:
    credentials = Credentials(Secret(KEY), API)
    assert credentials.attach(httpx.Request("GET", "https://api.evolink.ai/v1/x")) is True
    assert credentials.attach(httpx.Request("GET", "https://files-api.evolink.ai/api/v1/files/quota")) is False


def test_detach_takes_the_key_off_and_leaves_an_unsigned_request_as_it_is() -> None:
    signed = httpx.Request("GET", "https://api.evolink.ai/v1/x", headers={"x-other": "1"})
    Credentials(Secret(KEY), API).attach(signed)
    Credentials.detach(signed)
    assert "authorization" not in signed.headers
    assert signed.headers["x-other"] == "1"
    unsigned = httpx.Request("GET", "https://cdn.example.com/r.png")
    Credentials.detach(unsigned)
    assert "authorization" not in unsigned.headers


# --- reach: which addresses a connection may reach -------------------------------------------------------------


def test_public_only_is_off_unless_entered_and_restored_on_leave() -> None:
    assert reach.public_only() is False
    outer = reach.enter(True)
    assert reach.public_only() is True
    inner = reach.enter(False)
    assert reach.public_only() is False
    reach.leave(inner)
    assert reach.public_only() is True
    reach.leave(outer)
    assert reach.public_only() is False


def test_a_name_that_resolved_to_nothing_is_refused_in_words() -> None:
    error = reach.problem("cdn.example.com", [])
    assert isinstance(error, reach.InternalAddress)
    assert str(error) == "'cdn.example.com' resolved to no address"


def test_a_name_with_one_internal_address_among_public_ones_is_refused_naming_it() -> None:
    error = reach.problem("cdn.example.com", ["93.184.216.34", "10.0.0.7"])
    assert isinstance(error, reach.InternalAddress)
    assert str(error).startswith("'cdn.example.com' resolves to ")
    assert "10.0.0.7" in str(error)
    assert "points at" not in str(error)
    assert reach.problem("cdn.example.com", ["93.184.216.34", "8.8.8.8"]) is None


def test_a_long_host_name_is_shown_cut_to_80_characters() -> None:
    host = "a" * 79 + "bc"
    error = reach.problem(host, [])
    assert str(error) == f"'{'a' * 79}b' resolved to no address"


def test_a_long_host_name_resolving_inside_is_shown_cut_to_80_characters() -> None:
    error = reach.problem("a" * 79 + "bc", ["127.0.0.1"])
    assert str(error).startswith(f"'{'a' * 79}b' resolves to ")


# --- deadline ----------------------------------------------------------------------------------------------------


def test_a_scope_of_none_leaves_the_deadline_in_force_and_a_scope_restores_it() -> None:
    token = wire_deadline.enter(500.0)
    try:
        with wire_deadline.scope(None):
            assert wire_deadline.current() == 500.0
        with wire_deadline.scope(700.0):
            assert wire_deadline.current() == 700.0
        assert wire_deadline.current() == 500.0
        scope = wire_deadline.scope(800.0)
        for _ in range(2):  # the same scope used twice
            with scope:
                assert wire_deadline.current() == 800.0
            assert wire_deadline.current() == 500.0
    finally:
        wire_deadline.leave(token)
    assert wire_deadline.current() is None


def test_no_deadline_leaves_every_wait_as_asked() -> None:
    assert wire_deadline.bounded(None) is None
    assert wire_deadline.bounded(3.5) == 3.5
    assert wire_deadline.deadline_passed(None) is False


# --- decoding ----------------------------------------------------------------------------------------------------


def test_the_client_asks_only_for_the_encodings_it_can_bound() -> None:
    assert ACCEPT_ENCODING == "gzip, deflate"


def test_the_client_sends_its_accept_encoding_and_key_to_its_file_host_on_the_wire() -> None:
    envelope = b'{"success": true, "code": 200, "msg": "ok", "data": {"max_files": 100}}'
    quota = Answer(200, {"content-type": "application/json"}, envelope)
    with (
        LoopbackServer({"/api/v1/files/quota": quota}) as server,
        Client(KEY, files_base_url=server.url, timeout=10) as client,
    ):
        assert client.file_quota().max_files == 100
    [seen] = server.seen
    assert seen.headers["accept-encoding"] == "gzip, deflate"
    assert seen.headers["authorization"] == f"Bearer {KEY}"


def test_one_decompression_step_is_64_kib() -> None:
    assert STEP == 65536
    pieces = list(Decoder("gzip", None).feed(gzip.compress(bytes(3 * 65536 + 10))))
    assert [len(piece) for piece in pieces] == [65536, 65536, 65536, 10]


@pytest.mark.parametrize("layers", ["gzip", "deflate", "gzip, gzip"])
def test_a_whole_bomb_fed_at_once_is_decoded_by_feed_in_steps_leaving_nothing_for_finish(layers: str) -> None:
    size = 40 * 65536
    raw = {
        "gzip": gzip.compress(bytes(size)),
        "deflate": zlib.compress(bytes(size)),
        "gzip, gzip": gzip.compress(gzip.compress(bytes(size))),
    }[layers]
    decoder = Decoder(layers, None)
    pieces = list(decoder.feed(raw))
    assert sum(len(piece) for piece in pieces) == size
    assert max(len(piece) for piece in pieces) == 65536
    assert list(decoder.finish()) == []


def test_an_identity_chunk_is_handed_on_as_it_came() -> None:
    decoder = Decoder("identity", None)
    assert [len(piece) for piece in decoder.feed(bytes(100_000))] == [100_000]
    assert list(decoder.finish()) == []
    assert decoder.size == 100_000


def test_a_decoded_chunk_of_the_last_layer_is_cut_into_steps() -> None:
    inner = gzip.compress(bytes(150_000), compresslevel=0)  # barely compressed: one large piece per step
    pieces = list(Decoder("gzip, identity", None).feed(inner))
    assert all(len(piece) <= 65536 for piece in pieces)
    assert sum(len(piece) for piece in pieces) == 150_000


def test_the_cap_is_counted_on_decoded_bytes_and_refused_in_words() -> None:
    decoder = Decoder("gzip", 1000)
    with pytest.raises(BodyTooLarge) as caught:
        list(decoder.feed(gzip.compress(bytes(1001))))
    assert str(caught.value) == "the body is over its cap of 1000 bytes (decoded)"
    exact = Decoder("deflate", 1000)
    assert sum(len(piece) for piece in exact.feed(zlib.compress(bytes(1000)))) == 1000
    assert exact.size == 1000


@pytest.mark.parametrize(
    ("header", "name"), [("br", "br"), ("gzip, BR ", "br"), ("x" * 60, "x" * 40), ("compress", "compress")]
)
def test_an_encoding_not_asked_for_is_refused_naming_it(header: str, name: str) -> None:
    with pytest.raises(UnsupportedEncoding) as caught:
        Decoder(header, None)
    assert str(caught.value) == f"the body's Content-Encoding {name!r} was not asked for"


@pytest.mark.parametrize("header", ["GZIP", " gzip ", "identity, gzip", "gzip,", "X-Gzip"])
def test_encoding_names_are_read_without_case_or_blanks(header: str) -> None:
    body = b"hello " * 1000
    decoder = Decoder(header, None)
    assert b"".join([*decoder.feed(gzip.compress(body)), *decoder.finish()]) == body


def test_a_deflate_body_fed_a_byte_at_a_time_after_its_first_two_decodes_whatever_its_wrapper() -> None:
    body = bytes(range(256)) * 50
    for raw in (zlib.compress(body), zlib.compress(body, wbits=-15)):
        decoder = Decoder("deflate", None)
        out = b"".join(decoder.feed(raw[:2]))  # the wrapper is told by the first two bytes
        for index in range(2, len(raw)):
            out += b"".join(decoder.feed(raw[index : index + 1]))
        out += b"".join(decoder.finish())
        assert out == body


def test_an_empty_deflate_body_decodes_to_nothing() -> None:
    decoder = Decoder("deflate", None)
    assert list(decoder.feed(b"")) == []
    assert list(decoder.finish()) == []


def test_a_corrupt_body_is_a_decoding_error_naming_its_coding() -> None:
    with pytest.raises(httpx.DecodingError) as caught:
        list(Decoder("gzip", None).feed(b"\x1f\x8b\x08\x00" + b"\xff" * 40))
    assert str(caught.value).startswith("gzip body is corrupt: ")
    with pytest.raises(httpx.DecodingError) as deflated:
        list(Decoder("deflate", None).feed(b"\x78\x9c" + b"\xff" * 40))
    assert str(deflated.value).startswith("deflate body is corrupt: ")


def test_what_follows_the_end_of_a_gzip_stream_is_ignored() -> None:
    raw = gzip.compress(b"first") + gzip.compress(b"second")
    decoder = Decoder("gzip", None)
    assert b"".join([*decoder.feed(raw), *decoder.finish()]) == b"first"


def test_a_gzip_body_cut_short_decodes_what_it_holds_and_no_more() -> None:
    body = bytes(range(256)) * 400
    raw = gzip.compress(body)
    decoder = Decoder("gzip", None)
    out = b"".join([*decoder.feed(raw[: len(raw) // 2]), *decoder.finish()])
    assert body.startswith(out)
    assert 0 < len(out) < len(body)


# --- the guard -----------------------------------------------------------------------------------------------------


class Clock:
    """A monotonic clock the test moves by hand (the guard and the deadline module read it)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    stopped = Clock()
    monkeypatch.setattr(wire_guard, "time", SimpleNamespace(monotonic=stopped.monotonic))
    monkeypatch.setattr(wire_deadline, "time", SimpleNamespace(monotonic=stopped.monotonic))
    return stopped


class Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A streamed body (no ``_content``) that records its closing and can run a step before each chunk."""

    def __init__(self, chunks: list[bytes], before: Any = None) -> None:
        self.chunks = chunks
        self.before = before
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            if self.before:
                self.before()
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            if self.before:
                self.before()
            yield chunk

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def policy(budget: float = 60.0, max_body: int | None = 10_000, redact: bool = True, signed: bool = True) -> WirePolicy:
    credentials = Credentials(Secret(KEY), API, FILES) if signed else None
    return WirePolicy(budget, max_body, Redactor(KEY), redact, credentials)


class Inner(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers with ``answer(request)`` and notes what was in force while the request was sent."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.seen: list[dict[str, Any]] = []
        self.closed = False

    def _note(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(
            {
                "authorization": request.headers.get("authorization"),
                "deadline": wire_deadline.current(),
                "public_only": reach.public_only(),
            }
        )
        result = self.answer(request)
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, httpx.Response)
        return result

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._note(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._note(request)

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


AFTER: list[tuple[float | None, bool]] = []
"""The deadline and the reach rule in force once each guarded call returned or raised (in its own context)."""


def note_after() -> None:
    AFTER.append((wire_deadline.current(), reach.public_only()))


def restored() -> bool:
    """Whether the last guarded call left no deadline and no reach rule in force behind it."""
    return AFTER[-1] == (None, False)


def send(kind: str, inner: Inner, wire: WirePolicy, request: httpx.Request) -> tuple[httpx.Response, bytes]:
    """Send ``request`` through the guard of ``kind`` and read its body."""
    if kind == "sync":
        try:
            response = GuardedTransport(inner, wire).handle_request(request)
            assert isinstance(response.stream, httpx.SyncByteStream)
            return response, b"".join(response.stream)
        finally:
            note_after()

    async def go() -> tuple[httpx.Response, bytes]:
        try:
            response = await AsyncGuardedTransport(inner, wire).handle_async_request(request)
            body = b""
            async for chunk in response.stream:  # type: ignore[union-attr]
                body += chunk
            return response, body
        finally:
            note_after()

    return asyncio.run(go())


def sent(kind: str, inner: Inner, wire: WirePolicy, request: httpx.Request) -> httpx.Response:
    """Send ``request`` through the guard of ``kind`` without reading the body."""
    if kind == "sync":
        try:
            return GuardedTransport(inner, wire).handle_request(request)
        finally:
            note_after()

    async def go() -> httpx.Response:
        try:
            return await AsyncGuardedTransport(inner, wire).handle_async_request(request)
        finally:
            note_after()

    return asyncio.run(go())


def read(kind: str, inner: Inner, wire: WirePolicy, request: httpx.Request) -> httpx.Response:
    """Send ``request`` through the guard of ``kind`` and read the response as httpx does (``read``)."""
    response = sent(kind, inner, wire, request)
    if kind == "sync":
        response.read()
    else:
        asyncio.run(response.aread())
    return response


KINDS = pytest.mark.parametrize("kind", ["sync", "async"])


@KINDS
def test_a_request_without_a_deadline_gets_now_plus_the_budget_in_force_while_sent(kind: str, clock: Clock) -> None:
    inner = Inner(lambda request: httpx.Response(200, stream=Body([b"ok"])))
    _, body = send(kind, inner, policy(budget=30.0), httpx.Request("GET", "https://api.evolink.ai/v1/x"))
    assert body == b"ok"
    assert inner.seen == [{"authorization": f"Bearer {KEY}", "deadline": 1030.0, "public_only": False}]
    assert restored()


@KINDS
def test_a_deadline_and_public_only_on_the_request_are_in_force_while_it_is_sent(kind: str, clock: Clock) -> None:
    inner = Inner(lambda request: httpx.Response(200, content=b"image"))
    request = httpx.Request(
        "GET",
        "https://cdn.example.com/r.png",
        extensions={"evolink_deadline": 1005.0, "evolink_public_only": True},
    )
    _, body = send(kind, inner, policy(budget=30.0), request)
    assert body == b"image"
    assert inner.seen == [{"authorization": None, "deadline": 1005.0, "public_only": True}]
    assert restored()


@KINDS
def test_no_budget_left_refuses_before_sending(kind: str, clock: Clock) -> None:
    inner = Inner(lambda request: httpx.Response(200))
    request = httpx.Request("GET", "https://api.evolink.ai/v1/x", extensions={"evolink_deadline": 1000.0})
    with pytest.raises(DeadlineExceeded) as caught:
        sent(kind, inner, policy(), request)
    assert str(caught.value) == "the call's time budget ran out"
    assert inner.seen == []
    assert "authorization" not in request.headers


@KINDS
def test_a_budget_spent_while_sending_fails_closes_the_answer_and_takes_the_key_off(kind: str, clock: Clock) -> None:
    body = Body([b"late"])

    def answer(request: httpx.Request) -> httpx.Response:
        clock.now += 10.0
        return httpx.Response(200, stream=body)

    request = httpx.Request("GET", "https://api.evolink.ai/v1/x", extensions={"evolink_deadline": 1010.0})
    with pytest.raises(DeadlineExceeded):
        sent(kind, Inner(answer), policy(), request)
    assert body.closed
    assert "authorization" not in request.headers


@KINDS
def test_a_budget_spent_while_reading_the_body_fails_and_takes_the_key_off(kind: str, clock: Clock) -> None:
    def later() -> None:
        clock.now += 4.0

    request = httpx.Request("GET", "https://api.evolink.ai/v1/x", extensions={"evolink_deadline": 1010.0})
    inner = Inner(lambda r: httpx.Response(200, stream=Body([b"a", b"b", b"c", b"d"], before=later)))
    with pytest.raises(DeadlineExceeded):
        send(kind, inner, policy(), request)
    assert "authorization" not in request.headers
    assert restored()


@KINDS
def test_an_exchange_that_fails_takes_the_key_off_the_request(kind: str) -> None:
    request = httpx.Request("GET", "https://api.evolink.ai/v1/x")
    inner = Inner(lambda r: httpx.ConnectError("refused"))
    with pytest.raises(httpx.ConnectError):
        sent(kind, inner, policy(), request)
    assert inner.seen[0]["authorization"] == f"Bearer {KEY}"
    assert "authorization" not in request.headers
    assert restored()


@KINDS
def test_a_request_elsewhere_keeps_its_own_authorization_when_it_fails(kind: str) -> None:
    request = httpx.Request("GET", "https://cdn.example.com/r.png", headers={"authorization": "Basic theirs"})
    with pytest.raises(httpx.ConnectError):
        sent(kind, Inner(lambda r: httpx.ConnectError("refused")), policy(), request)
    assert request.headers["authorization"] == "Basic theirs"


@KINDS
def test_a_policy_without_credentials_sends_no_key(kind: str) -> None:
    inner = Inner(lambda r: httpx.Response(200, content=b"x"))
    request = httpx.Request("GET", "https://api.evolink.ai/v1/x")
    send(kind, inner, policy(signed=False), request)
    assert inner.seen[0]["authorization"] is None


@KINDS
def test_a_body_over_the_cap_fails_and_takes_the_key_off(kind: str) -> None:
    request = httpx.Request("GET", "https://api.evolink.ai/v1/x")
    inner = Inner(lambda r: httpx.Response(200, stream=Body([bytes(60), bytes(60)])))
    with pytest.raises(BodyTooLarge) as caught:
        send(kind, inner, policy(max_body=100), request)
    assert str(caught.value) == "the body is over its cap of 100 bytes (decoded)"
    assert "authorization" not in request.headers


@KINDS
def test_a_read_body_over_the_cap_is_refused_and_one_at_the_cap_kept(kind: str) -> None:
    request = httpx.Request("GET", "https://api.evolink.ai/v1/x")
    with pytest.raises(BodyTooLarge) as caught:
        sent(kind, Inner(lambda r: httpx.Response(200, content=bytes(101))), policy(max_body=100), request)
    assert str(caught.value) == "the body is over its cap of 100 bytes (decoded)"
    assert "authorization" not in request.headers
    _, body = send(kind, Inner(lambda r: httpx.Response(200, content=bytes(100))), policy(max_body=100), request)
    assert body == bytes(100)


@KINDS
def test_the_requests_own_cap_overrides_the_policys(kind: str) -> None:
    request = httpx.Request("GET", "https://cdn.example.com/r.png", extensions={"evolink_max_body": 10})
    with pytest.raises(BodyTooLarge, match="cap of 10 bytes"):
        send(kind, Inner(lambda r: httpx.Response(200, stream=Body([bytes(11)]))), policy(max_body=None), request)
    uncapped = httpx.Request("GET", "https://cdn.example.com/r.png")
    _, body = send(
        kind, Inner(lambda r: httpx.Response(200, stream=Body([bytes(5000)]))), policy(max_body=None), uncapped
    )
    assert len(body) == 5000


@KINDS
def test_an_api_answer_streamed_has_the_key_cut_out_even_at_its_very_end(kind: str) -> None:
    chunks = [b'{"m": "' + KEY[:5].encode(), KEY[5:].encode() + b'", "tail": "sk-evo"']
    inner = Inner(lambda r: httpx.Response(200, stream=Body(chunks)))
    _, body = send(kind, inner, policy(), httpx.Request("GET", "https://api.evolink.ai/v1/x"))
    assert body == b'{"m": "<redacted>", "tail": "sk-evo"'


@KINDS
def test_a_result_body_is_left_byte_for_byte_when_bodies_are_not_redacted(kind: str) -> None:
    data = b"\x89PNG" + KEY.encode() + b"end"
    streamed = Inner(lambda r: httpx.Response(200, stream=Body([data[:6], data[6:]])))
    _, body = send(kind, streamed, policy(redact=False), httpx.Request("GET", "https://cdn.example.com/r.png"))
    assert body == data
    read = Inner(lambda r: httpx.Response(200, content=data))
    _, again = send(kind, read, policy(redact=False), httpx.Request("GET", "https://cdn.example.com/r.png"))
    assert again == data


@KINDS
def test_a_read_api_answer_holding_the_key_is_redacted_and_keeps_its_status_and_request(kind: str) -> None:
    request = httpx.Request("GET", "https://api.evolink.ai/v1/x")
    inner = Inner(lambda r: httpx.Response(401, content=f"bad {KEY}".encode(), headers={"x-a": "b"}, request=r))
    response, body = send(kind, inner, policy(), request)
    assert body == b"bad <redacted>"
    assert response.status_code == 401
    assert response.headers["x-a"] == "b"
    assert response.request is request
    clean = Inner(lambda r: httpx.Response(200, content=b"clean"))
    response, body = send(kind, clean, policy(), request)
    assert body == b"clean"


@KINDS
def test_a_read_answer_holding_the_key_from_a_transport_that_set_no_request_is_redacted(kind: str) -> None:
    request = httpx.Request("GET", "https://api.evolink.ai/v1/x")
    response, body = send(kind, Inner(lambda r: httpx.Response(200, content=f"k={KEY}".encode())), policy(), request)
    assert body == b"k=<redacted>"
    assert response.request is request


@KINDS
def test_headers_and_reason_phrase_holding_the_key_are_redacted_and_clean_ones_left(kind: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers=[("x-echo", f"k={KEY}"), ("x-plain", "yes")],
            stream=Body([b"ok"]),
            extensions={"reason_phrase": f"OK {KEY}".encode()},
        )

    response, _ = send(kind, Inner(answer), policy(), httpx.Request("GET", "https://api.evolink.ai/v1/x"))
    assert response.headers["x-echo"] == "k=<redacted>"
    assert response.headers["x-plain"] == "yes"
    assert response.extensions["reason_phrase"] == b"OK <redacted>"
    plain = Inner(lambda r: httpx.Response(200, stream=Body([b"ok"]), extensions={"reason_phrase": b"Fine"}))
    response, _ = send(kind, plain, policy(), httpx.Request("GET", "https://api.evolink.ai/v1/x"))
    assert response.extensions["reason_phrase"] == b"Fine"


@KINDS
def test_a_streamed_gzip_answer_is_decoded_and_loses_its_encoding_headers(kind: str) -> None:
    raw = gzip.compress(f'{{"k": "{KEY}"}}'.encode())

    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Encoding": "gzip", "Content-Length": str(len(raw)), "x-kept": "1"}
        return httpx.Response(200, headers=headers, stream=Body([raw[:10], raw[10:]]))

    response, body = send(kind, Inner(answer), policy(), httpx.Request("GET", "https://api.evolink.ai/v1/x"))
    assert body == b'{"k": "<redacted>"}'
    assert "content-encoding" not in response.headers
    assert "content-length" not in response.headers
    assert response.headers["x-kept"] == "1"


@KINDS
def test_an_identity_answer_keeps_its_length_header(kind: str) -> None:
    inner = Inner(lambda r: httpx.Response(200, headers={"Content-Length": "2"}, stream=Body([b"ok"])))
    response, body = send(kind, inner, policy(), httpx.Request("GET", "https://api.evolink.ai/v1/x"))
    assert body == b"ok"
    assert response.headers["content-length"] == "2"


@KINDS
def test_a_read_gzip_answer_is_decoded_again_under_the_cap(kind: str) -> None:
    raw = gzip.compress(bytes(5000))
    inner = Inner(lambda r: httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=raw))
    with pytest.raises(BodyTooLarge):
        send(kind, inner, policy(max_body=4999), httpx.Request("GET", "https://api.evolink.ai/v1/x"))
    response, body = send(kind, inner, policy(max_body=5000), httpx.Request("GET", "https://api.evolink.ai/v1/x"))
    assert body == bytes(5000)
    assert "content-encoding" not in response.headers


@KINDS
def test_a_read_answer_is_redacted_as_httpx_reads_it(kind: str) -> None:
    inner = Inner(lambda r: httpx.Response(200, content=f"k={KEY}".encode()))
    response = read(kind, inner, policy(), httpx.Request("GET", "https://api.evolink.ai/v1/x"))
    assert response.content == b"k=<redacted>"


@KINDS
def test_a_read_answer_with_no_cap_is_taken_whole(kind: str) -> None:
    inner = Inner(lambda r: httpx.Response(200, content=bytes(20_000)))
    response = read(kind, inner, policy(max_body=None), httpx.Request("GET", "https://cdn.example.com/r.png"))
    assert response.content == bytes(20_000)


@KINDS
def test_a_request_elsewhere_refused_for_its_budget_keeps_its_own_authorization(kind: str, clock: Clock) -> None:
    request = httpx.Request(
        "GET",
        "https://cdn.example.com/r.png",
        headers={"authorization": "Basic theirs"},
        extensions={"evolink_deadline": 999.0},
    )
    with pytest.raises(DeadlineExceeded):
        sent(kind, Inner(lambda r: httpx.Response(200)), policy(), request)
    assert request.headers["authorization"] == "Basic theirs"


def test_the_guards_close_what_they_wrap() -> None:
    inner = Inner(lambda r: httpx.Response(200))
    GuardedTransport(inner, policy()).close()
    assert inner.closed
    ainner = Inner(lambda r: httpx.Response(200))
    asyncio.run(AsyncGuardedTransport(ainner, policy()).aclose())
    assert ainner.closed


@KINDS
def test_closing_a_guarded_answer_closes_its_stream(kind: str) -> None:
    body = Body([b"never read"])
    response = sent(kind, Inner(lambda r: httpx.Response(200, stream=body)), policy(), httpx.Request("GET", API))
    if kind == "sync":
        response.close()
    else:
        asyncio.run(response.aclose())
    assert body.closed


# --- the socket layer: the deadline at every operation -------------------------------------------------------------


class FakeStream(httpcore.NetworkStream):
    """Records each operation and the timeout it was given; ``fail`` raises a socket timeout instead."""

    def __init__(self, calls: list[tuple[str, Any]], fail: bool = False) -> None:
        self.calls = calls
        self.fail = fail

    def _op(self, name: str, timeout: float | None) -> None:
        self.calls.append((name, timeout))
        if self.fail:
            raise httpcore.ReadTimeout(name) if name == "read" else httpcore.WriteTimeout(name)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._op("read", timeout)
        return b"data"

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._op("write", timeout)

    def close(self) -> None:
        self.calls.append(("close", None))

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        self._op("start_tls", timeout)
        return FakeStream(self.calls)

    def get_extra_info(self, info: str) -> Any:
        return f"info:{info}"


class AsyncFakeStream(httpcore.AsyncNetworkStream):
    def __init__(self, sync: FakeStream) -> None:
        self.sync = sync

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.sync.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.sync.write(buffer, timeout)

    async def aclose(self) -> None:
        self.sync.close()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        return AsyncFakeStream(self.sync.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self.sync.get_extra_info(info)


class FakeBackend(httpcore.NetworkBackend):
    def __init__(self, fail: bool = False, connect_error: Exception | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail = fail
        self.connect_error = connect_error

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(("connect", (host, port, timeout)))
        if self.connect_error is not None:
            raise self.connect_error
        return FakeStream(self.calls, self.fail)


class AsyncFakeBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, fail: bool = False, connect_error: Exception | None = None) -> None:
        self.sync = FakeBackend(fail, connect_error)
        self.calls = self.sync.calls

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, *args: Any, **kwargs: Any) -> Any:
        return AsyncFakeStream(self.sync.connect_tcp(host, port, timeout))


def operate(kind: str, backend: Any, host: str = "127.0.0.1") -> dict[str, Any]:
    """Connect, write, read, start TLS and ask for info through the deadline backend of ``kind``."""
    context = ssl.create_default_context()
    if kind == "sync":
        stream = DeadlineBackend(backend).connect_tcp(host, 443, timeout=30.0)
        stream.write(b"GET", timeout=30.0)
        read = stream.read(10, timeout=30.0)
        tls = stream.start_tls(context, "h", timeout=30.0)
        tls_read = tls.read(10, timeout=None)
        info = stream.get_extra_info("peer")
        stream.close()
        return {"read": read, "tls_read": tls_read, "info": info}

    async def go() -> dict[str, Any]:
        stream = await AsyncDeadlineBackend(backend).connect_tcp(host, 443, timeout=30.0)
        await stream.write(b"GET", timeout=30.0)
        read = await stream.read(10, timeout=30.0)
        tls = await stream.start_tls(context, "h", timeout=30.0)
        tls_read = await tls.read(10, timeout=None)
        info = stream.get_extra_info("peer")
        await stream.aclose()
        return {"read": read, "tls_read": tls_read, "info": info}

    return asyncio.run(go())


@KINDS
def test_every_socket_operation_waits_at_most_what_is_left_of_the_deadline(kind: str, clock: Clock) -> None:
    backend = FakeBackend() if kind == "sync" else AsyncFakeBackend()
    token = wire_deadline.enter(1002.5)
    try:
        got = operate(kind, backend)
    finally:
        wire_deadline.leave(token)
    assert got == {"read": b"data", "tls_read": b"data", "info": "info:peer"}
    assert backend.calls == [
        ("connect", ("127.0.0.1", 443, 2.5)),
        ("write", 2.5),
        ("read", 2.5),
        ("start_tls", 2.5),
        ("read", 2.5),
        ("close", None),
    ]


@KINDS
def test_without_a_deadline_every_socket_operation_keeps_its_own_timeout(kind: str) -> None:
    backend = FakeBackend() if kind == "sync" else AsyncFakeBackend()
    operate(kind, backend)
    assert backend.calls == [
        ("connect", ("127.0.0.1", 443, 30.0)),
        ("write", 30.0),
        ("read", 30.0),
        ("start_tls", 30.0),
        ("read", None),
        ("close", None),
    ]


@KINDS
@pytest.mark.parametrize("operation", ["connect", "write", "read", "start_tls"])
def test_a_socket_timeout_once_the_deadline_passed_is_the_budget_running_out(
    kind: str, operation: str, clock: Clock
) -> None:
    class Late(FakeBackend):
        def connect_tcp(self, host: str, port: int, timeout: float | None = None, *a: Any, **k: Any) -> Any:
            if operation == "connect":
                clock.now += 5.0
                raise httpcore.ConnectTimeout("connect")
            return LateStream(self.calls)

    class LateStream(FakeStream):
        def _op(self, name: str, timeout: float | None) -> None:
            if name == operation:
                clock.now += 5.0
                raise httpcore.ReadTimeout(name)

    class AsyncLate(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, host: str, port: int, timeout: float | None = None, *a: Any, **k: Any) -> Any:
            return AsyncFakeStream(Late().connect_tcp(host, port, timeout))

    token = wire_deadline.enter(1002.0)
    try:
        with pytest.raises(DeadlineExceeded) as caught:
            operate(kind, Late() if kind == "sync" else AsyncLate())
    finally:
        wire_deadline.leave(token)
    assert str(caught.value) == "the call's time budget ran out"


@KINDS
@pytest.mark.parametrize("operation", ["connect", "write", "read", "start_tls"])
def test_a_socket_timeout_before_the_deadline_stays_a_timeout(kind: str, operation: str, clock: Clock) -> None:
    class Slow(FakeBackend):
        def connect_tcp(self, host: str, port: int, timeout: float | None = None, *a: Any, **k: Any) -> Any:
            if operation == "connect":
                raise httpcore.ConnectTimeout("connect")
            return SlowStream(self.calls)

    class SlowStream(FakeStream):
        def _op(self, name: str, timeout: float | None) -> None:
            if name == operation:
                raise httpcore.ReadTimeout(name)

    class AsyncSlow(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, host: str, port: int, timeout: float | None = None, *a: Any, **k: Any) -> Any:
            return AsyncFakeStream(Slow().connect_tcp(host, port, timeout))

    token = wire_deadline.enter(1002.0)
    try:
        with pytest.raises(httpcore.TimeoutException) as caught:
            operate(kind, Slow() if kind == "sync" else AsyncSlow())
    finally:
        wire_deadline.leave(token)
    assert not isinstance(caught.value, DeadlineExceeded)


@KINDS
def test_an_operation_begun_after_the_deadline_fails_at_once(kind: str, clock: Clock) -> None:
    backend = FakeBackend() if kind == "sync" else AsyncFakeBackend()
    token = wire_deadline.enter(999.0)
    try:
        with pytest.raises(DeadlineExceeded):
            operate(kind, backend)
    finally:
        wire_deadline.leave(token)
    assert backend.calls == []


@KINDS
def test_a_name_the_resolver_cannot_encode_is_a_connect_error_naming_it(kind: str) -> None:
    backend = FakeBackend(connect_error=UnicodeError("label too long"))
    chosen: Any = backend if kind == "sync" else AsyncFakeBackend(connect_error=UnicodeError("label too long"))
    with pytest.raises(httpcore.ConnectError) as caught:
        operate(kind, chosen, host="x" * 100)
    assert str(caught.value) == f"'{'x' * 80}' could not be resolved: label too long"


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """``socket.getaddrinfo`` answering from a table (host -> addresses); an unknown name fails to resolve."""
    table: dict[str, list[str]] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in table:
            raise socket.gaierror(-2, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in table[name]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@KINDS
def test_public_only_connects_to_the_first_address_it_checked(kind: str, resolver: dict[str, list[str]]) -> None:
    resolver["cdn.example.com"] = ["93.184.216.34", "93.184.216.35"]
    backend = FakeBackend() if kind == "sync" else AsyncFakeBackend()
    token = reach.enter(True)
    try:
        operate(kind, backend, host="cdn.example.com")
    finally:
        reach.leave(token)
    assert backend.calls[0] == ("connect", ("93.184.216.34", 443, 30.0))


@KINDS
def test_without_public_only_the_name_is_passed_on_unresolved(kind: str, resolver: dict[str, list[str]]) -> None:
    backend = FakeBackend() if kind == "sync" else AsyncFakeBackend()
    operate(kind, backend, host="internal.example")
    assert backend.calls[0] == ("connect", ("internal.example", 443, 30.0))


@KINDS
def test_public_only_refuses_an_internal_answer_without_connecting(kind: str, resolver: dict[str, list[str]]) -> None:
    resolver["cdn.example.com"] = ["93.184.216.34", "192.168.1.4"]
    backend = FakeBackend() if kind == "sync" else AsyncFakeBackend()
    token = reach.enter(True)
    try:
        with pytest.raises(reach.InternalAddress, match=r"^'cdn\.example\.com' resolves to "):
            operate(kind, backend, host="cdn.example.com")
    finally:
        reach.leave(token)
    assert backend.calls == []


@KINDS
def test_public_only_refuses_a_name_that_does_not_resolve_naming_it(kind: str, resolver: dict[str, list[str]]) -> None:
    backend = FakeBackend() if kind == "sync" else AsyncFakeBackend()
    token = reach.enter(True)
    try:
        with pytest.raises(httpx.ConnectError) as caught:
            operate(kind, backend, host="nowhere.example")
    finally:
        reach.leave(token)
    assert str(caught.value).startswith("'nowhere.example' could not be resolved: ")
    assert backend.calls == []


@KINDS
def test_a_long_name_that_does_not_resolve_is_shown_cut_to_80_characters(
    kind: str, resolver: dict[str, list[str]]
) -> None:
    backend = FakeBackend() if kind == "sync" else AsyncFakeBackend()
    token = reach.enter(True)
    try:
        with pytest.raises(httpx.ConnectError) as caught:
            operate(kind, backend, host="n" * 79 + "op")
    finally:
        reach.leave(token)
    assert str(caught.value).startswith(f"'{'n' * 79}o' could not be resolved: ")


class UnixBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        self.calls.append(("unix", (path, timeout)))
        return FakeStream(self.calls)

    def sleep(self, seconds: float) -> None:
        self.calls.append(("sleep", seconds))


class AsyncUnixBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.sync = UnixBackend()
        self.calls = self.sync.calls

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        return AsyncFakeStream(self.sync.connect_unix_socket(path, timeout))

    async def sleep(self, seconds: float) -> None:
        self.sync.sleep(seconds)


def test_a_unix_socket_and_a_sleep_go_through_to_the_backend_under_the_deadline(clock: Clock) -> None:
    token = wire_deadline.enter(1003.0)
    try:
        backend = UnixBackend()
        stream = DeadlineBackend(backend).connect_unix_socket("/run/x.sock", timeout=30.0)
        assert stream.read(4, timeout=30.0) == b"data"
        DeadlineBackend(backend).sleep(0.5)
        assert backend.calls == [("unix", ("/run/x.sock", 3.0)), ("read", 3.0), ("sleep", 0.5)]

        abackend = AsyncUnixBackend()

        async def go() -> bytes:
            astream = await AsyncDeadlineBackend(abackend).connect_unix_socket("/run/x.sock", timeout=30.0)
            await AsyncDeadlineBackend(abackend).sleep(0.25)
            return await astream.read(4, timeout=30.0)

        assert asyncio.run(go()) == b"data"
        assert abackend.calls == [("unix", ("/run/x.sock", 3.0)), ("sleep", 0.25), ("read", 3.0)]
    finally:
        wire_deadline.leave(token)


def test_the_deadline_backend_is_installed_once_however_often_asked() -> None:
    transport = httpx.HTTPTransport()
    assert install_deadline_backend(transport) is transport
    first = transport._pool._network_backend
    assert isinstance(first, DeadlineBackend)
    install_deadline_backend(transport)
    assert transport._pool._network_backend is first
    atransport = httpx.AsyncHTTPTransport()
    assert install_deadline_backend(atransport) is atransport
    afirst = atransport._pool._network_backend
    assert isinstance(afirst, AsyncDeadlineBackend)
    install_deadline_backend(atransport)
    assert atransport._pool._network_backend is afirst
    transport.close()


def test_a_loopback_server_silent_past_the_deadline_is_cut_off_at_the_deadline() -> None:
    with LoopbackServer({"/slow": Answer(200, body=b"late", delay=1.0)}) as server:
        transport = install_deadline_backend(httpx.HTTPTransport())
        guarded = GuardedTransport(transport, policy(budget=0.2, signed=False))
        with httpx.Client(transport=guarded, timeout=30) as http:
            start = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                http.get(f"{server.url}/slow")
            assert time.monotonic() - start < 0.9
