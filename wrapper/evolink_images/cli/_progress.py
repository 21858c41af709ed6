"""The live progress display shown on stderr while a task is polled.

On a terminal one line is redrawn in place; elsewhere (CI logs, pipes) each change is a new line.
It shows the status, the progress, the time elapsed and, when the create response gave an
estimate, the time expected to remain.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from .._task import Task
from ._output import cut, printable

__all__ = ["Progress"]


class Progress:
    """Called with each new state of a task (``on_update``); draws the progress line."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream or sys.stderr
        self._clock = clock
        self._start = clock()
        self._estimate: float | None = None
        self._live = self._stream.isatty()
        self._drawn = False

    def __call__(self, task: Task) -> None:
        if task.estimated_time is not None:
            self._estimate = task.estimated_time
        elapsed = self._clock() - self._start
        line = f"{cut(task.id, 80)}  {cut(task.status, 40):<10} {task.progress:>3}%  elapsed {elapsed:5.1f}s"
        if self._estimate is not None and not task.is_terminal:
            line += f"  ~{max(self._estimate - elapsed, 0):.0f}s left (estimate {self._estimate:.0f}s)"
        line = printable(line)
        if self._live:
            self._stream.write(f"\r\x1b[K{line}")
            self._drawn = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def finish(self) -> None:
        """End the live line, if one was drawn."""
        if self._live and self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
