"""Uploads under attack: where the key goes, a hostile file host on raw sockets, a file edited mid-upload."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from PIL import Image

from evolink_images import AsyncClient, Client, UploadError, WanImageToImage
from evolink_images._config import DEFAULT_MAX_RESPONSE_BYTES
from evolink_images._wire import Credentials, Secret
from evolink_images.testing.payloads import task_json

from .conftest import CANARY_KEY
from .hostile_matrix import MEMORY_BEHAVIOURS
from .hostile_server import BEHAVIOURS, HostileServer, Request, Wire, build_bombs
from .loopback import Answer, LoopbackServer

BUDGET = 1.5
SLACK = 2.0


def png(colour: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 400), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://api.evolink.ai/v1/tasks/t", True),
        ("https://files-api.evolink.ai/api/v1/files/upload/stream", True),
        ("https://files-api.evolink.ai/api/v1/files/quota", True),
        ("https://files.evolink.ai/uploads/f/a.png", False),  # where uploads and results are served
        ("http://files-api.evolink.ai/api/v1/files/quota", False),
        ("https://files-api.evolink.ai:8443/api/v1/files/quota", False),
        ("https://evolink.ai/", False),
        ("https://evil.example/?u=https://files-api.evolink.ai", False),
    ],
)
def test_the_key_goes_to_the_api_and_the_file_host_and_to_no_other_origin(url: str, sent: bool) -> None:
    credentials = Credentials(
        Secret(CANARY_KEY), httpx.URL("https://api.evolink.ai"), httpx.URL("https://files-api.evolink.ai")
    )
    request = httpx.Request("GET", url)
    assert credentials.attach(request) is sent
    assert ("Authorization" in request.headers) is sent


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_edit_of_a_local_photo_sends_the_key_to_the_api_and_the_file_host_never_to_storage(
    kind: str, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png())
    with LoopbackServer() as api, LoopbackServer() as files, LoopbackServer() as storage:
        envelope = {"success": True, "code": 200, "msg": "ok", "data": {"file_url": f"{storage.url}/u/photo.png"}}
        files.routes["/api/v1/files/upload/stream"] = Answer(200, {}, json.dumps(envelope).encode())
        files.routes["/api/v1/files/quota"] = Answer(200, {}, b'{"success": true, "data": {"max_files": 5}}')
        done = task_json("completed", id="task-1", results=[f"{storage.url}/r/0.png"])
        api.routes["/v1/images/generations"] = Answer(200, {}, json.dumps(task_json("pending", id="task-1")).encode())
        api.routes["/v1/tasks/task-1"] = Answer(200, {}, json.dumps(done).encode())
        storage.routes["/r/0.png"] = Answer(200, {}, png())
        options: dict[str, Any] = {"base_url": api.url, "files_base_url": files.url}

        if kind == "sync":
            with Client(CANARY_KEY, **options) as client:
                task = client.run(WanImageToImage("x", [photo]), timeout=10)
                client.download(task, tmp_path / "out")
                assert client.file_quota().max_files == 5
        else:

            async def go() -> None:
                async with AsyncClient(CANARY_KEY, **options) as client:
                    task = await client.run(WanImageToImage("x", [photo]), timeout=10)
                    await client.download(task, tmp_path / "out")
                    assert (await client.file_quota()).max_files == 5

            asyncio.run(go())
    assert [seen.path for seen in files.seen] == ["/api/v1/files/upload/stream", "/api/v1/files/quota"]
    assert all(seen.headers["authorization"] == f"Bearer {CANARY_KEY}" for seen in api.seen + files.seen)
    assert [seen.path for seen in storage.seen] == ["/r/0.png"]
    assert all("authorization" not in seen.headers for seen in storage.seen)


def test_a_file_host_that_redirects_the_upload_is_not_followed_and_gets_no_second_body(tmp_path: Path) -> None:
    with LoopbackServer() as files, LoopbackServer() as elsewhere:
        target = f"{elsewhere.url}/api/v1/files/upload/stream"
        files.routes["/api/v1/files/upload/stream"] = Answer(307, {"location": target})
        with Client(CANARY_KEY, base_url=files.url) as client, pytest.raises(UploadError) as caught:
            client.upload(png())
    assert caught.value.status_code == 307
    assert elsewhere.seen == []


def _read_body(wire: Wire, request: Request) -> bytes:
    """The request's body, read to its ``Content-Length`` (or until the client hangs up)."""
    sock: socket.socket = wire._sock
    head, _, body = request.head.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length")), 0)
    sock.settimeout(2.0)
    while len(body) < length:
        try:
            data = sock.recv(65536)
        except OSError:
            break
        if not data:
            break
        body += data
    return body


def _reads_body(record: list[bytes], answer: bytes) -> Callable[[Wire, Request, HostileServer], None]:
    """A behaviour that reads the request's body to its end (or until the client hangs up), then answers."""

    def behaviour(wire: Wire, request: Request, server: HostileServer) -> None:
        body = _read_body(wire, request)
        record.append(body)
        if b"--evolink-" in body[:20] and body.rstrip().endswith(b"--"):
            wire.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            wire.send(b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))

    return behaviour


def test_a_file_edited_mid_upload_never_sends_its_last_chunk_nor_the_closing_boundary(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    first = png() + bytes(300_000)  # several chunks: a PNG with trailing bytes decodes all the same
    photo.write_bytes(first)
    received: list[bytes] = []
    ok = b'{"success": true, "data": {"file_url": "https://files.evolink.ai/u/a.png"}}'

    class EditAfterFirstChunk(httpx.BaseTransport):
        """Sends through a real socket, editing the file once the upload's first chunk is out."""

        def __init__(self) -> None:
            self._inner = httpx.HTTPTransport()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            stream = cast(httpx.SyncByteStream, request.stream)

            class Editing(httpx.SyncByteStream):
                def __iter__(self) -> Any:
                    for number, chunk in enumerate(stream):
                        if number == 2:  # the head went, then one chunk of the file
                            photo.write_bytes(png((255, 255, 255)) + bytes(300_000))
                        yield chunk

            request.stream = Editing()
            return self._inner.handle_request(request)

    with HostileServer(_reads_body(received, ok)) as server:
        with (
            Client(server.key, base_url=server.url, transport=EditAfterFirstChunk(), max_retries=0) as client,
            pytest.raises(UploadError, match="changed between its check and its upload"),
        ):
            client.upload(photo)
        deadline = time.monotonic() + 3
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)  # the server thread notices the hang-up: bounded, not a synchronisation
    [body] = received
    assert body.startswith(b"--evolink-")
    assert first[:1000] in body
    assert not body.rstrip().endswith(b"--")  # no closing boundary: the host cannot complete the form
    assert len(body) < len(first)


SUCCESS_FALSE = b'{"success": false, "code": 40002, "msg": "file type not allowed"}'


def _answer(body: bytes) -> Callable[[Wire, Request, HostileServer], None]:
    def behaviour(wire: Wire, request: Request, server: HostileServer) -> None:
        _read_body(wire, request)  # as a real host does: an unread body would reset the connection
        wire.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        wire.send(body)

    return behaviour


def _echo_in_envelope(wire: Wire, request: Request, server: HostileServer) -> None:
    _read_body(wire, request)
    body = json.dumps({"success": False, "code": f"bad-{server.key}", "msg": f"key {server.key} refused"}).encode()
    wire.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


ATTACKS: dict[str, Callable[[Wire, Request, HostileServer], None]] = {
    **{
        name: BEHAVIOURS[name]
        for name in (
            "trickled status line",
            "trickled headers",
            "trickled body",
            "silent",
            "2 GiB body",
            "gzip bomb",
            "echoed key",
            "garbled status line",
        )
    },
    "success false": _answer(SUCCESS_FALSE),
    "key echoed in the envelope": _echo_in_envelope,
}


@pytest.fixture(scope="module", autouse=True)
def bombs() -> None:
    build_bombs()


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_hostile_file_host_ends_the_upload_within_its_budget_typed_and_without_the_key(
    attack: str, kind: str
) -> None:
    with HostileServer(ATTACKS[attack]) as server:
        options: dict[str, Any] = {"base_url": server.url, "timeout": BUDGET, "max_retries": 0}
        started = time.monotonic()
        if kind == "sync":
            with Client(server.key, **options) as client, pytest.raises(UploadError) as caught:
                client.upload(png())
        else:

            async def go() -> None:
                async with AsyncClient(server.key, **options) as client:
                    await client.upload(png())

            with pytest.raises(UploadError) as caught:
                asyncio.run(go())
        elapsed = time.monotonic() - started
    error = caught.value
    assert elapsed < BUDGET + SLACK, f"{attack}: {elapsed:.1f} s"
    assert server.key not in str(error)
    assert server.key not in repr(error.args) + str(error.code) + str(error.message)
    assert server.key not in str(error.__cause__)
    if attack in {"success false", "key echoed in the envelope"}:
        assert error.may_be_stored is False
    if attack == "success false":
        assert (error.code, error.message) == (40002, "file type not allowed")


MEMORY_SLACK = 16 * 1024 * 1024
"""Bytes of slack on the answer cap: the interpreter's and httpx's own allocations (as for the other calls)."""


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("behaviour", MEMORY_BEHAVIOURS)
def test_a_huge_or_bombed_answer_to_an_upload_holds_no_more_memory_than_the_answer_cap(
    behaviour: str, kind: str
) -> None:
    data = png()
    with HostileServer(BEHAVIOURS[behaviour]) as server:
        options: dict[str, Any] = {"base_url": server.url, "timeout": BUDGET, "max_retries": 0}
        tracemalloc.start()
        try:
            if kind == "sync":
                with Client(server.key, **options) as client, pytest.raises(UploadError) as caught:
                    client.upload(data)
            else:

                async def go() -> None:
                    async with AsyncClient(server.key, **options) as client:
                        await client.upload(data)

                with pytest.raises(UploadError) as caught:
                    asyncio.run(go())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak <= DEFAULT_MAX_RESPONSE_BYTES + MEMORY_SLACK, f"{peak / 2**20:.1f} MiB"
    assert caught.value.may_be_stored  # a 200 the client could not read: the file may be on the host


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_file_host_that_never_reads_a_big_upload_is_cut_off_at_the_budget(kind: str, tmp_path: Path) -> None:
    photo = tmp_path / "big.png"
    photo.write_bytes(png() + bytes(8_000_000))  # a PNG still (trailing bytes are ignored): 8 MB to send
    with HostileServer(BEHAVIOURS["silent"]) as server:  # reads the head, then neither reads nor answers
        options: dict[str, Any] = {"base_url": server.url, "timeout": BUDGET, "max_retries": 0}
        started = time.monotonic()
        if kind == "sync":
            with Client(server.key, **options) as client, pytest.raises(UploadError) as caught:
                client.upload(photo)
        else:

            async def go() -> None:
                async with AsyncClient(server.key, **options) as client:
                    await client.upload(photo)

            with pytest.raises(UploadError) as caught:
                asyncio.run(go())
        elapsed = time.monotonic() - started
    assert elapsed < BUDGET + SLACK, f"{elapsed:.1f} s"
    assert "budget" in str(caught.value) or "timed out" in str(caught.value)
    assert caught.value.may_be_stored
