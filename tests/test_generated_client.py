"""The generated low-level client: it sends the spec's example requests unchanged and parses open bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from evolink_api import AuthenticatedClient
from evolink_api.api.images import create_image_task
from evolink_api.api.tasks import get_task
from evolink_api.models import (
    ErrorResponse,
    QwenImageEditRequest,
    Task,
    TaskError,
    TaskInfo,
    TaskUsage,
    WanImageToImageRequest,
)
from evolink_images.testing.payloads import error_json, task_json
from evolink_images.testing.spec import load_spec

BASE_URL = "https://api.evolink.ai"
REQUEST_TYPES: dict[str, type[WanImageToImageRequest] | type[QwenImageEditRequest]] = {
    "wan2.5-image-to-image": WanImageToImageRequest,
    "qwen-image-edit": QwenImageEditRequest,
}


def request_examples() -> list[Any]:
    media = load_spec()["paths"]["/v1/images/generations"]["post"]["requestBody"]["content"]["application/json"]
    return [pytest.param(example["value"], id=name) for name, example in media["examples"].items()]


@pytest.fixture
def api() -> respx.Router:
    return respx.Router(base_url=BASE_URL, assert_all_called=False)


def client_for(router: respx.Router) -> AuthenticatedClient:
    transport = httpx.MockTransport(router.handler)
    return AuthenticatedClient(base_url=BASE_URL, token="sk-evo-test", httpx_args={"transport": transport})


@pytest.mark.parametrize("example", request_examples())
def test_every_example_request_round_trips_through_its_model(example: dict[str, Any]) -> None:
    body = REQUEST_TYPES[example["model"]].from_dict(example)
    assert body.to_dict() == example


@pytest.mark.parametrize("example", request_examples())
def test_every_example_request_is_sent_byte_for_byte_as_json(example: dict[str, Any], api: respx.Router) -> None:
    route = api.post("/v1/images/generations").respond(200, json=task_json())
    body = REQUEST_TYPES[example["model"]].from_dict(example)
    parsed = create_image_task.sync(client=client_for(api), body=body, idempotency_key="k" * 16)
    assert isinstance(parsed, Task)
    sent = route.calls.last.request
    assert json.loads(sent.content) == example
    assert sent.headers["Idempotency-Key"] == "k" * 16
    assert sent.headers["Authorization"] == "Bearer sk-evo-test"


def test_a_request_model_refuses_the_other_models_name() -> None:
    with pytest.raises(ValueError, match="must match const"):
        WanImageToImageRequest.from_dict({"model": "qwen-image-edit", "prompt": "p", "image_urls": ["https://e/a"]})


STATUSES = ["pending", "processing", "completed", "failed", "cancelled", "queued", "moderation_review"]


@pytest.mark.parametrize("status", STATUSES)
def test_a_task_in_any_status_parses_over_http(status: str, api: respx.Router) -> None:
    body = task_json(status)
    api.get("/v1/tasks/task-1").respond(200, json=body)
    task = get_task.sync(client=client_for(api), task_id="task-1")
    assert isinstance(task, Task)
    assert task.status == status
    assert task.to_dict() == body


def test_unknown_fields_are_kept_at_every_level_and_round_trip() -> None:
    body = task_json(
        "failed",
        watermark={"position": "br"},
        task_info={"can_cancel": False, "queue_position": 3},
        usage={"billing_rule": "per_image", "credits_used": 0, "region": "eu"},
        error={"code": "service_error", "message": "m", "type": "task_error", "retry_after": 30},
        object="image.edit.task",
        type="image/edit",
    )
    task = Task.from_dict(body)
    assert task["watermark"] == {"position": "br"}
    assert isinstance(task.task_info, TaskInfo)
    assert task.task_info["queue_position"] == 3
    assert isinstance(task.usage, TaskUsage)
    assert task.usage.billing_rule == "per_image"
    assert task.usage["region"] == "eu"
    assert isinstance(task.error, TaskError)
    assert task.error["retry_after"] == 30
    assert task.object_ == "image.edit.task"
    assert task.type_ == "image/edit"
    assert task.to_dict() == body


def test_null_optional_members_parse_as_none() -> None:
    task = Task.from_dict(task_json("completed", error=None, task_info=None, usage=None, results=None))
    assert (task.error, task.task_info, task.usage, task.results) == (None, None, None, None)


@pytest.mark.parametrize("code", ["rate_limit_exceeded", 429])
def test_error_bodies_parse_with_a_string_or_integer_code(code: str | int, api: respx.Router) -> None:
    body = error_json(code, "slow down", request_id="req-1")
    api.get("/v1/tasks/task-1").respond(429, json=body)
    parsed = get_task.sync(client=client_for(api), task_id="task-1")
    assert isinstance(parsed, ErrorResponse)
    assert parsed.error.code == code
    assert parsed.error["request_id"] == "req-1"
    assert parsed.to_dict() == body


def test_the_generated_stream_upload_frames_its_form_with_a_fixed_boundary_so_the_wrapper_frames_its_own() -> None:
    import io

    from evolink_api.api.files import upload_file_stream
    from evolink_api.models import FileStreamUpload
    from evolink_api.types import File

    kwargs = upload_file_stream._get_kwargs(
        body=FileStreamUpload(file=File(payload=io.BytesIO(b"\r\n--+++ in a file")))
    )
    assert kwargs["headers"]["Content-Type"] == "multipart/form-data; boundary=+++"
    request = httpx.Client(base_url=BASE_URL).build_request(**kwargs)
    body = request.read()
    assert body.count(b"\r\n--+++") == 2  # the closing one, and the file's own bytes read as one: a broken form
