"""What the clients make of each answer, and which arguments never reach the network.

Every 2xx carrying a task is a task; an answer about another task, or one garbled after the task
exists, is an ``APIResponseError`` naming the task; a bad idempotency key or task id is refused
with nothing sent.
"""

from __future__ import annotations

import httpx
import pytest
import respx

from evolink_images import APIResponseError, RequestValidationError, WanImageToImage
from evolink_images.testing.payloads import task_json

from .conftest import BASE_URL, Face

SUBMIT_URL = f"{BASE_URL}/v1/images/generations"
REQUEST = WanImageToImage("Make it night", ["https://example.com/a.png"])


@pytest.mark.parametrize("status", [200, 201, 202])
def test_any_2xx_carrying_a_task_is_the_task(api_client: Face, api: respx.Router, status: int) -> None:
    api.post(SUBMIT_URL).respond(status, json=task_json(id="task-unified-7"))
    assert api_client.submit(REQUEST).id == "task-unified-7"


def test_a_2xx_without_a_task_after_a_submit_says_a_task_may_exist(api_client: Face, api: respx.Router) -> None:
    api.post(SUBMIT_URL).respond(204)
    with pytest.raises(APIResponseError) as caught:
        api_client.submit(REQUEST)
    assert caught.value.task_may_exist
    assert "a task may have been created" in str(caught.value)


def test_an_answer_about_another_task_is_refused_naming_the_task_asked_for(api_client: Face, api: respx.Router) -> None:
    api.get(f"{BASE_URL}/v1/tasks/task-a").respond(200, json=task_json("completed", id="task-b"))
    with pytest.raises(APIResponseError, match="another task") as caught:
        api_client.get_task("task-a")
    assert caught.value.task_id == "task-a"


def test_a_garbled_create_answer_with_an_id_names_the_task_that_may_exist(api_client: Face, api: respx.Router) -> None:
    api.post(SUBMIT_URL).respond(200, json={"id": "task-unified-9", "status": ["odd"]})
    with pytest.raises(APIResponseError) as caught:
        api_client.submit(REQUEST)
    assert (caught.value.task_id, caught.value.task_may_exist) == ("task-unified-9", True)


def test_json_nested_too_deeply_is_a_response_error_not_a_recursion_error(api_client: Face, api: respx.Router) -> None:
    api.get(f"{BASE_URL}/v1/tasks/task-a").respond(200, content=b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(APIResponseError, match="nested too deeply"):
        api_client.get_task("task-a")


def test_a_create_answer_with_an_estimate_in_quotes_still_runs_to_completion(
    api_client: Face, api: respx.Router
) -> None:
    api.post(SUBMIT_URL).respond(200, json=task_json(id="task-q", task_info={"estimated_time": "30"}))
    api.get(f"{BASE_URL}/v1/tasks/task-q").respond(200, json=task_json("completed", id="task-q"))
    assert api_client.run(REQUEST).is_completed


@pytest.mark.parametrize(
    "key",
    [
        "short",
        "x" * 97,
        "line\r\nbreak-0123456789",
        "spaces are not allowed",
        "ümlaut-0123456789abc",
        12345678901234567,
    ],
)
def test_an_idempotency_key_outside_the_documented_alphabet_is_refused_before_sending(
    api_client: Face, api: respx.Router, key: object
) -> None:
    route = api.post(SUBMIT_URL).respond(200, json=task_json())
    with pytest.raises(RequestValidationError) as caught:
        api_client.submit(REQUEST, idempotency_key=key)
    assert caught.value.violations[0].field == "idempotency_key"
    assert "16 to 96" in caught.value.violations[0].limit
    assert route.call_count == 0


def test_a_documented_idempotency_key_is_sent_as_given(api_client: Face, api: respx.Router) -> None:
    route = api.post(SUBMIT_URL).respond(200, json=task_json())
    api_client.submit(REQUEST, idempotency_key="my-app.order_42.v1")
    assert route.calls.last.request.headers["Idempotency-Key"] == "my-app.order_42.v1"


@pytest.mark.parametrize("task_id", [".", "..", " .. "])
def test_a_path_segment_is_not_a_task_id(api_client: Face, api: respx.Router, task_id: str) -> None:
    route = api.route().respond(200, json=task_json())
    with pytest.raises(RequestValidationError, match="task_id"):
        api_client.get_task(task_id)
    assert route.call_count == 0


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "10", True])
def test_a_per_call_timeout_must_be_a_positive_number(api_client: Face, api: respx.Router, timeout: object) -> None:
    route = api.route().respond(200, json=task_json())
    with pytest.raises(RequestValidationError, match="timeout"):
        api_client.get_task("task-a", timeout=timeout)
    assert route.call_count == 0


def test_an_answer_over_the_cap_is_a_response_error(client_factory: object, api: respx.Router) -> None:
    assert callable(client_factory)
    client = client_factory(max_response_bytes=1000)
    api.get(f"{BASE_URL}/v1/tasks/task-a").respond(200, json=task_json(id="task-a", padding="x" * 2000))
    with pytest.raises(APIResponseError, match="over its cap of 1000 bytes"):
        client.get_task("task-a")


def test_the_client_asks_only_for_encodings_it_can_bound_and_names_itself(api_client: Face, api: respx.Router) -> None:
    route = api.get(f"{BASE_URL}/v1/tasks/task-a").respond(200, json=task_json(id="task-a"))
    api_client.get_task("task-a")
    headers = route.calls.last.request.headers
    assert headers["Accept-Encoding"] == "gzip, deflate"
    assert headers["User-Agent"].startswith("evolink-images/")
    assert f"httpx/{httpx.__version__}" in headers["User-Agent"]
