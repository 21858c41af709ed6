"""``evolink-images batch FILE.jsonl --out DIR``: every line a request, N at a time, resumable.

Each line is a JSON object with the request's fields (``model``, ``prompt``, ``image_urls``, and
``n`` or ``callback_url`` where allowed). An ``image_urls`` item without ``://`` is a local file,
relative to the batch file's folder: it is checked with its line, uploaded once per content (the
journal records each upload, so a re-run reuses it while it has 2 hours or more to live). Every line
is checked, and ``--out`` tried, before anything is sent; then the file is read again, one line at a
time (a million lines are never held in memory). The batch runner saves each item's results into
``--out`` and records every step in the journal (``--out``/journal.jsonl by default), so a re-run
finishes the job without paying twice.

Exit status: 0 when every item is saved; 4 when any item failed (its task failed or was cancelled,
or the API refused it as invalid); otherwise 3 when any item is uncertain (a submit was interrupted:
see ``--resend-uncertain``) or not finished yet (re-run to finish it); 2 for invalid input, a
journal in use by another process or a damaged journal (nothing was sent); 1 when the journal cannot
be written (the batch stopped before its next submit); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._batch import BatchProgress, BatchResult
from .._errors import RequestValidationError, Violation, shown
from .._journal import JournalDamagedError, JournalError, JournalLockedError
from .._requests import ImageEditRequest, QwenImageEdit, WanImageToImage
from .._rules import check
from ._commands import Session, image_source, stderr, task_summary

__all__ = ["batch", "check_file", "read_lines"]

MAX_LISTED = 50
"""Problems listed one by one before the rest are only counted."""

_FIELDS = {"model", "prompt", "image_urls", "n", "callback_url"}


def _request(number: int, line: str, folder: Path) -> tuple[ImageEditRequest | None, list[Violation]]:
    where = f"line {number}"
    if any("\udc80" <= ch <= "\udcff" for ch in line):  # bytes that were not UTF-8, kept by surrogateescape
        return None, [Violation(where, "is not UTF-8 text", "one JSON object per line, in UTF-8")]
    try:
        data: Any = json.loads(line)
    except ValueError as error:
        return None, [Violation(where, f"is not JSON ({error})", "one JSON object per line")]
    if not isinstance(data, dict):
        return None, [Violation(where, "is not a JSON object", "one JSON object per line")]
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        return None, [Violation(f"{where}: {', '.join(unknown)}", "is not a request field", ", ".join(sorted(_FIELDS)))]
    fields = {key: value for key, value in data.items() if key != "model"}
    urls = fields.get("image_urls")
    if isinstance(urls, list):
        fields["image_urls"] = [image_source(url, folder) if isinstance(url, str) else url for url in urls]
    model = data.get("model")
    if model == WanImageToImage.MODEL:
        request: ImageEditRequest = WanImageToImage(**{"prompt": None, "image_urls": None, **fields})
    elif model == QwenImageEdit.MODEL and "n" not in fields:
        request = QwenImageEdit(**{"prompt": None, "image_urls": None, **fields})
    elif model == QwenImageEdit.MODEL:
        return None, [Violation(f"{where}: n", f"is set to {fields['n']!r}", "qwen-image-edit takes no n")]
    else:
        return None, [Violation(f"{where}: model", f"is {shown(model)}", "wan2.5-image-to-image or qwen-image-edit")]
    problems = [Violation(f"{where}: {v.field}", v.problem, v.limit) for v in check(request)]
    return request, problems


def read_lines(path: Path) -> Iterator[tuple[int, ImageEditRequest | None, list[Violation]]]:
    """Each non-blank line's number, request and problems, read one line at a time."""
    with path.open(encoding="utf-8-sig", errors="surrogateescape") as handle:  # a BOM (Notepad) is no line
        for number, line in enumerate(handle, 1):
            if line.strip():
                request, problems = _request(number, line, path.parent)
                yield number, request, problems


def check_file(path: Path) -> int:
    """Check every line; return how many requests there are, or raise naming each bad line and field."""
    problems: list[Violation] = []
    count = more = 0
    try:
        for _, _, found in read_lines(path):
            count += 1
            more += max(0, len(problems) + len(found) - MAX_LISTED)
            problems += found[: max(0, MAX_LISTED - len(problems))]
    except OSError as error:
        raise RequestValidationError(
            [Violation("FILE", f"cannot be read ({error.strerror})", "a readable file")]
        ) from None
    if more:
        problems.append(Violation("FILE", f"has {more} more problem(s)", "fix the ones above first"))
    if problems:
        raise RequestValidationError(problems)
    if not count:
        raise RequestValidationError([Violation("FILE", "holds no request", "one JSON object per line")])
    return count


def _check_out(out: Path) -> None:
    """Make sure results can be saved into ``out`` before anything is paid for."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".evolink-probe-"):
            pass
    except OSError as error:
        raise RequestValidationError(
            [Violation("--out", f"cannot be written ({error.strerror}): {str(out)[:200]}", "a folder you can write to")]
        ) from None


def batch(session: Session, args: argparse.Namespace) -> int:
    """``batch``: check every line, run them (results saved as they end), print a summary."""
    source = Path(args.file)
    total = check_file(source)
    out = Path(args.out)
    _check_out(out)
    journal = Path(args.journal) if args.journal else out / "journal.jsonl"
    lines: dict[int, int] = {}  # item index -> line number, for the items read and not yet ended
    counts: Counter[str] = Counter()

    def requests() -> Iterator[ImageEditRequest]:
        for index, (number, request, problems) in enumerate(read_lines(source)):
            if request is None or problems:  # the file changed since it was checked
                raise _ChangedLine(RequestValidationError(problems))
            lines[index] = number
            yield request

    def on_result(result: BatchResult, progress: BatchProgress) -> None:
        counts[result.outcome] += 1
        number = lines.pop(result.index, result.index + 1)
        if session.as_json:
            print(json.dumps(_item_json(number, result)), flush=True)
            return
        ended = sum(counts.values())
        stderr(
            f"[{ended}/{total}] line {number}: {_describe(result)}  (saved {progress.done}, failed {progress.failed},"
            f" uncertain {progress.uncertain}, not finished {progress.unfinished}, concurrency {progress.concurrency})"
        )

    resume = f"evolink-images batch {args.file} --out {args.out}" + (
        f" --journal {args.journal}" if args.journal else ""
    )
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *_, **__: stderr(f"warning: {message}")
        try:
            session.client.run_many(
                requests(),
                concurrency=args.concurrency,
                timeout=args.timeout,
                journal=journal,
                save_to=out,
                resend_uncertain=args.resend_uncertain,
                on_result=on_result,
                collect=False,
            )
        except (JournalLockedError, JournalDamagedError) as error:
            stderr(f"error: {error}")
            return 2
        except JournalError as error:
            stderr(f"error: {error}")
            stderr(f"resume with: {resume}")
            return 1
        except _ChangedLine as changed:  # items before it may be paid: a summary and a resume, never "2"
            counts["unfinished"] += total - sum(counts.values())
            stderr(f"error: the file changed while the batch ran, and {changed.error}")
            stderr(f"stopped: {_summary(counts, total, journal)}; nothing more is sent.")
            stderr(f"Fix the line and resume with: {resume}")
            return 4 if counts["failed"] else 3
        except KeyboardInterrupt:
            counts["unfinished"] += total - sum(counts.values())  # the lines the batch never reached
            stderr(f"\ninterrupted: {_summary(counts, total, journal)}; nothing more is sent.")
            stderr(f"Tasks already submitted go on. Resume with: {resume}")
            return 130
    summary = _summary(counts, total, journal)
    if session.as_json:
        print(
            json.dumps(
                {"summary": {**{key: counts[key] for key in _OUTCOMES}, "total": total, "journal": str(journal)}}
            )
        )
    else:
        print(summary)
    if counts["unfinished"]:
        stderr(f"{counts['unfinished']} item(s) not finished: re-run to finish them: {resume}")
    if counts["uncertain"]:
        stderr(
            f"{counts['uncertain']} item(s) uncertain (a submit was interrupted; a task may exist): check your recent"
            " tasks, or re-run with --resend-uncertain to send them again with the same idempotency key"
        )
    if counts["failed"]:
        return 4
    return 3 if counts["unfinished"] or counts["uncertain"] else 0


_OUTCOMES = ("done", "failed", "uncertain", "unfinished")


class _ChangedLine(Exception):
    """A line that was valid when the file was checked is not any more (the file was edited meanwhile)."""

    def __init__(self, error: RequestValidationError) -> None:
        super().__init__(str(error))
        self.error = error


def _summary(counts: Counter[str], total: int, journal: Path) -> str:
    return (
        f"{counts['done']} saved, {counts['failed']} failed, {counts['uncertain']} uncertain,"
        f" {counts['unfinished']} not finished, of {total}; journal: {journal}"
    )


def _describe(result: BatchResult) -> str:
    if result.ok:
        files = " ".join(str(path) for path in result.files)
        return f"saved {files}" + (" (earlier)" if result.resumed else "")
    if result.outcome == "unfinished":
        return f"not finished ({result.state}): {result.error}"
    return f"{result.outcome}: {result.error}"


def _item_json(number: int, result: BatchResult) -> dict[str, Any]:
    return {
        "line": number,
        "outcome": result.outcome,
        "state": result.state,
        "resumed": result.resumed,
        "task": task_summary(result.task) if result.task else None,
        "error": str(result.error).replace("\n", " ") if result.error else None,
        "files": [str(path) for path in result.files],
    }
