"""Payload factories: valid request and response bodies, with any field overridden.

Tests build bodies here instead of pasting JSON, so a change of shape is made once::

    wan_body(n=4)                        # a valid wan2.5-image-to-image request with n=4
    task_json(status="completed")        # a completed task with result URLs
    error_json(code=400)                 # an error body in the pre-2026-03 integer shape
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_TASK_ID", "MISSING", "error_json", "qwen_body", "task_json", "wan_body"]

DEFAULT_TASK_ID = "task-unified-1757156493-imcg5zqt"

MISSING: Any = object()
"""Pass as a field's value to leave the field out of the body."""


def _merge(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not MISSING}


def wan_body(**overrides: Any) -> dict[str, Any]:
    """Return a valid ``wan2.5-image-to-image`` request body, with ``overrides`` applied."""
    body: dict[str, Any] = {
        "model": "wan2.5-image-to-image",
        "prompt": "Replace the background with a starry sky",
        "image_urls": ["https://example.com/images/portrait.png"],
    }
    return _merge(body, overrides)


def qwen_body(**overrides: Any) -> dict[str, Any]:
    """Return a valid ``qwen-image-edit`` request body, with ``overrides`` applied."""
    body: dict[str, Any] = {
        "model": "qwen-image-edit",
        "prompt": "Put the cat on the sofa",
        "image_urls": ["https://example.com/images/living-room.jpg"],
    }
    return _merge(body, overrides)


def task_json(status: str = "pending", /, **overrides: Any) -> dict[str, Any]:
    """Return a task body in ``status``, shaped as the vendor sends it, with ``overrides`` applied.

    ``completed`` tasks carry two result URLs; ``failed`` and ``cancelled`` ones an error object.
    """
    body: dict[str, Any] = {
        "created": 1757156493,
        "id": DEFAULT_TASK_ID,
        "model": "wan2.5-image-to-image",
        "object": "image.generation.task",
        "progress": {"completed": 100, "processing": 40}.get(status, 0),
        "status": status,
        "task_info": {"can_cancel": status == "pending"},
        "type": "image",
        "usage": {"billing_rule": "per_call", "credits_reserved": 1.2, "user_group": "default"},
    }
    if status == "pending":
        body["task_info"]["estimated_time"] = 30
    if status == "completed":
        body["results"] = [f"https://files.evolink.ai/results/{DEFAULT_TASK_ID}-{i}.png" for i in range(2)]
    if status == "failed":
        body["error"] = {"code": "service_error", "message": "The service failed", "type": "task_error"}
    if status == "cancelled":
        body["error"] = {"code": "request_cancelled", "message": "The task was cancelled", "type": "task_error"}
    return _merge(body, overrides)


def error_json(code: str | int = "invalid_request", message: str = "Invalid request", **members: Any) -> dict[str, Any]:
    """Return an HTTP error body; ``members`` become extra members of ``error``."""
    return {"error": _merge({"code": code, "message": message, "type": "invalid_request_error"}, members)}
