"""The two clients: identical faces, configuration, secrets, downloads, callbacks and logging."""

from __future__ import annotations

import inspect
import io
import json
import logging
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import evolink_images
from evolink_images import (
    AsyncClient,
    Client,
    ConfigurationError,
    DownloadError,
    MalformedTaskError,
    RequestValidationError,
    Task,
    WanImageToImage,
)
from evolink_images.testing.payloads import error_json, task_json

from .conftest import BASE_URL, CANARY_KEY, Face

TASK_URL = f"{BASE_URL}/v1/tasks/task-1"
SUBMIT_URL = f"{BASE_URL}/v1/images/generations"
RESULT_HOST = "https://files.evolink.ai"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 60


def completed(*urls: str) -> Task:
    return Task.from_dict(task_json("completed", id="task-1", results=list(urls)))


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") or name == "__init__"
    }


def shape(signature: inspect.Signature) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_client_and_async_client_have_identical_methods_and_parameters() -> None:
    sync, asynchronous = public_methods(Client), public_methods(AsyncClient)
    assert set(sync) == set(asynchronous)
    assert {"submit", "get_task", "wait", "run", "download", "close", "confirm_callback"} <= set(sync)
    for name in sync:
        assert shape(sync[name]) == shape(asynchronous[name]), name
        if name not in {"__init__", "with_options"}:  # building a client does no I/O
            assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name


def test_every_public_name_is_exported_once_sorted_and_documented() -> None:
    names = evolink_images.__all__
    assert list(names) == sorted(names, key=lambda n: (not n.isupper(), n))
    assert len(set(names)) == len(names)
    for name in names:
        value = getattr(evolink_images, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__doc__, name


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, api: respx.Router) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", "sk-evo-from-env")
    sent: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("Authorization"))
        return httpx.Response(200, json=task_json(id="task-1"))

    route = api.get(TASK_URL).mock(side_effect=answer)
    with Client(http_client=httpx.Client(transport=httpx.MockTransport(api.handler))) as client:
        client.get_task("task-1")
    assert sent == ["Bearer sk-evo-from-env"]
    assert route.call_count == 1


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_a_missing_key_is_a_clear_error(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="EVOLINK_API_KEY"):
        cls()


@pytest.mark.parametrize(
    ("base_url", "ok"),
    [
        ("https://api.evolink.ai", True),
        ("http://127.0.0.1:8000", True),
        ("http://localhost:9", True),
        ("http://[::1]:9", True),
        ("http://api.evolink.ai", False),
        ("http://10.0.0.1", False),
        ("ftp://api.evolink.ai", False),
        ("api.evolink.ai", False),
    ],
)
def test_plain_http_is_refused_unless_the_host_is_loopback(base_url: str, ok: bool) -> None:
    if ok:
        Client(CANARY_KEY, base_url=base_url).close()
    else:
        with pytest.raises(ConfigurationError, match="base_url"):
            Client(CANARY_KEY, base_url=base_url)


@pytest.mark.parametrize(("bad", "match"), [({"max_retries": -1}, "max_retries"), ({"api_key": "a\nb"}, "line break")])
def test_bad_settings_are_refused(bad: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Client(**{"api_key": CANARY_KEY, **bad})


def test_tls_verification_is_on_by_default() -> None:
    with Client(CANARY_KEY) as client:
        transport: Any = client._api  # reaching in: nothing public exposes the TLS context
        assert transport._inner._inner._pool._ssl_context.verify_mode.name == "CERT_REQUIRED"


def test_the_key_never_appears_in_reprs_logs_or_errors(
    api_client: Face, api: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="evolink_images")
    api.get(TASK_URL).respond(401, json=error_json("unauthorized", f"key {CANARY_KEY} is invalid"))
    api.post(SUBMIT_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    texts = [repr(api_client.client), str(api_client.client)]
    calls: list[tuple[str, tuple[Any, ...]]] = [
        ("get_task", ("task-1",)),
        ("submit", (WanImageToImage("x", ["https://e.com/a"]),)),
    ]
    for method, args in calls:
        with pytest.raises(evolink_images.EvoLinkError) as caught:
            getattr(api_client, method)(*args)
        texts += [str(caught.value), repr(caught.value), "".join(traceback.format_exception(caught.value))]
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records, "DEBUG logging produced nothing to check"
    assert all(CANARY_KEY not in text for text in texts)
    assert any("<redacted>" in text for text in texts)


def test_requests_and_retries_are_logged_at_debug_with_ids(
    api_client: Face, api: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="evolink_images")
    api.get(TASK_URL).mock(
        side_effect=[
            httpx.Response(503, headers={"x-request-id": "req-1"}),
            httpx.Response(200, json=task_json(id="task-1"), headers={"x-request-id": "req-2"}),
        ]
    )
    api_client.get_task("task-1")
    log = "\n".join(record.getMessage() for record in caplog.records)
    assert "retry 1/2 of GET /v1/tasks/task-1" in log
    assert "(request id req-2)" in log


def test_download_saves_every_result_without_sending_the_key(
    api_client: Face, api: respx.Router, tmp_path: Path
) -> None:
    first = api.get(f"{RESULT_HOST}/r/0.png").respond(200, content=PNG, headers={"content-type": "image/png"})
    api.get(f"{RESULT_HOST}/r/1").respond(200, content=JPEG, headers={"content-type": "image/jpeg; q=1"})
    paths = api_client.download(completed(f"{RESULT_HOST}/r/0.png", f"{RESULT_HOST}/r/1"), tmp_path / "out")
    assert [p.name for p in paths] == ["task-1-0.png", "task-1-1.jpg"]
    assert paths[0].read_bytes() == PNG
    assert "Authorization" not in first.calls.last.request.headers
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["task-1-0.png", "task-1-1.jpg"]


def test_a_redirect_to_another_host_never_carries_the_key(api_client: Face, api: respx.Router) -> None:
    api.get(TASK_URL).respond(302, headers={"location": "https://evil.example/steal"})
    evil = api.get("https://evil.example/steal").respond(200, json=task_json())
    with pytest.raises(evolink_images.APIStatusError):
        api_client.get_task("task-1")
    assert evil.call_count == 0


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (httpx.Response(404, text="gone"), "HTTP 404"),
        (httpx.Response(200, text="<html>", headers={"content-type": "text/html"}), "not an image"),
        (httpx.Response(200, content=PNG + b"x" * 100, headers={"content-type": "image/png"}), "over 50 bytes"),
        (
            httpx.Response(200, content=b"x" * 100, headers={"content-type": "image/png", "content-length": "100"}),
            "over 50",
        ),
    ],
)
def test_a_bad_result_raises_and_leaves_no_file_behind(
    api_client: Face, api: respx.Router, tmp_path: Path, response: httpx.Response, match: str
) -> None:
    api.get(f"{RESULT_HOST}/r/0.png").mock(return_value=response)
    with pytest.raises(DownloadError, match=match) as caught:
        api_client.download(completed(f"{RESULT_HOST}/r/0.png"), tmp_path, max_bytes=50)
    assert caught.value.task_id == "task-1"
    assert list(tmp_path.iterdir()) == []


def test_a_dropped_download_leaves_no_partial_file(api_client: Face, api: respx.Router, tmp_path: Path) -> None:
    api.get(f"{RESULT_HOST}/r/0.png").mock(side_effect=httpx.ReadError("reset"))
    with pytest.raises(DownloadError, match="could not be fetched"):
        api_client.download(completed(f"{RESULT_HOST}/r/0.png"), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("task", "match"),
    [
        (Task.from_dict(task_json("processing", id="task-1")), "not completed"),
        (Task.from_dict(task_json("completed", id="task-1", results=[])), "without result URLs"),
        (Task.from_dict(task_json("completed", id="task-1", results=["file:///etc/passwd"])), "not http"),
    ],
)
def test_download_refuses_a_task_without_downloadable_results(
    api_client: Face, tmp_path: Path, task: Task, match: str
) -> None:
    with pytest.raises(DownloadError, match=match):
        api_client.download(task, tmp_path)


def test_file_names_are_safe_whatever_the_task_id(api_client: Face, api: respx.Router, tmp_path: Path) -> None:
    api.get(f"{RESULT_HOST}/r").respond(200, content=PNG, headers={"content-type": "image/png"})
    task = Task.from_dict(task_json("completed", id="../../etc/x y", results=[f"{RESULT_HOST}/r"]))
    [path] = api_client.download(task, tmp_path)
    assert path.parent == tmp_path
    assert path.name.startswith("etc_x_y_")
    assert path.name.endswith("-0.png")


def test_confirm_callback_trusts_only_the_refetched_task(api_client: Face, api: respx.Router) -> None:
    api.get(TASK_URL).respond(200, json=task_json("processing", id="task-1"))
    forged = task_json("completed", id="task-1", results=["https://evil.example/x.png"])
    confirmed = api_client.confirm_callback(json.dumps(forged))
    assert confirmed.status == "processing"
    assert confirmed.results == ()


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"status": "completed"}', "{}", {"id": "", "status": "x"}])
def test_a_callback_body_that_is_not_a_task_is_refused(body: Any) -> None:
    with pytest.raises(RequestValidationError) as caught:
        evolink_images.parse_callback(body)
    assert caught.value.violations[0].field == "body"


def test_parse_callback_keeps_unknown_fields() -> None:
    parsed = evolink_images.parse_callback({"id": "t", "status": "archived", "extra": [1]})
    assert parsed.status == "archived"
    assert not parsed.is_terminal
    assert parsed.raw["extra"] == [1]


def png_of(width: int, height: int, kind: str = "PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, kind)
    return buffer.getvalue()


def test_the_preflight_checks_real_format_and_dimensions(api_client: Face, api: respx.Router) -> None:
    api.get("https://img.example/ok.png").respond(200, content=png_of(400, 400))
    api.get("https://img.example/small.png").respond(200, content=png_of(100, 400))
    api.get("https://img.example/gif.png").respond(200, content=png_of(400, 400, "GIF"))
    api.get("https://img.example/text.png").respond(200, content=b"hello")
    api.get("https://img.example/missing.png").respond(404)
    post = api.post(SUBMIT_URL).respond(200, json=task_json())
    ok = WanImageToImage("x", ["https://img.example/ok.png"])
    api_client.submit(ok, preflight=True)
    assert post.call_count == 1
    for name, problem in [
        ("small", "is 100x400 px"),
        ("gif", "is GIF"),
        ("text", "not an image"),
        ("missing", "HTTP 404"),
    ]:
        bad = WanImageToImage("x", [f"https://img.example/{name}.png"])
        with pytest.raises(RequestValidationError, match=problem):
            api_client.submit(bad, preflight=True)
    assert post.call_count == 1


def test_the_preflight_caps_the_bytes_it_fetches(api_client: Face, api: respx.Router) -> None:
    api.get("https://img.example/huge.png").respond(200, content=b"\0" * (10 * 1000 * 1000 + 1))
    with pytest.raises(RequestValidationError, match="over 10000000 bytes"):
        api_client.submit(WanImageToImage("x", ["https://img.example/huge.png"]), preflight=True)


def test_the_preflight_reports_an_unreachable_image(api_client: Face, api: respx.Router) -> None:
    api.get("https://img.example/a.png").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(RequestValidationError, match=r"image_urls\[0\]: could not be fetched"):
        api_client.submit(WanImageToImage("x", ["https://img.example/a.png"]), preflight=True)


@pytest.mark.parametrize(
    ("request_", "sent"),
    [
        (
            WanImageToImage("Night", ["https://e.com/a.png"], n=2, callback_url="https://e.com/hook"),
            {
                "model": "wan2.5-image-to-image",
                "prompt": "Night",
                "image_urls": ["https://e.com/a.png"],
                "n": 2,
                "callback_url": "https://e.com/hook",
            },
        ),
        (
            evolink_images.QwenImageEdit("Hat", ["https://e.com/a.png", "https://e.com/b.png"], extra_body={"seed": 7}),
            {
                "model": "qwen-image-edit",
                "prompt": "Hat",
                "image_urls": ["https://e.com/a.png", "https://e.com/b.png"],
                "seed": 7,
            },
        ),
        (
            WanImageToImage("Night", ("https://e.com/a.png",), extra_body={"size": "1024x1024"}),
            {
                "model": "wan2.5-image-to-image",
                "prompt": "Night",
                "image_urls": ["https://e.com/a.png"],
                "size": "1024x1024",
            },
        ),
    ],
)
def test_submit_sends_exactly_the_documented_fields_plus_extra_body(
    api_client: Face, api: respx.Router, request_: Any, sent: dict[str, Any]
) -> None:
    auth: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        auth.append(request.headers.get("Authorization"))
        return httpx.Response(200, json=task_json())

    route = api.post(SUBMIT_URL).mock(side_effect=answer)
    task = api_client.submit(request_)
    assert task.id == "task-unified-1757156493-imcg5zqt"
    assert task.estimated_time == 30
    assert json.loads(route.calls.last.request.content) == sent
    assert auth == [f"Bearer {CANARY_KEY}"]


@pytest.mark.parametrize(
    ("timeout", "read", "budget"),
    [
        (5, 5.0, 5.0),
        (2.5, 2.5, 2.5),
        (httpx.Timeout(3.0, connect=1.0), 3.0, 60.0),
        (None, 30.0, 60.0),
        (90, 30.0, 90.0),
    ],
)
def test_the_timeout_is_the_calls_total_budget_or_an_httpx_timeout_per_phase(
    timeout: Any, read: float, budget: float, api: respx.Router
) -> None:
    route = api.get(TASK_URL).respond(200, json=task_json(id="task-1"))
    with Client(
        CANARY_KEY, timeout=timeout, http_client=httpx.Client(transport=httpx.MockTransport(api.handler))
    ) as client:
        client.get_task("task-1")
        assert client._settings.budget == budget
    assert route.calls.last.request.extensions["timeout"]["read"] <= read


def test_odd_but_harmless_task_fields_are_tolerated() -> None:
    task = Task.from_dict(
        {"id": "t", "status": "completed", "progress": "half", "task_info": None, "usage": None, "results": None}
    )
    assert task.progress == 0
    assert task.usage is None
    assert task.estimated_time is None
    assert task.results == ()


@pytest.mark.parametrize(
    "body",
    [
        {"id": "t", "status": "completed", "results": "https://e.com/a.png"},
        {"id": "t", "status": ["x"]},
        {"id": "", "status": "x"},
    ],
)
def test_task_bodies_that_cannot_be_acted_on_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(MalformedTaskError):
        Task.from_dict(body)


class CutStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that breaks off after some bytes, or that is longer than announced (no Content-Length)."""

    def __init__(self, chunks: int, fail: bool) -> None:
        self.chunks = chunks
        self.fail = fail

    def __iter__(self) -> Iterator[bytes]:
        yield from [PNG[:40]] + [b"x" * 40] * (self.chunks - 1)
        if self.fail:
            raise httpx.ReadError("connection reset mid-body")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in [PNG[:40]] + [b"x" * 40] * (self.chunks - 1):
            yield chunk
        if self.fail:
            raise httpx.ReadError("connection reset mid-body")


@pytest.mark.parametrize(
    ("stream", "match"),
    [(CutStream(2, fail=True), "could not be fetched"), (CutStream(5, fail=False), "over 100 bytes")],
    ids=["cut mid-body", "longer than the cap, unannounced"],
)
def test_a_download_that_fails_mid_body_leaves_no_file_behind(
    api_client: Face, api: respx.Router, tmp_path: Path, stream: CutStream, match: str
) -> None:
    api.get(f"{RESULT_HOST}/r/0.png").mock(
        return_value=httpx.Response(200, headers={"content-type": "image/png"}, stream=stream)
    )
    with pytest.raises(DownloadError, match=match):
        api_client.download(completed(f"{RESULT_HOST}/r/0.png"), tmp_path, max_bytes=100)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://api.evolink.ai/v1/tasks/t", True),
        ("https://files.evolink.ai/r/0.png", False),
        ("http://api.evolink.ai/v1/tasks/t", False),
        ("https://api.evolink.ai:8443/v1/tasks/t", False),
        ("https://evil.example/?u=https://api.evolink.ai", False),
    ],
)
def test_the_bearer_auth_goes_only_to_the_apis_own_origin(url: str, sent: bool) -> None:
    from evolink_images._wire import Credentials, Secret

    credentials = Credentials(Secret(CANARY_KEY), httpx.URL(BASE_URL))
    request = httpx.Request("GET", url)
    assert credentials.attach(request) is sent
    assert ("Authorization" in request.headers) is sent
    assert CANARY_KEY not in repr(credentials)
    credentials.detach(request)
    assert "Authorization" not in request.headers
