"""AsyncClient details: its transports, with_options, closing, the answers it closes, run_many, the preflight.

Each test drives the public ``AsyncClient`` against an ``httpx.MockTransport``, the fake EvoLink or a
loopback server, and asserts what a caller sees: results, errors, what reached the server, and what
was closed.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from evolink_images import (
    AsyncClient,
    EvoLinkError,
    QwenImageEdit,
    RequestValidationError,
    WanImageToImage,
)
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan

from .conftest import CANARY_KEY
from .loopback import Answer, LoopbackServer

T = TypeVar("T")

BASE_URL = "https://api.evolink.ai"
FILES_API = "https://files-api.evolink.ai"
TASK_PATH = "/v1/tasks/task-1"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a fresh event loop, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout=10)

    return asyncio.run(bounded())


def task_json(**fields: Any) -> dict[str, Any]:
    return {"id": "task-1", "status": "pending", "progress": 0, **fields}


def png(width: int = 400, height: int = 400) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def fake() -> FakeEvoLink:
    return FakeEvoLink(api_key=CANARY_KEY, clock=FakeClock(now=1000.0), plan=TaskPlan(duration=0))


class Body(httpx.AsyncByteStream):
    """A response body sent in ``chunks``; counts the chunks pulled, may fail after some, records ``aclose``."""

    def __init__(self, chunks: list[bytes], fail_after: int | None = None) -> None:
        self.chunks = chunks
        self.fail_after = fail_after
        self.pulled = 0
        self.closed = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            if self.fail_after is not None and self.pulled >= self.fail_after:
                raise httpx.ReadError("the connection dropped mid-body")
            self.pulled += 1
            yield chunk

    async def aclose(self) -> None:
        self.closed += 1


class Recording(httpx.MockTransport):
    """A mock transport that counts its ``aclose`` calls."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        super().__init__(handler)
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


def mock_client(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> AsyncClient:
    clock = FakeClock(now=1000.0)
    options.setdefault("max_retries", 0)
    return AsyncClient(
        CANARY_KEY, transport=httpx.MockTransport(handler), clock=clock, sleep=clock.async_sleep, **options
    )


# --- closing -------------------------------------------------------------------------------------------------------


def test_leaving_an_async_with_closes_the_transport_it_was_given() -> None:
    transport = Recording(lambda request: httpx.Response(200, json=task_json()))

    async def go() -> None:
        async with AsyncClient(CANARY_KEY, transport=transport) as client:
            assert (await client.get_task("task-1")).id == "task-1"
            assert transport.closed == 0

    run(go())
    assert transport.closed > 0


def test_a_closed_client_refuses_to_download_and_leaving_async_with_closes_it(
    fake: FakeEvoLink, tmp_path: Path
) -> None:
    async def go() -> None:
        client = fake.async_client()
        task = await client.run(QwenImageEdit("Add a hat", ["https://img.example/a.png"]))
        async with client:
            assert len(await client.download(task, tmp_path / "open")) == 1
        with pytest.raises(RuntimeError, match="closed"):
            await client.download(task, tmp_path / "left")
        other = fake.async_client()
        await other.close()
        with pytest.raises(RuntimeError, match="closed"):
            await other.download(task, tmp_path / "closed")

    run(go())
    fetched = [url for method, url in fake.requests if method == "GET" and "/results/" in url]
    assert len(fetched) == 1  # only the download made while the client was open reached the host
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == [
        path.name for path in (tmp_path / "open").iterdir()
    ]


# --- with_options --------------------------------------------------------------------------------------------------


def test_with_options_returns_a_client_with_the_changes_that_shares_the_connections() -> None:
    answers = [httpx.Response(503), httpx.Response(200, json=task_json())]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0) if answers else httpx.Response(200, json=task_json())

    transport = Recording(handler)
    clock = FakeClock(now=1000.0)

    async def go() -> None:
        async with AsyncClient(
            CANARY_KEY, transport=transport, max_retries=0, clock=clock, sleep=clock.async_sleep
        ) as client:
            patient = client.with_options(max_retries=1, default_headers={"X-Patient": "yes"})
            assert isinstance(patient, AsyncClient)
            assert repr(patient) == repr(client)
            assert (await patient.get_task("task-1")).id == "task-1"  # one retry: the 503, then the task
            assert [request.headers.get("X-Patient") for request in seen] == ["yes", "yes"]
            await patient.close()  # leaves the shared connections open
            assert transport.closed == 0
            assert (await client.get_task("task-1")).id == "task-1"
            assert "X-Patient" not in seen[-1].headers
        assert transport.closed > 0

    run(go())
    assert len(seen) == 3


def test_a_with_options_client_shares_the_uploads_unless_its_key_or_file_host_differs(fake: FakeEvoLink) -> None:
    data = png()
    second_host: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "files-api.example":  # a second file host, served by the same fake
            second_host.append(request.url.path)
            request = httpx.Request(
                request.method,
                request.url.copy_with(host="files-api.evolink.ai"),
                headers=request.headers,
                content=request.content,
            )
        return fake.handler(request)

    clock = FakeClock(now=1000.0)

    async def go() -> None:
        async with AsyncClient(
            CANARY_KEY,
            transport=httpx.MockTransport(handler),
            files_base_url=FILES_API,
            clock=clock,
            sleep=clock.async_sleep,
        ) as client:
            first = await client.upload(data)
            again = await client.with_options(timeout=5).upload(data)
            assert again.file_url == first.file_url
            assert fake.file_host.uploads == 1
            await client.with_options(api_key=CANARY_KEY).upload(data)  # the key given again: a new cache
            assert fake.file_host.uploads == 2
            await client.with_options(files_base_url="https://files-api.example").upload(data)  # another host
            assert fake.file_host.uploads == 3
            assert second_host == ["/api/v1/files/upload/stream"]
            await client.upload(data)  # the first client's own cache still holds it
            assert fake.file_host.uploads == 3

    run(go())


# --- the answers each call closes ----------------------------------------------------------------------------------


CALLS: dict[str, Callable[[AsyncClient], Awaitable[object]]] = {
    "get_task": lambda client: client.get_task("task-1"),
    "submit": lambda client: client.submit(QwenImageEdit("Add a hat", ["https://img.example/a.png"])),
    "upload": lambda client: client.upload(png()),
    "file_quota": lambda client: client.file_quota(),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_answer_whose_body_fails_midway_is_closed_and_the_call_fails(call: str) -> None:
    bodies: list[Body] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = Body([b'{"id": "task-1", ', b'"status": "pending"}'], fail_after=1)
        bodies.append(body)
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=body)

    async def go() -> None:
        async with mock_client(handler) as client:
            with pytest.raises(EvoLinkError):
                await CALLS[call](client)

    run(go())
    assert len(bodies) == 1
    assert bodies[0].pulled == 1
    assert bodies[0].closed == 1


@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_answer_over_the_cap_is_closed_after_reading_only_up_to_the_cap(call: str) -> None:
    bodies: list[Body] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = Body([b"x" * 1024] * 64)
        bodies.append(body)
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=body)

    async def go() -> None:
        async with mock_client(handler, max_response_bytes=4096) as client:
            with pytest.raises(EvoLinkError):
                await CALLS[call](client)

    run(go())
    assert len(bodies) == 1
    assert bodies[0].pulled < 64
    assert bodies[0].closed == 1


# --- the transports ------------------------------------------------------------------------------------------------


def test_a_client_given_an_http_client_streams_answers_and_stops_reading_one_over_its_cap() -> None:
    bodies: list[Body] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = Body([b"x" * 1024] * 64)
        bodies.append(body)
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=body)

    async def go() -> None:
        async with (
            httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
            AsyncClient(CANARY_KEY, http_client=http, max_retries=0, max_response_bytes=4096) as client,
        ):
            with pytest.raises(EvoLinkError):
                await client.get_task("task-1")

    run(go())
    assert len(bodies) == 1
    assert bodies[0].pulled < 64


def test_a_client_given_an_http_client_sends_through_it_and_reads_the_task() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=Body([json.dumps(task_json()).encode()]))

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            async with AsyncClient(CANARY_KEY, http_client=http) as client:
                assert (await client.get_task("task-1")).id == "task-1"
            assert not http.is_closed  # the caller's client is the caller's to close

    run(go())
    assert [str(request.url) for request in seen] == [f"{BASE_URL}{TASK_PATH}"]
    assert seen[0].headers["authorization"] == f"Bearer {CANARY_KEY}"


def test_the_default_transport_reaches_a_loopback_api() -> None:
    routes = {TASK_PATH: Answer(200, {"content-type": "application/json"}, json.dumps(task_json()).encode())}

    async def go(url: str) -> str:
        async with AsyncClient(CANARY_KEY, base_url=url, max_retries=0, timeout=5) as client:
            return (await client.get_task("task-1")).id

    with LoopbackServer(routes) as server:
        assert run(go(server.url)) == "task-1"
        assert [(seen.method, seen.path) for seen in server.seen] == [("GET", TASK_PATH)]
        assert server.seen[0].headers["authorization"] == f"Bearer {CANARY_KEY}"


def test_tls_verification_is_on_by_default() -> None:
    async def go() -> str:
        async with AsyncClient(CANARY_KEY) as client:
            transport: Any = client._api  # reaching in, as the sync test does: nothing public exposes the TLS context
            return str(transport._inner._inner._pool._ssl_context.verify_mode.name)

    assert run(go()) == "CERT_REQUIRED"


# --- run_many ------------------------------------------------------------------------------------------------------


def test_run_many_does_not_fetch_the_input_images_it_sends(fake: FakeEvoLink) -> None:
    async def go() -> list[str]:
        async with fake.async_client() as client:
            results = await client.run_many(
                [QwenImageEdit(f"edit {i}", ["https://img.example/a.png"]) for i in range(2)]
            )
            return [result.outcome for result in results]

    assert run(go()) == ["done", "done"]
    assert not [url for _, url in fake.requests if "img.example" in url]
    assert fake.created == 2


@pytest.mark.parametrize("retries", [0, 1])
def test_run_many_sends_each_submit_once_and_retries_only_as_the_clients_max_retries_says(
    fake: FakeEvoLink, retries: int
) -> None:
    fake.inject("connect_error", target="POST", times=retries + 1)

    async def go() -> list[str]:
        async with fake.async_client(max_retries=retries) as client:
            results = await client.run_many([QwenImageEdit("Add a hat", ["https://img.example/a.png"])])
            return [result.outcome for result in results]

    assert run(go()) == ["unfinished"]
    assert fake.posts() == retries + 1
    assert fake.created == 0


# --- the preflight -------------------------------------------------------------------------------------------------


def image_handler(body: Body, posts: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "img.example":
            return httpx.Response(200, stream=body)
        posts.append(request)
        return httpx.Response(200, json=task_json())

    return handler


def test_the_preflight_reads_an_image_sent_in_small_chunks_whole() -> None:
    data = png(400, 400)
    body = Body([data[start : start + 8] for start in range(0, len(data), 8)])
    posts: list[httpx.Request] = []

    async def go() -> str:
        async with mock_client(image_handler(body, posts)) as client:
            task = await client.submit(WanImageToImage("x", ["https://img.example/a.png"]), preflight=True)
            return task.id

    assert run(go()) == "task-1"
    assert body.pulled == len(body.chunks) > 1
    assert body.closed == 1
    assert len(posts) == 1


def test_the_preflight_stops_reading_an_image_once_it_is_over_the_cap() -> None:
    body = Body([b"\0" * (1024 * 1024)] * 16)
    posts: list[httpx.Request] = []

    async def go() -> None:
        async with mock_client(image_handler(body, posts)) as client:
            with pytest.raises(RequestValidationError, match=r"image_urls\[0\]: is over 10000000 bytes"):
                await client.submit(WanImageToImage("x", ["https://img.example/a.png"]), preflight=True)

    run(go())
    assert body.pulled == 10  # 10 MiB: the first chunk count over the model's 10,000,000 bytes
    assert body.closed == 1
    assert posts == []
