"""Test helpers for code that uses evolink-images: a fake EvoLink, its pytest fixture, the spec's schemas.

- ``FakeEvoLink`` (``fake``): the API and its file host (``file_host``) as a respx/MockTransport
  handler (``faults``, ``wire``, ``render``);
  it is also the type of the ``fake_evolink`` fixture: ``def test_x(fake_evolink: FakeEvoLink) -> None``.
- ``FakeClock`` (``clock``), ``TaskPlan``, ``RecordedRequest`` (``record``), and the typed names
  ``Outcome``, ``FaultKind`` and ``Target``.
- ``server``: ``FakeServer``, the same fake over HTTP on loopback.
- ``plugin``: the ``fake_evolink`` pytest fixture (registered through an entry point).
- ``spec``, ``payloads``: the spec's JSON schemas as validators, and valid bodies to start from.
- ``contract``: the contract suite, run by ``evolink-images contract-check``.

Needs the ``testing`` extra: ``pip install evolink-images[testing]``. The names are loaded on first
use, because pytest imports this package (for the plugin) wherever evolink-images is installed,
extra or not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clock import FakeClock
    from .fake import FakeEvoLink, Outcome, TaskPlan
    from .faults import FaultKind, Target
    from .record import RecordedRequest
    from .server import FakeServer

__all__ = ["FakeClock", "FakeEvoLink", "FakeServer", "FaultKind", "Outcome", "RecordedRequest", "Target", "TaskPlan"]

_HOMES = {
    "FakeClock": "clock",
    "FakeEvoLink": "fake",
    "Outcome": "fake",
    "TaskPlan": "fake",
    "FaultKind": "faults",
    "Target": "faults",
    "RecordedRequest": "record",
    "FakeServer": "server",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
