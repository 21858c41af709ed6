"""Shared fixtures: a fake clock, a respx router standing in for EvoLink, and both clients on top of it.

``api_client`` is parametrised over the sync and async clients and gives both the same blocking face
(``Face``), so every behaviour test runs against both without being written twice.
"""

from __future__ import annotations

import asyncio
import inspect
import signal
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from evolink_images import AsyncClient, Client
from evolink_images.testing.fake import FakeClock

BASE_URL = "https://api.evolink.ai"
CANARY_KEY = "sk-evo-CANARY-5f1d2e7a9b"


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_raises() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt in the tests that simulate it, however the suite was started.

    A shell starts a background job with SIGINT ignored, and Python keeps that: ``_thread.interrupt_main``
    then does nothing, and a test of Ctrl-C fails for a reason that is not the code's.
    """
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=1000.0)


@pytest.fixture
def api() -> respx.Router:
    return respx.Router(assert_all_called=False)


class Face:
    """Calls a ``Client`` or ``AsyncClient`` the same way: coroutines are run to completion."""

    def __init__(self, client: Client | AsyncClient, loop: asyncio.AbstractEventLoop | None) -> None:
        self.client = client
        self.loop = loop
        self.is_async = loop is not None

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if inspect.isawaitable(result):
                assert self.loop is not None
                return self.loop.run_until_complete(result)
            return result

        return call


def make_face(kind: str, router: respx.Router, clock: FakeClock, **options: Any) -> Iterator[Face]:
    """Build a client of ``kind`` whose requests go to ``router``, and close it afterwards."""
    options.setdefault("api_key", CANARY_KEY)
    options.setdefault("max_retries", 2)
    if kind == "sync":
        http = httpx.Client(transport=httpx.MockTransport(router.handler))
        client = Client(http_client=http, clock=clock, sleep=clock.sleep, **options)
        yield Face(client, None)
        client.close()
        http.close()
        return
    loop = asyncio.new_event_loop()
    ahttp = httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler))
    aclient = AsyncClient(http_client=ahttp, clock=clock, sleep=clock.async_sleep, **options)
    yield Face(aclient, loop)
    loop.run_until_complete(aclient.close())
    loop.run_until_complete(ahttp.aclose())
    # As asyncio.run does: finalize async generators a test left suspended (3.13 warns otherwise).
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


@pytest.fixture(params=["sync", "async"])
def api_client(request: pytest.FixtureRequest, api: respx.Router, clock: FakeClock) -> Iterator[Face]:
    yield from make_face(request.param, api, clock)


@pytest.fixture(params=["sync", "async"])
def client_factory(
    request: pytest.FixtureRequest, api: respx.Router, clock: FakeClock
) -> Iterator[Callable[..., Face]]:
    """Build clients with custom options; each is closed at the end of the test."""
    made: list[Iterator[Face]] = []

    def factory(**options: Any) -> Face:
        generator = make_face(request.param, api, clock, **options)
        made.append(generator)
        return next(generator)

    yield factory
    for generator in made:
        next(generator, None)
