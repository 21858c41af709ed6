"""Callbacks: EvoLink posts the task body to ``callback_url`` when a task ends.

Callbacks are not signed (api-facts.md section 5): anyone can post to the URL. Treat the body as a
hint, and act only on the task as re-fetched from the API (``Client.confirm_callback``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._errors import RequestValidationError, Violation
from ._task import Task

__all__ = ["parse_callback"]


def parse_callback(body: bytes | str | Mapping[str, Any]) -> Task:
    """Parse a callback body into a ``Task``, without trusting it.

    Raises:
        RequestValidationError: the body is not a task object (field ``body``).
    """
    try:
        data: Any = json.loads(body) if isinstance(body, bytes | str) else body
        if not isinstance(data, Mapping):
            raise TypeError(f"a JSON object was expected, not {type(data).__name__}")
        task = Task.from_dict(data)
    except RecursionError:  # anyone can post to the URL: "[[[[..." a hundred thousand deep
        problem = "is not a task object (JSON nested too deeply to read)"
        raise RequestValidationError([Violation("body", problem, "a task object with id and status")]) from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        problem = f"is not a task object ({type(error).__name__}: {str(error)[:200]})"
        raise RequestValidationError([Violation("body", problem, "a task object with id and status")]) from None
    return task
