"""Saving result images: streamed to disk with a size cap, checked, named safely, never half-written.

Result URLs expire 24 hours after the task completes. Downloads use their own httpx client with no
``Authorization`` header: the API key never goes to a result host. Each image is written to a
hidden temporary file in ``dest_dir`` and renamed into place only when complete, so a failure never
leaves a partial file that looks finished.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import httpx

from ._errors import DownloadError
from ._task import Task

__all__ = ["DEFAULT_MAX_BYTES", "EXTENSIONS", "ImageSink", "download_errors", "result_urls"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""The largest result image accepted, in bytes."""

EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
    "image/gif": ".gif",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def result_urls(task: Task, dest_dir: str | os.PathLike[str]) -> tuple[list[str], Path]:
    """Return the task's result URLs and the (created) destination folder.

    Raises:
        DownloadError: the task is not completed or has no results.
    """
    if not task.is_completed:
        raise DownloadError(f"task {task.id} is {task.status}, not completed: nothing to download", task_id=task.id)
    if not task.results:
        raise DownloadError(f"task {task.id} completed without result URLs", task_id=task.id)
    for url in task.results:
        if httpx.URL(url).scheme not in {"http", "https"}:
            raise DownloadError(f"task {task.id} has a result URL that is not http(s)", task_id=task.id)
    folder = Path(dest_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return list(task.results), folder


class ImageSink:
    """Receives one image's bytes and puts the file in place only if all of it arrived and fits."""

    def __init__(self, folder: Path, task_id: str, index: int, response: httpx.Response, max_bytes: int) -> None:
        self.task_id = task_id
        if response.status_code != 200:
            raise DownloadError(
                f"result {index} of task {task_id}: HTTP {response.status_code} (result URLs expire after 24 h)",
                task_id=task_id,
            )
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        extension = EXTENSIONS.get(content_type)
        if extension is None:
            raise DownloadError(
                f"result {index} of task {task_id} is {content_type or 'untyped'}, not an image", task_id=task_id
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise DownloadError(f"result {index} of task {task_id} is over {max_bytes} bytes", task_id=task_id)
        stem = _UNSAFE.sub("_", task_id).strip("._") or "task"
        self.path = folder / f"{stem}-{index}{extension}"
        if self.path.resolve().parent != folder.resolve():  # pragma: no cover - the name has no separators
            raise DownloadError(f"refusing to write outside {folder}", task_id=task_id)
        self._max_bytes = max_bytes
        self._index = index
        self._size = 0
        handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{stem}-{index}.", suffix=".part")
        self._file = os.fdopen(handle, "wb")
        self._temp = Path(temp)

    def write(self, chunk: bytes) -> None:
        """Append a chunk; raise ``DownloadError`` past the size cap."""
        self._size += len(chunk)
        if self._size > self._max_bytes:
            raise DownloadError(
                f"result {self._index} of task {self.task_id} is over {self._max_bytes} bytes", task_id=self.task_id
            )
        self._file.write(chunk)

    def __enter__(self) -> ImageSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._file.close()
        if kind is None:
            os.replace(self._temp, self.path)
        else:
            self._temp.unlink(missing_ok=True)


@contextlib.contextmanager
def download_errors(task_id: str, index: int) -> Iterator[None]:
    """Turn transport failures while fetching a result into ``DownloadError``."""
    try:
        yield
    except httpx.HTTPError as error:
        raise DownloadError(
            f"result {index} of task {task_id} could not be fetched: {type(error).__name__}", task_id=task_id
        ) from None
