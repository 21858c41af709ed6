"""The journal's index on disk: a mapping whose memory does not grow with its keys."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from evolink_images._disk_index import DiskIndex
from evolink_images._journal import Journal


def test_the_index_is_a_mapping_of_strings_to_ints() -> None:
    index = DiskIndex()
    assert index.get("a") is None
    index["a"] = 5
    index["a"] = 7
    index["b"] = 1 << 60  # a journal offset shifted past its state bits still fits
    assert index.get("a") == 7
    assert index.get("b") == 1 << 60
    assert len(index) == 2
    index.close()


def test_increment_counts_from_one() -> None:
    index = DiskIndex()
    assert [index.increment("x") for _ in range(3)] == [1, 2, 3]
    assert index.increment("y") == 1
    index.close()


def test_keys_with_a_bit_clear_are_listed_whole_across_pages() -> None:
    index = DiskIndex()
    for number in range(1000):
        index[f"item-{number:04d}"] = number  # odd values have bit 1 set
    listed = list(index.where_bit_clear(1))
    assert listed == [(f"item-{number:04d}", number) for number in range(0, 1000, 2)]
    index.close()


def test_keys_of_every_alphabet_are_listed_from_the_first() -> None:
    index = DiskIndex()
    keys = ["0abc#1", "9f#2", "A#1", "a0#1", "z#1"]  # the journal's are hex digests: digits come first
    for key in keys:
        index[key] = 0
    assert [key for key, _ in index.where_bit_clear(1)] == keys
    index.close()


def test_a_closed_index_refuses_every_call_and_lets_go_of_its_database() -> None:
    index = DiskIndex()
    index.close()
    with pytest.raises(ValueError, match=r"^the index is closed$"):
        index.get("a")
    with pytest.raises(ValueError, match=r"^the index is closed$"):
        index["a"] = 1
    with pytest.raises(sqlite3.ProgrammingError):
        index._db.execute("SELECT 1")


def test_threads_may_share_one_index() -> None:
    index = DiskIndex()

    def count() -> None:
        for _ in range(500):
            index.increment("shared")

    workers = [threading.Thread(target=count) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert index.get("shared") == 2000
    index.close()


_LOAD_A_JOURNAL = """
import json, sys
from pathlib import Path
from evolink_images._journal import Journal
path, items = Path(sys.argv[1]), int(sys.argv[2])
with open(path, "w") as out:
    out.write(json.dumps({"journal": "evolink-images batch journal", "version": 3, "made_for": "test"}) + "\\n")
    for number in range(items):
        out.write(json.dumps({"item": f"{number:064x}#1", "state": "saved", "files": []}) + "\\n")
def peak_kib():  # this process's own peak (VmHWM); ru_maxrss would carry the parent's across exec
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0])
before = peak_kib()
with Journal(path) as journal:
    assert journal.state_of(f"{items - 1:064x}#1") == "saved"
    assert journal.state_of("unknown#1") is None
print((peak_kib() - before) / 1024)
"""


def test_a_journal_of_many_items_costs_no_memory_per_item(tmp_path: Path) -> None:
    # Peak resident memory, in a fresh interpreter (SQLite's cache is not Python's to trace): loading
    # 200,000 entries grew it by 43 MiB in a dict, by about 10 MiB (the page cache and read buffers,
    # the same for a million) on disk.
    done = subprocess.run(  # noqa: S603 - this interpreter, the project's own code
        [sys.executable, "-c", _LOAD_A_JOURNAL, str(tmp_path / "journal.jsonl"), "200000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    grown = float(done.stdout.strip())
    assert grown < 25, f"loading 200,000 journal entries grew the process by {grown:.1f} MiB"


def test_a_closed_journal_says_so_to_a_late_reader(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.close()
    with pytest.raises(Exception, match="is closed") as caught:
        journal.state_of("a#1")
    assert type(caught.value).__name__ == "JournalError"


def test_a_failing_sqlite_is_an_os_error_naming_the_index() -> None:
    index = DiskIndex()
    index._db.close()  # as if SQLite had failed under it (a full temporary folder, say)
    with pytest.raises(OSError, match=r"^the batch's index on disk \(SQLite's temporary folder\) failed: "):
        index.get("a")


@pytest.mark.parametrize(("fail_after", "failing_statement"), [(0, ""), (5, ""), (40, ""), (20, "SELECT value")])
def test_an_index_that_fails_mid_batch_stops_it_with_a_journal_error_never_a_hang(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fail_after: int,
    failing_statement: str,
) -> None:
    from evolink_images._journal import JournalError
    from evolink_images.testing import FakeEvoLink, TaskPlan

    from .test_journal import run_many

    calls = 0
    real = DiskIndex._run

    def failing(self: DiskIndex, sql: str, parameters: tuple[object, ...] = ()) -> list[object]:
        nonlocal calls
        calls += 1
        if calls > fail_after and sql.startswith(failing_statement) and not sql.startswith("SELECT count"):
            raise OSError("the batch's index on disk (SQLite's temporary folder) failed: database or disk is full")
        return real(self, sql, parameters)

    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    path = tmp_path / "j.jsonl"
    monkeypatch.setattr(DiskIndex, "_run", failing)
    started = time.monotonic()
    with pytest.raises(JournalError, match="disk is full"):
        run_many(fake, path, concurrency=2)
    assert time.monotonic() - started < 10
    assert "Traceback" not in capsys.readouterr().err  # no worker thread died of it
    monkeypatch.undo()
    submitting = [line for line in path.read_text().splitlines() if '"submitting"' in line]
    assert fake.posts() <= len(submitting)  # nothing was sent without its durable record
    results = run_many(fake, path, concurrency=2)  # the next run finishes the job
    assert {result.outcome for result in results} <= {"done", "uncertain"}


def test_sqlite_keeps_at_most_half_a_mebibyte_of_each_index_in_memory() -> None:
    index = DiskIndex()
    # Negative: a size in KiB. Two indexes per batch (the journal's, the input's counts): 1 MiB in all.
    assert index._db.execute("PRAGMA cache_size").fetchone()[0] == -512
    index.close()
