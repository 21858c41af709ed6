"""``evolink-images batch FILE.jsonl --out DIR``: every line a request, N at a time, resumable.

Each line is a JSON object with the request's fields (``model``, ``prompt``, ``image_urls``, and
``n`` or ``callback_url`` where allowed). Every line is checked before anything is sent. Results
are saved into ``--out`` as each item ends; the journal (``--out``/journal.jsonl by default) lets a
re-run pick up where an interrupted one stopped, without paying twice.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from .._batch import BatchProgress, BatchResult
from .._errors import EvoLinkError, RequestValidationError, Violation
from .._requests import ImageEditRequest, QwenImageEdit, WanImageToImage
from .._rules import check
from ._commands import Session, task_summary

__all__ = ["batch", "read_requests"]

_FIELDS = {"model", "prompt", "image_urls", "n", "callback_url"}


def _request(number: int, line: str) -> tuple[ImageEditRequest | None, list[Violation]]:
    where = f"line {number}"
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
    model = data.get("model")
    if model == WanImageToImage.MODEL:
        request: ImageEditRequest = WanImageToImage(**{"prompt": None, "image_urls": None, **fields})
    elif model == QwenImageEdit.MODEL and "n" not in fields:
        request = QwenImageEdit(**{"prompt": None, "image_urls": None, **fields})
    elif model == QwenImageEdit.MODEL:
        return None, [Violation(f"{where}: n", f"is set to {fields['n']!r}", "qwen-image-edit takes no n")]
    else:
        return None, [Violation(f"{where}: model", f"is {model!r}", "wan2.5-image-to-image or qwen-image-edit")]
    problems = [Violation(f"{where}: {v.field}", v.problem, v.limit) for v in check(request)]
    return request, problems


def read_requests(path: Path) -> list[ImageEditRequest]:
    """Every request of the file, or ``RequestValidationError`` naming each bad line and field."""
    requests, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        request, found = _request(number, line)
        problems += found
        if request is not None:
            requests.append(request)
    if problems:
        raise RequestValidationError(problems)
    if not requests:
        raise RequestValidationError([Violation("FILE", "holds no request", "one JSON object per line")])
    return requests


def batch(session: Session, args: argparse.Namespace) -> int:
    """``batch``: run the file's requests; save results as they come; print a summary."""
    requests = read_requests(Path(args.file))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    journal = Path(args.journal) if args.journal else out / "journal.jsonl"
    files: dict[int, list[str]] = {}
    lock = threading.Lock()

    def on_result(result: BatchResult, progress: BatchProgress) -> None:
        saved: list[str] = []
        note = "resumed" if result.resumed else ""
        if result.ok and result.task is not None and not result.resumed:
            try:
                saved = [str(path) for path in session.client.download(result.task, out)]
            except EvoLinkError as error:
                note = f"download failed: {error}"
        with lock:
            files[result.index] = saved
            outcome = result.task.status if result.ok and result.task else f"error: {result.error}"
            print(
                f"[{progress.done + progress.failed}/{progress.total}] item {result.index}: {outcome} {note}".rstrip()
                + f"  (done {progress.done}, failed {progress.failed}, concurrency {progress.concurrency})",
                file=sys.stderr,
            )

    results = session.client.run_many(
        requests, concurrency=args.concurrency, timeout=args.timeout, journal=journal, on_result=on_result
    )
    failed = [result for result in results if not result.ok]
    items = [
        {
            "index": result.index,
            "ok": result.ok,
            "task": task_summary(result.task) if result.task else None,
            "error": str(result.error) if result.error else None,
            "files": files.get(result.index, []),
        }
        for result in results
    ]
    summary = f"{len(results) - len(failed)} of {len(results)} done, {len(failed)} failed; journal: {journal}"
    session.emit(summary, {"items": items, "journal": str(journal)})
    return 4 if failed else 0
