"""What each API call sends and under which budget: built once, checked whole, sent by either client.

``create_call`` and ``read_call`` do everything a call needs before the network (every argument
checked, the request validated and serialised into an ``httpx.Request``, the idempotency key
chosen), so that a bad argument is a ``RequestValidationError`` with nothing sent, and the sync and
async clients differ only in how they send (``sending`` is their shared block). The generated
client says what to send (``_get_kwargs`` of each operation: method, path, body, headers); the
request goes straight to the client's transport stack (retries, then the wire guard), with no
``httpx.Client`` in between: no cookies kept, no redirects followed, nothing merged per request.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from ._arguments import check_headers, check_retries, check_seconds, check_task_id
from ._config import Settings
from ._errors import RequestValidationError, Violation
from ._local_images import LocalImage
from ._requests import ImageEditRequest, to_api_body
from ._responses import Exchange, cut, exchange
from ._retry import call_options
from ._rules import check_with_images, validate

__all__ = [
    "ApiCall",
    "SubmitPlan",
    "check_idempotency_key",
    "create_call",
    "new_idempotency_key",
    "plan_submit",
    "read_call",
    "sending",
]

_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._-]{16,96}")


def new_idempotency_key() -> str:
    """Return a fresh ``Idempotency-Key``: one per logical submit, reused on each of its retries."""
    return f"evolink-images-{secrets.token_hex(16)}"


def check_idempotency_key(key: Any) -> str:
    """Return ``key`` if EvoLink's clients would send it: 16 to 96 of ``[A-Za-z0-9._-]`` (api-facts 6)."""
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key):
        shown = cut(repr(key), 60)
        raise RequestValidationError(
            [Violation("idempotency_key", f"is {shown}", "16 to 96 characters of A-Z a-z 0-9 . _ -")]
        )
    return key


@dataclass(frozen=True)
class ApiCall:
    """One API call, ready to send: the request, the task it is about, its limits."""

    request: httpx.Request
    task_id: str | None
    budget: float
    """Seconds the whole call, retries included, may take from the moment it is sent."""
    max_retries: int | None


def _budget(settings: Settings, timeout: Any) -> float:
    return settings.budget if timeout is None else check_seconds("timeout", timeout)


def _request(settings: Settings, kwargs: dict[str, Any], extra_headers: Any) -> httpx.Request:
    """The ``httpx.Request`` for what the generated client says to send, with the client's headers."""
    extra = check_headers("extra_headers", extra_headers)
    return httpx.Request(
        kwargs["method"],
        settings.api_url(kwargs["url"]),
        headers=[*settings.api_headers, *extra, *kwargs.get("headers", {}).items()],
        json=kwargs.get("json"),
        extensions={"timeout": settings.timeout.as_dict()},
    )


def create_call(
    settings: Settings,
    request: ImageEditRequest,
    *,
    idempotency_key: str | None,
    timeout: float | None,
    max_retries: int | None,
    extra_headers: Any = None,
    image_urls: list[str] | None = None,
) -> ApiCall:
    """Check and serialise a submit; raise ``RequestValidationError`` (nothing sent) on any bad argument.

    ``image_urls``: the URLs to send instead of the request's own items, once its local images are
    uploaded (the request was checked whole before: see ``plan_submit``).
    """
    from evolink_api.api.images import create_image_task  # the generated client loads with the first call

    if image_urls is None:
        validate(request)
    key = new_idempotency_key() if idempotency_key is None else check_idempotency_key(idempotency_key)
    budget = _budget(settings, timeout)
    retries = None if max_retries is None else check_retries("max_retries", max_retries)
    kwargs = create_image_task._get_kwargs(body=to_api_body(request, image_urls), idempotency_key=key)
    return ApiCall(_request(settings, kwargs, extra_headers), None, budget, retries)


_PENDING_UPLOAD = "https://files.evolink.ai/pending-upload"
"""Stands for a local image's future URL while the rest of a submit's arguments are checked."""


@dataclass
class SubmitPlan:
    """A submit checked whole: its local images (read and checked, by index) and how to build its call."""

    settings: Settings
    request: ImageEditRequest
    images: dict[int, LocalImage]
    options: dict[str, Any]
    _call: ApiCall | None = None

    def distinct(self) -> dict[str, LocalImage]:
        """The local images to upload: one per content (by SHA-256), however often the request names it."""
        distinct: dict[str, LocalImage] = {}
        for image in self.images.values():
            distinct.setdefault(image.sha256, image)
        return distinct

    def call(self, uploaded: dict[str, str]) -> ApiCall:
        """The API call, each local image replaced by the ``file_url`` of its upload (by SHA-256)."""
        if not self.images and self._call is not None:
            return self._call
        urls = [
            uploaded[self.images[index].sha256] if index in self.images else url
            for index, url in enumerate(self.request.image_urls)
        ]
        return create_call(self.settings, self.request, image_urls=[str(url) for url in urls], **self.options)


def plan_submit(
    settings: Settings,
    request: ImageEditRequest,
    *,
    idempotency_key: str | None,
    timeout: float | None,
    max_retries: int | None,
    extra_headers: Any = None,
) -> SubmitPlan:
    """Check a submit whole before anything is uploaded or sent: every rule, every local image, every argument.

    Raises:
        RequestValidationError: anything is wrong; nothing was uploaded and nothing sent.
    """
    violations, images = check_with_images(request)
    if violations:
        raise RequestValidationError(violations)
    if idempotency_key is None:  # one key for the submit, whatever happens between the check and the send
        idempotency_key = new_idempotency_key()
    options = {
        "idempotency_key": idempotency_key,
        "timeout": timeout,
        "max_retries": max_retries,
        "extra_headers": extra_headers,
    }
    plan = SubmitPlan(settings, request, images, options)
    # Every other argument is checked now, with a stand-in for each local image's URL.
    plan._call = plan.call(dict.fromkeys(plan.distinct(), _PENDING_UPLOAD))
    return plan


def read_call(
    settings: Settings, task_id: Any, *, timeout: float | None, max_retries: int | None, extra_headers: Any = None
) -> ApiCall:
    """Check a task read; raise ``RequestValidationError`` (nothing sent) on a bad id or timeout."""
    from evolink_api.api.tasks import get_task

    task_id = check_task_id(task_id)
    budget = _budget(settings, timeout)
    retries = None if max_retries is None else check_retries("max_retries", max_retries)
    return ApiCall(_request(settings, get_task._get_kwargs(task_id), extra_headers), task_id, budget, retries)


class sending:
    """The block a client sends ``call`` in: its budget (from now) in force, whatever it raises translated.

    A class rather than a generator-based context manager: it wraps every request, and is cheaper so.
    """

    __slots__ = ("_exchange", "_options")

    def __init__(self, call: ApiCall, settings: Settings, clock: Callable[[], float]) -> None:
        self._options = call_options(max_retries=call.max_retries, deadline=clock() + call.budget)
        self._exchange = exchange(call.request.method, task_id=call.task_id, redactor=settings.redactor)

    def __enter__(self) -> Exchange:
        self._options.__enter__()
        return self._exchange.__enter__()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self._exchange.__exit__(kind, error, tb)
        finally:
            self._options.__exit__(None, None, None)
