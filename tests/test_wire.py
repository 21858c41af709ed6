"""The wire policy piece by piece: bounded decoding, redaction of streams, the deadline and its backend."""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Iterator
from types import SimpleNamespace

import httpcore
import httpx
import pytest

from evolink_images import AsyncClient, Client
from evolink_images._wire import BodyTooLarge, DeadlineExceeded, GuardedTransport, Redactor, UnsupportedEncoding
from evolink_images._wire import deadline as wire_deadline
from evolink_images._wire.decoding import STEP, Decoder
from evolink_images._wire.guard import DEADLINE, WirePolicy
from evolink_images._wire.sockets import AsyncDeadlineBackend, DeadlineBackend

KEY = "sk-evo-wire-canary-42"


def decode(encoding: str, raw: bytes, cap: int | None = None, chunk: int = 1000) -> list[bytes]:
    decoder = Decoder(encoding, cap)
    out: list[bytes] = []
    for start in range(0, len(raw), chunk):
        out += decoder.feed(raw[start : start + chunk])
    return out + list(decoder.finish())


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-15)),  # raw deflate, as some servers send it
        ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data))),
        ("deflate, gzip", lambda data: gzip.compress(zlib.compress(data))),
        ("identity", lambda data: data),
        ("", lambda data: data),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw deflate", "gzip twice", "deflate then gzip", "identity", "none"],
)
def test_every_understood_encoding_decodes_to_the_original_bytes(encoding: str, encode: object) -> None:
    original = bytes(range(256)) * 2000
    assert callable(encode)
    assert b"".join(decode(encoding, encode(original))) == original


def test_a_bomb_is_decoded_in_steps_no_larger_than_the_step() -> None:
    bomb = gzip.compress(gzip.compress(bytes(50 * STEP)))
    pieces = decode("gzip, gzip", bomb, chunk=len(bomb))
    assert max(len(piece) for piece in pieces) <= STEP
    assert sum(len(piece) for piece in pieces) == 50 * STEP


def test_a_body_past_its_cap_stops_at_the_cap_counted_on_decoded_bytes() -> None:
    bomb = gzip.compress(bytes(100 * STEP))
    decoder = Decoder("gzip", cap=3 * STEP)
    pieces = decoder.feed(bomb)
    seen = sum(len(next(pieces)) for _ in range(3))
    with pytest.raises(BodyTooLarge, match=f"{3 * STEP} bytes"):
        next(pieces)
    assert seen == 3 * STEP


def test_a_body_of_exactly_its_cap_is_accepted() -> None:
    assert sum(len(piece) for piece in decode("gzip", gzip.compress(bytes(1000)), cap=1000)) == 1000


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br"])
def test_an_encoding_the_client_did_not_ask_for_is_refused(encoding: str) -> None:
    with pytest.raises(UnsupportedEncoding, match="was not asked for"):
        Decoder(encoding, cap=None)


def test_a_corrupt_compressed_body_is_a_decoding_error() -> None:
    with pytest.raises(httpx.DecodingError, match="corrupt"):
        decode("gzip", b"\x1f\x8b\x08\x00garbage-garbage-garbage")


@pytest.mark.parametrize("split", range(1, len(KEY)))
def test_a_key_split_across_two_chunks_is_still_cut_out(split: int) -> None:
    body = f'{{"message": "bad key {KEY} given"}}'.encode()
    cut_at = body.index(KEY.encode()) + split
    stream = Redactor(KEY).stream()
    out = stream.feed(body[:cut_at]) + stream.feed(body[cut_at:]) + stream.finish()
    assert out == b'{"message": "bad key <redacted> given"}'


def test_redaction_reaches_json_strings_keys_and_header_values() -> None:
    redactor = Redactor(KEY)
    assert redactor.json({KEY: [f"x{KEY}", {"k": KEY}], "n": 1}) == {
        "<redacted>": ["x<redacted>", {"k": "<redacted>"}],
        "n": 1,
    }
    assert redactor.headers([(b"x-request-id", f"req-{KEY}".encode())]) == [(b"x-request-id", b"req-<redacted>")]
    assert KEY not in repr(redactor)


def test_a_deadline_shrinks_every_wait_and_refuses_once_passed() -> None:
    with wire_deadline.scope(time.monotonic() + 5):
        bounded = wire_deadline.bounded(30.0)
        assert bounded is not None
        assert 4 < bounded <= 5
        assert wire_deadline.bounded(1.0) == 1.0
    assert wire_deadline.bounded(30.0) == 30.0  # out of the scope: no deadline
    with wire_deadline.scope(time.monotonic() - 1), pytest.raises(DeadlineExceeded):
        wire_deadline.bounded(30.0)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline module's clock stopped at 100.0 s: boundaries can be met exactly."""
    monkeypatch.setattr(wire_deadline, "time", SimpleNamespace(monotonic=lambda: 100.0))


@pytest.mark.usefixtures("frozen_clock")
def test_a_deadline_is_passed_from_its_very_instant() -> None:
    assert wire_deadline.deadline_passed(100.0)
    assert wire_deadline.deadline_passed(99.5)
    assert not wire_deadline.deadline_passed(100.5)
    assert not wire_deadline.deadline_passed(None)


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize(("deadline", "left"), [(100.5, 0.5), (130.0, 10.0), (101.0, 1.0)])
def test_what_is_left_of_a_deadline_bounds_each_wait(deadline: float, left: float) -> None:
    with wire_deadline.scope(deadline):
        assert wire_deadline.bounded(10.0) == left
        assert wire_deadline.bounded(None) == deadline - 100.0


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("deadline", [100.0, 99.5, 98.0])
def test_nothing_left_of_a_deadline_is_refused_in_words(deadline: float) -> None:
    with wire_deadline.scope(deadline), pytest.raises(DeadlineExceeded) as caught:
        wire_deadline.bounded(10.0)
    assert str(caught.value) == "the call's time budget ran out"


def test_enter_and_leave_nest_and_restore_the_deadline_in_force() -> None:
    assert wire_deadline.current() is None
    outer = wire_deadline.enter(50.0)
    inner = wire_deadline.enter(40.0)
    assert wire_deadline.current() == 40.0
    wire_deadline.leave(inner)
    assert wire_deadline.current() == 50.0
    wire_deadline.leave(outer)
    assert wire_deadline.current() is None


def test_the_clients_own_transports_enforce_the_deadline_at_their_sockets() -> None:
    # Pinned: install_deadline_backend reaches into httpx's pool; an httpx upgrade that moves it fails here.
    with Client("sk-evo-x") as client:
        guarded: object = client._api._inner
        pool = guarded._inner._pool  # type: ignore[attr-defined]
        assert isinstance(pool._network_backend, DeadlineBackend)
    aclient = AsyncClient("sk-evo-x")
    apool = aclient._api._inner._inner._pool  # type: ignore[attr-defined]
    assert isinstance(apool._network_backend, AsyncDeadlineBackend)


class Trickle(httpx.SyncByteStream):
    """A body that never ends: one byte every 20 ms."""

    def __iter__(self) -> Iterator[bytes]:
        while True:
            time.sleep(0.02)
            yield b" "


def test_a_trickled_body_through_any_transport_is_cut_off_at_the_deadline() -> None:
    policy = WirePolicy(budget=60.0, max_body=None, redactor=Redactor(KEY), redact_bodies=True)
    transport = GuardedTransport(httpx.MockTransport(lambda request: httpx.Response(200, stream=Trickle())), policy)
    request = httpx.Request("GET", "https://api.evolink.ai/v1/tasks/t", extensions={DEADLINE: time.monotonic() + 0.3})
    start = time.monotonic()
    response = transport.handle_request(request)
    with pytest.raises(DeadlineExceeded):
        response.read()
    assert time.monotonic() - start < 0.3 + 2.0


def test_the_guard_hands_up_decoded_redacted_answers_without_their_encoding() -> None:
    body = gzip.compress(f'{{"echo": "{KEY}"}}'.encode())
    inner = httpx.MockTransport(
        lambda request: httpx.Response(
            200, content=body, headers={"content-encoding": "gzip", "x-request-id": KEY, "content-length": "9"}
        )
    )
    policy = WirePolicy(budget=60.0, max_body=1000, redactor=Redactor(KEY), redact_bodies=True)
    response = GuardedTransport(inner, policy).handle_request(httpx.Request("GET", "https://api.evolink.ai/"))
    response.read()
    assert response.content == b'{"echo": "<redacted>"}'
    assert response.headers["x-request-id"] == "<redacted>"
    assert "content-encoding" not in response.headers
    assert "content-length" not in response.headers


def test_a_socket_timeout_caused_by_the_deadline_says_so() -> None:
    class Silent(httpcore.NetworkStream):
        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            time.sleep(timeout or 0)
            raise httpcore.ReadTimeout("silent")

    class Backend(httpcore.NetworkBackend):
        def connect_tcp(self, *args: object, **kwargs: object) -> httpcore.NetworkStream:
            return Silent()

    stream = DeadlineBackend(Backend()).connect_tcp("127.0.0.1", 1, timeout=30)
    with wire_deadline.scope(time.monotonic() + 0.2), pytest.raises(DeadlineExceeded):
        stream.read(10, timeout=30)
    with pytest.raises(httpcore.ReadTimeout):  # without a deadline, a timeout stays a timeout
        stream.read(10, timeout=0.01)
