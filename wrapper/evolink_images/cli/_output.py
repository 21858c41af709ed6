"""What the command prints: every line redacted (the API key never shows), every echoed value cut short.

The library redacts what the API sends back; the command line redacts again whatever it prints, its
own messages included, so that no path (an unexpected exception's text, a task field, a file name)
can show the key. A server's text reaches a terminal too, so control characters (escape sequences
that clear the screen or retitle the window) and lone surrogates (which stdout cannot encode) are
printed as escapes. Values are cut in the middle, so that a message's start (what failed) and its
end (the task id and how to resume) both survive.
"""

from __future__ import annotations

import os
import re

from .._config import ENV_API_KEY

__all__ = ["READABLE", "cut", "printable", "redact"]

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


_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""C0 and C1 controls but tab and newline, the bidirectional overrides, and lone surrogates."""


def printable(text: str) -> str:
    """``text`` as the command may print it: redacted, every control character shown as an escape."""
    text = redact(text)
    return _UNPRINTABLE.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)
