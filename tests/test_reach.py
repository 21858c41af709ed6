"""A result host's name is checked where it is resolved, not only as written.

A public-looking name that resolves inside the network is never connected to, unless internal hosts
are allowed. The name ``cdn.example.com`` is made to resolve to 127.0.0.1 (``socket.getaddrinfo`` patched), which
is exactly what an internal DNS name or a rebinding answer does; the client's own transport, with
its socket-level checks, is used (no mock transport).
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
from pathlib import Path
from typing import Any

import pytest

from evolink_images import AsyncClient, Client, DownloadError, Task
from evolink_images._wire import reach
from evolink_images._wire.reach import problem

from .loopback import Answer, LoopbackServer

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.fixture
def server() -> Any:
    with LoopbackServer({"/r.png": Answer(200, {"content-type": "image/png"}, PNG)}) as running:
        yield running


@pytest.fixture
def cdn_resolves_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host  # anyio asks with bytes
        return real("127.0.0.1" if name == "cdn.example.com" else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def download(kind: str, server: LoopbackServer, folder: Path, **options: Any) -> list[Path]:
    task = Task(id="task-unified-1", status="completed", results=(f"http://cdn.example.com:{server.port}/r.png",))
    if kind == "sync":
        with Client("sk-evo-reach-0000000000") as client:
            return client.download(task, folder, timeout=10, **options)

    async def main() -> list[Path]:
        async with AsyncClient("sk-evo-reach-0000000000") as client:
            return await client.download(task, folder, timeout=10, **options)

    return asyncio.run(main())


@pytest.mark.usefixtures("cdn_resolves_to_loopback")
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_public_name_that_resolves_inside_the_network_is_never_contacted(
    kind: str, server: LoopbackServer, tmp_path: Path
) -> None:
    with pytest.raises(DownloadError, match=r"'cdn\.example\.com' resolves to the loopback host '127\.0\.0\.1'"):
        download(kind, server, tmp_path)
    assert server.seen == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("cdn_resolves_to_loopback")
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_same_name_is_fetched_when_internal_hosts_are_allowed(
    kind: str, server: LoopbackServer, tmp_path: Path
) -> None:
    [path] = download(kind, server, tmp_path, allow_internal_hosts=True)
    assert path.read_bytes() == PNG
    assert server.hits("/r.png") == 1


@pytest.mark.parametrize(
    ("addresses", "refused"),
    [
        (["8.8.8.8"], False),
        (["2606:4700::1111"], False),
        (["8.8.8.8", "10.0.0.7"], True),  # one internal answer among public ones is enough
        (["169.254.169.254"], True),
        (["::ffff:127.0.0.1"], True),
        (["fd00::1"], True),
        ([], True),
    ],
)
def test_every_address_a_name_resolves_to_must_be_public(addresses: list[str], refused: bool) -> None:
    assert (problem("cdn.example.com", addresses) is not None) is refused


def test_a_refusal_names_the_host_cut_to_80_characters_and_the_address() -> None:
    host = "h" * 100 + ".example.com"
    internal = "resolves to the non-public address 10.0.0.7 (written '10.0.0.7')"
    assert str(problem(host, ["10.0.0.7"])) == f"'{'h' * 80}' {internal}"
    assert str(problem(host, [])) == f"'{'h' * 80}' resolved to no address"
    assert str(problem("cdn.example.com", [])) == "'cdn.example.com' resolved to no address"


def test_the_rule_is_off_unless_entered_and_leaving_restores_what_was_in_force() -> None:
    assert not reach.public_only()
    outer = reach.enter(True)
    assert reach.public_only()
    inner = reach.enter(False)
    assert not reach.public_only()
    reach.leave(inner)
    assert reach.public_only()
    reach.leave(outer)
    assert not reach.public_only()


def test_the_rule_stays_in_its_own_context() -> None:
    seen: list[bool] = []
    token = reach.enter(True)
    try:
        contextvars.Context().run(lambda: seen.append(reach.public_only()))
    finally:
        reach.leave(token)
    assert seen == [False]
