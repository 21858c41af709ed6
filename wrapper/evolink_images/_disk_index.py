"""A ``str -> int`` mapping kept on disk, so that a batch's memory does not grow with its items.

A journaled batch needs two lookups per item: the journal's record of each item it knows
(``_journal.Journal``) and, while reading the input, how many identical requests came before
(``_batch_feed.Feed``). In ``dict``s they cost about 0.4 KiB per item: 400 MiB for a file of a
million lines. ``DiskIndex`` keeps them in SQLite's private temporary database (``connect("")``):
a page cache of a few MiB in memory, the rest in a file that SQLite deletes itself when the index
is closed or garbage-collected, or the process ends, even when killed (the file is unlinked while
open). Nothing in it needs to survive a crash: the journal file is the record, and the index is
rebuilt from it. Once closed, every call raises ``ValueError``; when SQLite fails (its temporary
folder is full, say), every call raises ``OSError``, which the journal treats as a write it could
not make.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["DiskIndex"]

_CACHE_KIB = 512
"""SQLite's page cache for one index: what it may keep in memory, whatever the number of keys."""


class DiskIndex:
    """A ``str -> int`` mapping in a private temporary SQLite database; safe to share between threads."""

    def __init__(self) -> None:
        # isolation_level=None: each statement is its own transaction, and a temporary database has
        # no journal file and no fsync to pay for it.
        self._db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._closed = False
        self._db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("CREATE TABLE entries (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID")

    def _run(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        """Run one statement (under the lock) and return its rows."""
        if self._closed:
            raise ValueError("the index is closed")
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise OSError(f"the batch's index on disk (SQLite's temporary folder) failed: {error}") from None

    def get(self, key: str) -> int | None:
        """The value of ``key``, or None."""
        with self._lock:
            rows = self._run("SELECT value FROM entries WHERE key = ?", (key,))
        return int(rows[0][0]) if rows else None

    def __setitem__(self, key: str, value: int) -> None:
        with self._lock:
            self._run("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)", (key, value))

    def increment(self, key: str) -> int:
        """Add one to ``key``'s value (0 when absent) and return the new value."""
        with self._lock:
            self._run(
                "INSERT INTO entries (key, value) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET value = value + 1",
                (key,),
            )
            rows = self._run("SELECT value FROM entries WHERE key = ?", (key,))
        return int(rows[0][0])

    def where_bit_clear(self, bit: int) -> Iterator[tuple[str, int]]:
        """Every ``(key, value)`` whose ``value`` has ``bit`` clear, read a page at a time."""
        after = ""
        while True:
            with self._lock:
                rows = self._run(
                    "SELECT key, value FROM entries WHERE key > ? AND (value & ?) = 0 ORDER BY key LIMIT 256",
                    (after, bit),
                )
            if not rows:
                return
            for key, value in rows:
                yield str(key), int(value)
            after = str(rows[-1][0])

    def __len__(self) -> int:
        with self._lock:
            return int(self._run("SELECT count(*) FROM entries")[0][0])

    def close(self) -> None:
        """Drop the index (SQLite deletes its file)."""
        with self._lock:
            self._closed = True
            self._db.close()
