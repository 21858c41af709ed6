"""``evolink-images``: the command line (installed with the ``cli`` extra for ``demo`` and ``serve-fake``).

Errors are one line on stderr, never a traceback, with a distinct exit code for invalid input (2,
local files and folders included), an API error or a failed download (3), a failed or cancelled task
(4), a timeout (5) and a task that is not finished yet (6). Once a POST may have reached the
server, every error and Ctrl-C names the task, or says plainly that one may exist and how to find
it. The API key comes only from ``EVOLINK_API_KEY`` and never appears in the output: every line
printed is redacted, and values echoed back are cut to a readable length. ``--base-url`` and
``--json`` go before or after the command's name, and every command suggested carries the former.
"""

from __future__ import annotations

import io
import json
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from .._client import Client
from .._config import ConfigurationError
from .._errors import (
    DownloadError,
    EvoLinkError,
    RequestValidationError,
    TaskCancelledError,
    TaskFailedError,
    UploadError,
    WaitTimeoutError,
)
from ._batch_command import batch
from ._commands import (
    NotFinishedError,
    Session,
    download,
    edit,
    file_quota,
    status,
    stderr,
    upload,
    validate_only,
)
from ._contract_command import contract_check
from ._fake_commands import demo, serve_fake
from ._output import cut, redact
from ._parser import EXIT_CODES, build_parser

__all__ = ["main"]

COMMANDS = {
    "edit": edit,
    "status": status,
    "download": download,
    "validate": validate_only,
    "upload": upload,
    "file-quota": file_quota,
    "batch": batch,
    "demo": demo,
    "serve-fake": serve_fake,
    "contract-check": contract_check,
}


def main(argv: Sequence[str] | None = None, *, client_factory: Callable[[str | None], Client] | None = None) -> int:
    """Run the command line; return the exit code.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        client_factory: builds the client from ``--base-url`` (for embedding and tests).
    """
    args = build_parser().parse_args(argv)
    make = client_factory or (lambda base_url: Client(base_url=base_url))
    session = Session(client_factory=lambda: make(args.base_url), as_json=args.json, base_url=args.base_url)
    try:
        return COMMANDS[args.command](session, args)
    except RequestValidationError as error:
        # Each violation is cut on its own: cutting the whole line would hide every field but the first and last.
        problems = "; ".join(cut(str(violation)) for violation in error.violations)
        return _fail(session, "invalid input", f"invalid request: {problems}", error, whole=True)
    except ConfigurationError as error:
        return _fail(session, "invalid input", str(error), error)
    except (TaskFailedError, TaskCancelledError) as error:
        return _fail(session, "task failed or cancelled", str(error), error)
    except WaitTimeoutError as error:
        return _fail(session, "timeout", str(error), error)
    except NotFinishedError as error:
        hint = f"; wait for it with: {session.command('status', error.task_id, '--wait')}"
        return _fail(session, "not finished", str(error) + hint, error)
    except EvoLinkError as error:
        return _fail(session, "API error", str(error), error)
    except (OSError, UnicodeError) as error:
        # Local input the commands read or write (a missing or binary file, a file where a folder
        # should be): the user's to fix, not a bug.
        return _fail(session, "invalid input", _local_problem(error), error)
    except Exception as error:
        return _fail(session, "internal error", f"unexpected {type(error).__name__}: {error} (please report it)", error)
    except KeyboardInterrupt:
        stderr("")  # end the progress line the interrupt cut short
        return _fail(session, "interrupted", "interrupted", None, prefix="")
    finally:
        session.close()


def _local_problem(error: OSError | UnicodeError) -> str:
    if isinstance(error, UnicodeDecodeError):
        return (
            f"an input file is not UTF-8 text (byte {error.object[error.start : error.start + 1]!r} at {error.start})"
        )
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or type(error).__name__}"
    return f"{type(error).__name__}: {error}"


def _task_note(session: Session, error: BaseException | None) -> tuple[str | None, bool, str]:
    """The task this run may have created, whether one may exist, and what to tell the user about it."""
    if isinstance(error, UploadError):  # an upload comes before the POST: no task exists
        return None, False, ""
    task_id = getattr(error, "task_id", None) or session.task_id
    if task_id:
        known = session.created or error is None or isinstance(error, WaitTimeoutError | DownloadError)
        if not known or isinstance(error, TaskFailedError | TaskCancelledError):
            # Nothing to resume: the task ended, or the id is the user's own and the error may be
            # that it does not exist (status/download of an unknown id).
            return task_id, session.created, ""
        completed = session.completed or isinstance(error, DownloadError)
        if completed:
            again = session.command("download", task_id, "--out", str(session.out or "DIR"))
            return task_id, True, f"task {task_id} is completed; fetch its results again with: {again}"
        return task_id, True, f"task {task_id} goes on; resume with: {session.command('status', task_id, '--wait')}"
    # The library's own verdict (a 401 or a refused connection proves no task) wins over "a POST was
    # in flight"; an interrupt or an unexpected error has no verdict, so the POST may have landed.
    verdict = getattr(error, "task_may_exist", None) if isinstance(error, EvoLinkError) else None
    if verdict if isinstance(verdict, bool) else session.submitting:
        note = (
            "a task may have been created (and billed) although its id never arrived: check your recent tasks"
            " (the EvoLink dashboard's task history) before submitting again"
        )
        return None, True, note
    return None, False, ""


_LIBRARY_HINT = re.compile(
    r"(;? it goes on: resume with wait\('[^']*'\)| \(task [^;()]*; resume with wait\('[^']*'\)\))"
)
"""The library's own hint, a Python call (``wait('ID')``): the command line says the command instead."""


def _fail(
    session: Session,
    kind: str,
    message: str,
    error: BaseException | None,
    *,
    prefix: str = "error: ",
    whole: bool = False,
) -> int:
    """Print the error line (cut to ``READABLE`` unless ``whole``: its parts are cut already) and its JSON."""
    task_id, may_exist, note = _task_note(session, error)
    if note:
        message = _LIBRARY_HINT.sub("", message)
    message = message.replace("\n", " ")
    text = message if whole else cut(message)
    if note and not (task_id is None and "may have been created" in text):  # an APIError may say it already
        text = f"{text}; {note}"
    stderr(f"{prefix}{text}")
    if session.as_json:
        details = {
            "kind": kind,
            "type": type(error).__name__ if error is not None else "KeyboardInterrupt",
            "message": text,
            "task_id": task_id,
            "task_may_exist": may_exist,
        }
        print(redact(json.dumps({"error": details})))
    return EXIT_CODES[kind]


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    """Interrupt at the first Ctrl-C, and ignore the ones after it.

    A second Ctrl-C would otherwise cut short the exit path (the message naming the task) or print a
    traceback from the interpreter's shutdown.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def run() -> None:
    """The console script's entry point."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupt_once)
    for stream in (sys.stdout, sys.stderr):
        # A server's text (an emoji in a status) on a terminal that is not UTF-8 is shown as escapes,
        # not an UnicodeEncodeError that would end a successful read as "invalid input".
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    sys.exit(main())
