"""Task failures pinned to the vendor's causes (api-facts.md section 4.2), and the messages a caller reads.

The codes are written here as the vendor documents them, never read from ``_task.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from evolink_images import Task
from evolink_images._errors import TaskCancelledError, TaskFailedError, WaitTimeoutError
from evolink_images._task import TaskErrorInfo, TaskUsage, failure_cause

REQUEST_CODES = [
    "content_policy_violation",
    "invalid_parameters",
    "image_processing_error",
    "image_dimension_mismatch",
    "request_cancelled",
]
SERVICE_CODES = [
    "generation_failed_no_content",
    "service_error",
    "generation_timeout",
    "resource_exhausted",
    "quota_exceeded",
    "service_unavailable",
    "resource_not_found",
    "unknown_error",
]


@pytest.mark.parametrize("code", REQUEST_CODES)
def test_a_failure_caused_by_the_request_is_not_retryable(code: str) -> None:
    assert failure_cause(code) == "request"
    info = TaskErrorInfo.from_json({"code": code, "message": "m"})
    assert info == TaskErrorInfo(code=code, message="m", cause="request")
    assert info.retryable is False


@pytest.mark.parametrize("code", SERVICE_CODES)
def test_a_failure_caused_by_the_service_is_retryable(code: str) -> None:
    assert failure_cause(code) == "service"
    info = TaskErrorInfo.from_json({"code": code})
    assert info is not None
    assert info.retryable is True


@pytest.mark.parametrize("code", [None, "", "new_code_2027", "CONTENT_POLICY_VIOLATION"])
def test_an_undocumented_or_missing_code_has_an_unknown_cause(code: str | None) -> None:
    assert failure_cause(code) == "unknown"
    assert TaskErrorInfo(code=code, message=None, cause="unknown").retryable is False


@pytest.mark.parametrize(("value", "code"), [(500, "500"), (True, None), ("x", "x"), (2.5, None), (None, None)])
def test_an_error_code_is_text_an_integer_made_text_or_nothing(value: Any, code: str | None) -> None:
    info = TaskErrorInfo.from_json({"code": value, "message": 7})
    assert info is not None
    assert (info.code, info.message) == (code, None)


@pytest.mark.parametrize("junk", [None, "failed", ["code"], 5])
def test_an_error_member_that_is_not_an_object_is_no_error(junk: Any) -> None:
    assert TaskErrorInfo.from_json(junk) is None


def failed(error: Any = None, **extra: Any) -> Task:
    body = {"id": "task-unified-7", "status": "failed", **extra}
    if error is not None:
        body["error"] = error
    return Task.from_dict(body)


@pytest.mark.parametrize(
    ("error", "message", "cause"),
    [
        (
            {"code": "content_policy_violation", "message": "nsfw"},
            "task task-unified-7 failed: content_policy_violation: nsfw"
            " (the request itself was refused: retrying it unchanged will fail again)",
            "request",
        ),
        (
            {"code": "service_error", "message": "busy"},
            "task task-unified-7 failed: service_error: busy (the service failed: the same request may succeed later)",
            "service",
        ),
        (
            {"code": "brand_new"},
            "task task-unified-7 failed: brand_new:  (the cause is unknown)",
            "unknown",
        ),
        (None, "task task-unified-7 failed: no code:  (the cause is unknown)", "unknown"),
    ],
)
def test_a_failed_task_error_says_the_code_the_original_message_and_whether_retrying_helps(
    error: Any, message: str, cause: str
) -> None:
    raised = TaskFailedError(failed(error))
    assert str(raised) == message
    assert raised.cause == cause
    assert raised.task_id == "task-unified-7"
    assert raised.code == (error or {}).get("code")
    assert raised.message == ((error or {}).get("message") or "")


def test_a_cancelled_task_error_names_the_task() -> None:
    task = Task.from_dict({"id": "task-unified-8", "status": "cancelled"})
    raised = TaskCancelledError(task)
    assert str(raised) == "task task-unified-8 was cancelled"
    assert (raised.task, raised.task_id) == (task, "task-unified-8")


def test_a_wait_timeout_says_where_the_task_was_and_how_to_resume() -> None:
    task = Task.from_dict({"id": "task-unified-9", "status": "processing", "progress": 40})
    raised = WaitTimeoutError(task, 12.5)
    assert str(raised) == (
        "task task-unified-9 was still processing (40%) after 12.5 s; it goes on: resume with wait('task-unified-9')"
    )
    assert raised.timeout == 12.5


def test_a_parsed_task_keeps_usage_created_and_model() -> None:
    task = Task.from_dict(
        {
            "id": "t",
            "status": "completed",
            "created": 1757156493,
            "model": "qwen-image-edit",
            "usage": {"billing_rule": "per_call", "credits_reserved": 1, "credits_used": 1.0, "user_group": "default"},
            "task_info": {"estimated_time": 30},
            "results": ["https://files.example/a.png"],
        }
    )
    assert (task.created, task.model, task.estimated_time) == (1757156493, "qwen-image-edit", 30.0)
    assert task.usage == TaskUsage(
        billing_rule="per_call", credits_reserved=1.0, credits_used=1.0, user_group="default"
    )
    assert task.is_terminal
    assert task.is_completed


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("completed", True),
        ("failed", True),
        ("cancelled", True),
        ("pending", False),
        ("processing", False),
        ("x", False),
    ],
)
def test_exactly_the_three_documented_end_states_are_terminal(status: str, terminal: bool) -> None:
    task = Task.from_dict({"id": "t", "status": status})
    assert task.is_terminal is terminal
    assert task.is_completed is (status == "completed")


def test_an_error_about_a_task_it_does_not_name_adds_the_id_and_how_to_resume() -> None:
    from evolink_images._errors import EvoLinkError

    assert str(EvoLinkError("the poll failed", task_id="task-unified-3")) == (
        "the poll failed (task task-unified-3; resume with wait('task-unified-3'))"
    )
    assert str(EvoLinkError("task task-unified-3 broke", task_id="task-unified-3")) == "task task-unified-3 broke"
    assert str(EvoLinkError("plain")) == "plain"
    bare = EvoLinkError("x", task_id="t")
    bare.args = ()
    assert str(bare) == " (task t; resume with wait('t'))"


def test_a_validation_error_lists_each_violation_with_its_limit() -> None:
    from evolink_images import RequestValidationError
    from evolink_images._errors import Violation

    error = RequestValidationError(
        [Violation("n", "is 5", "an integer from 1 to 4"), Violation("prompt", "has 0", "1")]
    )
    assert str(error) == (
        "2 problem(s) with the request; nothing was sent:\n"
        "  - n: is 5 (limit: an integer from 1 to 4)\n"
        "  - prompt: has 0 (limit: 1)"
    )


def test_an_error_that_may_have_created_a_task_says_so_and_one_that_did_not_says_nothing() -> None:
    import httpx

    from evolink_images._errors import APIConnectionError, APIResponseError, APIStatusError

    assert str(APIConnectionError("dropped", task_may_exist=True)) == (
        "dropped; a task may have been created (and billed) all the same:"
        " check your recent tasks before submitting again"
    )
    assert str(APIConnectionError("refused")) == "refused"
    assert APIConnectionError("refused").task_may_exist is False
    response = httpx.Response(502, request=httpx.Request("POST", "https://api.evolink.ai/v1/images/generations"))
    assert APIResponseError("bad", response=response).task_may_exist is False
    assert APIResponseError("bad", response=response).status_code == 502
    assert APIResponseError("cut", response=None).status_code is None
    assert APIStatusError("HTTP 502", response=response).task_may_exist is False


@pytest.mark.parametrize(
    ("status", "name"),
    [(400, "BadRequestError"), (413, "PayloadTooLargeError"), (429, "RateLimitError"), (499, "APIStatusError"),
     (500, "InternalServerError"), (502, "InternalServerError"), (418, "APIStatusError")],
)  # fmt: skip
def test_each_status_has_its_error_class_and_every_5xx_is_a_server_error(status: int, name: str) -> None:
    from evolink_images._errors import status_error_class

    assert status_error_class(status).__name__ == name


@pytest.mark.parametrize(
    ("progress", "seen"),
    [(0, 0), (-1, 0), (1, 1), (99, 99), (100, 100), (101, 100), (100.0, 100), (-0.5, 0), (float("nan"), 0)],
)
def test_progress_keeps_every_value_from_0_to_100_and_clamps_one_past_either_end(progress: Any, seen: int) -> None:
    assert Task.from_dict({"id": "t", "status": "processing", "progress": progress}).progress == seen


@pytest.mark.parametrize(
    ("estimate", "seen"),
    [(1, 1.0), (0.5, 0.5), (2**63 - 1, float(2**63 - 1)), (2**63, None), (-(2**63) + 1, None), (2**62, float(2**62))],
)
def test_an_estimate_is_any_positive_number_below_2_to_the_63(estimate: Any, seen: float | None) -> None:
    task = Task.from_dict({"id": "t", "status": "pending", "task_info": {"estimated_time": estimate}})
    assert task.estimated_time == seen


def test_credits_are_read_from_integers_near_the_64_bit_limits() -> None:
    usage = TaskUsage.from_json({"credits_reserved": -(2**63) + 1, "credits_used": 2**63})
    assert usage == TaskUsage(credits_reserved=float(-(2**63) + 1), credits_used=None)
    assert TaskUsage.from_json({"credits_reserved": -(2**63)}) == TaskUsage(credits_reserved=None)


def test_a_body_that_is_a_mapping_but_not_a_dict_is_read_too() -> None:
    from types import MappingProxyType

    task = Task.from_dict(MappingProxyType({"id": "t", "status": "failed", "error": MappingProxyType({"code": "x"})}))
    assert task.error is not None
    assert task.error.code == "x"


def test_a_task_built_by_hand_is_pending_and_compares_by_its_fields_not_its_body_or_request_id() -> None:
    task = Task(id="t")
    assert (task.status, task.progress, task.results, task.error, task.raw) == ("pending", 0, (), None, {})
    assert Task(id="t", raw={"x": 1}, request_id="r1") == Task(id="t", raw={"y": 2}, request_id="r2")
    assert "raw" not in repr(task)


def test_a_task_built_by_hand_turns_into_the_apis_shape_with_its_error_and_estimate() -> None:
    task = Task(
        id="t",
        status="failed",
        error=TaskErrorInfo(code="service_error", message="busy", cause="service"),
        estimated_time=30.0,
        created=5,
        model="qwen-image-edit",
    )
    body = {
        "id": "t",
        "status": "failed",
        "progress": 0,
        "error": {"code": "service_error", "message": "busy"},
        "task_info": {"estimated_time": 30.0},
        "created": 5,
        "model": "qwen-image-edit",
    }
    assert task.to_dict() == body
    assert Task(id="t", model="模型").to_json() == '{"id": "t", "status": "pending", "progress": 0, "model": "模型"}'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "a task is a JSON object, not list"),
        ({"status": "pending"}, "the body has no task id"),
        ({"id": "t1"}, "task t1 has no status"),
        ({"id": "t1", "status": "completed", "results": "x"}, "task t1 has results that are not a list of URLs"),
    ],
)
def test_a_body_that_cannot_be_acted_on_says_exactly_why(body: Any, message: str) -> None:
    from evolink_images._errors import MalformedTaskError

    with pytest.raises(MalformedTaskError) as caught:
        Task.from_dict(body)
    assert caught.value.message == message
