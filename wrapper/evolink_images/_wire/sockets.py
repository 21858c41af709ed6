"""The network backend that makes a call's deadline hold at the socket, for every connect, read and write.

Each connect, TLS handshake, read and write waits at most what is left of the deadline in force.
When the request may reach public addresses only (``reach.py``), the backend resolves the name
itself, refuses an internal answer, and connects to the address it checked.

httpx's transports are built on an httpcore connection pool, whose network backend opens the
sockets. ``install_deadline_backend`` wraps that backend, so that a status line, headers or a body
trickled one byte at a time cannot stretch a call past its budget: each read is shrunk to the time
left, and a read that starts after the deadline fails at once with ``DeadlineExceeded``.
"""

from __future__ import annotations

import socket
import ssl
import typing
from collections.abc import Iterable

import httpcore
import httpx

from . import reach
from .deadline import DeadlineExceeded, bounded, current, deadline_passed

__all__ = ["AsyncDeadlineBackend", "DeadlineBackend", "install_deadline_backend"]

_SocketOption = typing.Any  # httpcore's SOCKET_OPTION union, passed through untouched


def _timed_out(error: Exception) -> Exception:
    """A socket timeout that the deadline caused says so; any other is left as it is."""
    if isinstance(error, httpcore.TimeoutException) and deadline_passed(current()):
        return DeadlineExceeded("the call's time budget ran out")
    return error


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return self._inner.read(max_bytes, bounded(timeout))
        except httpcore.TimeoutException as error:
            raise _timed_out(error) from None

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self._inner.write(buffer, bounded(timeout))
        except httpcore.TimeoutException as error:
            raise _timed_out(error) from None

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        try:
            return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded(timeout)))
        except httpcore.TimeoutException as error:
            raise _timed_out(error) from None

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


def _resolve(host: str, port: int) -> list[typing.Any]:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:  # the resolver's IDNA codec raises UnicodeError
        raise httpx.ConnectError(f"{host[:80]!r} could not be resolved: {error}") from None


def _unresolvable(host: str, error: UnicodeError) -> httpcore.ConnectError:
    """A connect error for the resolver's UnicodeError (a label too long or empty), which httpcore passes on raw."""
    return httpcore.ConnectError(f"{host[:80]!r} could not be resolved: {error}")


def _checked_address(host: str, addresses: list[str]) -> str:
    """The address to connect to for ``host``, once every address it resolves to is public."""
    problem = reach.problem(host, addresses)
    if problem is not None:
        raise problem
    return addresses[0]


class DeadlineBackend(httpcore.NetworkBackend):
    """Wraps a sync httpcore backend so that every socket operation honours the deadline in force."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        if reach.public_only():
            host = _checked_address(host, [info[4][0] for info in _resolve(host, port)])
        try:
            stream = self._inner.connect_tcp(host, port, bounded(timeout), local_address, socket_options)
        except httpcore.TimeoutException as error:
            raise _timed_out(error) from None
        except UnicodeError as error:
            raise _unresolvable(host, error) from None
        return _Stream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[_SocketOption] | None = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - the client never opens unix sockets
        return _Stream(self._inner.connect_unix_socket(path, bounded(timeout), socket_options))

    def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore sleeps only between its own retries
        self._inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return await self._inner.read(max_bytes, bounded(timeout))
        except httpcore.TimeoutException as error:
            raise _timed_out(error) from None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            await self._inner.write(buffer, bounded(timeout))
        except httpcore.TimeoutException as error:
            raise _timed_out(error) from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, bounded(timeout)))
        except httpcore.TimeoutException as error:
            raise _timed_out(error) from None

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class AsyncDeadlineBackend(httpcore.AsyncNetworkBackend):
    """Wraps an async httpcore backend so that every socket operation honours the deadline in force."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if reach.public_only():
            import anyio

            try:
                found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as error:  # the resolver's IDNA codec raises UnicodeError
                raise httpx.ConnectError(f"{host[:80]!r} could not be resolved: {error}") from None
            host = _checked_address(host, [str(info[4][0]) for info in found])
        try:
            stream = await self._inner.connect_tcp(host, port, bounded(timeout), local_address, socket_options)
        except httpcore.TimeoutException as error:
            raise _timed_out(error) from None
        except UnicodeError as error:
            raise _unresolvable(host, error) from None
        return _AsyncStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[_SocketOption] | None = None
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover - the client never opens unix sockets
        return _AsyncStream(await self._inner.connect_unix_socket(path, bounded(timeout), socket_options))

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore sleeps only between its own retries
        await self._inner.sleep(seconds)


_Transport = typing.TypeVar("_Transport", httpx.HTTPTransport, httpx.AsyncHTTPTransport)


def install_deadline_backend(transport: _Transport) -> _Transport:
    """Make ``transport`` (one the client built itself) honour the deadline at its sockets; return it.

    httpx builds its httpcore pool without a way to pass a network backend, so the pool's backend is
    wrapped in place. A test pins the attribute, so an httpx upgrade that moves it fails loudly.
    """
    pool = transport._pool
    inner = pool._network_backend
    if isinstance(transport, httpx.HTTPTransport):
        pool._network_backend = inner if isinstance(inner, DeadlineBackend) else DeadlineBackend(inner)
    else:
        pool._network_backend = inner if isinstance(inner, AsyncDeadlineBackend) else AsyncDeadlineBackend(inner)
    return transport
