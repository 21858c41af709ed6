"""The batch journal: one process at a time, torn and damaged lines, a disk that fills up, group commit."""

from __future__ import annotations

import datetime
import errno
import json
import os
import stat
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
    # Nothing is sent twice unasked. An item whose "submitting" record was durable when the disk filled
    # is uncertain: its POST may have gone (its "submitted" record refused) or been withheld by the
    # stop; which one depends on timing, so only the sum is fixed.
    outcomes = [result.outcome for result in results]
    assert set(outcomes) <= {"done", "uncertain"}
    assert outcomes.count("done") <= fake.created <= len(REQUESTS)
    # Sent again when asked, each with the key on record (a gateway that honours it replays the task;
    # the fake does not, so it may count one task more per uncertain item it had received).
    again = run_many(fake, path, concurrency=2, resend_uncertain=True)
    assert [result.outcome for result in again] == ["done"] * len(REQUESTS)
    keys = [request.idempotency_key for request in fake.recorded if request.method == "POST"]
    assert len(set(keys)) == len(REQUESTS)  # one key per item across the three runs
    assert fake.created <= len(REQUESTS) + outcomes.count("uncertain")


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


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_header_is_written_once_in_this_exact_shape_and_read_back_on_reopening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["/usr/bin/edit.py"])
    path = tmp_path / "deep" / "j.jsonl"  # its folder is made
    with Journal(path) as journal:
        assert journal.made_for == f"edit.py in {os.getcwd()}"
    [header] = lines_of(path)
    assert list(header) == ["journal", "version", "made_for", "created"]
    assert header["journal"] == "evolink-images batch journal"
    assert header["version"] == 3
    assert header["made_for"] == f"edit.py in {os.getcwd()}"
    created = datetime.datetime.fromisoformat(header["created"])
    assert created.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.UTC) - created).total_seconds()) < 60
    assert len(header["created"]) == len("2026-01-01T00:00:00+00:00")  # to the second
    monkeypatch.setattr("sys.argv", [])
    with Journal(path) as journal:
        assert journal.made_for == f"edit.py in {os.getcwd()}"  # read back, not written again
    assert len(lines_of(path)) == 1


@pytest.mark.parametrize("argv", [[], [""]])
def test_a_program_without_a_name_is_recorded_as_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setattr("sys.argv", argv)
    with Journal(tmp_path / "j.jsonl") as journal:
        assert journal.made_for == f"python in {os.getcwd()}"


def test_a_header_without_a_text_made_for_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"journal": "evolink-images batch journal", "version": 2, "made_for": 7}\n')
    with Journal(path) as journal:
        assert journal.made_for is None
        assert len(journal.entries) == 0


@pytest.mark.parametrize(
    "header",
    [
        '{"journal": "evolink-images batch journal", "version": 1}',
        '{"journal": "evolink-images batch journal", "version": 4}',
        '{"journal": "another journal", "version": 2}',
    ],
)
def test_a_header_of_another_format_or_version_is_refused_with_the_whole_message(tmp_path: Path, header: str) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(header + "\n")
    with pytest.raises(JournalDamagedError) as caught:
        Journal(path)
    assert str(caught.value) == (
        f"the journal {path} is damaged at line 1 (not a version-2 or version-3 batch journal header);"
        " nothing was sent."
        " Move it aside to start afresh (items it recorded as submitted may then be paid twice)"
    )


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"not json", "not a JSON line"),
        (b'"text"', "not a JSON object"),
        (b'{"state":"pending"}', "no item or an unknown state"),
        (b'{"item":"a#1","state":"paid"}', "no item or an unknown state"),
        (b'{"item":"a#1"}', "no item or an unknown state"),
    ],
)
def test_each_kind_of_damage_names_its_line_and_reason(tmp_path: Path, line: bytes, why: str) -> None:
    path = tmp_path / "j.jsonl"
    Journal(path).close()
    with path.open("ab") as handle:
        handle.write(b'{"item":"a#1","state":"pending"}\n' + line + b"\n")
    with pytest.raises(
        JournalDamagedError, match=rf"^the journal .* is damaged at line 3 \({why}\); nothing was sent\."
    ):
        Journal(path)


def test_every_state_is_read_back_as_written_and_each_items_last_record_wins(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        for number, state in enumerate(STATES):
            journal.write(f"item#{number}", state, n=number).result()
        journal.write("item#0", "saved", n=99).result()
        assert journal.state_of("item#0") == "saved"
        assert journal.state_of("nothing#1") is None
    assert STATES == ("pending", "submitting", "submitted", "finished", "saved")
    with Journal(path) as journal:
        assert len(journal.entries) == 5
        assert {item: journal.state_of(item) for item in [f"item#{number}" for number in range(5)]} == {
            "item#0": "saved",
            "item#1": "submitting",
            "item#2": "submitted",
            "item#3": "finished",
            "item#4": "saved",
        }
        assert journal.record("item#0") == {"item": "item#0", "state": "saved", "n": 99}
        assert journal.record("item#3") == {"item": "item#3", "state": "finished", "n": 3}
        assert journal.record("nothing#1") is None
        assert [(item, record["n"]) for item, record in journal.unmatched()] == [
            ("item#1", 1),
            ("item#2", 2),
            ("item#4", 4),
        ]


def test_a_record_longer_than_one_read_is_read_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    big = "x" * 10_000
    with Journal(path) as journal:
        journal.write("a#1", "finished", note=big).result()
        journal.write("b#1", "pending").result()
    with Journal(path) as journal:
        assert journal.record("a#1") == {"item": "a#1", "state": "finished", "note": big}
        assert journal.record("b#1") == {"item": "b#1", "state": "pending"}


def test_records_written_in_this_run_count_as_matched_and_are_read_back_at_their_offsets(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.jsonl") as journal:
        journal.write("a#1", "pending", n=1).result()
        journal.write("b#1", "submitted", n=2).result()
        assert list(journal.unmatched()) == []
        assert journal.record("b#1") == {"item": "b#1", "state": "submitted", "n": 2}
        assert journal.record("a#1") == {"item": "a#1", "state": "pending", "n": 1}
        assert journal.failure() is None


def test_a_torn_line_warning_says_how_many_bytes_were_dropped(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    Journal(path).close()
    with path.open("ab") as handle:
        handle.write(b'{"item":')
    with pytest.warns(JournalWarning) as caught:
        Journal(path).close()
    assert str(caught[0].message) == (
        f"{path}: the last line was torn (a write that never completed, so the step it guarded never happened):"
        " ignored (8 bytes)"
    )
    assert path.read_bytes().endswith(b"}\n")


def test_a_torn_first_line_leaves_a_new_journal_with_its_header(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"jour')
    with pytest.warns(JournalWarning, match=r"ignored \(6 bytes\)"), Journal(path) as journal:
        assert journal.made_for
    [header] = lines_of(path)
    assert header["journal"] == "evolink-images batch journal"


def test_the_lock_and_open_errors_say_which_journal_and_that_nothing_was_sent(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path), pytest.raises(JournalLockedError) as caught:
        Journal(path)
    assert str(caught.value) == (
        f"the journal {path} is in use by another process (one batch per journal); nothing was sent"
    )
    with pytest.raises(JournalError) as opened:
        Journal(tmp_path)
    assert str(opened.value) == f"cannot open the journal {tmp_path}: Is a directory"


def test_a_closed_journal_refuses_writes_with_its_path_and_closing_twice_is_harmless(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.close()
    journal.close()
    error = journal.write("a#1", "pending").exception(timeout=1)
    assert isinstance(error, JournalError)
    assert str(error) == f"the journal {path} is closed; nothing more is sent"
    assert journal.failure() is None


def test_a_failed_write_breaks_the_journal_for_good_and_keeps_only_what_was_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.write("a#1", "pending").result()
    monkeypatch.setattr(_journal, "os", _FillingDisk(room=0))
    error = journal.write("b#1", "pending").exception(timeout=5)
    monkeypatch.undo()
    expected = (
        f"the journal {path} cannot be written (No space left on device); the batch stopped and"
        " nothing more was sent. Free the space (or fix the file) and re-run to resume"
    )
    assert isinstance(error, JournalError)
    assert str(error) == expected
    assert str(journal.failure()) == expected
    later = journal.write("c#1", "pending").exception(timeout=1)  # fails at once, written or not
    assert str(later) == expected
    journal.close()
    assert [record["item"] for record in lines_of(path)[1:]] == ["a#1"]
    assert path.read_bytes().endswith(b"\n")


def counting_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Patch the journal's ``os`` so each fsync is recorded as "file" or "folder"."""
    synced: list[str] = []
    counting = types.SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})

    def fsync(fd: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        os.fsync(fd)

    counting.fsync = fsync
    monkeypatch.setattr(_journal, "os", counting)
    return synced


def test_a_new_journal_fsyncs_its_header_then_its_folder_and_each_record_before_acknowledging_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = counting_fsyncs(monkeypatch)
    with Journal(tmp_path / "j.jsonl") as journal:
        assert synced == ["file", "folder"]
        journal.write("a#1", "pending").result()
        assert synced == ["file", "folder", "file"]
    with Journal(tmp_path / "j.jsonl"):
        assert synced == ["file", "folder", "file"]  # an existing journal: nothing written


def test_a_torn_line_is_cut_off_durably(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "j.jsonl"
    Journal(path).close()
    size = path.stat().st_size
    with path.open("ab") as handle:
        handle.write(b'{"item"')
    synced = counting_fsyncs(monkeypatch)
    with pytest.warns(JournalWarning):
        Journal(path).close()
    assert synced == ["file"]
    assert path.stat().st_size == size


def test_a_new_journal_is_readable_by_all_and_writable_by_its_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        Journal(tmp_path / "j.jsonl").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "j.jsonl").stat().st_mode) == 0o644
