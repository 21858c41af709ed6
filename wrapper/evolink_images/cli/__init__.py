"""``evolink-images``: the command line (installed with the ``cli`` extra for ``demo`` and ``serve-fake``).

Errors are one line on stderr, never a traceback, with a distinct exit code for invalid input (2),
an API error (3), a failed or cancelled task (4) and a timeout (5). The API key comes only from
``EVOLINK_API_KEY`` and never appears in the output.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence

from .._client import Client
from .._config import ENV_API_KEY, ConfigurationError
from .._errors import (
    EvoLinkError,
    RequestValidationError,
    TaskCancelledError,
    TaskFailedError,
    WaitTimeoutError,
)
from ._batch_command import batch
from ._commands import Session, download, edit, status, stderr, validate_only
from ._contract_command import contract_check
from ._fake_commands import demo, serve_fake
from ._parser import EXIT_CODES, build_parser

__all__ = ["main"]

COMMANDS = {
    "edit": edit,
    "status": status,
    "download": download,
    "validate": validate_only,
    "batch": batch,
    "demo": demo,
    "serve-fake": serve_fake,
    "contract-check": contract_check,
}


def _redact(text: str) -> str:
    key = os.environ.get(ENV_API_KEY, "").strip()
    return text.replace(key, "<redacted>") if len(key) >= 8 else text


def main(argv: Sequence[str] | None = None, *, client_factory: Callable[[str | None], Client] | None = None) -> int:
    """Run the command line; return the exit code.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        client_factory: builds the client from ``--base-url`` (for embedding and tests).
    """
    args = build_parser().parse_args(argv)
    make = client_factory or (lambda base_url: Client(base_url=base_url))
    session = Session(client_factory=lambda: make(args.base_url), as_json=getattr(args, "json", False))
    try:
        return COMMANDS[args.command](session, args)
    except RequestValidationError as error:
        problems = "; ".join(str(violation) for violation in error.violations)
        return _fail(session, "invalid input", f"invalid request: {problems}", error)
    except ConfigurationError as error:
        return _fail(session, "invalid input", str(error), error)
    except (TaskFailedError, TaskCancelledError) as error:
        return _fail(session, "task failed or cancelled", str(error), error)
    except WaitTimeoutError as error:
        hint = f"; resume with: evolink-images status {error.task_id} --wait"
        return _fail(session, "timeout", str(error) + hint, error)
    except EvoLinkError as error:
        return _fail(session, "API error", str(error), error)
    except Exception as error:
        stderr(f"error: unexpected {type(error).__name__}: {_redact(str(error))} (please report it)")
        return EXIT_CODES["internal error"]
    except KeyboardInterrupt:
        if session.task_id:
            stderr(
                f"\ninterrupted; task {session.task_id} goes on. "
                f"Resume with: evolink-images status {session.task_id} --wait"
            )
        else:
            stderr("\ninterrupted")
        return EXIT_CODES["interrupted"]
    finally:
        session.close()


def _fail(session: Session, kind: str, message: str, error: EvoLinkError) -> int:
    text = _redact(message).replace("\n", " ")
    stderr(f"error: {text}")
    if session.as_json:
        details = {"kind": kind, "type": type(error).__name__, "message": text, "task_id": error.task_id}
        print(json.dumps({"error": details}))
    return EXIT_CODES[kind]


def run() -> None:
    """The console script's entry point."""
    sys.exit(main())
