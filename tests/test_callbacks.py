"""``parse_callback`` refuses every body that is not a task in the same words.

Anyone can post to a callback URL: the refusal names the field, says why, and gives the limit; it is
never a raw exception.
"""

from __future__ import annotations

from typing import Any

import pytest

from evolink_images import RequestValidationError, Task, parse_callback

LIMIT = "a task object with id and status"


def refusal(body: Any) -> tuple[str, str, str]:
    with pytest.raises(RequestValidationError) as caught:
        parse_callback(body)
    [violation] = caught.value.violations
    return violation.field, violation.problem, violation.limit


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[1]", "is not a task object (TypeError: a JSON object was expected, not list)"),
        ("7", "is not a task object (TypeError: a JSON object was expected, not int)"),
        ("x", "is not a task object (JSONDecodeError: Expecting value: line 1 column 1 (char 0))"),
        ({"status": "completed"}, "is not a task object (MalformedTaskError: the body has no task id)"),
        ("[" * 100_000 + "]" * 100_000, "is not a task object (JSON nested too deeply to read)"),
    ],
)
def test_a_body_that_is_not_a_task_is_refused_naming_the_field_the_cause_and_the_limit(body: Any, problem: str) -> None:
    assert refusal(body) == ("body", problem, LIMIT)


def test_the_cause_quoted_in_a_refusal_is_cut_to_200_characters() -> None:
    field, problem, limit = refusal({"id": "a" * 300, "status": 5})
    prefix = "is not a task object (MalformedTaskError: "
    assert (field, limit) == ("body", LIMIT)
    assert problem.startswith(prefix + "task aaa")
    assert problem.endswith(")")
    assert len(problem) == len(prefix) + 200 + 1


@pytest.mark.parametrize("body", [b'{"id": "t-1", "status": "completed"}', '{"id": "t-1", "status": "completed"}'])
def test_a_task_body_in_bytes_or_text_is_parsed(body: Any) -> None:
    task = parse_callback(body)
    assert isinstance(task, Task)
    assert (task.id, task.status, task.is_terminal) == ("t-1", "completed", True)
