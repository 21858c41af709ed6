"""``Task.from_dict``: every field checked for its type and range, odd optional members absent, bad bodies refused.

Expectations are literals of the API's documented shapes (api-facts.md section 3), never values read
back from the parser.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from evolink_images import MalformedTaskError, Task, TaskFailedError, TaskUsage
from evolink_images.testing.payloads import task_json


@pytest.mark.parametrize(
    ("progress", "seen"),
    [
        (json.loads("1e999"), 100),  # inf, as json reads it
        (-json.loads("1e999"), 0),
        (float("nan"), 0),
        (150, 100),
        (-5, 0),
        (42.9, 42),
        (10**400, 100),
        ("50", 0),
        (True, 0),
        (None, 0),
    ],
)
def test_progress_is_clamped_into_0_to_100_and_junk_counts_as_0(progress: Any, seen: int) -> None:
    assert Task.from_dict(task_json("processing", progress=progress)).progress == seen


@pytest.mark.parametrize(
    ("estimate", "seen"),
    [
        (30, 30.0),
        (12.5, 12.5),
        ("30", None),
        (float("nan"), None),
        (float("inf"), None),
        (0, None),
        (-3, None),
        (True, None),
        (10**400, None),
        ([30], None),
    ],
)
def test_an_estimated_time_that_is_not_a_positive_finite_number_counts_as_absent(estimate: Any, seen: Any) -> None:
    assert Task.from_dict(task_json(task_info={"estimated_time": estimate})).estimated_time == seen


@pytest.mark.parametrize("member", ["usage", "task_info", "error"])
@pytest.mark.parametrize("junk", ["x", 3, [1, 2], True])
def test_an_optional_object_of_the_wrong_type_counts_as_absent(member: str, junk: Any) -> None:
    task = Task.from_dict(task_json("completed", **{member: junk}))
    assert task.is_completed
    absent = {"usage": task.usage, "task_info": task.estimated_time, "error": task.error}[member]
    assert absent is None


def test_usage_members_of_the_wrong_type_count_as_absent() -> None:
    usage = {"billing_rule": 7, "credits_reserved": "1.2", "credits_used": 0.8, "user_group": None}
    assert Task.from_dict(task_json(usage=usage)).usage == TaskUsage(credits_used=0.8)


def test_created_and_model_of_the_wrong_type_count_as_absent() -> None:
    task = Task.from_dict(task_json(created="yesterday", model=["wan"]))
    assert (task.created, task.model) == (None, None)
    assert Task.from_dict(task_json(created=True)).created is None
    assert Task.from_dict(task_json(created=1757156493)).created == 1757156493


def test_an_integer_failure_code_is_kept_as_text() -> None:
    task = Task.from_dict(task_json("failed", error={"code": 500, "message": "boom"}))
    assert task.error is not None
    assert (task.error.code, task.error.message, task.error.cause) == ("500", "boom", "unknown")


@pytest.mark.parametrize(
    ("body", "task_id"),
    [
        ([], None),
        ({"status": "completed"}, None),
        ({"id": "", "status": "completed"}, None),
        ({"id": 7, "status": "completed"}, None),
        ({"id": "task-a", "status": None}, "task-a"),
        ({"id": "task-a", "status": "completed", "results": "https://e.com/a.png"}, "task-a"),
        ({"id": "task-a", "status": "completed", "results": ["https://e.com/a.png", 3]}, "task-a"),
    ],
)
def test_a_body_that_cannot_be_acted_on_is_refused_with_its_id_when_it_had_one(body: Any, task_id: Any) -> None:
    with pytest.raises(MalformedTaskError) as caught:
        Task.from_dict(body)
    assert caught.value.task_id == task_id


def test_null_results_are_no_results() -> None:
    assert Task.from_dict(task_json("processing", results=None)).results == ()


def test_a_task_can_be_built_by_keyword_for_tests_and_turned_back_into_a_body() -> None:
    task = Task(id="task-unified-1", status="completed", results=("https://example.com/a.png",))
    assert (task.progress, task.error, task.estimated_time, task.source) == (0, None, None, None)
    assert task.to_dict() == {
        "id": "task-unified-1",
        "status": "completed",
        "progress": 0,
        "results": ["https://example.com/a.png"],
    }
    assert Task.from_dict(task.to_dict()) == task


def test_a_parsed_task_keeps_the_whole_body_and_builds_the_generated_model_only_when_asked() -> None:
    body = task_json("completed", extra={"kept": True})
    task = Task.from_dict(body)
    assert task.to_dict() == body
    assert "source" not in vars(task)  # not built yet
    assert task.source is not None
    assert task.source.to_dict() == body


def test_a_failed_task_without_an_error_object_is_still_a_task_failed_error() -> None:
    error = TaskFailedError(Task.from_dict(task_json("failed", error=None)))
    assert (error.code, error.cause, error.task_id) == (None, "unknown", task_json()["id"])
    assert "no code" in str(error)
