"""Payload factories: valid request and response bodies, with any field overridden.

Tests build bodies here instead of pasting JSON, so a change of shape is made once::

    wan_body(n=4)                        # a valid wan2.5-image-to-image request with n=4
    task_json(status="completed")        # a completed task with result URLs
    error_json(code=400)                 # an error body in the pre-2026-03 integer shape
    catalog_json(catalog_models(...))    # the keyless model catalog (api-facts.md section 9)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DEFAULT_TASK_ID",
    "MISSING",
    "catalog_json",
    "catalog_models",
    "error_json",
    "qwen_body",
    "task_json",
    "wan_body",
]

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


def catalog_models(**lifecycles: str) -> list[dict[str, Any]]:
    """Return the catalog's entries for both models, ``active`` unless ``lifecycles`` says otherwise.

    Keys are model names with ``_`` for ``-`` and ``.``: ``catalog_models(qwen_image_edit="retired")``.
    A ``deprecated`` entry gets a ``deprecates_at`` date.
    """
    entries = []
    for model in ("wan2.5-image-to-image", "qwen-image-edit"):
        lifecycle = lifecycles.pop(model.replace("-", "_").replace(".", "_"), "active")
        entry: dict[str, Any] = {"id": model, "object": "model", "type": "image", "lifecycle": lifecycle}
        entry["deprecates_at"] = "2027-01-31T00:00:00Z" if lifecycle == "deprecated" else None
        entries.append(entry)
    if lifecycles:
        raise TypeError(f"unknown models: {', '.join(sorted(lifecycles))}")
    return entries


def catalog_json(models: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return a body of ``GET /v1/catalog/models``: the entries and the ``meta`` block (api-facts.md section 9).

    The vendor documents the members (``lifecycle``, ``deprecates_at``, ``meta``) but not the envelope;
    this follows the OpenAI-style ``{"object": "list", "data": [...]}`` its other list endpoints use.
    """
    return {
        "object": "list",
        "data": catalog_models() if models is None else models,
        "meta": {
            "schema_version": "1",
            "catalog_version": "fake",
            "updated_at": "2026-11-01T00:00:00Z",
            "fresh_until": "2026-12-01T00:00:00Z",
        },
    }
