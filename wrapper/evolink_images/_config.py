"""What both clients are configured with, checked once: the key, the base URL, budgets, caps and retries.

The API key lives only in a ``Secret`` (its repr is ``<redacted>``), held by ``Settings`` and by
the wire's ``Credentials``, which add it to requests for the API's own origin and to nothing else.

Environment: ``EVOLINK_API_KEY`` (the key), ``EVOLINK_BASE_URL`` (another host, such as a local fake),
``EVOLINK_FILES_BASE_URL`` (another file host) and ``EVOLINK_LOG`` (``debug`` or ``info``: log to
stderr) are read when a client is built; an argument passed to the client wins over its variable.

Time: ``timeout`` is the total budget of one API call (``submit``, ``get_task``): connecting,
sending, reading the whole answer, every retry and its back-off; no server behaviour stretches it.
The per-phase limits (``httpx.Timeout``) only bound silence within it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import platform
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._addresses import is_loopback_host
from ._arguments import check_headers
from ._errors import EvoLinkError, shown
from ._polling import PollSchedule
from ._wire import Credentials, Redactor, Secret, WirePolicy, redact_logs
from ._wire.decoding import ACCEPT_ENCODING

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_BUDGET",
    "DEFAULT_FILES_BASE_URL",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WAIT_TIMEOUT",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_FILES_BASE_URL",
    "ENV_LOG",
    "ClientOptions",
    "ConfigurationError",
    "Settings",
]

DEFAULT_BASE_URL = "https://api.evolink.ai"
DEFAULT_FILES_BASE_URL = "https://files-api.evolink.ai"
"""EvoLink's file host (api-facts.md section 8): local images are uploaded there, with the same key."""
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
"""Per-phase limits on silence: 10 s to connect, 30 s for any one read, write or pool wait."""
DEFAULT_BUDGET = 60.0
"""Seconds one API call may take in all, retries and back-off included."""
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
"""The largest API answer accepted, counted on decoded bytes (a task body is a few KB)."""
DEFAULT_WAIT_TIMEOUT = 600.0
"""Seconds ``wait`` and ``run`` wait by default (the vendor's own examples give up after 300 s)."""
ENV_API_KEY = "EVOLINK_API_KEY"
ENV_BASE_URL = "EVOLINK_BASE_URL"
ENV_FILES_BASE_URL = "EVOLINK_FILES_BASE_URL"
ENV_LOG = "EVOLINK_LOG"


class ConfigurationError(EvoLinkError, ValueError):
    """Raised when a client is built with a missing key, a bad base URL or bad settings."""


def _files_base_url(files_base_url: object, api: httpx.URL) -> httpx.URL:
    """The file host: as given, else from the environment, else EvoLink's.

    When the API is on loopback (a local fake), the file host defaults to the API's own origin: the
    fake serves both, and a test's key must not go to EvoLink's real file host.
    """
    if files_base_url is not None and not isinstance(files_base_url, str):
        raise ConfigurationError(f"files_base_url must be a string, not {type(files_base_url).__name__}")
    chosen = files_base_url or os.environ.get(ENV_FILES_BASE_URL, "").strip()
    if chosen:
        return _check_base_url(chosen, "files_base_url")
    return api if is_loopback_host(api.host) else httpx.URL(DEFAULT_FILES_BASE_URL)


def _check_base_url(base_url: str, name: str = "base_url") -> httpx.URL:
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
        f"{name} {base_url!r} is refused: use https (plain http only for a loopback host such as 127.0.0.1)"
    )


class _TerminalFormatter(logging.Formatter):
    """Formats a line for stderr: a server's control characters (escape sequences) are shown as escapes."""

    _UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return self._UNPRINTABLE.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), line)


def configure_logging() -> None:
    """Honour ``EVOLINK_LOG=debug|info``: the package's log lines go to stderr at that level (once)."""
    level = {"debug": logging.DEBUG, "info": logging.INFO}.get(os.environ.get(ENV_LOG, "").strip().lower())
    if level is None:
        return
    logger = logging.getLogger("evolink_images")
    logger.setLevel(level)
    if not any(getattr(handler, "evolink_env", False) for handler in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(_TerminalFormatter("%(asctime)s evolink_images %(levelname)s %(message)s"))
        handler.evolink_env = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def _default_headers(headers: object) -> tuple[tuple[str, str], ...]:
    try:
        return check_headers("default_headers", headers)
    except EvoLinkError as error:
        raise ConfigurationError(str(error)) from None


def _user_agent() -> str:
    from . import __version__

    return f"evolink-images/{__version__} python/{platform.python_version()} httpx/{httpx.__version__}"


def _check_timeout(timeout: object) -> tuple[httpx.Timeout, float]:
    """The per-phase limits and the total budget that a ``timeout`` argument means."""
    if timeout is None:
        return DEFAULT_TIMEOUT, DEFAULT_BUDGET
    if isinstance(timeout, httpx.Timeout):
        return timeout, DEFAULT_BUDGET
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and 0 < timeout < float("inf"):
        try:
            seconds = float(timeout)
        except OverflowError:  # an int beyond any float
            seconds = float("inf")
        if seconds < float("inf"):
            return httpx.Timeout(min(seconds, 30.0), connect=min(seconds, 10.0)), seconds
    raise ConfigurationError(f"timeout must be a positive number of seconds or an httpx.Timeout, not {shown(timeout)}")


@dataclass(frozen=True)
class Settings:
    """Everything a client needs besides its connections."""

    api_key: Secret
    base_url: httpx.URL
    timeout: httpx.Timeout
    """Per-phase limits on silence (connect, read, write, pool), each within the budget."""
    budget: float
    """Seconds one API call may take in all."""
    max_retries: int
    schedule: PollSchedule
    max_response_bytes: int
    redactor: Redactor
    default_headers: tuple[tuple[str, str], ...] = ()
    """Headers the caller asked to send with every API request."""
    files_base_url: httpx.URL = field(default_factory=lambda: httpx.URL(DEFAULT_FILES_BASE_URL))
    """The file host that local images are uploaded to (the second origin the key may go to)."""

    @classmethod
    def create(
        cls,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        schedule: PollSchedule | None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        default_headers: Mapping[str, str] | None = None,
        files_base_url: str | None = None,
    ) -> Settings:
        """Check and combine the constructor's arguments with the environment."""
        configure_logging()
        key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
        if key is not None and not isinstance(key, str):
            raise ConfigurationError(f"api_key must be a string, not {type(key).__name__}")
        if not key or not key.strip():
            raise ConfigurationError(f"no API key: pass api_key=... or set the {ENV_API_KEY} environment variable")
        if any(ch in key for ch in "\r\n"):
            raise ConfigurationError("the API key contains a line break")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(f"max_retries must be a whole number >= 0, not {shown(max_retries)}")
        phases, budget = _check_timeout(timeout)
        if base_url is not None and not isinstance(base_url, str):
            raise ConfigurationError(f"base_url must be a string, not {type(base_url).__name__}")
        if schedule is not None and not isinstance(schedule, PollSchedule):
            raise ConfigurationError(f"poll_schedule must be a PollSchedule, not {type(schedule).__name__}")
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int) or max_response_bytes < 1:
            raise ConfigurationError(f"max_response_bytes must be a whole number >= 1, not {shown(max_response_bytes)}")
        redactor = Redactor(key.strip())
        redact_logs(redactor)  # httpcore logs the headers it reads before anything of ours sees them
        api = _check_base_url(base_url or os.environ.get(ENV_BASE_URL, "").strip() or DEFAULT_BASE_URL)
        return cls(
            api_key=Secret(key.strip()),
            base_url=api,
            timeout=phases,
            budget=budget,
            max_retries=max_retries,
            schedule=schedule or PollSchedule(),
            max_response_bytes=max_response_bytes,
            redactor=redactor,
            default_headers=_default_headers(default_headers),
            files_base_url=_files_base_url(files_base_url, api),
        )

    @functools.cached_property
    def api_headers(self) -> tuple[tuple[str, str], ...]:
        """The headers every API request carries (the key is added at the wire, by ``api_wire``)."""
        return (("User-Agent", _user_agent()), ("Accept-Encoding", ACCEPT_ENCODING), *self.default_headers)

    def api_url(self, path: str) -> str:
        """The absolute URL of an API path."""
        return f"{self.base_url}{path}"

    def files_url(self, path: str) -> str:
        """The absolute URL of a file host path."""
        return f"{self.files_base_url}{path}"

    def download_http_options(self) -> dict[str, Any]:
        """How the result-download client is built: no auth; redirects are followed by ``_fetch.py``, each checked."""
        return {
            "timeout": self.timeout,
            "follow_redirects": False,
            "headers": {"User-Agent": _user_agent(), "Accept-Encoding": ACCEPT_ENCODING},
        }

    def api_wire(self) -> WirePolicy:
        """What the wire guard enforces on API exchanges (the file host's too): budget, answer cap, redaction."""
        credentials = Credentials(self.api_key, self.base_url, self.files_base_url)
        return WirePolicy(
            self.budget, self.max_response_bytes, self.redactor, redact_bodies=True, credentials=credentials
        )

    def download_wire(self) -> WirePolicy:
        """What it enforces on result downloads: the budget per image; the reader counts the bytes."""
        return WirePolicy(self.budget, None, self.redactor, redact_bodies=False)

    def redact(self, text: str) -> str:
        """Remove the API key from text that may have echoed it (server messages, URLs)."""
        return self.redactor.text(text)


@dataclass(frozen=True)
class ClientOptions:
    """What a client was built with, but its connections: what ``with_options`` changes and keeps."""

    api_key: Secret | None = field(default=None, repr=False)
    """The key as given (None: from the environment), held so that no repr shows it."""
    base_url: str | None = None
    timeout: float | httpx.Timeout | None = None
    max_retries: int = 2
    poll_schedule: PollSchedule | None = None
    clock: Callable[[], float] | None = None
    sleep: Callable[[float], Any] | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    default_headers: Mapping[str, str] | None = None
    files_base_url: str | None = None

    def settings(self) -> Settings:
        """The checked settings these options make."""
        return Settings.create(
            self.api_key.reveal() if self.api_key is not None else None,
            self.base_url,
            self.timeout,
            self.max_retries,
            self.poll_schedule,
            self.max_response_bytes,
            self.default_headers,
            self.files_base_url,
        )

    def changed(self, overrides: Mapping[str, Any]) -> ClientOptions:
        """These options with ``overrides`` applied; an unknown name is a ``ConfigurationError``."""
        names = [option.name for option in dataclasses.fields(self)]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ConfigurationError(f"with_options takes no {', '.join(unknown)}: only {', '.join(names)}")
        if overrides.get("api_key") is not None:
            overrides = {**overrides, "api_key": Secret(overrides["api_key"])}
        return dataclasses.replace(self, **overrides)
