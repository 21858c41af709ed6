"""The pytest plugin importing teams get with ``pip install evolink-images[testing]``.

It provides one fixture, ``fake_evolink``: a ``FakeEvoLink`` answering for ``https://api.evolink.ai``,
its file host (``https://files-api.evolink.ai``) and its result host through a respx patch (no
network), with ``EVOLINK_API_KEY`` set to the fake's key::

    from evolink_images.testing import FakeEvoLink

    def test_night_edit(fake_evolink: FakeEvoLink) -> None:
        task = fake_evolink.client().run(WanImageToImage("Make it night", ["https://example.com/a.png"]))
        assert task.is_completed and fake_evolink.created == 1

Only EvoLink's hosts are intercepted: a request to any other host (the team's own service on
loopback, say) passes through to the real network stack.

Code under test that builds its own ``Client()`` or ``AsyncClient()`` reaches the fake unchanged and
still takes no real time: while the fixture is active, a client built without ``clock``/``sleep``
gets the fake's. Why patch the defaults rather than follow real time, scaled? A scaled real clock
still waits for real (a 10-minute task at x100 is 6 s of CI, and every poll a real sleep), and
makes the fake's timeline depend on the machine's load; a shared simulated clock makes such a
test take milliseconds and gives the same timeline on every run. The patch is undone when the test
ends; a client given its own ``clock`` or ``sleep`` keeps them.

Its imports are deferred: pytest loads this module whenever the package is installed, extras or not.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .fake import FakeEvoLink

__all__ = ["fake_evolink"]


@pytest.fixture
def fake_evolink(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEvoLink]:
    """A fake EvoLink behind a respx patch of its hosts, with ``EVOLINK_API_KEY`` set to its key."""
    import respx

    from evolink_images import AsyncClient, Client

    from .clock import FakeClock
    from .fake import FakeEvoLink

    clock = FakeClock()
    fake = FakeEvoLink(clock=clock)
    monkeypatch.setenv("EVOLINK_API_KEY", fake.api_key)
    # A developer's own setting must not send a test's requests elsewhere.
    monkeypatch.delenv("EVOLINK_BASE_URL", raising=False)
    _default_clock(monkeypatch, Client, clock, clock.sleep)
    _default_clock(monkeypatch, AsyncClient, clock, clock.async_sleep)
    with respx.mock(assert_all_called=False, assert_all_mocked=False) as router:
        router.route(url__startswith=fake.base_url).mock(side_effect=fake.handler)
        router.route(url__startswith=fake.files_url).mock(side_effect=fake.handler)
        router.route(url__startswith=fake.files_api_url).mock(side_effect=fake.handler)
        router.route().pass_through()  # every other host: the real transport, untouched
        yield fake


def _default_clock(
    monkeypatch: pytest.MonkeyPatch, cls: type[Any], clock: Callable[[], float], sleep: Callable[..., Any]
) -> None:
    """Make ``cls(...)`` default to the fake's clock and sleep for the rest of the test."""
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("clock") is None and kwargs.get("sleep") is None:
            kwargs["clock"], kwargs["sleep"] = clock, sleep
        original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__init__", __init__)
