"""The commands that talk to EvoLink: edit, status, download, validate.

Each returns its exit code; errors propagate to ``main``, which turns them into one line on stderr.
``Session`` carries what every command shares: the client, the output mode, and the task in hand
(so that Ctrl-C can say which task to resume).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._arguments import check_seconds
from .._client import Client
from .._download import folder_problem
from .._errors import RequestValidationError, Violation
from .._file_host import UploadedFile
from .._local_images import ImageSource
from .._polling import outcome
from .._requests import ImageEditRequest, QwenImageEdit, WanImageToImage
from .._rules import check, validate
from .._task import Task
from ._output import cut, printable, redact
from ._progress import Progress

__all__ = [
    "NotFinishedError",
    "Session",
    "build_request",
    "check_out",
    "cut",
    "download",
    "edit",
    "file_quota",
    "image_source",
    "redact",
    "run_edit",
    "status",
    "task_summary",
    "upload",
    "validate_only",
]


@dataclass
class Session:
    """One run of the command line."""

    client_factory: Callable[[], Client]
    as_json: bool = False
    task_id: str | None = None
    submitting: bool = False
    """True from the moment a POST may have left until its task id is known."""
    created: bool = False
    """True once this run created ``task_id`` (a paid task the user may not know of yet)."""
    completed: bool = False
    """True once ``task_id`` is known to be completed: only its download is left."""
    out: Path | None = None
    """Where the results go, for the hint that fetches them again."""
    base_url: str | None = None
    """The ``--base-url`` this run was given, carried into every command it suggests."""
    _client: Client | None = field(default=None, repr=False)

    @property
    def client(self) -> Client:
        """The client, built on first use (``validate`` never builds one)."""
        if self._client is None:
            self._client = self.client_factory()
        return self._client

    def close(self) -> None:
        """Close the client, if one was built."""
        if self._client is not None:
            self._client.close()

    def emit(self, text: str, data: dict[str, Any]) -> None:
        """Print the human line, or the JSON document with --json (then nothing else on stdout)."""
        print(printable(json.dumps(data, indent=2) if self.as_json else text))

    def emit_task(self, text: str, task: Task | None, files: list[Path] | None = None, **more: Any) -> None:
        """Print a command's result: every command's JSON has the same shape, ``{"task": ..., "files": [...]}``."""
        summary = task_summary(task) if task is not None else None
        self.emit(text, {"task": summary, "files": [str(path) for path in files or []], **more})

    def command(self, *words: str) -> str:
        """A command line to suggest, with this run's ``--base-url`` if it had one, quoted for a shell."""
        base = ["--base-url", self.base_url] if self.base_url else []
        return shlex.join(["evolink-images", *base, *words])


def task_summary(task: Task) -> dict[str, Any]:
    """A task as JSON-ready data."""
    error = None
    if task.error is not None:
        error = {"code": task.error.code, "message": task.error.message, "cause": task.error.cause}
    return {
        "id": task.id,
        "status": task.status,
        "progress": task.progress,
        "results": list(task.results),
        "error": error,
        "estimated_time": task.estimated_time,
        "model": task.model,
    }


def image_source(text: str, folder: Path | None = None) -> ImageSource:
    """An image named on the command line: a URL (anything with ``://``), else a local file (relative to ``folder``)."""
    if "://" in text:
        return text
    path = Path(text).expanduser()
    return folder / path if folder is not None and not path.is_absolute() else path


def build_request(args: argparse.Namespace) -> ImageEditRequest:
    """The request the options describe (not yet validated)."""
    images = [image_source(text) for text in args.images]
    if args.model == WanImageToImage.MODEL:
        return WanImageToImage(args.prompt, images, n=args.n, callback_url=args.callback_url)
    request = QwenImageEdit(args.prompt, images, callback_url=args.callback_url)
    if args.n is not None:  # refuse it by name, with the request's other problems, rather than drop it
        violation = Violation("n", f"is set to {args.n}", f"{request.model} takes no n")
        raise RequestValidationError([violation, *check(request)])
    return request


def validate_only(session: Session, args: argparse.Namespace) -> int:
    """``validate``: check the request; no network, no key."""
    validate(build_request(args))
    session.emit_task("valid: nothing wrong with this request", None, valid=True, violations=[])
    return 0


def check_out(out: Path, option: str = "--out") -> Path:
    """Make sure ``out`` is a folder we can write into (creating it), before anything is paid for."""
    problem = folder_problem(out)
    if problem is not None:
        raise RequestValidationError([Violation(option, f"{str(out)!r}: {problem}", "a folder you can write into")])
    return out


def run_edit(session: Session, request: ImageEditRequest, *, out: Path, timeout: float, wait: bool = True) -> int:
    """Validate, submit, wait with progress, download; print the paths (shared by edit and demo).

    Every local precondition (the request, the timeout, the output folder) is checked before the
    POST: after it, a failure costs a task.
    """
    validate(request)
    timeout = check_seconds("--timeout", timeout)
    if wait:
        check_out(out)
    client = session.client
    session.submitting = True  # from here a Ctrl-C or an error may leave a task behind
    task = client.submit(request)
    session.task_id, session.created = task.id, True
    session.submitting = False
    if not wait:
        # Only the id on stdout, so that scripts can take it as it is; the hint goes to stderr.
        stderr(f"submitted {task.id}; follow it with: {session.command('status', task.id, '--wait')}")
        session.emit_task(task.id, task)
        return 0
    progress = Progress()
    try:
        task = client.wait(task, timeout=timeout, on_update=progress)
    finally:
        progress.finish()
    session.completed, session.out = True, out
    paths = client.download(task, out)
    session.emit_task("\n".join(str(path) for path in paths), task, paths)
    return 0


def upload_summary(uploaded: UploadedFile) -> dict[str, Any]:
    """An upload as JSON-ready data."""
    return {
        "file_url": uploaded.file_url,
        "expires_at": uploaded.expires_at.isoformat(),
        "file_id": uploaded.file_id,
        "size": uploaded.size,
        "mime_type": uploaded.mime_type,
        "sha256": uploaded.sha256,
    }


def upload(session: Session, args: argparse.Namespace) -> int:
    """``upload``: put a local image on EvoLink's file host; print its URL (stdout) and expiry (stderr)."""
    uploaded = session.client.upload(Path(args.file).expanduser())
    if not session.as_json:
        stderr(f"{args.file}: stored until {uploaded.expires_at:%Y-%m-%d %H:%M} UTC (72 h; one slot of the file quota)")
    session.emit_task(uploaded.file_url, None, upload=upload_summary(uploaded))
    return 0


def file_quota(session: Session, args: argparse.Namespace) -> int:
    """``file-quota``: the account's file quota (a free read)."""
    quota = session.client.file_quota()
    data = {key: getattr(quota, key) for key in ("used_files", "max_files", "remain_files", "user_group")}
    text = f"{quota.used_files} of {quota.max_files} files held; {quota.remain_files} more fit (uploads last 72 h)"
    session.emit_task(text, None, quota=data)
    return 0


def edit(session: Session, args: argparse.Namespace) -> int:
    """``edit``."""
    return run_edit(session, build_request(args), out=Path(args.out), timeout=args.timeout, wait=not args.no_wait)


def status(session: Session, args: argparse.Namespace) -> int:
    """``status``: show a task, or wait for it."""
    session.task_id = args.task_id
    client = session.client
    if args.wait:
        progress = Progress()
        try:
            task = client.wait(args.task_id, timeout=args.timeout, on_update=progress)
        finally:
            progress.finish()
    else:
        task = client.get_task(args.task_id)
    text = f"{task.id}  {cut(task.status, 100)}  {task.progress}%"
    if task.results:
        text += "\n" + "\n".join(task.results)
    session.emit_task(text, task)
    return 0


def download(session: Session, args: argparse.Namespace) -> int:
    """``download``: save a completed task's results."""
    session.task_id, session.out = args.task_id, Path(args.out)
    out = check_out(Path(args.out))
    task = session.client.get_task(args.task_id)
    session.completed = task.is_completed
    if not task.is_terminal:
        raise NotFinishedError(task)
    outcome(task)  # a failed or cancelled task is exit 4, with its own error: there is nothing to fetch
    paths = session.client.download(task, out)
    session.emit_task("\n".join(str(path) for path in paths), task, paths)
    return 0


class NotFinishedError(Exception):
    """``download`` of a task that is still running: nothing to fetch yet (its own exit code)."""

    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task.id} is {task.status} ({task.progress}%): not finished yet")
        self.task = task
        self.task_id = task.id


def stderr(text: str) -> None:
    """Print one line on stderr, redacted."""
    print(printable(text), file=sys.stderr)
