"""The batch journal: an append-only record of each item's state, so that a re-run never pays twice.

One JSON object per line (``key``, ``state`` and what the state needs), flushed and fsynced before
the batch goes on; the last line of an item wins. States: ``new``, ``submitting`` (a POST is on its
way: a task may exist), ``submitted`` (with ``task_id``), ``done`` (with the task or the error).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from ._requests import ImageEditRequest, to_api_body

__all__ = ["Journal", "item_key"]


def item_key(index: int, request: ImageEditRequest) -> str:
    """A stable name for an item: its position and a digest of its body."""
    body = json.dumps(to_api_body(request).to_dict(), sort_keys=True).encode()
    return f"{index}-{hashlib.sha256(body).hexdigest()[:16]}"


class Journal:
    """An append-only JSON-lines record of each item's state; the last line of an item wins."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self._state: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if self.path is not None and self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    self._state[record["key"]] = record

    def state(self, key: str) -> dict[str, Any]:
        """The last record of ``key`` (``{"state": "new"}`` if none)."""
        return self._state.get(key, {"state": "new"})

    def write(self, key: str, state: str, **fields: Any) -> None:
        """Record a state change, durably, before going on."""
        record = {"key": key, "state": state, **fields}
        with self._lock:
            self._state[key] = record
            if self.path is None:
                return
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
