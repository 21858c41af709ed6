"""The fake file host: EvoLink's Files API (api-facts.md section 8), as the fake EvoLink serves it.

``FakeFileHost`` answers the four operations of the spec's ``files`` tag: stream (multipart),
base64 and URL uploads, and the quota read. Like the real host it answers HTTP 200 with the
``{success, code, msg, data}`` envelope, refuses with ``success: false`` (``40001`` too large,
``40002`` type not allowed, ``40003`` quota exceeded, ``40004`` URL download failed, ``50001``
storage error), detects the type from the content (JPEG, PNG, GIF, WEBP only, whatever the
declared type or name), takes one file per request, counts each stored file against a quota until
it expires (72 hours, on the fake's clock), and serves each stored file at its ``file_url``.

It is a part of ``FakeEvoLink`` (``fake.file_host``), which routes to it and holds the lock.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.parser
import email.policy
import itertools
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .spec import schema_validator
from .wire import FakeResponse

__all__ = ["LIFETIME", "MAX_BYTES", "FakeFileHost", "StoredFile"]

LIFETIME = 72 * 3600.0
"""Seconds a stored file lives."""
MAX_BYTES = 100 * 1000 * 1000
"""The largest file stored (EvoLink's client docs)."""
_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"GIF87a", "image/gif", ".gif"),
    (b"GIF89a", "image/gif", ".gif"),
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def detect_type(data: bytes) -> tuple[str, str] | None:
    """The MIME type and extension the content says, if the host stores it."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    for magic, mime, extension in _TYPES:
        if data.startswith(magic):
            return mime, extension
    return None


@dataclass
class StoredFile:
    """One file the host holds."""

    file_id: str
    file_name: str
    original_name: str
    mime_type: str
    data: bytes = field(repr=False)
    upload_path: str
    stored_at: float
    """The fake's clock when it was stored."""
    upload_unix: float


def _envelope(success: bool, code: int, msg: str, data: Any = None) -> dict[str, Any]:
    return {"success": success, "code": code, "msg": msg, "data": data}


def _iso(unix: float) -> str:
    return datetime.datetime.fromtimestamp(unix, datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class FakeFileHost:
    """The file host's state: stored files, the quota, refusals queued on demand."""

    clock: Callable[[], float]
    files_url: Callable[[], str]
    """Where stored files are served (the fake's result host), read when a file is stored."""
    max_files: int = 100
    """The account's file quota: stored files that have not expired."""
    files: dict[str, StoredFile] = field(default_factory=dict)
    uploads: int = 0
    """How many uploads were stored (each one used a quota slot)."""
    refused: int = 0
    """How many uploads were refused with ``success: false``."""
    _refusals: list[tuple[int, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def refuse_next_upload(self, code: int = 50001, msg: str = "storage error") -> None:
        """Make the next upload answer HTTP 200 with ``success: false`` and this ``code`` and ``msg``."""
        self._refusals.append((code, msg))

    def live(self) -> list[StoredFile]:
        """The files not yet expired."""
        now = self.clock()
        return [stored for stored in self.files.values() if now - stored.stored_at < LIFETIME]

    def served(self, path: str) -> StoredFile | None:
        """The live file served at ``<files_url>/uploads/<id>/<name>``, if any."""
        file_id, _, name = path.partition("/")
        stored = self.files.get(file_id)
        if stored is None or stored.file_name != name or stored not in self.live():
            return None
        return stored

    def by_url(self, url: str) -> StoredFile | None:
        """The live file whose ``file_url`` is ``url``."""
        prefix = f"{self.files_url()}/uploads/"
        return self.served(url[len(prefix) :]) if url.startswith(prefix) else None

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes, fetch: Any) -> FakeResponse:
        """Answer one authorised request to the file host (``fetch(url)`` gives the bytes the fake serves there)."""
        routes = {
            "/api/v1/files/upload/stream": ("POST", self._stream),
            "/api/v1/files/upload/base64": ("POST", self._base64),
            "/api/v1/files/upload/url": ("POST", self._url),
            "/api/v1/files/quota": ("GET", lambda _h, _b, _f: self._quota()),
        }
        if path not in routes:
            return FakeResponse.json(404, _envelope(False, 404, f"no route for {path[:100]}"))
        allowed, answer = routes[path]
        if method != allowed:
            return FakeResponse.json(405, _envelope(False, 405, f"use {allowed}"), {"Allow": allowed})
        return answer(headers, body, fetch)

    def _quota(self) -> FakeResponse:
        used = len(self.live())
        data = {
            "user_group": "default",
            "used_files": used,
            "max_files": self.max_files,
            "remain_files": max(0, self.max_files - used),
            "is_custom": False,
            "quota_reason": None,
        }
        return FakeResponse.json(200, _envelope(True, 200, "ok", data))

    def _bad_request(self, msg: str) -> FakeResponse:
        return FakeResponse.json(400, _envelope(False, 400, msg))

    def _stream(self, headers: Mapping[str, str], body: bytes, _fetch: Any) -> FakeResponse:
        content_type = headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
            return self._bad_request("the body must be multipart/form-data")
        raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        if not message.is_multipart():
            return self._bad_request("the body is not multipart/form-data")
        files, fields = [], {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if part.get_filename() is not None or name == "file":
                files.append((name, part.get_filename() or "file", data))
            elif isinstance(name, str):
                fields[name] = data.decode("utf-8", "replace")
        if len(files) != 1 or files[0][0] != "file":
            return self._bad_request(f"exactly one file, in the field 'file', per request (got {len(files)})")
        _, original, data = files[0]
        name = fields.get("file_name") or fields.get("fileName") or original
        folder = fields.get("upload_path") or fields.get("uploadPath") or "uploads"
        return self._store(data, str(name), folder)

    def _checked(self, body: bytes, schema: str) -> dict[str, Any] | FakeResponse:
        """The JSON body if the spec's schema admits it, else the 400 that says why."""
        payload = _json_object(body)
        if payload is None:
            return self._bad_request("the body must be a JSON object")
        problem = next(iter(schema_validator(schema).iter_errors(payload)), None)
        if problem is not None:
            where = ".".join(str(part) for part in problem.absolute_path)
            return self._bad_request(f"{where or 'body'}: {problem.message[:200]}")
        return payload

    def _base64(self, _headers: Mapping[str, str], body: bytes, _fetch: Any) -> FakeResponse:
        payload = self._checked(body, "FileBase64Upload")
        if isinstance(payload, FakeResponse):
            return payload
        text = str(payload["base64_data"])
        if text.startswith("data:"):
            text = text.partition(",")[2]
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):  # a string the schema admits: refused in the envelope, as a bad file
            self.refused += 1
            return FakeResponse.json(200, _envelope(False, 40002, "base64_data does not decode to a file"))
        return self._store(data, str(payload.get("file_name") or "file"), str(payload.get("upload_path") or "uploads"))

    def _url(self, _headers: Mapping[str, str], body: bytes, fetch: Any) -> FakeResponse:
        payload = self._checked(body, "FileUrlUpload")
        if isinstance(payload, FakeResponse):
            return payload
        url = str(payload["file_url"])
        data = fetch(url)  # only what the fake itself serves: it has no network
        if data is None:
            self.refused += 1
            return FakeResponse.json(200, _envelope(False, 40004, "the file could not be downloaded"))
        name = str(payload.get("file_name") or url.rsplit("/", 1)[-1] or "file")
        return self._store(data, name, str(payload.get("upload_path") or "uploads"))

    def _store(self, data: bytes, original: str, folder: str) -> FakeResponse:
        refusal = self._refusal(data)
        if refusal is not None:
            self.refused += 1
            return FakeResponse.json(200, _envelope(False, *refusal))
        mime, extension = detect_type(data) or ("application/octet-stream", ".bin")  # _refusal checked the type
        number = next(self._ids)
        unix = time.time()
        safe = _UNSAFE.sub("_", original)[:80].strip("._") or "file"
        stem = safe.rsplit(".", 1)[0] if "." in safe else safe
        stored = StoredFile(
            file_id=f"file_{number:08d}",
            file_name=f"{int(unix)}-{stem}{extension}",
            original_name=original[:200],
            mime_type=mime,
            data=data,
            upload_path=_UNSAFE.sub("_", folder)[:40] or "uploads",
            stored_at=self.clock(),
            upload_unix=unix,
        )
        self.files[stored.file_id] = stored
        self.uploads += 1
        url = f"{self.files_url()}/uploads/{stored.file_id}/{stored.file_name}"
        data_out = {
            "file_id": stored.file_id,
            "file_name": stored.file_name,
            "original_name": stored.original_name,
            "file_size": len(data),
            "mime_type": mime,
            "upload_path": stored.upload_path,
            "file_url": url,
            "download_url": f"{url}?download=1",
            "upload_time": _iso(unix),
            "expires_at": _iso(unix + LIFETIME),
        }
        return FakeResponse.json(200, _envelope(True, 200, "ok", data_out))

    def _refusal(self, data: bytes) -> tuple[int, str] | None:
        if self._refusals:
            return self._refusals.pop(0)
        if len(data) > MAX_BYTES:
            return 40001, f"file too large: {len(data)} bytes, at most {MAX_BYTES}"
        if detect_type(data) is None:
            return 40002, "file type not allowed: only image/jpeg, image/png, image/gif and image/webp"
        if len(self.live()) >= self.max_files:
            return 40003, f"file quota exceeded: {self.max_files} files"
        return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None
