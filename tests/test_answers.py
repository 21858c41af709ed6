"""What the clients make of each answer, and which arguments never reach the network.

Every 2xx carrying a task is a task; an answer about another task, or one garbled after the task
exists, is an ``APIResponseError`` naming the task; a bad idempotency key or task id is refused
with nothing sent.
"""

from __future__ import annotations

import gzip
import json
import zlib

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evolink_images import APIResponseError, Client, EvoLinkError, RequestValidationError, WanImageToImage
from evolink_images.testing.fake import FakeClock
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


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
ODD_NUMBERS = st.sampled_from([float("inf"), -float("inf"), float("nan"), 1e308, 10**30, -1, 150, "30", True, None])
TASKISH = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["task-a", "", 7, None]) | st.text(max_size=8),
        "status": st.sampled_from(["pending", "processing", "completed", "failed", "cancelled"]) | JSON,
    },
    optional={
        "progress": ODD_NUMBERS | JSON,
        "results": st.lists(st.sampled_from(["https://e.com/a.png", "http://[::1", 3]), max_size=2) | JSON,
        "error": st.fixed_dictionaries({}, optional={"code": ODD_NUMBERS | JSON, "message": JSON}) | JSON,
        "task_info": st.fixed_dictionaries({"estimated_time": ODD_NUMBERS | JSON}) | JSON,
        "usage": st.dictionaries(st.sampled_from(["credits_reserved", "credits_used", "billing_rule"]), ODD_NUMBERS)
        | JSON,
        "created": ODD_NUMBERS | JSON,
        "model": JSON,
    },
)


Answer = tuple[int, bytes, dict[str, str]]


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    """Any answer a server could give: any status, any encoding label, JSON-ish or junk bodies."""
    status = draw(st.sampled_from([200, 201, 202, 204, 302, 400, 401, 404, 429, 500, 503, 520]) | st.integers(100, 599))
    body = draw(
        st.one_of(
            TASKISH.map(lambda value: json.dumps(value, allow_nan=True).encode()),
            JSON.map(lambda value: json.dumps(value, allow_nan=True).encode()),
            st.binary(max_size=64),
        )
    )
    encoding = draw(st.sampled_from(["", "gzip", "deflate", "br", "gzip, gzip", "identity", "x-junk"]))
    if encoding in {"gzip", "gzip, gzip"}:
        body = gzip.compress(body)
    if encoding == "gzip, gzip":
        body = gzip.compress(body)
    if encoding == "deflate" and draw(st.booleans()):
        body = zlib.compress(body)
    headers = {"content-encoding": encoding} if encoding else {}
    if draw(st.booleans()):
        headers["retry-after"] = draw(st.sampled_from(["0", "1", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"]))
    return status, body, headers


def answer_with(request: httpx.Request) -> httpx.Response:
    status, body, headers = ANSWER[0]
    return httpx.Response(status, stream=httpx.ByteStream(body), headers=headers)


CLOCK = FakeClock()
ANSWER: list[Answer] = []
FUZZED = Client(
    "sk-evo-answers-0000000000",
    transport=httpx.MockTransport(answer_with),
    clock=CLOCK,
    sleep=CLOCK.sleep,
)


def task_answers() -> st.SearchStrategy[Answer]:
    """A 200 about the task asked for, with odd members: what a server that is almost right sends."""
    odd_task = TASKISH.map(lambda body: {**body, "id": "task-a"})
    return odd_task.map(lambda body: (200, json.dumps(body, allow_nan=True).encode(), {}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers() | task_answers(), st.sampled_from(["submit", "get_task", "wait"]))
def test_any_answer_to_any_call_is_a_task_or_a_documented_error(answer: Answer, call: str) -> None:
    ANSWER[:] = [answer]
    error: EvoLinkError | None = None
    try:
        if call == "submit":
            FUZZED.submit(REQUEST)
        elif call == "get_task":
            FUZZED.get_task("task-a")
        else:
            FUZZED.wait("task-a", timeout=5)
    except EvoLinkError as raised:  # anything else escapes and fails the test
        error = raised
    assert error is None or "sk-evo-answers" not in str(error)
