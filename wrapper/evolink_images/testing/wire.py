"""What the fake answers, shaped once: a status, headers and bytes, or a transport fault to raise."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FakeResponse", "error_response"]


@dataclass
class FakeResponse:
    """What the fake answers: a status, headers and bytes (or a transport fault to raise)."""

    status: int
    headers: dict[str, str]
    content: bytes
    transport_fault: str | None = None

    @classmethod
    def json(cls, status: int, body: Any, headers: Mapping[str, str] | None = None) -> FakeResponse:
        """A JSON response."""
        return cls(status, {"content-type": "application/json", **(headers or {})}, json.dumps(body).encode())


def error_response(
    status: int, code: str | int, message: str, param: str | None = None, **headers: str
) -> FakeResponse:
    """The documented error body, with ``headers``."""
    detail: dict[str, Any] = {"code": code, "message": message, "type": "invalid_request_error"}
    if param:
        detail["param"] = param
    return FakeResponse.json(status, {"error": detail}, headers)
