"""The batch journal: one process at a time, torn and damaged lines, a disk that fills up, group commit."""

from __future__ import annotations

import errno
import json
import os
import time
import types
from pathlib import Path
from typing import Any

import httpx
import pytest

from evolink_images import (
    Client,
    JournalDamagedError,
    JournalError,
    JournalLockedError,
    JournalWarning,
    WanImageToImage,
    _journal,
)
from evolink_images._journal import STATES, Journal
from evolink_images.testing.fake import FakeEvoLink, TaskPlan

REQUESTS = [WanImageToImage(f"edit {i}", ["https://example.com/a.png"]) for i in range(8)]


def run_many(fake: FakeEvoLink, journal: Path, **options: Any) -> Any:
    with fake.client() as client:
        return client.run_many(REQUESTS, journal=journal, **options)


def test_a_new_journal_starts_with_a_header_saying_what_it_was_made_for(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.jsonl") as journal:
        journal.write("a#1", "pending").result()
    header, record = map(json.loads, (tmp_path / "j.jsonl").read_text().splitlines())
    assert header["journal"] == "evolink-images batch journal"
    assert header["version"] == 3  # 3 adds upload lines; 2 is still read
    assert header["made_for"]
    assert record == {"item": "a#1", "state": "pending"}


def test_the_header_names_the_program_but_never_its_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["/opt/app/edit-photos.py", "--db-password", "hunter2"])
    with Journal(tmp_path / "j.jsonl") as journal:
        journal.write("a#1", "pending").result()
    header = json.loads((tmp_path / "j.jsonl").read_text().splitlines()[0])
    assert header["made_for"].startswith("edit-photos.py in ")
    assert "hunter2" not in (tmp_path / "j.jsonl").read_text()


def test_a_second_opener_is_refused_at_once_and_the_lock_goes_with_the_first(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path):
        started = time.monotonic()
        with pytest.raises(JournalLockedError, match="in use by another process"):
            Journal(path)
        assert time.monotonic() - started < 1
    Journal(path).close()


def test_a_batch_on_a_journal_in_use_sends_nothing(tmp_path: Path) -> None:
    fake = FakeEvoLink()
    with Journal(tmp_path / "j.jsonl"), pytest.raises(JournalLockedError):
        run_many(fake, tmp_path / "j.jsonl")
    assert fake.requests == []


def test_a_torn_last_line_is_ignored_with_a_warning_and_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.write("a#1", "submitting", idempotency_key="k" * 20).result()
    with path.open("ab") as handle:
        handle.write(b'{"item":"a#1","state":"submi')
    with pytest.warns(JournalWarning, match="last line was torn"):
        journal = Journal(path)
    with journal:
        assert journal.state_of("a#1") == "submitting"
        journal.write("a#1", "submitted", task_id="t").result()
    assert [json.loads(line)["state"] for line in path.read_text().splitlines()[1:]] == ["submitting", "submitted"]


def test_damage_before_the_last_line_is_refused_with_its_number_and_nothing_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        for state in STATES[:3]:
            journal.write("a#1", state).result()
    lines = path.read_bytes().split(b"\n")
    damage = [(b"\xff\xfe", "not a JSON line"), (b"[1]", "not a JSON object"), (b'{"item":1}', "no item or an")]
    for junk, why in damage:
        path.write_bytes(b"\n".join([*lines[:2], junk, *lines[3:]]))
        with pytest.raises(JournalDamagedError, match=f"damaged at line 3 \\({why}"):
            Journal(path)
    fake = FakeEvoLink()
    with pytest.raises(JournalDamagedError):
        run_many(fake, path)
    assert fake.requests == []


def test_a_journal_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"key": "0-abc", "state": "done"}\n')
    with pytest.raises(JournalDamagedError, match=r"line 1 \(not a version-2 or version-3 batch journal header"):
        Journal(path)


def test_a_journal_that_cannot_be_opened_stops_the_batch_before_anything_is_sent(tmp_path: Path) -> None:
    fake = FakeEvoLink()
    (tmp_path / "folder").mkdir()
    with pytest.raises(JournalError, match="cannot open the journal"):
        run_many(fake, tmp_path / "folder")
    assert fake.requests == []


class _FillingDisk(types.SimpleNamespace):
    """``os`` for the journal module, but ``write`` fails with ENOSPC after ``room`` calls."""

    def __init__(self, room: int) -> None:
        super().__init__(**{name: getattr(os, name) for name in dir(os) if name not in {"write", "__dict__"}})
        self.room = room

    def write(self, fd: int, data: bytes) -> int:
        self.room -= 1
        if self.room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data[: len(data) // 2] if self.room == 0 else data)  # the last one torn


def test_a_full_disk_stops_the_batch_before_its_next_post_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    path = tmp_path / "j.jsonl"
    Journal(path).close()
    monkeypatch.setattr(_journal, "os", _FillingDisk(room=2))
    started = time.monotonic()
    with pytest.raises(JournalError, match=r"cannot be written \(No space left on device\); the batch stopped"):
        run_many(fake, path, concurrency=2)
    assert time.monotonic() - started < 5
    monkeypatch.undo()
    submitting = [line for line in path.read_text().splitlines() if '"submitting"' in line]
    assert fake.posts() <= len(submitting)  # every POST had its durable "submitting" record first
    assert path.read_bytes().endswith(b"\n")  # the torn write was taken back
    results = run_many(fake, path, concurrency=2)
    # Each item was sent once: those whose "submitted" record the full disk refused are reported uncertain.
    assert fake.created == len(REQUESTS)
    assert {result.outcome for result in results} <= {"done", "uncertain"}


def test_records_queued_together_share_one_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs: list[int] = []
    counting = types.SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
    counting.fsync = lambda fd: syncs.append(fd)
    with Journal(tmp_path / "j.jsonl") as journal:
        monkeypatch.setattr(_journal, "os", counting)
        futures = [journal.write(f"item#{n}", "pending") for n in range(200)]
        for future in futures:
            future.result()
    assert len(syncs) < 200
    assert len((tmp_path / "j.jsonl").read_text().splitlines()) == 201


def test_writes_after_close_fail_rather_than_hang(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.write("a#1", "pending").result(timeout=1)


def test_a_journal_of_an_earlier_version_of_a_client_is_not_silently_used(tmp_path: Path) -> None:
    fake = FakeEvoLink()
    path = tmp_path / "j.jsonl"
    path.write_text('{"key": "0-0123", "state": "submitted", "task_id": "t"}\n{"key": "1-4567", "state": "done"}\n')
    client = Client(fake.api_key, base_url=fake.base_url, transport=httpx.MockTransport(fake.handler))
    with client, pytest.raises(JournalDamagedError, match="line 1"):
        client.run_many(REQUESTS, journal=path)
    assert fake.requests == []
