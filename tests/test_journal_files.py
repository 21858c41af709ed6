"""The journal's own files and process: folders made, descriptors closed, a process that can always exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evolink_images._journal import Journal


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_journal_in_folders_that_do_not_exist_yet_makes_all_of_them(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "j.jsonl"
    with Journal(path) as journal:
        journal.write("a#1", "pending").result()
    assert path.is_file()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc")
def test_opening_and_closing_a_journal_leaves_no_descriptor_open(tmp_path: Path) -> None:
    Journal(tmp_path / "warm.jsonl").close()
    before = open_descriptors()
    for number in range(5):
        Journal(tmp_path / f"j{number}.jsonl").close()  # new ones: the header and the folder's fsync
        Journal(tmp_path / f"j{number}.jsonl").close()  # existing ones
    assert open_descriptors() == before


def test_a_program_named_only_by_an_empty_string_is_recorded_as_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["", "--flag"])
    with Journal(tmp_path / "j.jsonl") as journal:
        assert journal.made_for == f"python in {os.getcwd()}"


def test_a_program_that_never_closes_its_journal_still_exits(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom evolink_images._journal import Journal\n"
        "journal = Journal(sys.argv[1])\njournal.write('a#1', 'pending').result()\nprint('written')\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, running the project's own code
        [sys.executable, "-c", code, str(tmp_path / "j.jsonl")], capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout) == (0, "written\n")


def test_a_header_that_cannot_be_written_says_which_journal_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evolink_images import JournalError, _journal

    from .test_journal import _FillingDisk

    monkeypatch.setattr(_journal, "os", _FillingDisk(room=0))
    path = tmp_path / "j.jsonl"
    with pytest.raises(JournalError) as caught:
        Journal(path)
    assert str(caught.value) == f"cannot write the journal {path}: No space left on device"


@pytest.mark.parametrize("size", [4095, 4096, 4097, 8192])
def test_a_record_ending_at_or_around_a_4_kib_boundary_is_read_back_whole(tmp_path: Path, size: int) -> None:
    path = tmp_path / "j.jsonl"
    empty = len('{"item":"a#1","state":"finished","note":""}')
    note = "x" * (size - empty)
    with Journal(path) as journal:
        journal.write("a#1", "finished", note=note).result()
        journal.write("b#1", "pending").result()
    lines = path.read_bytes().split(b"\n")
    assert len(lines[1]) == size
    with Journal(path) as journal:
        assert journal.record("a#1") == {"item": "a#1", "state": "finished", "note": note}
        assert journal.record("b#1") == {"item": "b#1", "state": "pending"}
