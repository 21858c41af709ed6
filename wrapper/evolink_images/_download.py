"""Saving result images: checked before anything is fetched, typed by their bytes, named safely, never half-written.

``plan_download`` checks everything it can before the first request: the task, every result URL
(parseable, http(s), a public host unless allowed otherwise: ``_fetch.HostRule``) and the
destination (a folder that exists or can be made, that we can write into, names that fit). Each
image is then streamed into a hidden temporary file created as ``open()`` would create it (the
umask decides its mode) and renamed into place only when complete, so a failure never leaves a
partial file that looks finished.

The file type comes from the image's magic number, never from the ``Content-Type`` label: result
hosts label real images ``application/octet-stream`` or ``image/jpg``, and a broken one labels an
HTML page ``image/png``. A body that is not a PNG, JPEG, WEBP, GIF, BMP or TIFF is refused.

Names are ``<task id>-<index>.<ext>``. A task id that is not plainly safe as a file name (a
character outside ``[a-z0-9.-]``, capitals, over 100 characters) is escaped and gets a short hash
of the original, so that two ids never share a file: ``task/a`` and ``task?a`` become
``task_a_<hash1>`` and ``task_a_<hash2>``, and no plainly safe id contains ``_``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from ._addresses import is_loopback_host
from ._errors import DownloadError
from ._fetch import FetchRefused, HostRule, parse_url
from ._task import Task
from ._wire import DeadlineExceeded
from ._wire.reach import InternalAddress

__all__ = [
    "DEFAULT_DOWNLOAD_TIMEOUT",
    "DEFAULT_MAX_BYTES",
    "EXTENSIONS",
    "DownloadPlan",
    "ImageSink",
    "download_errors",
    "file_stem",
    "folder_problem",
    "image_extension",
    "image_kind",
    "plan_download",
    "result_host_rule",
]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""The largest result image accepted, in bytes."""
DEFAULT_DOWNLOAD_TIMEOUT = 300.0
"""Seconds one ``download()`` call may take in all, every image and redirect included."""

EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tiff"}
_SNIFF = 32
"""Bytes read before deciding the type (the longest check, BMP's, needs 18)."""
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}
_SAFE_ID = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,98}[a-z0-9])?")
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
_HINT = " (download(..., allow_internal_hosts=True) allows hosts that are not public)"
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)


def image_kind(head: bytes) -> str | None:
    """Return the format the magic number at the start of a body says (Pillow's name), or None if unknown."""
    kind = None
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = "PNG"
    elif head.startswith(b"\xff\xd8\xff"):
        kind = "JPEG"
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "WEBP"
    elif head[:6] in (b"GIF87a", b"GIF89a"):
        kind = "GIF"
    elif head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        kind = "BMP"  # "BM" alone is too weak: the DIB header's size must be one of the known ones
    elif head[:4] in (b"II*\x00", b"MM\x00*"):
        kind = "TIFF"
    return kind


def image_extension(head: bytes) -> str | None:
    """Return the extension the magic number at the start of a body says, or None if it is no image we save."""
    kind = image_kind(head)
    return EXTENSIONS[kind] if kind else None


def file_stem(task_id: str) -> str:
    """The file-name stem of a task's results: the id itself when plainly safe, else escaped plus a hash."""
    if _SAFE_ID.fullmatch(task_id):
        return task_id
    digest = hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    readable = _UNSAFE.sub("_", task_id).strip("._-")[:60].rstrip("._-") or "task"
    return f"{readable}_{digest}"


def _shown(text: str, limit: int = 60) -> str:
    return repr(text) if len(text) <= limit else repr(text[: limit - 3] + "...")


@dataclass(frozen=True)
class DownloadPlan:
    """What one ``download()`` call will fetch and where it will write, all checked."""

    task_id: str
    folder: Path
    urls: tuple[httpx.URL, ...]
    rule: HostRule
    stem: str

    def path(self, index: int, extension: str) -> Path:
        """Where result ``index`` is saved."""
        return self.folder / f"{self.stem}-{index}{extension}"

    def error(self, index: int, problem: str) -> DownloadError:
        """A ``DownloadError`` about result ``index``, naming the task."""
        return DownloadError(f"result {index} of task {self.task_id} {problem}", task_id=self.task_id)


def result_host_rule(base_url: httpx.URL, allow_internal: bool) -> HostRule:
    """Result hosts must be public, unless the caller allows others or the API itself is on loopback (tests, a fake)."""
    return HostRule(allow_internal=allow_internal or is_loopback_host(base_url.host))


def plan_download(task: Task, dest_dir: Path, rule: HostRule) -> DownloadPlan:
    """Check the task, its result URLs and the destination; create the folder. Nothing is fetched.

    Raises:
        DownloadError: the task has no results, a result URL is junk or not allowed, or the
            destination cannot take the files (the message names the path).
    """
    if not task.is_completed:
        raise DownloadError(f"task {task.id} is {task.status}, not completed: nothing to download", task_id=task.id)
    if not task.results:
        raise DownloadError(f"task {task.id} completed without result URLs", task_id=task.id)
    urls = []
    for index, text in enumerate(task.results):
        try:
            url = parse_url(text)
            problem = rule.problem(url)
        except FetchRefused as refused:
            problem = str(refused)
        if problem is not None:
            raise DownloadError(
                f"result {index} of task {task.id} {problem}; nothing was fetched{_HINT}", task_id=task.id
            )
        urls.append(url)
    plan = DownloadPlan(task.id, dest_dir, tuple(urls), rule, file_stem(task.id))
    _prepare_folder(plan)
    return plan


def _prepare_folder(plan: DownloadPlan) -> None:
    # A trial file, named as the longest real one will be: proves the folder writable and the names not too long.
    problem = folder_problem(plan.folder, f".{plan.stem}-{len(plan.urls) - 1}.{secrets.token_hex(6)}.part")
    if problem is not None:
        where = f"cannot save the results of task {plan.task_id} into {str(plan.folder)!r}"
        raise DownloadError(f"{where}: {problem}", task_id=plan.task_id)


def folder_problem(folder: Path, probe: str | None = None) -> str | None:
    """Create ``folder`` if missing and try writing a file named ``probe`` in it; return why that failed, or None."""
    probe = probe or f".evolink-images-probe.{secrets.token_hex(6)}.part"  # random: two runs may probe at once
    try:
        if folder.exists() and not folder.is_dir():
            return "it is a file, not a folder"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / probe
        os.close(os.open(path, _CREATE_FLAGS, 0o666))
        path.unlink()
    except OSError as error:
        return _os_reason(error)
    return None


def _os_reason(error: OSError) -> str:
    if error.errno == errno.ENAMETOOLONG:
        return "a path is too long for the file system"
    return error.strerror or type(error).__name__


def _create_temp(plan: DownloadPlan, index: int) -> tuple[int, Path]:
    """Create the hidden temporary file of result ``index`` as ``open()`` would: mode 0666 less the umask."""
    for _ in range(100):  # pragma: no branch - a clash of 48 random bits does not repeat 100 times
        path = plan.folder / f".{plan.stem}-{index}.{secrets.token_hex(6)}.part"
        try:
            return os.open(path, _CREATE_FLAGS, 0o666), path
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name")  # pragma: no cover


class ImageSink:
    """Receives one image's bytes and puts the file in place only if all of it arrived, fits and is an image."""

    def __init__(self, plan: DownloadPlan, index: int, response: httpx.Response, max_bytes: int) -> None:
        self._plan = plan
        self._index = index
        if response.status_code != 200:
            status = response.status_code
            raise plan.error(index, f"could not be fetched: HTTP {status} (result URLs expire after 24 h)")
        self._label = response.headers.get("content-type", "").split(";")[0].strip()
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise plan.error(index, f"is over {max_bytes} bytes (the max_bytes limit)")
        self._max_bytes = max_bytes
        self._size = 0
        self._head = bytearray()
        self._extension: str | None = None
        self.path: Path | None = None
        try:
            handle, self._temp = _create_temp(plan, index)
        except OSError as error:
            raise plan.error(index, f"cannot be written into {str(plan.folder)!r}: {_os_reason(error)}") from None
        self._file = os.fdopen(handle, "wb")

    def write(self, chunk: bytes) -> None:
        """Append a chunk; raise ``DownloadError`` past the size cap or when the first bytes are no image."""
        self._size += len(chunk)
        if self._size > self._max_bytes:
            raise self._plan.error(self._index, f"is over {self._max_bytes} bytes (the max_bytes limit)")
        if self._extension is None:
            self._head += chunk
            if len(self._head) >= _SNIFF:
                self._decide()
            return
        self._file.write(chunk)

    def _decide(self) -> None:
        extension = image_extension(bytes(self._head))
        if extension is None:
            label = _shown(self._label) if self._label else "no content type"
            problem = f"is not an image (PNG, JPEG, WEBP, GIF, BMP or TIFF); labelled {label}"
            raise self._plan.error(self._index, problem)
        self._extension = extension
        self._file.write(self._head)
        self._head = bytearray()

    def __enter__(self) -> ImageSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if kind is None:
                if self._extension is None:
                    self._decide()  # a body shorter than the sniff window
                self._file.close()
                path = self._plan.path(self._index, self._extension or "")
                try:
                    os.replace(self._temp, path)
                except OSError as failure:
                    problem = f"cannot be saved as {str(path)!r}: {_os_reason(failure)}"
                    raise self._plan.error(self._index, problem) from None
                self.path = path
        finally:
            self._file.close()
            self._temp.unlink(missing_ok=True)


@contextlib.contextmanager
def download_errors(plan: DownloadPlan, index: int) -> Iterator[None]:
    """Turn transport failures, refused redirects and disk errors while saving a result into ``DownloadError``."""
    try:
        yield
    except FetchRefused as refused:
        raise plan.error(index, f"{refused}; not followed, not retried{_HINT}") from None
    except InternalAddress as error:
        raise plan.error(index, f"was not fetched: {error}, not a public host; not contacted{_HINT}") from None
    except DeadlineExceeded:
        raise plan.error(index, "could not be fetched: the download's total time budget ran out") from None
    except httpx.HTTPError as error:
        raise plan.error(index, f"could not be fetched: {type(error).__name__}") from None
    except (httpx.InvalidURL, httpx.StreamError) as error:
        raise plan.error(index, f"could not be fetched: {type(error).__name__}") from None
    except OSError as error:
        raise plan.error(index, f"cannot be written into {str(plan.folder)!r}: {_os_reason(error)}") from None
