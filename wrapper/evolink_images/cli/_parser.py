"""The command line's grammar: every command, its options, and an example in each ``--help``."""

from __future__ import annotations

import argparse
from typing import Any

from .. import __version__
from .._config import DEFAULT_BASE_URL, ENV_BASE_URL

__all__ = ["EXIT_CODES", "build_parser"]

EXIT_CODES = {
    "ok": 0,
    "internal error": 1,
    "invalid input": 2,
    "API error": 3,
    "task failed or cancelled": 4,
    "timeout": 5,
    "not finished": 6,
    "interrupted": 130,
}

_EXITS = "exit codes: " + ", ".join(f"{code} {name}" for name, code in EXIT_CODES.items())
_KEY = "The API key is read from EVOLINK_API_KEY (never from the command line, never printed)."


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _request_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=["wan2.5-image-to-image", "qwen-image-edit"])
    parser.add_argument("--prompt", required=True, help="how to edit the images (1 to 2000 characters)")
    parser.add_argument(
        "--image",
        dest="images",
        action="append",
        required=True,
        metavar="URL_OR_FILE",
        help="an input image: an http(s) URL, or a local JPEG, PNG or WEBP file, uploaded first (repeat)",
    )
    parser.add_argument("--n", type=int, help="images to make, 1 to 4 (wan2.5-image-to-image only)")
    parser.add_argument("--callback-url", help="an https URL on a public host, called when the task ends")


def _global_options(parser: argparse.ArgumentParser, *, default: Any) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name (``default``: the main parser's values).

    After the command name they default to ``argparse.SUPPRESS``, so that a value given before it stands.
    """
    parser.add_argument(
        "--base-url", default=default or None, help=f"the API's URL (default: ${ENV_BASE_URL}, else {DEFAULT_BASE_URL})"
    )
    parser.add_argument(
        "--json", action="store_true", default=default or False, help="print JSON, and nothing else, on stdout"
    )
    return parser


_COMMON = _global_options(argparse.ArgumentParser(add_help=False), default=argparse.SUPPRESS)


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str, example: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\nexample:\n  {example}\n\n{_EXITS}",
        formatter_class=_formatter,
        parents=[_COMMON],
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``evolink-images``."""
    parser = argparse.ArgumentParser(
        prog="evolink-images",
        description=f"Edit images with EvoLink (wan2.5-image-to-image, qwen-image-edit).\n{_KEY}\n\n"
        "example:\n  evolink-images demo        # no key, no network: a local fake EvoLink\n\n" + _EXITS,
        formatter_class=_formatter,
    )
    _global_options(parser, default=None)
    parser.add_argument("--version", action="version", version=f"evolink-images {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    edit = _command(
        commands,
        "edit",
        "Validate, submit, wait with progress, download the results and print their paths.",
        "evolink-images edit --model qwen-image-edit --prompt 'Add a hat' --image https://example.com/cat.png",
    )
    _request_options(edit)
    edit.add_argument("--no-wait", action="store_true", help="submit, print the task id and stop")
    edit.add_argument("--out", default="out", help="where to save the results (default: ./out)")
    edit.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (default 600)")

    status = _command(
        commands,
        "status",
        "Show a task; with --wait, wait for it to end.",
        "evolink-images status task-unified-... --wait",
    )
    status.add_argument("task_id", metavar="TASK_ID")
    status.add_argument("--wait", action="store_true", help="poll until the task ends")
    status.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (default 600)")

    download = _command(
        commands,
        "download",
        "Save a completed task's result images (URLs expire 24 h after completion).",
        "evolink-images download task-unified-... --out results/",
    )
    download.add_argument("task_id", metavar="TASK_ID")
    download.add_argument("--out", default="out", help="the folder to save into (default: ./out)")

    validate = _command(
        commands,
        "validate",
        "Check a request against its model's rules, with no network and no key.",
        "evolink-images validate --model wan2.5-image-to-image --prompt 'Night' --image https://e.com/a.png --n 5",
    )
    _request_options(validate)

    batch = _command(
        commands,
        "batch",
        "Run every request of a JSON-lines file, at most N tasks in flight; re-run to resume.",
        "evolink-images batch edits.jsonl --out results/ --concurrency 8",
    )
    batch.add_argument(
        "file",
        metavar="FILE.jsonl",
        help='one request per line: {"model": ..., "prompt": ..., "image_urls": [URL or a file path relative to'
        " FILE's folder], ...}",
    )
    batch.add_argument("--out", required=True, help="where to save the results")
    batch.add_argument("--concurrency", type=int, default=8, help="the most tasks in flight (default 8)")
    batch.add_argument("--journal", help="the resume journal (default: OUT/journal.jsonl)")
    batch.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each task (default 600)")
    batch.add_argument(
        "--resend-uncertain",
        action="store_true",
        help="send again, with the same idempotency key, items whose submit an earlier run left uncertain"
        " (if the API ignores the key and a task was made, that item is paid twice)",
    )

    upload = _command(
        commands,
        "upload",
        "Upload a local image to EvoLink's file host; print its URL and when it expires (72 h).",
        "evolink-images upload photo.jpg",
    )
    upload.add_argument("file", metavar="FILE", help="a JPEG, PNG, GIF or WEBP file (at most 100 MB)")

    quota = _command(
        commands,
        "file-quota",
        "Show the account's file quota: uploads held (each until it expires) and how many more fit.",
        "evolink-images file-quota",
    )
    del quota  # no options of its own

    serve = _command(
        commands,
        "serve-fake",
        "Serve a fake EvoLink on loopback, for tests in any language (Ctrl-C stops it).",
        "evolink-images serve-fake --port 8080",
    )
    serve.add_argument("--port", type=int, default=0, help="the port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--duration", type=float, default=5.0, help="seconds each fake task takes (default 5)")

    demo = _command(
        commands,
        "demo",
        "Edit a sample image end to end against a local fake EvoLink: no key, no network.",
        "evolink-images demo --out out/demo",
    )
    demo.add_argument("--out", default="out/demo", help="where to save the results (default: ./out/demo)")
    demo.add_argument("--prompt", default="Make it night, with stars", help="the edit to ask for")
    demo.add_argument("--n", type=int, default=2, help="how many variations (1 to 4)")

    summary = "Run the contract suite against the fake (JUnit report), or --live the zero-credit probe of the API."
    check = commands.add_parser(
        "contract-check",
        help=summary,
        description=f"{summary}\n\nexample:\n  evolink-images contract-check --junit report.xml -- -k schemathesis\n\n"
        "exit codes: pytest's (0 every test passed); with --live: 0 kept, 1 broken, 2 not sent (no key)",
        formatter_class=_formatter,
        parents=[_COMMON],
    )
    check.add_argument("--junit", default="contract-report.xml", help="the JUnit report (default contract-report.xml)")
    check.add_argument("--live", action="store_true", help="probe the live API at no cost (needs EVOLINK_API_KEY)")
    check.add_argument("--task-id", help="with --live, also read this existing task and check it against the spec")
    check.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="passed to pytest (after --)")
    return parser
