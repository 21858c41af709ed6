"""Error mapping: every status, both error shapes, and bodies the generated parser cannot read."""

from __future__ import annotations

import httpx
import pytest
import respx

from evolink_images import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    EvoLinkError,
    InsufficientQuotaError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    WanImageToImage,
)
from evolink_images.testing.payloads import error_json

from .conftest import BASE_URL, Face

TASK_URL = f"{BASE_URL}/v1/tasks/task-1"
SUBMIT_URL = f"{BASE_URL}/v1/images/generations"
REQUEST = WanImageToImage("Make it night", ["https://example.com/a.png"])

STATUS_CLASSES = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (402, InsufficientQuotaError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (413, PayloadTooLargeError),
    (429, RateLimitError),
    (500, InternalServerError),
    (502, InternalServerError),
    (503, InternalServerError),
    (520, InternalServerError),
    (418, APIStatusError),
]


@pytest.mark.parametrize(("status", "kind"), STATUS_CLASSES)
@pytest.mark.parametrize("code", ["some_code", 499])
def test_every_error_status_maps_to_its_class_with_code_message_and_request_id(
    api_client: Face, api: respx.Router, status: int, kind: type[APIStatusError], code: str | int
) -> None:
    api.get(TASK_URL).respond(status, json=error_json(code, "it went wrong"), headers={"x-request-id": "req-9"})
    with pytest.raises(kind) as caught:
        api_client.get_task("task-1", max_retries=0)
    error = caught.value
    assert type(error) is kind
    assert (error.status_code, error.code, error.request_id, error.task_id) == (status, code, "req-9", "task-1")
    assert error.message == "it went wrong"
    assert "it went wrong" in str(error)
    assert f"HTTP {status}" in str(error)
    assert error.response.status_code == status


@pytest.mark.parametrize(
    ("status", "content", "content_type"),
    [
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
        (404, b"", "text/plain"),
        (520, b"origin error", "text/plain"),
        (500, b'{"error": {"code": 500, "mess', "application/json"),
        (400, b'["not", "an", "object"]', "application/json"),
    ],
)
def test_a_non_json_or_odd_error_body_still_becomes_an_api_status_error(
    api_client: Face, api: respx.Router, status: int, content: bytes, content_type: str
) -> None:
    api.get(TASK_URL).respond(status, content=content, headers={"content-type": content_type})
    with pytest.raises(APIStatusError) as caught:
        api_client.get_task("task-1", max_retries=0)
    assert caught.value.status_code == status
    assert caught.value.code is None


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"",
        b'{"id": "task-1", "stat',
        b'{"status": "pending"}',
        b'{"id": 5, "status": "x"}',
        b"[]",
        b"null",
    ],
)
def test_a_200_that_is_not_a_task_becomes_an_api_response_error(
    api_client: Face, api: respx.Router, content: bytes
) -> None:
    api.get(TASK_URL).respond(200, content=content, headers={"content-type": "application/json"})
    with pytest.raises(APIResponseError) as caught:
        api_client.get_task("task-1", max_retries=0)
    assert caught.value.status_code == 200
    assert caught.value.task_id == "task-1"


def test_a_garbled_submit_response_says_a_task_may_exist(api_client: Face, api: respx.Router) -> None:
    api.post(SUBMIT_URL).respond(200, content=b"<html>", headers={"content-type": "text/html"})
    with pytest.raises(APIResponseError) as caught:
        api_client.submit(REQUEST)
    assert caught.value.task_may_exist
    assert "may have been created" in str(caught.value)


@pytest.mark.parametrize(
    ("raised", "kind"),
    [
        (httpx.ConnectError("refused"), APIConnectionError),
        (httpx.ConnectTimeout("slow"), APITimeoutError),
        (httpx.ReadTimeout("slow"), APITimeoutError),
        (httpx.RemoteProtocolError("dropped"), APIConnectionError),
        (httpx.ReadError("reset"), APIConnectionError),
    ],
)
def test_no_raw_httpx_exception_escapes(
    api_client: Face, api: respx.Router, raised: Exception, kind: type[EvoLinkError]
) -> None:
    api.get(TASK_URL).mock(side_effect=raised)
    api.post(SUBMIT_URL).mock(side_effect=raised)
    with pytest.raises(kind) as on_get:
        api_client.get_task("task-1", max_retries=0)
    assert on_get.value.task_id == "task-1"
    with pytest.raises(kind):
        api_client.submit(REQUEST, max_retries=0)


def test_every_error_class_is_an_evolink_error_with_a_docstring() -> None:
    for _, kind in STATUS_CLASSES:
        assert issubclass(kind, EvoLinkError)
        assert kind.__doc__
