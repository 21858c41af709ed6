"""The catalog check: EvoLink's keyless, free model catalog still offers both models.

``GET /v1/catalog/models`` needs no key and costs nothing (api-facts.md section 9). Each model must
be listed with ``lifecycle: active``. ``deprecated`` (with its ``deprecates_at``) and ``preview``
are warnings: the model works today, but plan for it. ``retired``, an unknown lifecycle, or a model
missing from the catalog are failures: requests for it will be refused.

The vendor documents the entries' members but not the envelope, so the entries are read from
``data`` or ``models`` (a list, as OpenAI-style list endpoints have it) and named by ``id``,
``model`` or ``name``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from ..._rules import RULES

__all__ = ["CATALOG_PATH", "LIFECYCLES", "Finding", "check_catalog", "judge_catalog"]

CATALOG_PATH = "/v1/catalog/models"
LIFECYCLES = frozenset({"preview", "active", "deprecated", "retired"})

Level = Literal["ok", "warning", "failure"]


@dataclass(frozen=True)
class Finding:
    """What the catalog says about one model (or about the catalog itself, for ``model="catalog"``)."""

    model: str
    level: Level
    message: str

    def __str__(self) -> str:
        return f"{self.model}: {self.message}"


def judge_catalog(body: Any, models: Iterable[str] = tuple(RULES)) -> list[Finding]:
    """Judge a catalog body: one finding per model."""
    entries = _entries(body)
    if entries is None:
        return [Finding("catalog", "failure", "the body lists no models (no data or models array)")]
    return [_judge(model, entries.get(model)) for model in models]


def check_catalog(
    base_url: str, send: Callable[..., httpx.Response] | None = None, *, timeout: float = 30
) -> list[Finding]:
    """Read the catalog, without a key, and judge it."""
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        response = (send or client.request)("GET", CATALOG_PATH, headers={"Accept": "application/json"})
    if response.status_code != 200:
        return [Finding("catalog", "failure", f"GET {CATALOG_PATH} answered HTTP {response.status_code}")]
    try:
        body = response.json()
    except ValueError:
        return [Finding("catalog", "failure", f"GET {CATALOG_PATH} did not answer JSON")]
    return judge_catalog(body)


def _entries(body: Any) -> dict[str, Mapping[str, Any]] | None:
    listed = body.get("data", body.get("models")) if isinstance(body, Mapping) else body
    if not isinstance(listed, list):
        return None
    entries: dict[str, Mapping[str, Any]] = {}
    for entry in listed:
        if isinstance(entry, Mapping):
            name = next((entry[key] for key in ("id", "model", "name") if isinstance(entry.get(key), str)), None)
            if name is not None:
                entries[name] = entry
    return entries


def _judge(model: str, entry: Mapping[str, Any] | None) -> Finding:
    if entry is None:
        return Finding(model, "failure", "absent from the catalog: requests for it will be refused")
    lifecycle = entry.get("lifecycle")
    if lifecycle == "active":
        return Finding(model, "ok", "active")
    if lifecycle == "deprecated":
        when = entry.get("deprecates_at")
        return Finding(model, "warning", f"deprecated, deprecates_at {when or '(not given)'}: plan a move")
    if lifecycle == "preview":
        return Finding(model, "warning", "in preview: it may change without notice")
    if lifecycle == "retired":
        return Finding(model, "failure", "retired: requests for it will be refused")
    return Finding(model, "failure", f"unknown lifecycle {lifecycle!r} (known: {', '.join(sorted(LIFECYCLES))})")
