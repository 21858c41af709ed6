"""What both clients are configured with, checked once: the key, the base URL, timeouts and retries.

The API key lives only in a ``Secret`` (its repr is ``<redacted>``), held by ``Settings`` and by
``BearerAuth``, which adds it to requests for the API's own host and to nothing else.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import httpx

from ._addresses import is_loopback_host
from ._errors import EvoLinkError
from ._polling import PollSchedule

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WAIT_TIMEOUT",
    "ENV_API_KEY",
    "BearerAuth",
    "ConfigurationError",
    "Secret",
    "Settings",
]

DEFAULT_BASE_URL = "https://api.evolink.ai"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
DEFAULT_WAIT_TIMEOUT = 600.0
"""Seconds ``wait`` and ``run`` wait by default (the vendor's own examples give up after 300 s)."""
ENV_API_KEY = "EVOLINK_API_KEY"


class ConfigurationError(EvoLinkError, ValueError):
    """Raised when a client is built with a missing key, a bad base URL or bad settings."""


class Secret:
    """Holds the API key so that no repr, str or vars() of anything that holds it can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself: for the Authorization header and for redaction, nothing else."""
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


class BearerAuth(httpx.Auth):
    """Sends ``Authorization: Bearer <key>`` to the API's host only (never to a result host or a redirect)."""

    def __init__(self, api_key: Secret, base_url: httpx.URL) -> None:
        self._api_key = api_key
        self._origin = (base_url.scheme, base_url.host, base_url.port)

    def __repr__(self) -> str:
        return "BearerAuth(<redacted>)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if (request.url.scheme, request.url.host, request.url.port) == self._origin:
            request.headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        yield request


def _check_base_url(base_url: str) -> httpx.URL:
    try:
        parsed = urllib.parse.urlsplit(base_url)
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parsed = urllib.parse.urlsplit("")
    scheme = parsed.scheme.lower()
    host = parsed.hostname or ""
    if scheme == "https" and host:
        return httpx.URL(base_url.rstrip("/"))
    if scheme == "http" and host and is_loopback_host(host):
        return httpx.URL(base_url.rstrip("/"))
    raise ConfigurationError(
        f"base_url {base_url!r} is refused: use https (plain http only for a loopback host such as 127.0.0.1)"
    )


@dataclass(frozen=True)
class Settings:
    """Everything a client needs besides its connections."""

    api_key: Secret
    base_url: httpx.URL
    timeout: httpx.Timeout
    max_retries: int
    schedule: PollSchedule

    @classmethod
    def create(
        cls,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        schedule: PollSchedule | None,
    ) -> Settings:
        """Check and combine the constructor's arguments with the environment."""
        key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
        if key is not None and not isinstance(key, str):
            raise ConfigurationError(f"api_key must be a string, not {type(key).__name__}")
        if not key or not key.strip():
            raise ConfigurationError(f"no API key: pass api_key=... or set the {ENV_API_KEY} environment variable")
        if any(ch in key for ch in "\r\n"):
            raise ConfigurationError("the API key contains a line break")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(f"max_retries must be a whole number >= 0, not {max_retries!r}")
        if timeout is None:
            resolved = DEFAULT_TIMEOUT
        elif isinstance(timeout, httpx.Timeout):
            resolved = timeout
        elif isinstance(timeout, int | float) and not isinstance(timeout, bool) and 0 < timeout < float("inf"):
            resolved = httpx.Timeout(timeout)
        else:
            raise ConfigurationError(
                f"timeout must be a positive number of seconds or an httpx.Timeout, not {timeout!r}"
            )
        if base_url is not None and not isinstance(base_url, str):
            raise ConfigurationError(f"base_url must be a string, not {type(base_url).__name__}")
        if schedule is not None and not isinstance(schedule, PollSchedule):
            raise ConfigurationError(f"poll_schedule must be a PollSchedule, not {type(schedule).__name__}")
        return cls(
            api_key=Secret(key.strip()),
            base_url=_check_base_url(base_url or DEFAULT_BASE_URL),
            timeout=resolved,
            max_retries=max_retries,
            schedule=schedule or PollSchedule(),
        )

    def api_http_options(self) -> dict[str, Any]:
        """How the API's httpx client (sync or async) is built: its origin, the bearer auth, timeouts.

        It never follows redirects: an API call answered with one fails, and the key stays home.
        """
        auth = BearerAuth(self.api_key, self.base_url)
        return {"base_url": self.base_url, "auth": auth, "timeout": self.timeout, "follow_redirects": False}

    def download_http_options(self) -> dict[str, Any]:
        """How the result-download client is built: no auth; redirects are followed by ``_fetch.py``, each checked."""
        return {"timeout": self.timeout, "follow_redirects": False}

    def redact(self, text: str) -> str:
        """Remove the API key from text that may have echoed it (server messages, URLs)."""
        key = self.api_key.reveal()
        return text.replace(key, "<redacted>") if key in text else text
