"""``RecordedRequest``: one request as the fake EvoLink saw it, whole, with the API key taken out.

Tests assert on what was sent (a ``callback_url``, an ``extra_body`` field, the ``Idempotency-Key``
reused on a retry, no ``Authorization`` towards the result host) without reaching into httpx.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["REDACTED", "RecordedRequest", "record"]

REDACTED = "<redacted>"
"""What an ``Authorization`` header's value is recorded as."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request that reached the fake."""

    method: str
    url: str
    path: str
    """The URL's path, without the query."""
    headers: Mapping[str, str] = field(repr=False)
    """Every header, names lower-cased; ``authorization`` is ``<redacted>`` when present."""
    content: bytes = field(repr=False)
    """The raw body."""
    json: Any = field(repr=False)
    """The body parsed as JSON; ``None`` when it is empty or not JSON."""
    idempotency_key: str | None
    authorized: bool
    """Whether it carried the fake's own key as a bearer token."""

    @property
    def has_authorization(self) -> bool:
        """Whether an ``Authorization`` header was sent at all (to the result host it never should be)."""
        return "authorization" in self.headers


def record(method: str, url: str, headers: Mapping[str, str], content: bytes, api_key: str) -> RecordedRequest:
    """Return the record of one request; the key never enters it."""
    lowered = {name.lower(): value for name, value in headers.items()}
    authorized = lowered.get("authorization") == f"Bearer {api_key}"
    if "authorization" in lowered:
        lowered["authorization"] = REDACTED
    try:
        body: Any = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        body = None
    return RecordedRequest(
        method=method,
        url=url,
        path=urlsplit(url).path,
        headers=lowered,
        content=content,
        json=body,
        idempotency_key=lowered.get("idempotency-key"),
        authorized=authorized,
    )
