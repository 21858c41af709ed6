"""The batch journal: each item's state, written before the step it guards, so a re-run never pays twice.

A JSON-lines file. Line 1 is a header saying what the journal is and what it was made for (the
command line that created it); every other line records one item's new state, and an item's last
line wins. Items are named by content (``_batch_feed.item_identity``), never by position.

Lines of another kind record the uploads of local images (``{"upload": <SHA-256 of the bytes>,
"file_url", "expires_at", "file_id"}``), so that a re-run sends the same bytes again only once the
file host's copy is close to its expiry (72 hours after upload). They are appended as each upload
ends and made durable with the next record that must be: a crash in between costs one upload again
(a slot of the file quota), never a task.

States, in the only order allowed (see ``STATES``)::

    pending -> submitting (idempotency key; written before the POST) -> submitted (task id)
            -> finished (the terminal task, or the API's refusal) -> saved (the files)

Records are appended by one writer thread: callers get a ``Future`` that is set once the record is
on disk (written and fsynced). Records queued together share one fsync (group commit): safe, since
no caller goes on before its own record is durable. A failed write (full disk, a file size limit)
truncates the file back to what was acknowledged and breaks the journal for good: every later write
fails at once, so the batch stops before its next POST.

One process per journal: the file is locked (``fcntl.flock``) for as long as it is open. A torn
last line is a write that never completed (so the step it guarded never happened): it is dropped
with a warning. Damage anywhere else is refused with the line number, before anything is sent.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import queue
import stat
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from ._disk_index import DiskIndex
from ._errors import EvoLinkError

__all__ = [
    "STATES",
    "Journal",
    "JournalDamagedError",
    "JournalError",
    "JournalLockedError",
    "JournalWarning",
    "warn",
]

_T = TypeVar("_T")

FORMAT = "evolink-images batch journal"
VERSION = 3
"""Version 3 adds upload lines; a version-2 journal (no uploads) is read as it is."""
READABLE_VERSIONS = frozenset({2, 3})
STATES = ("pending", "submitting", "submitted", "finished", "saved")
"""Every state an item can be in, in the order an item moves through them."""


class JournalError(EvoLinkError):
    """Raised when the journal cannot be opened, read or written; the batch stops before its next POST."""


class JournalLockedError(JournalError):
    """Raised when another process holds the journal; nothing was sent."""


class JournalDamagedError(JournalError):
    """Raised when a journal line other than the last cannot be read; nothing was sent."""


class JournalWarning(UserWarning):
    """Issued for a torn last line that was dropped, and for entries no input item matched."""


def warn(warning: JournalWarning) -> None:
    """Issue ``warning`` at the caller's line: the first frame outside this package (``run_many``'s caller)."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level, frame = 1, sys._getframe(0)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(package):
        level, frame = level + 1, frame.f_back
    warnings.warn(warning, stacklevel=level)


def _entry(state: str, offset: int, seen: bool) -> int:
    """An item's last record packed in one int: where it starts, its state, whether this run matched it.

    A million items need a small index: an int per item, not an object.
    """
    return (offset << 4) | (STATES.index(state) << 1) | seen


_STOP = object()
MAX_LINE = 64 << 20
"""The longest journal line read (a record holds one task body, at most ``max_response_bytes``)."""


class Journal:
    """An exclusive, append-only, crash-safe record of each item's state.

    Args:
        path: the journal file (created with its header if missing).

    Raises:
        JournalLockedError: another process has it open.
        JournalDamagedError: a line other than the last is unreadable.
        JournalError: it cannot be opened or read (a folder, no permission, ...).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.entries = DiskIndex()
        """Each item's last record, packed by ``_entry``: on disk, so a million items cost no memory."""
        self.uploads: dict[str, dict[str, Any]] = {}
        """Each recorded upload's last line, by the SHA-256 of its bytes."""
        self.made_for: str | None = None
        self._broken: BaseException | None = None
        self._closed = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closing = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError as error:
            self.entries.close()
            raise JournalError(f"cannot open the journal {self.path}: {error.strerror or error}") from None
        try:
            if not stat.S_ISREG(os.fstat(self._fd).st_mode):  # a FIFO would hang the load, a device never end it
                raise JournalError(f"the journal {self.path} is not a regular file; nothing was sent")
            self._lock()
            self._size = self._load()
        except OSError as error:  # the index on disk: the journal file itself was read
            os.close(self._fd)
            self.entries.close()
            raise JournalError(f"cannot read the journal {self.path}: {error}; nothing was sent") from None
        except BaseException:
            os.close(self._fd)
            self.entries.close()
            raise
        self._writer = threading.Thread(target=self._write_loop, name="evolink-journal", daemon=True)
        self._writer.start()

    def _lock(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JournalLockedError(
                f"the journal {self.path} is in use by another process (one batch per journal); nothing was sent"
            ) from None

    def _load(self) -> int:
        """Read every record; drop a torn last line; write the header of a new journal. Return the size.

        Read a chunk at a time, so a journal of a million items costs neither its size nor its index in memory.
        """
        end = number = 0  # the offset after the last whole line; lines read
        tail = b""
        for chunk in iter(lambda: os.read(self._fd, 1 << 20), b""):
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            for line in lines:
                number += 1
                self._read_line(number, line, end)
                end += len(line) + 1
            if len(tail) > MAX_LINE:
                raise self._damaged(number + 1, f"a line longer than {MAX_LINE >> 20} MiB")
        if tail:
            warn(
                JournalWarning(
                    f"{self.path}: the last line was torn (a write that never completed, so the step it guarded"
                    f" never happened): ignored ({len(tail)} bytes)"
                )
            )
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)
        if end == 0:
            return self._write_header()
        return end

    def _damaged(self, number: int, why: str) -> JournalDamagedError:
        return JournalDamagedError(
            f"the journal {self.path} is damaged at line {number} ({why}); nothing was sent."
            " Move it aside to start afresh (items it recorded as submitted may then be paid twice)"
        )

    def _read_line(self, number: int, line: bytes, offset: int) -> None:
        def damaged(why: str) -> JournalDamagedError:
            return self._damaged(number, why)

        if number > 1 and not line.strip():  # a blank line (a hand edit) records nothing
            return
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise damaged("not a JSON line") from None
        if not isinstance(record, dict):
            raise damaged("not a JSON object")
        if number == 1:
            if record.get("journal") != FORMAT or record.get("version") not in READABLE_VERSIONS:
                raise damaged("not a version-2 or version-3 batch journal header")
            made_for = record.get("made_for")
            self.made_for = made_for if isinstance(made_for, str) else None
            return
        upload = record.get("upload")
        if isinstance(upload, str) and "item" not in record:
            self.uploads[upload] = record
            return
        item, state = record.get("item"), record.get("state")
        if not isinstance(item, str) or state not in STATES:
            raise damaged("no item or an unknown state")
        self.entries[item] = _entry(state, offset, seen=False)

    def _write_header(self) -> int:
        header = {
            "journal": FORMAT,
            "version": VERSION,
            # The program and the folder it ran in, never its arguments: a caller's own script may take
            # secrets on its command line, and the journal outlives the run.
            "made_for": f"{os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'python'} in {os.getcwd()}",
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        line = (json.dumps(header) + "\n").encode()
        try:
            os.write(self._fd, line)
            os.fsync(self._fd)
            # A new file's name is durable only once its folder is: fsync it too.
            folder = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError as error:
            raise JournalError(f"cannot write the journal {self.path}: {error.strerror or error}") from None
        self.made_for = str(header["made_for"])
        return len(line)

    def record(self, item: str) -> dict[str, Any] | None:
        """The last record of ``item`` (marking it as matched by this run's input), or None."""
        entry = self._entry_of(item)
        if entry is None:
            return None
        self._index(lambda: self.entries.__setitem__(item, entry | 1))
        record: dict[str, Any] = json.loads(self._read_at(entry >> 4))
        return record

    def state_of(self, item: str) -> str | None:
        """The last state recorded for ``item``, or None."""
        entry = self._entry_of(item)
        return None if entry is None else STATES[(entry >> 1) & 7]

    def _entry_of(self, item: str) -> int | None:
        return self._index(lambda: self.entries.get(item))

    def _index(self, use: Callable[[], _T]) -> _T:
        """``use()`` of the index, its failures as ``JournalError``."""
        try:
            return use()
        except ValueError:  # closed: a worker the stopped batch left behind learns it, as a write would
            raise self._failure() from None
        except OSError as error:
            raise JournalError(f"cannot use the journal {self.path}'s index: {error}; nothing more was sent") from None

    def _read_at(self, offset: int) -> bytes:
        chunks = []
        while True:
            chunk = os.pread(self._fd, 4096, offset)
            newline = chunk.find(b"\n")
            if newline >= 0 or not chunk:
                chunks.append(chunk[: newline if newline >= 0 else len(chunk)])
                return b"".join(chunks)
            chunks.append(chunk)
            offset += len(chunk)

    def unmatched(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Entries that no item of this run's input matched, with their last record."""
        try:
            for item, entry in self.entries.where_bit_clear(1):
                yield item, json.loads(self._read_at(entry >> 4))
        except OSError as error:
            raise JournalError(f"cannot read the journal {self.path}: {error}") from None

    def write(self, item: str, state: str, **fields: Any) -> Future[None]:
        """Queue a record; the future is set once it is durable (or fails with ``JournalError``)."""
        line = (json.dumps({"item": item, "state": state, **fields}, separators=(",", ":")) + "\n").encode()
        return self._queue_line(item, state, line)

    def write_upload(self, sha256: str, **fields: Any) -> Future[None]:
        """Queue the record of an upload (its ``file_url`` and ``expires_at``), by the SHA-256 of its bytes."""
        record = {"upload": sha256, **fields}
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        self.uploads[sha256] = record
        return self._queue_line(None, "", line)

    def _queue_line(self, item: str | None, state: str, line: bytes) -> Future[None]:
        future: Future[None] = Future()
        with self._closing:
            if self._broken is None and not self._closed:
                self._queue.put((item, state, line, future))
                return future
        future.set_exception(self._failure())
        return future

    def failure(self) -> JournalError | None:
        """The error that broke the journal, if any write failed."""
        return self._failure() if self._broken is not None else None

    def _failure(self) -> JournalError:
        if self._broken is not None:
            why = self._broken.strerror if isinstance(self._broken, OSError) else None
            return JournalError(
                f"the journal {self.path} cannot be written ({why or self._broken}); the batch stopped and"
                " nothing more was sent. Free the space (or fix the file) and re-run to resume"
            )
        return JournalError(f"the journal {self.path} is closed; nothing more is sent")

    def _write_loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(entry is _STOP for entry in batch)
            records = [entry for entry in batch if entry is not _STOP]
            if records:
                self._commit(records)
            if stop:
                return

    def _commit(self, records: list[tuple[str | None, str, bytes, Future[None]]]) -> None:
        if self._broken is None:
            data = b"".join(line for _, _, line, _ in records)
            try:
                written = 0
                while written < len(data):
                    written += os.write(self._fd, data[written:])
                os.fsync(self._fd)
                offset = self._size
                for item, state, line, _ in records:
                    if item is not None:  # an upload line is not an item's state
                        self.entries[item] = _entry(state, offset, seen=True)
                    offset += len(line)
            except OSError as error:  # the disk, or the index on disk (its temporary folder full)
                self._broken = error
                # Take back any partial write, so the file holds exactly what was acknowledged.
                # If even that fails, the next open drops the remnant as a torn last line.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
            else:
                self._size = offset
        for _, _, _, future in records:
            if future.done():  # cancelled by its waiter (a cancelled asyncio task): the record stands
                continue
            if self._broken is None:
                future.set_result(None)
            else:
                future.set_exception(self._failure())

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Write what is queued, stop the writer, release the lock. Later writes fail."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._writer.join()
        os.close(self._fd)
        self.entries.close()
