"""The pytest plugin importing teams get with ``pip install evolink-images[testing]``.

It provides one fixture, ``fake_evolink``: a ``FakeEvoLink`` answering for ``https://api.evolink.ai``
and its result host through a respx patch (no network), with ``EVOLINK_API_KEY`` set to the fake's
key. Code under test that builds its own ``Client()`` talks to the fake unchanged; tests that want
no real waiting use ``fake_evolink.client()``, which shares the fake's clock::

    def test_night_edit(fake_evolink):
        client = fake_evolink.client()
        task = client.run(WanImageToImage("Make it night", ["https://example.com/a.png"]))
        assert task.is_completed and fake_evolink.created == 1

Its imports are deferred: pytest loads this module whenever the package is installed, extras or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .fake import FakeEvoLink

__all__ = ["fake_evolink"]


@pytest.fixture
def fake_evolink(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEvoLink]:
    """A fake EvoLink behind a respx patch of its hosts, with ``EVOLINK_API_KEY`` set to its key."""
    import respx

    from .fake import FakeEvoLink

    fake = FakeEvoLink()
    monkeypatch.setenv("EVOLINK_API_KEY", fake.api_key)
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=fake.base_url).mock(side_effect=fake.handler)
        router.route(url__startswith=fake.files_url).mock(side_effect=fake.handler)
        yield fake
