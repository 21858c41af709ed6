"""Client details: its transports, closing, the answers it closes, run_many, the preflight.

The blocking twin of ``test_async_client_details.py``. Each test drives the public ``Client`` against
an ``httpx.MockTransport``, the fake EvoLink or a loopback server, and asserts what a caller sees:
results, errors, what reached the server, and what was closed.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from evolink_images import (
    Client,
    EvoLinkError,
    QwenImageEdit,
    RequestValidationError,
    WanImageToImage,
)
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan

from .conftest import CANARY_KEY
from .loopback import Answer, LoopbackServer

BASE_URL = "https://api.evolink.ai"
TASK_PATH = "/v1/tasks/task-1"


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


class Body(httpx.SyncByteStream):
    """A response body sent in ``chunks``; counts the chunks pulled, may fail after some, records ``close``."""

    def __init__(self, chunks: list[bytes], fail_after: int | None = None) -> None:
        self.chunks = chunks
        self.fail_after = fail_after
        self.pulled = 0
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            if self.fail_after is not None and self.pulled >= self.fail_after:
                raise httpx.ReadError("the connection dropped mid-body")
            self.pulled += 1
            yield chunk

    def close(self) -> None:
        self.closed += 1


class Recording(httpx.MockTransport):
    """A mock transport that counts its ``close`` calls."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        super().__init__(handler)
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def mock_client(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> Client:
    clock = FakeClock(now=1000.0)
    options.setdefault("max_retries", 0)
    return Client(CANARY_KEY, transport=httpx.MockTransport(handler), clock=clock, sleep=clock.sleep, **options)


# --- closing -------------------------------------------------------------------------------------------------------


def test_leaving_a_with_closes_the_transport_it_was_given() -> None:
    transport = Recording(lambda request: httpx.Response(200, json=task_json()))
    with Client(CANARY_KEY, transport=transport) as client:
        assert client.get_task("task-1").id == "task-1"
        assert transport.closed == 0
    assert transport.closed > 0


def test_a_closed_client_refuses_to_download_and_leaving_with_closes_it(fake: FakeEvoLink, tmp_path: Path) -> None:
    client = fake.client()
    task = client.run(QwenImageEdit("Add a hat", ["https://img.example/a.png"]))
    with client:
        assert len(client.download(task, tmp_path / "open")) == 1
    with pytest.raises(RuntimeError, match="closed"):
        client.download(task, tmp_path / "left")
    other = fake.client()
    other.close()
    with pytest.raises(RuntimeError, match="closed"):
        other.download(task, tmp_path / "closed")
    fetched = [url for method, url in fake.requests if method == "GET" and "/results/" in url]
    assert len(fetched) == 1  # only the download made while the client was open reached the host
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == [
        path.name for path in (tmp_path / "open").iterdir()
    ]


def test_a_with_options_client_closed_leaves_the_shared_connections_open() -> None:
    transport = Recording(lambda request: httpx.Response(200, json=task_json()))
    with Client(CANARY_KEY, transport=transport, max_retries=0) as client:
        patient = client.with_options(max_retries=1)
        assert patient.get_task("task-1").id == "task-1"
        patient.close()
        assert transport.closed == 0
        assert client.get_task("task-1").id == "task-1"
    assert transport.closed > 0


# --- the answers each call closes ----------------------------------------------------------------------------------


CALLS: dict[str, Callable[[Client], object]] = {
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

    with mock_client(handler) as client, pytest.raises(EvoLinkError):
        CALLS[call](client)
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

    with mock_client(handler, max_response_bytes=4096) as client, pytest.raises(EvoLinkError):
        CALLS[call](client)
    assert len(bodies) == 1
    assert bodies[0].pulled < 64
    assert bodies[0].closed == 1


@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_answer_read_whole_is_closed(call: str) -> None:
    bodies: list[Body] = []
    quota = {"success": True, "data": {"file_count": 1, "max_file_count": 100}}

    def handler(request: httpx.Request) -> httpx.Response:
        payload: Any = task_json()
        if "quota" in request.url.path:
            payload = quota
        body = Body([json.dumps(payload).encode()])
        bodies.append(body)
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=body)

    # an upload answered with a task is refused: its body is closed all the same
    with mock_client(handler) as client, contextlib.suppress(EvoLinkError):
        CALLS[call](client)
    assert len(bodies) == 1
    assert bodies[0].pulled == 1
    assert bodies[0].closed == 1


# --- the transports ------------------------------------------------------------------------------------------------


def test_a_client_given_an_http_client_streams_answers_and_stops_reading_one_over_its_cap() -> None:
    bodies: list[Body] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = Body([b"x" * 1024] * 64)
        bodies.append(body)
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=body)

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as http,
        Client(CANARY_KEY, http_client=http, max_retries=0, max_response_bytes=4096) as client,
        pytest.raises(EvoLinkError),
    ):
        client.get_task("task-1")
    assert len(bodies) == 1
    assert bodies[0].pulled < 64
    assert bodies[0].closed == 1


def test_a_client_given_an_http_client_sends_through_it_and_reads_the_task() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=Body([json.dumps(task_json()).encode()]))

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        with Client(CANARY_KEY, http_client=http) as client:
            assert client.get_task("task-1").id == "task-1"
        assert not http.is_closed  # the caller's client is the caller's to close
    assert [str(request.url) for request in seen] == [f"{BASE_URL}{TASK_PATH}"]
    assert seen[0].headers["authorization"] == f"Bearer {CANARY_KEY}"


def test_the_default_transport_reaches_a_loopback_api() -> None:
    routes = {TASK_PATH: Answer(200, {"content-type": "application/json"}, json.dumps(task_json()).encode())}
    with LoopbackServer(routes) as server:
        with Client(CANARY_KEY, base_url=server.url, max_retries=0, timeout=5) as client:
            assert client.get_task("task-1").id == "task-1"
        assert [(seen.method, seen.path) for seen in server.seen] == [("GET", TASK_PATH)]
        assert server.seen[0].headers["authorization"] == f"Bearer {CANARY_KEY}"


# --- run_many ------------------------------------------------------------------------------------------------------


def batch_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "evolink-batch"]


def test_run_many_does_not_fetch_the_input_images_it_sends_and_its_threads_end(fake: FakeEvoLink) -> None:
    with fake.client() as client:
        results = client.run_many([QwenImageEdit(f"edit {i}", ["https://img.example/a.png"]) for i in range(2)])
    assert [result.outcome for result in results] == ["done", "done"]
    assert not [url for _, url in fake.requests if "img.example" in url]
    assert fake.created == 2
    for thread in batch_threads():
        thread.join(timeout=2)
    assert batch_threads() == []


@pytest.mark.parametrize("retries", [0, 1])
def test_run_many_sends_each_submit_once_and_retries_only_as_the_clients_max_retries_says(
    fake: FakeEvoLink, retries: int
) -> None:
    fake.inject("connect_error", target="POST", times=retries + 1)
    with fake.client(max_retries=retries) as client:
        results = client.run_many([QwenImageEdit("Add a hat", ["https://img.example/a.png"])])
    assert [result.outcome for result in results] == ["unfinished"]
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
    with mock_client(image_handler(body, posts)) as client:
        task = client.submit(WanImageToImage("x", ["https://img.example/a.png"]), preflight=True)
    assert task.id == "task-1"
    assert body.pulled == len(body.chunks) > 1
    assert body.closed == 1
    assert len(posts) == 1


def test_the_preflight_stops_reading_an_image_once_it_is_over_the_cap() -> None:
    body = Body([b"\0" * (1024 * 1024)] * 16)
    posts: list[httpx.Request] = []
    with (
        mock_client(image_handler(body, posts)) as client,
        pytest.raises(RequestValidationError, match=r"image_urls\[0\]: is over 10000000 bytes"),
    ):
        client.submit(WanImageToImage("x", ["https://img.example/a.png"]), preflight=True)
    assert body.pulled == 10  # 10 MiB: the first chunk count over the model's 10,000,000 bytes
    assert body.closed == 1
    assert posts == []
