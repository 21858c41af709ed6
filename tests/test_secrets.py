"""The API key, as a canary: never in a repr, a str, a log line at DEBUG, an error, CLI output, or another host."""

from __future__ import annotations

import asyncio
import gc
import logging
import types
from pathlib import Path

import httpx
import pytest

from evolink_images import AsyncClient, Client, WanImageToImage
from evolink_images.cli import main
from evolink_images.testing.fake import FakeEvoLink, TaskPlan
from evolink_images.testing.server import FakeServer

from .conftest import CANARY_KEY


def reachable(root: object, limit: int = 20_000) -> list[object]:
    """Every object reachable from ``root`` through references (bounded), up to the transport.

    The transport stands for the network: what lies beyond it (here, the fake's own objects) is
    the server's, not the client's.
    """
    seen: dict[int, object] = {}
    stack = [root]
    while stack and len(seen) < limit:
        item = stack.pop()
        # Classes, modules and functions lead to global state (a function's __globals__), not to what
        # the client holds: they are leaves, as is the transport.
        if id(item) in seen or isinstance(item, type | type(logging) | types.FunctionType | httpx.MockTransport):
            continue
        seen[id(item)] = item
        stack.extend(gc.get_referents(item))
    return list(seen.values())


def shows_key(item: object) -> bool:
    if isinstance(item, str | bytes | bytearray):
        return False  # the key's own string: what matters is that nothing shows it
    try:
        return CANARY_KEY in repr(item) or CANARY_KEY in str(item)
    except Exception:
        return False


def test_nothing_reachable_from_a_used_client_shows_the_key_in_its_repr_or_str() -> None:
    fake = FakeEvoLink(api_key=CANARY_KEY, plan=TaskPlan(duration=0))
    with Client(CANARY_KEY, transport=httpx.MockTransport(fake.handler)) as client:
        client.get_task(client.submit(WanImageToImage("x", ["https://example.com/a.png"])).id)
        leaks = [type(item).__name__ for item in reachable(client) if shows_key(item)]
    assert leaks == []


def test_nothing_reachable_from_a_used_async_client_shows_the_key() -> None:
    fake = FakeEvoLink(api_key=CANARY_KEY, plan=TaskPlan(duration=0))

    async def use() -> list[str]:
        async with AsyncClient(CANARY_KEY, transport=httpx.MockTransport(fake.handler)) as client:
            await client.submit(WanImageToImage("x", ["https://example.com/a.png"]))
            return [type(item).__name__ for item in reachable(client) if shows_key(item)]

    assert asyncio.run(use()) == []


def test_a_real_exchange_logged_at_debug_everywhere_never_shows_the_key_nor_sends_it_elsewhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx's and httpcore's
    fake = FakeEvoLink(api_key=CANARY_KEY, plan=TaskPlan(duration=0))
    with FakeServer(fake) as server, Client(CANARY_KEY, base_url=server.base_url) as client:
        task = client.run(WanImageToImage("x", ["https://example.com/a.png"]), timeout=30)
        client.download(task, tmp_path)
        fake.inject("server_error", target="GET", times=5)
        with pytest.raises(Exception) as caught:  # noqa: PT011 - any error: its text is what is checked
            client.get_task(task.id)
    lines = [record.getMessage() for record in caplog.records]
    assert any("httpcore" in record.name for record in caplog.records), "httpcore's DEBUG log was not captured"
    assert all(CANARY_KEY not in line for line in lines)
    assert CANARY_KEY not in str(caught.value)
    assert fake.auth_sent_to_files == 0


def test_an_unexpected_error_in_the_cli_is_one_line_without_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", CANARY_KEY)

    def broken(base_url: str | None) -> Client:
        raise RuntimeError(f"something odd happened near {CANARY_KEY}")

    assert main(["status", "task-1", "--json"], client_factory=broken) == 1
    out, err = capsys.readouterr()
    assert err.startswith("error: unexpected RuntimeError")
    assert "Traceback" not in err
    assert err.count("\n") == 1
    assert CANARY_KEY not in out + err
