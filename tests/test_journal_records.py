"""The journal's records as read back from its file (uploads, blank lines, its line limit); its errors word for word."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import sys
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from evolink_images import JournalDamagedError, JournalError, JournalWarning, WanImageToImage, _journal
from evolink_images._disk_index import DiskIndex
from evolink_images._file_host import parse_time
from evolink_images._journal import Journal
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan

MIB = 1024 * 1024
LONGEST_LINE = 64 * MIB  # "a line longer than 64 MiB" is refused
DAMAGED_TAIL = "nothing was sent. Move it aside to start afresh (items it recorded as submitted may then be paid twice)"
INDEX_FULL = "the batch's index on disk (SQLite's temporary folder) failed: database or disk is full"
DIGEST = hashlib.sha256(b"a picture").hexdigest()
OTHER_DIGEST = hashlib.sha256(b"another picture").hexdigest()
FILE_URL = "https://files.evolink.ai/uploads/file-1/a.png"


def lines_of(path: Path) -> list[dict[str, Any]]:
    """Every line the journal wrote, parsed: a line that is not one JSON object fails the test."""
    return [json.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]


def os_with(**replaced: Any) -> types.SimpleNamespace:
    """The journal module's ``os``, with some functions replaced."""
    names = {name: getattr(os, name) for name in dir(os) if not name.startswith("__")}
    return types.SimpleNamespace(**{**names, **replaced})


@dataclass
class Indexes:
    """Every index the journal made in a test; ``failing`` makes each call fail as SQLite does on a full disk."""

    made: list[DiskIndex] = field(default_factory=list)
    failing: bool = False


def is_closed(index: DiskIndex) -> bool:
    """A closed index raises ``ValueError`` on every call (``_disk_index``'s promise)."""
    try:
        index.get("a#1")
    except ValueError:
        return True
    return False


@pytest.fixture
def indexes(monkeypatch: pytest.MonkeyPatch) -> Indexes:
    seen = Indexes()

    class Watched(DiskIndex):
        def __init__(self) -> None:
            super().__init__()
            seen.made.append(self)

        def _fail(self) -> None:
            if seen.failing:
                raise OSError(INDEX_FULL)

        def get(self, key: str) -> int | None:
            self._fail()
            return super().get(key)

        def __setitem__(self, key: str, value: int) -> None:
            self._fail()
            super().__setitem__(key, value)

        def where_bit_clear(self, bit: int) -> Iterator[tuple[str, int]]:
            self._fail()
            yield from super().where_bit_clear(bit)

    monkeypatch.setattr(_journal, "DiskIndex", Watched)
    return seen


def test_an_upload_is_one_json_line_acknowledged_once_durable(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    fields = {"file_url": FILE_URL, "expires_at": "2026-01-04T00:00:00+00:00", "file_id": "file-1"}
    with Journal(path) as journal:
        written = journal.write_upload(DIGEST, **fields)
        assert written.result(timeout=5) is None
        assert journal.uploads == {DIGEST: {"upload": DIGEST, **fields}}
        header, upload = lines_of(path)  # on disk before the journal is closed
    assert header["journal"] == "evolink-images batch journal"
    assert upload == {"upload": DIGEST, **fields}
    assert list(upload) == ["upload", "file_url", "expires_at", "file_id"]


def test_recorded_uploads_are_read_back_on_reopening_the_last_line_of_each_winning(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.write("a#1", "submitting", idempotency_key="k1").result(timeout=5)
        journal.write_upload(DIGEST, file_url=FILE_URL, expires_at="2026-01-01T00:00:00+00:00").result(timeout=5)
        journal.write_upload(OTHER_DIGEST, file_url="https://files.evolink.ai/b.png").result(timeout=5)
        journal.write_upload(DIGEST, file_url=FILE_URL, expires_at="2026-01-04T00:00:00+00:00").result(timeout=5)
        journal.write("a#1", "submitted", task_id="task-1").result(timeout=5)
    written = lines_of(path)[1:]
    assert [line.get("item", line.get("upload")) for line in written] == ["a#1", DIGEST, OTHER_DIGEST, DIGEST, "a#1"]
    with Journal(path) as journal:
        assert journal.uploads == {
            DIGEST: {"upload": DIGEST, "file_url": FILE_URL, "expires_at": "2026-01-04T00:00:00+00:00"},
            OTHER_DIGEST: {"upload": OTHER_DIGEST, "file_url": "https://files.evolink.ai/b.png"},
        }
        assert len(journal.entries) == 1  # an upload line is not an item
        assert journal.state_of("a#1") == "submitted"
        assert journal.record("a#1") == {"item": "a#1", "state": "submitted", "task_id": "task-1"}


def test_a_line_naming_an_item_is_that_items_record_even_when_it_also_names_an_upload(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.write("a#1", "finished", upload=DIGEST).result(timeout=5)
    assert lines_of(path)[1] == {"item": "a#1", "state": "finished", "upload": DIGEST}
    with Journal(path) as journal:
        assert journal.uploads == {}
        assert journal.state_of("a#1") == "finished"
        assert journal.record("a#1") == {"item": "a#1", "state": "finished", "upload": DIGEST}


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 400), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_rerun_in_a_new_client_sends_the_url_its_journal_recorded_instead_of_uploading_again(tmp_path: Path) -> None:
    fake = FakeEvoLink(clock=FakeClock(now=1000.0), plan=TaskPlan(duration=0))
    data = png()
    path = tmp_path / "batch.jsonl"
    with fake.client() as client:
        [first] = client.run_many([WanImageToImage("night", [data])], journal=path, timeout=30)
    assert first.outcome == "done"
    assert fake.file_host.uploads == 1
    [upload] = [line for line in lines_of(path)[1:] if "item" not in line]
    assert upload["upload"] == hashlib.sha256(data).hexdigest()
    assert upload["file_url"].startswith(f"{fake.files_url}/uploads/")
    assert parse_time(upload["expires_at"]) is not None
    assert isinstance(upload["file_id"], str)
    with fake.client() as client:  # its own uploads: only the journal knows the picture was sent
        results = client.run_many(
            [WanImageToImage("night", [data]), WanImageToImage("snow", [data])], journal=path, timeout=30
        )
    assert [result.outcome for result in results] == ["done", "done"]
    assert fake.file_host.uploads == 1
    posts = [request.json for request in fake.recorded if request.path == "/v1/images/generations"]
    assert [(post["prompt"], post["image_urls"]) for post in posts] == [
        ("night", [upload["file_url"]]),
        ("snow", [upload["file_url"]]),
    ]
    assert [line for line in lines_of(path)[1:] if "item" not in line] == [upload]  # not recorded again


def journal_of_two_items(path: Path) -> bytes:
    with Journal(path) as journal:
        journal.write("a#1", "pending", index=0).result(timeout=5)
        journal.write("b#1", "submitted", index=1, task_id="task-1").result(timeout=5)
    return path.read_bytes()


def test_blank_lines_after_the_header_record_nothing_and_every_record_is_read_at_its_place(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    header, first, second, _ = journal_of_two_items(path).split(b"\n")
    path.write_bytes(b"\n".join([header, b"", first, b"   ", second, b"\t", b""]))  # blank lines 2, 4 and 6
    with Journal(path) as journal:
        assert journal.record("a#1") == {"item": "a#1", "state": "pending", "index": 0}
        assert journal.record("b#1") == {"item": "b#1", "state": "submitted", "index": 1, "task_id": "task-1"}
        journal.write("a#1", "submitting", index=0, idempotency_key="k").result(timeout=5)
        assert journal.record("a#1") == {"item": "a#1", "state": "submitting", "index": 0, "idempotency_key": "k"}


def test_a_journal_whose_first_line_is_blank_is_refused_as_damaged_at_line_1(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"\n" + journal_of_two_items(path))
    with pytest.raises(JournalDamagedError) as caught:
        Journal(path)
    assert str(caught.value) == f"the journal {path} is damaged at line 1 (not a JSON line); {DAMAGED_TAIL}"


@pytest.fixture
def whole_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads as large as the file: a 64 MiB line read 1 MiB at a time takes seconds, whatever the limit."""
    monkeypatch.setattr(_journal, "os", os_with(read=lambda fd, size: os.read(fd, max(size, os.fstat(fd).st_size))))


def with_last_line_of(path: Path, size: int) -> int:
    """Give ``path`` an unfinished last line of ``size`` bytes (sparse: no disk used); return its size before."""
    before = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(before + size)
    return before


@pytest.mark.usefixtures("whole_reads")
def test_a_torn_last_line_of_exactly_64_mib_is_dropped_like_any_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal_of_two_items(path)
    before = with_last_line_of(path, LONGEST_LINE)
    with pytest.warns(JournalWarning) as caught, Journal(path) as journal:
        assert journal.state_of("b#1") == "submitted"
    assert [str(warning.message) for warning in caught] == [
        f"{path}: the last line was torn (a write that never completed, so the step it guarded never happened):"
        " ignored (67108864 bytes)"
    ]
    assert path.stat().st_size == before


@pytest.mark.usefixtures("whole_reads")
def test_a_last_line_longer_than_64_mib_is_refused_with_its_number_and_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal_of_two_items(path)
    before = with_last_line_of(path, LONGEST_LINE + 1)
    with pytest.raises(JournalDamagedError) as caught:
        Journal(path)
    assert str(caught.value) == f"the journal {path} is damaged at line 4 (a line longer than 64 MiB); {DAMAGED_TAIL}"
    assert path.stat().st_size == before + LONGEST_LINE + 1  # refused, not cut


def test_a_journal_that_cannot_be_opened_closes_the_index_it_made(tmp_path: Path, indexes: Indexes) -> None:
    with pytest.raises(JournalError) as caught:
        Journal(tmp_path)
    assert str(caught.value) == f"cannot open the journal {tmp_path}: Is a directory"
    assert len(indexes.made) == 1
    assert is_closed(indexes.made[0])


def test_a_journal_that_is_not_a_regular_file_is_refused_word_for_word_and_its_index_closed(
    tmp_path: Path, indexes: Indexes
) -> None:
    path = tmp_path / "j.fifo"
    os.mkfifo(path)
    with pytest.raises(JournalError) as caught:
        Journal(path)
    assert str(caught.value) == f"the journal {path} is not a regular file; nothing was sent"
    assert len(indexes.made) == 1
    assert is_closed(indexes.made[0])


def test_a_journal_that_cannot_be_read_says_so_releases_its_lock_and_closes_its_index(
    tmp_path: Path, indexes: Indexes, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.jsonl"
    journal_of_two_items(path)

    def read(fd: int, size: int) -> bytes:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(_journal, "os", os_with(read=read))
    with pytest.raises(JournalError) as caught:
        Journal(path)
    assert str(caught.value) == f"cannot read the journal {path}: [Errno 5] Input/output error; nothing was sent"
    assert is_closed(indexes.made[-1])
    monkeypatch.setattr(_journal, "os", os)
    with Journal(path) as journal:  # the lock went with the failed open: not "in use by another process"
        assert journal.state_of("b#1") == "submitted"


def test_an_index_that_fails_while_the_journal_is_read_stops_the_open_word_for_word(
    tmp_path: Path, indexes: Indexes
) -> None:
    path = tmp_path / "j.jsonl"
    journal_of_two_items(path)
    indexes.failing = True
    with pytest.raises(JournalError) as caught:
        Journal(path)
    assert str(caught.value) == f"cannot read the journal {path}: {INDEX_FULL}; nothing was sent"
    indexes.failing = False
    assert is_closed(indexes.made[-1])
    with Journal(path) as journal:
        assert journal.state_of("a#1") == "pending"


def test_an_index_that_fails_after_opening_stops_lookups_and_the_unmatched_report_word_for_word(
    tmp_path: Path, indexes: Indexes
) -> None:
    path = tmp_path / "j.jsonl"
    journal_of_two_items(path)
    with Journal(path) as journal:
        indexes.failing = True
        for look_up in (lambda: journal.state_of("a#1"), lambda: journal.record("b#1")):
            with pytest.raises(JournalError) as caught:
                look_up()
            assert str(caught.value) == f"cannot use the journal {path}'s index: {INDEX_FULL}; nothing more was sent"
        with pytest.raises(JournalError) as unmatched:
            list(journal.unmatched())
        assert str(unmatched.value) == f"cannot read the journal {path}: {INDEX_FULL}"
        indexes.failing = False
        assert [item for item, _ in journal.unmatched()] == ["a#1", "b#1"]


def test_the_journals_warnings_point_at_the_line_that_called_run_many(tmp_path: Path) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=0))
    journal = tmp_path / "batch.jsonl"
    first, second = (
        WanImageToImage("a", ["https://example.com/a.png"]),
        WanImageToImage("b", ["https://example.com/b.png"]),
    )
    with fake.client() as client:
        client.run_many([first], journal=journal, timeout=30)
    with journal.open("ab") as torn:
        torn.write(b'{"item": "half a line')
    with fake.client() as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        called_at = sys._getframe().f_lineno + 1
        client.run_many([second], journal=journal, timeout=30)  # the torn line, and "a" matched by no item
    assert all(isinstance(warning.message, JournalWarning) for warning in caught)
    assert [(warning.filename, warning.lineno) for warning in caught] == [(__file__, called_at)] * 2
    assert "the last line was torn" in str(caught[0].message)
    assert "match no item of this input" in str(caught[1].message)


def test_a_process_that_never_closes_its_journal_still_exits(tmp_path: Path) -> None:
    import subprocess

    script = (
        "import sys\n"
        "from evolink_images._journal import Journal\n"
        "journal = Journal(sys.argv[1])\n"  # left open: its writer thread must not keep the process alive
    )
    finished = subprocess.run(  # noqa: S603 - this interpreter, on a script of this file
        [sys.executable, "-c", script, str(tmp_path / "journal.jsonl")], capture_output=True, timeout=20
    )
    assert finished.returncode == 0, finished.stderr.decode(errors="replace")
