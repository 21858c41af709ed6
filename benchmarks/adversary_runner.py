"""A user's own script around ``run_many``, for the adversary's kills.

``python -m benchmarks.adversary_runner sync|async FILE.jsonl JOURNAL OUT [TIMEOUT] [--resend-uncertain]``
(base URL from ``EVOLINK_BASE_URL``).

Prints one JSON line per item (index, outcome, state, error type) and exits 0 when every item is
done, 3 otherwise, 2 on a journal error, 130 on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from typing import Any

from evolink_images import (
    AsyncClient,
    BatchResult,
    Client,
    ImageEditRequest,
    JournalError,
    QwenImageEdit,
    WanImageToImage,
)


def request_of(line: dict[str, Any]) -> ImageEditRequest:
    """The request one JSON line describes."""
    fields = dict(line)
    model = fields.pop("model")
    if model == "qwen-image-edit":
        return QwenImageEdit(**fields)
    return WanImageToImage(**fields)


def read(path: str) -> Iterator[ImageEditRequest]:
    """The file's requests, read lazily, as a user's own script would."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield request_of(json.loads(line))


def report(results: list[BatchResult]) -> int:
    """Prints one JSON line per item; the exit status."""
    for r in results:
        error = type(r.error).__name__ if r.error else None
        print(json.dumps({"index": r.index, "outcome": r.outcome, "state": r.state, "error": error}))
    return 0 if all(r.ok for r in results) else 3


def main(argv: list[str]) -> int:
    """Runs the batch once."""
    mode, path, journal, out = argv[:4]
    timeout = float(argv[4]) if len(argv) > 4 and not argv[4].startswith("-") else 60.0
    resend = "--resend-uncertain" in argv
    try:
        if mode == "sync":
            with Client(max_retries=2) as client:
                results = client.run_many(
                    read(path), concurrency=4, journal=journal, save_to=out, timeout=timeout, resend_uncertain=resend
                )
        else:

            async def go() -> list[BatchResult]:
                async with AsyncClient(max_retries=2) as client:
                    return await client.run_many(
                        read(path),
                        concurrency=4,
                        journal=journal,
                        save_to=out,
                        timeout=timeout,
                        resend_uncertain=resend,
                    )

            results = asyncio.run(go())
    except JournalError as error:
        print(json.dumps({"journal_error": type(error).__name__, "message": str(error)}))
        return 2
    except KeyboardInterrupt:
        return 130
    return report(results)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
