"""Local images (a path, bytes or a binary file object): read once, checked, and pinned by their content.

The models take only URLs the service can fetch, so a local image is uploaded to EvoLink's file host
first (``_uploads.py``). Before anything is uploaded, every local image of a request is checked here,
on this machine, against what the file host and the model accept:

- its format, read from its magic number (never from a file name): the file host takes JPEG, PNG,
  GIF and WEBP only, and the model has its own list, so a local image must be in both (JPEG, PNG or
  WEBP for both models today; a BMP or TIFF must be converted, or hosted elsewhere and passed by URL);
- its size: the model's limit (10 MB for wan), else the file host's (100 MB);
- its width and height, when Pillow is installed (the ``preflight`` extra).

Each check produces a ``LocalImage``: its size and SHA-256 as read. A path is not held in memory:
the upload streams it again from disk, hashing as it goes, and refuses to send the last chunk when
the bytes differ from those checked (the file was edited in between), so a half-sent body that the
host cannot complete is all that ever leaves. Bytes and file objects are held as read.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ._download import EXTENSIONS, image_kind
from ._errors import Violation

if TYPE_CHECKING:
    from ._rules import ModelRules

__all__ = [
    "CHUNK",
    "HOST_FORMATS",
    "UPLOAD_MAX_BYTES",
    "ImageSource",
    "LocalImage",
    "LocalImageChanged",
    "inspect_local",
    "is_local",
    "local_problems",
    "local_source",
]

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO
"""What an ``image_urls`` item may be: an http(s) URL, or a local image (a path, bytes, a binary file object)."""

HOST_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
"""The formats EvoLink's file host stores (api-facts.md section 8), by Pillow's name, with their MIME types."""
UPLOAD_MAX_BYTES = 100 * 1000 * 1000
"""The file host's own size limit (EvoLink's client docs), for a model that documents none."""
CHUNK = 64 * 1024
"""Bytes read from disk at a time."""
_HEAD = 32


class LocalImageChanged(Exception):
    """A local file's bytes changed between its check and its upload; the upload was cut short."""


def is_local(source: object) -> bool:
    """True for a local image source: a path object, bytes, or a binary file object (a ``str`` is a URL)."""
    return isinstance(source, os.PathLike | bytes | bytearray | memoryview) or callable(getattr(source, "read", None))


@dataclass(frozen=True)
class LocalImage:
    """One local image as checked: where it is, what it is, and the digest its upload must match."""

    name: str
    """What the caller calls it: the path as given, or ``<bytes>``, or the file object's name."""
    size: int
    sha256: str
    kind: str
    """The format read from its magic number (Pillow's name: ``JPEG``, ``PNG``, ``GIF``, ``WEBP``)."""
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)

    @property
    def mime_type(self) -> str:
        """The MIME type of its format."""
        return HOST_FORMATS[self.kind]

    @property
    def upload_name(self) -> str:
        """The file name sent with the upload: the file's own base name, else one made from its digest."""
        if self.path is not None and self.path.name.isprintable() and self.path.name.isascii():
            return self.path.name
        return f"image-{self.sha256[:16]}{EXTENSIONS[self.kind]}"

    def chunks(self) -> Iterator[bytes]:
        """The bytes to upload, re-read from disk for a path; the last chunk only once they match the check.

        Raises:
            LocalImageChanged: the file changed since it was checked (before its last chunk is given).
        """
        if self.path is None:
            data = self.data or b""
            for start in range(0, len(data), CHUNK):
                yield data[start : start + CHUNK]
            return
        digest = hashlib.sha256()
        held = b""
        read = 0
        try:
            with self.path.open("rb") as file:
                while read <= self.size:
                    chunk = file.read(min(CHUNK, self.size + 1 - read))
                    if not chunk:
                        break
                    read += len(chunk)
                    digest.update(chunk)
                    if held:
                        yield held
                    held = chunk
        except OSError as error:
            raise LocalImageChanged(f"could not be read again ({error.strerror or type(error).__name__})") from None
        if read != self.size or digest.hexdigest() != self.sha256:
            raise LocalImageChanged("changed between its check and its upload: nothing was stored")
        if held:
            yield held

    async def achunks(self) -> AsyncIterator[bytes]:
        """``chunks`` for an async sender (a local disk read of 64 KiB does not need a thread)."""
        for chunk in self.chunks():
            yield chunk


def _limit_text(formats: list[str], cap: int, rules: ModelRules | None) -> str:
    model = f" for {rules.model}" if rules is not None else ""
    kinds = formats[0] if len(formats) == 1 else f"{', '.join(formats[:-1])} or {formats[-1]}"
    return f"a local {kinds} image of at most {cap} bytes{model}"


def _display(source: Any) -> str:
    if isinstance(source, os.PathLike):
        return os.fspath(source) if isinstance(os.fspath(source), str) else repr(source)
    if isinstance(source, bytes | bytearray | memoryview):
        return "<bytes>"
    name = getattr(source, "name", None)
    return name if isinstance(name, str) and name else "<file object>"


def _read_path(path: Path, cap: int) -> tuple[int, str, bytes] | str:
    """Size, SHA-256 and head of the file at ``path``, or why it cannot be used."""
    try:
        if not path.is_file():
            return "does not exist" if not path.exists() else "is not a regular file"
        size = path.stat().st_size
        if size > cap:
            return f"is {size} bytes"
        digest = hashlib.sha256()
        head = b""
        read = 0
        with path.open("rb") as file:
            while chunk := file.read(CHUNK):
                read += len(chunk)
                if read > cap:
                    return f"is over {cap} bytes"
                if len(head) < _HEAD:
                    head += chunk[: _HEAD - len(head)]
                digest.update(chunk)
        return read, digest.hexdigest(), head
    except (OSError, ValueError) as error:  # a path with a NUL byte raises ValueError
        return f"cannot be read ({getattr(error, 'strerror', None) or type(error).__name__})"


def _read_object(source: Any, cap: int) -> bytes | str:
    """The bytes of a bytes-like value or binary file object (at most ``cap`` + 1), or why it cannot be used."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        return data if len(data) <= cap else f"is {len(data)} bytes"
    parts = []
    total = 0
    try:
        while total <= cap:
            chunk = source.read(min(CHUNK, cap + 1 - total))
            if isinstance(chunk, str):
                return "is a text file object (open the file with 'rb')"
            if not isinstance(chunk, bytes | bytearray):
                return f"is a file object whose read() gives {type(chunk).__name__}, not bytes"
            if not chunk:
                break
            parts.append(bytes(chunk))
            total += len(chunk)
    except (OSError, ValueError) as error:  # a closed file raises ValueError
        return f"cannot be read ({type(error).__name__}: {str(error)[:80]})"
    data = b"".join(parts)
    return data if len(data) <= cap else f"is over {cap} bytes"


def _dimensions(path: Path | None, data: bytes | None) -> tuple[int, int] | str | None:
    """Width and height as Pillow reads them; None when Pillow is not installed."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - the test environment has Pillow
        return None
    try:
        with Image.open(path if path is not None else io.BytesIO(data or b"")) as image:
            width, height = image.size
            return int(width), int(height)
    except Exception:
        return "is not an image that can be decoded"


def inspect_local(field_name: str, source: Any, rules: ModelRules | None) -> LocalImage | list[Violation]:
    """Read and check one local image against the file host's rules and, given ``rules``, the model's.

    Returns the checked ``LocalImage``, or the violations of ``field_name`` that keep it from being sent.
    """
    allowed = sorted(kind for kind in HOST_FORMATS if rules is None or kind in rules.image_formats)
    cap = min(UPLOAD_MAX_BYTES, rules.image_max_bytes or UPLOAD_MAX_BYTES) if rules is not None else UPLOAD_MAX_BYTES
    limit = _limit_text(allowed, cap, rules)
    name = _display(source)
    shown = name if name.isprintable() else repr(name)
    shown = shown if len(shown) <= 80 else f"...{shown[-77:]}"
    path: Path | None = None
    data: bytes | None = None
    if isinstance(source, os.PathLike):
        path = Path(os.fspath(source))
        read = _read_path(path, cap)
        if isinstance(read, str):
            return [Violation(field_name, f"{shown} {read}", limit)]
        size, sha256, head = read
    else:
        got = _read_object(source, cap)
        if isinstance(got, str):
            return [Violation(field_name, f"{shown} {got}", limit)]
        data = got
        size, sha256, head = len(data), hashlib.sha256(data).hexdigest(), data[:_HEAD]
    if size == 0:
        return [Violation(field_name, f"{shown} is empty", limit)]
    kind = image_kind(head)
    if kind not in allowed:
        what = f"is {kind}" if kind else "is not a JPEG, PNG, GIF, WEBP, BMP or TIFF image"
        hint = "" if kind is None else " (convert it, or host it yourself and pass its URL)"
        return [Violation(field_name, f"{shown} {what}{hint}", limit)]
    found = []
    dimensions = _dimensions(path, data)
    if isinstance(dimensions, str):
        found.append(Violation(field_name, f"{shown} {dimensions}", limit))
    elif dimensions is not None and rules is not None:
        width, height = dimensions
        low, high = rules.image_side
        if not (low <= width <= high and low <= height <= high):
            found.append(
                Violation(field_name, f"{shown} is {width}x{height} px", f"each side within [{low}, {high}] px")
            )
    if found:
        return found
    return LocalImage(name=name, size=size, sha256=sha256, kind=kind, path=path, data=data)


def local_problems(field_name: str, source: Any, rules: ModelRules | None) -> list[Violation]:
    """The violations of one local image (empty when it may be uploaded)."""
    checked = inspect_local(field_name, source, rules)
    return checked if isinstance(checked, list) else []


def local_source(source: Any) -> LocalImage:
    """The checked image ``upload(source)`` sends: a path (a ``str`` is one here), bytes or a binary file.

    Raises:
        RequestValidationError: it is not a JPEG, PNG, GIF or WEBP the file host takes, or cannot be read.
    """
    from ._errors import RequestValidationError

    if isinstance(source, str):
        source = Path(source)
    if not is_local(source):
        limit = "a path, bytes or a binary file object"
        raise RequestValidationError([Violation("source", f"is {type(source).__name__}", limit)])
    checked = inspect_local("source", source, None)
    if isinstance(checked, list):
        raise RequestValidationError(checked)
    return checked
