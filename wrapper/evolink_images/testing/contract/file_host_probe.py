"""The live probe of EvoLink's file host: a free, keyed quota read, and an upload refused before it is stored.

Two requests, neither billed:

1. ``GET /api/v1/files/quota`` with the key: it must answer HTTP 200 with an envelope the spec's
   ``FileQuotaResponse`` admits, ``success: true``.
2. ``POST /api/v1/files/upload/stream`` with a text file: the host takes only JPEG, PNG, GIF and
   WEBP, detected from the content, so it must refuse before storing anything: ``success: false``
   in an HTTP 200 (``40002``, type not allowed), or an HTTP error status, with a body the spec
   admits. A stored text file is a contract break (it holds a quota slot for 72 hours): the probe
   says so, with its ``file_id``. The quota is read again afterwards: ``used_files`` must not grow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from evolink_images.testing.spec import schema_validator

__all__ = ["FILE_PROBES", "QUOTA_PATH", "UPLOAD_PATH", "check_file_host"]

QUOTA_PATH = "/api/v1/files/quota"
UPLOAD_PATH = "/api/v1/files/upload/stream"
TEXT_FILE = b"evolink-images live probe: a text file, which the file host must refuse to store.\n"
FILE_PROBES = [
    f"GET {QUOTA_PATH} with your key: reads the file quota (free; expects 200, success true)",
    f"POST {UPLOAD_PATH} with your key and a text file: must be refused before it is stored"
    " (expects success false, or an error status)",
]


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _used(body: Any) -> int | None:
    data = body.get("data") if isinstance(body, dict) else None
    used = data.get("used_files") if isinstance(data, dict) else None
    return used if isinstance(used, int) and not isinstance(used, bool) else None


def _quota(send: Callable[..., httpx.Response], headers: dict[str, str]) -> tuple[list[str], int | None]:
    response = send("GET", QUOTA_PATH, headers=headers)
    body = _json(response)
    if response.status_code != 200:
        return [f"the quota read: expected HTTP 200, got {response.status_code}"], None
    errors = [error.message for error in schema_validator("FileQuotaResponse").iter_errors(body)]
    if errors:
        return [f"the quota read breaks the spec: {errors[0][:300]}"], None
    if body["success"] is not True:
        return [f"the quota read answered success false: {body.get('code')!r} {str(body.get('msg'))[:200]}"], None
    return [], _used(body)


def check_file_host(
    files_base_url: str, key: str, send: Callable[..., httpx.Response] | None = None
) -> tuple[list[str], list[str]]:
    """Run both requests; return ``(lines to print, failures)``."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=files_base_url, timeout=30) as client:
        sender = send or client.request
        failures, before = _quota(sender, headers)
        lines = [f"{'ok  ' if not failures else 'FAIL'} file host: quota read (used {before})"]
        files = {"file": ("probe.txt", TEXT_FILE, "text/plain")}
        response = sender("POST", UPLOAD_PATH, headers=headers, files=files)
        body = _json(response)
        problem = _judge_upload(response, body)
        lines.append(
            f"{'ok  ' if problem is None else 'FAIL'} file host: a text file refused: HTTP {response.status_code}"
        )
        if problem is not None:
            failures.append(problem)
        if before is not None:
            after_failures, after = _quota(sender, headers)
            failures += after_failures
            if after is not None and after > before and problem is None:
                failures.append(f"the refused upload used a quota slot all the same ({before} -> {after} files)")
    return lines, failures


def _judge_upload(response: httpx.Response, body: Any) -> str | None:
    schema = "FileUploadResponse" if response.status_code == 200 else "FileErrorBody"
    if body is None:
        return f"the refusal of a text file (HTTP {response.status_code}) is not JSON"
    errors = [error.message for error in schema_validator(schema).iter_errors(body)]
    if errors:
        return f"the answer to a text file upload breaks the spec: {errors[0][:300]}"
    if response.status_code == 200 and body.get("success") is True:
        data = body.get("data") or {}
        return (
            f"the file host stored a text file (file_id {data.get('file_id')!r}; it holds a quota slot until it"
            " expires): it should refuse a type it does not take"
        )
    if response.status_code == 401:
        return "the file host refused the key (HTTP 401): the same key as the API's should work"
    return None
