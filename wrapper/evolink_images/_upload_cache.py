"""The same bytes are uploaded once: a client's uploads by content hash, while they have time left to live.

``UploadCache`` maps the SHA-256 of a local image's bytes to its ``UploadedFile``. A lookup returns
an upload only while it has at least ``REUSE_MARGIN`` left before it expires; an older one is
forgotten and the bytes are uploaded again. One lock per digest (a thread lock for ``Client``, an
anyio lock for ``AsyncClient``) makes concurrent requests with the same image (a batch's workers)
wait for the one upload in flight instead of each uploading it.

A batch with a journal works on a ``layer`` of the client's cache: uploads the journal recorded in
an earlier run are found there, and each new upload is handed to the journal (``on_upload``), so a
re-run does not upload again while the file is still valid.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import anyio

from ._file_host import UploadedFile

__all__ = ["UploadCache"]


class UploadCache:
    """Uploads by the SHA-256 of their bytes; thread-safe."""

    def __init__(
        self,
        parent: UploadCache | None = None,
        *,
        known: Iterable[UploadedFile] = (),
        on_upload: Callable[[UploadedFile], object] | None = None,
    ) -> None:
        self._parent = parent
        self._root: UploadCache = parent._root if parent is not None else self
        self._files: dict[str, UploadedFile] = {}
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._async_locks: dict[str, anyio.Lock] = {}
        self._on_upload = on_upload
        for uploaded in known:
            if uploaded.sha256 is not None:
                self._files[uploaded.sha256] = uploaded

    def layer(
        self, *, known: Iterable[UploadedFile] = (), on_upload: Callable[[UploadedFile], object] | None = None
    ) -> UploadCache:
        """A cache that also knows ``known`` and reports each new upload to ``on_upload``, over this one."""
        return UploadCache(self, known=known, on_upload=on_upload)

    def attach(self, known: Iterable[UploadedFile], on_upload: Callable[[UploadedFile], object]) -> None:
        """Add ``known`` uploads and report each new one to ``on_upload`` (a batch's journal, once open)."""
        with self._guard:
            for uploaded in known:
                if uploaded.sha256 is not None:
                    self._files[uploaded.sha256] = uploaded
            self._on_upload = on_upload

    def get(self, sha256: str) -> UploadedFile | None:
        """The upload of these bytes if it still has time to live, else None."""
        with self._guard:
            found = self._files.get(sha256)
            if found is not None and not found.reusable():
                del self._files[sha256]
                found = None
        if found is None and self._parent is not None:
            return self._parent.get(sha256)
        return found

    def put(self, uploaded: UploadedFile) -> None:
        """Remember a new upload (here and below), and report it."""
        if uploaded.sha256 is None:
            return
        with self._guard:
            self._files[uploaded.sha256] = uploaded
        if self._parent is not None:
            self._parent.put(uploaded)
        if self._on_upload is not None:
            self._on_upload(uploaded)

    def lock(self, sha256: str) -> threading.Lock:
        """The thread lock held while these bytes are being uploaded (shared by every layer)."""
        root = self._root
        with root._guard:
            return root._locks.setdefault(sha256, threading.Lock())

    def async_lock(self, sha256: str) -> anyio.Lock:
        """The anyio lock held while these bytes are being uploaded (shared by every layer)."""
        root = self._root
        with root._guard:
            return root._async_locks.setdefault(sha256, anyio.Lock())
