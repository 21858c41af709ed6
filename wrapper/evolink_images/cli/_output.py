"""What the command prints: every line redacted (the API key never shows), every echoed value cut short.

The library redacts what the API sends back; the command line redacts again whatever it prints, its
own messages included, so that no path (an unexpected exception's text, a task field, a file name)
can show the key. Values are cut in the middle, so that a message's start (what failed) and its
end (the task id and how to resume) both survive.
"""

from __future__ import annotations

import os

from .._config import ENV_API_KEY

__all__ = ["READABLE", "cut", "redact"]

READABLE = 400
"""The most characters of one message (or one violation) echoed; the middle of a longer one is cut."""


def redact(text: str) -> str:
    """Remove the API key (from ``EVOLINK_API_KEY``) from a line the command prints."""
    key = os.environ.get(ENV_API_KEY, "").strip()
    return text.replace(key, "<redacted>") if len(key) >= 8 and key in text else text


def cut(text: str, limit: int = READABLE) -> str:
    """Shorten ``text`` to about ``limit`` characters, keeping its start and its end."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} [... {len(text) - 2 * half} characters cut ...] {text[-half:]}"
