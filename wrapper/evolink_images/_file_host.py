"""EvoLink's file host (api-facts.md section 8): what an upload and a quota read send, and what their answers mean.

The sync and async clients differ only in how they send; everything else is here. An upload is a
stream upload (``POST /api/v1/files/upload/stream``) of one checked ``LocalImage``, framed here
rather than by the generated client: its multipart body has a fixed boundary (``+++``, which a file
may contain) and reads the file whole, while this one has a random boundary, a ``Content-Length``,
and streams the file from disk, refusing to send the last chunk of a file edited since its check.

Both calls go through the client's API transport stack: the same retries (an upload is a POST that
uses a quota slot, so it is retried only when it cannot have been stored: no connection made, a 429
or a 503), the same total budget, the same cap on the answer and the same redaction of the key.

The file host answers HTTP 200 with an envelope, ``{success, code, msg, data}``; ``success: false``
is a refusal (``UploadError`` with its ``code`` and ``msg``). Every failure of an upload is an
``UploadError`` naming the local file; ``may_be_stored`` says whether the file may be on the host
all the same (a read timeout, a dropped connection, a 5xx other than 503, an unreadable 200).
"""

from __future__ import annotations

import datetime
import io
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from ._config import Settings
from ._errors import APIStatusError, EvoLinkError, FileHostError, UploadError
from ._local_images import LocalImage, LocalImageChanged
from ._responses import Exchange, cut, json_body
from ._retry import call_options
from ._rules import IMAGE_URL_PATTERN
from ._wire import DeadlineExceeded

__all__ = [
    "LIFETIME",
    "REUSE_MARGIN",
    "FileQuota",
    "UploadedFile",
    "file_host_call",
    "quota_request",
    "upload_request",
]

LIFETIME = datetime.timedelta(hours=72)
"""How long the file host keeps an upload (api-facts.md section 8)."""
REUSE_MARGIN = datetime.timedelta(hours=2)
"""An earlier upload is reused only while it has at least this long left: a task may sit in a queue
before the service fetches its input, and a batch may wait on a 429 before it submits."""

logger = logging.getLogger("evolink_images")

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_TRANSLATED = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, ValueError, RecursionError, DeadlineExceeded)
_IMAGE_URL = re.compile(IMAGE_URL_PATTERN)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def parse_time(value: object) -> datetime.datetime | None:
    """An ISO 8601 date-time as an aware UTC datetime (a naive one is taken as UTC), or None."""
    if not isinstance(value, str) or not 10 <= len(value) <= 64:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)).astimezone(datetime.UTC)


@dataclass(frozen=True)
class UploadedFile:
    """A file stored on EvoLink's file host: ``file_url`` is what goes in ``image_urls``, until ``expires_at``."""

    file_url: str
    expires_at: datetime.datetime
    """When the host deletes it (UTC): 72 hours after upload. Never later than that, whatever the host says."""
    file_id: str | None = None
    size: int | None = None
    """Its size in bytes, as the host reports it."""
    mime_type: str | None = None
    """Its type as the host detected it (``image/png``, ...)."""
    sha256: str | None = None
    """The SHA-256 of the bytes uploaded: the same bytes are not uploaded twice by one client."""
    file_name: str | None = None
    """The name it was stored under."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The ``data`` object as the host sent it, unknown members included."""

    def reusable(self, now: datetime.datetime | None = None) -> bool:
        """Whether it lives long enough to be sent again (at least ``REUSE_MARGIN`` left)."""
        return self.expires_at - (now or _now()) >= REUSE_MARGIN

    def to_record(self) -> dict[str, Any]:
        """What a batch journal keeps of it."""
        return {"file_url": self.file_url, "expires_at": self.expires_at.isoformat(), "file_id": self.file_id}

    @classmethod
    def from_record(cls, sha256: str, record: Mapping[str, Any]) -> UploadedFile | None:
        """The upload a journal record describes, or None when the record is not one."""
        url, expires = record.get("file_url"), parse_time(record.get("expires_at"))
        file_id = record.get("file_id")
        if not isinstance(url, str) or expires is None:
            return None
        return cls(url, expires, file_id if isinstance(file_id, str) else None, sha256=sha256)


@dataclass(frozen=True)
class FileQuota:
    """The account's file quota: each stored upload holds one slot until it expires."""

    used_files: int | None
    max_files: int | None
    remain_files: int | None
    user_group: str | None = None
    is_custom: bool | None = None
    quota_reason: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _int(value: object) -> int | None:
    """A count: an int, or a float with no fraction (JSON Schema's ``integer`` admits ``4.0``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


class _Multipart(httpx.SyncByteStream, httpx.AsyncByteStream):
    """One file as ``multipart/form-data``; re-iterable, so that a retry sends it whole again."""

    def __init__(self, image: LocalImage, boundary: str) -> None:
        self._image = image
        name = _SAFE_NAME.sub("_", image.upload_name)[:100] or "image"
        self._head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {image.mime_type}\r\n\r\n"
        ).encode("ascii")
        self._tail = f"\r\n--{boundary}--\r\n".encode("ascii")
        self.length = len(self._head) + image.size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        yield from self._image.chunks()
        yield self._tail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._head
        async for chunk in self._image.achunks():
            yield chunk
        yield self._tail


def upload_request(settings: Settings, image: LocalImage) -> httpx.Request:
    """The stream upload of ``image`` (the generated client names the operation's method and path)."""
    from evolink_api.api.files import upload_file_stream
    from evolink_api.models import FileStreamUpload
    from evolink_api.types import File

    kwargs = upload_file_stream._get_kwargs(body=FileStreamUpload(file=File(payload=io.BytesIO())))
    boundary = f"evolink-{secrets.token_hex(16)}"
    body = _Multipart(image, boundary)
    url = httpx.URL(settings.files_url(kwargs["url"]))
    headers = [
        ("Host", url.netloc.decode("ascii")),  # httpx adds it only to a request it frames itself
        *settings.api_headers,
        ("Content-Type", f"multipart/form-data; boundary={boundary}"),
        ("Content-Length", str(body.length)),
    ]
    return httpx.Request(
        kwargs["method"].upper(),
        url,
        headers=headers,
        stream=body,
        extensions={"timeout": settings.timeout.as_dict()},
    )


def quota_request(settings: Settings) -> httpx.Request:
    """The quota read."""
    from evolink_api.api.files import get_file_quota

    kwargs = get_file_quota._get_kwargs()
    return httpx.Request(
        kwargs["method"].upper(),
        settings.files_url(kwargs["url"]),
        headers=settings.api_headers,
        extensions={"timeout": settings.timeout.as_dict()},
    )


class file_host_call:
    """The block one file host call is sent in: its budget in force, its answer read, whatever it raises typed.

    ``image`` is the local image being uploaded (None for the quota read): every failure then
    becomes an ``UploadError`` naming it.
    """

    def __init__(
        self, settings: Settings, clock: Callable[[], float], budget: float, image: LocalImage | None = None
    ) -> None:
        self._settings = settings
        self._image = image
        self._options = call_options(deadline=clock() + budget)
        method = "POST" if image is not None else "GET"
        self._current = Exchange(method=method, task_id=None, redactor=settings.redactor, creates_task=False)

    def __enter__(self) -> file_host_call:
        self._options.__enter__()
        return self

    def received(self, response: httpx.Response, request: httpx.Request) -> httpx.Response:
        """Note the response once its headers are in."""
        return self._current.received(response, request)

    def _envelope(self, response: httpx.Response) -> tuple[dict[str, Any], Any]:
        """The envelope and its ``data`` when ``success`` is true; raise the typed error otherwise."""
        if not response.is_success:
            raise self._failure(self._current.translate(_StatusOnly()), sent=True)
        try:
            body = json_body(response, self._settings.redactor)
        except ValueError as error:
            raise self._garbled(response, f"is not JSON ({cut(str(error), 100)})") from None
        if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
            raise self._garbled(response, "is not the file host's envelope ({success, code, msg, data})")
        if body["success"] is False:
            code = body.get("code")
            code = code if isinstance(code, str | int) and not isinstance(code, bool) else None
            msg = cut(self._settings.redact(str(body.get("msg") or "no message")))
            if isinstance(code, str):
                code = cut(self._settings.redact(code), 100)
            raise self._refused(code, msg)
        return body, body.get("data")

    def uploaded(self, response: httpx.Response, image: LocalImage) -> UploadedFile:
        """The stored file an upload's answer describes."""
        _, data = self._envelope(response)
        url = data.get("file_url") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(url, str) or not _IMAGE_URL.search(url):
            raise self._garbled(response, "says success but gives no usable file_url")
        now = _now()
        latest = now + LIFETIME
        expires = parse_time(data.get("expires_at"))
        size = _int(data.get("file_size"))
        logger.info("uploaded %s (%d bytes) as %s", image.upload_name, image.size, cut(url, 200))
        return UploadedFile(
            file_url=url,
            expires_at=latest if expires is None else min(expires, latest),
            file_id=_str(data.get("file_id")),
            size=size,
            mime_type=_str(data.get("mime_type")),
            sha256=image.sha256,
            file_name=_str(data.get("file_name")),
            raw=data,
        )

    def quota(self, response: httpx.Response) -> FileQuota:
        """The quota a quota read's answer describes."""
        _, data = self._envelope(response)
        if not isinstance(data, dict):
            raise self._garbled(response, "says success but gives no quota")
        return FileQuota(
            used_files=_int(data.get("used_files")),
            max_files=_int(data.get("max_files")),
            remain_files=_int(data.get("remain_files")),
            user_group=_str(data.get("user_group")),
            is_custom=data.get("is_custom") if isinstance(data.get("is_custom"), bool) else None,
            quota_reason=_str(data.get("quota_reason")),
            raw=data,
        )

    def _what(self) -> str:
        return f"the upload of {self._image.name}" if self._image is not None else "the file quota read"

    def _refused(self, code: str | int | None, msg: str) -> FileHostError:
        text = f"{self._what()} was refused by the file host: {code if code is not None else 'no code'}: {msg}"
        if self._image is None:
            return FileHostError(text, code=code, detail=msg)
        return UploadError(text, file_name=self._image.name, code=code, detail=msg)

    def _garbled(self, response: httpx.Response, why: str) -> FileHostError:
        text = self._settings.redact(f"{self._what()}: HTTP {response.status_code} answer {why}")
        if self._image is None:
            return FileHostError(text, status_code=response.status_code)
        return UploadError(text, file_name=self._image.name, status_code=response.status_code, may_be_stored=True)

    def _failure(self, error: EvoLinkError, *, sent: bool) -> EvoLinkError:
        """An upload's failure as an ``UploadError`` (the typed error as its cause); a quota read's as it is."""
        if self._image is None or isinstance(error, UploadError):
            return error
        status = error.status_code if isinstance(error, APIStatusError) else None
        stored = sent and (status is None or (status >= 500 and status != 503))
        wrapped = UploadError(
            f"{self._what()} failed: {error}",
            file_name=self._image.name,
            code=error.code if isinstance(error, APIStatusError) else status,
            detail=error.message,
            status_code=status,
            may_be_stored=stored,
        )
        wrapped.__cause__ = error
        return wrapped

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if isinstance(error, LocalImageChanged) and self._image is not None:
                raise UploadError(f"{self._image.name} {error}", file_name=self._image.name) from None
            if error is not None and not isinstance(error, EvoLinkError) and isinstance(error, _TRANSLATED):
                typed = self._current.translate(error)
                raise self._failure(typed, sent=not isinstance(error, _NOT_SENT)) from None
        finally:
            self._options.__exit__(None, None, None)


class _StatusOnly(ValueError):
    """Asks ``Exchange.translate`` for the typed error of the error status already received."""
