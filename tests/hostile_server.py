"""A hostile HTTP server on 127.0.0.1, written on raw sockets: it shares none of the client's assumptions.

Each connection gets the request head read, then one ``Behaviour``: a function that writes whatever
bytes it likes to the socket, as slowly as it likes. It trickles status lines, headers and bodies,
goes silent, sends compression bombs and endless chunked bodies, garbles the status line, sends
headers too large to parse, loops redirects, and echoes the API key in every place an answer has.
Every behaviour stops by itself within ``LIFETIME`` seconds, or as soon as the client hangs up.
"""

from __future__ import annotations

import functools
import gzip
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["BEHAVIOURS", "LIFETIME", "Behaviour", "HostileServer", "Request", "build_bombs"]

LIFETIME = 8.0
"""No behaviour keeps a connection longer than this."""

BOMB_SIZE = 256 * 1024 * 1024
"""What a compression bomb decodes to: far beyond any cap, yet quick to build once."""


@dataclass(frozen=True)
class Request:
    """What the server read of a request."""

    method: str
    path: str
    head: bytes


class _Hangup(Exception):
    """The client closed the connection, or the behaviour's lifetime ran out."""


class Wire:
    """The socket, as a behaviour sees it: writes that stop when the client goes or time is up."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self._sock = sock
        self._stop = stop
        self._until = time.monotonic() + LIFETIME

    def send(self, data: bytes) -> None:
        if self._stop.is_set() or time.monotonic() > self._until:
            raise _Hangup
        try:
            self._sock.sendall(data)
        except OSError:
            raise _Hangup from None

    def trickle(self, data: bytes, every: float = 0.1) -> None:
        """Send ``data`` one byte at a time, ``every`` seconds apart."""
        for byte in data:
            self.send(bytes([byte]))
            self.pause(every)

    def pause(self, seconds: float) -> None:
        if self._stop.wait(seconds) or time.monotonic() > self._until:
            raise _Hangup

    def hold(self) -> None:
        """Say nothing more until the client hangs up or time is up."""
        self._sock.settimeout(0.05)
        while True:
            try:
                if self._sock.recv(1) == b"":
                    raise _Hangup
            except TimeoutError:
                pass
            except OSError:
                raise _Hangup from None
            self.pause(0.0)


Behaviour = Callable[[Wire, Request, "HostileServer"], None]


def _head(status: str = "200 OK", *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers]) + "\r\n\r\n").encode("latin-1")


def _task_body(request: Request) -> bytes:
    task_id = request.path.rsplit("/", 1)[-1] if request.method == "GET" else "task-unified-1-hostile"
    return f'{{"id": "{task_id}", "status": "processing", "progress": 10}}'.encode()


@functools.cache
def _bomb(layers: tuple[str, ...]) -> bytes:
    """``BOMB_SIZE`` zero bytes, compressed by each of ``layers`` in turn (innermost first)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31 if layers[0] == "gzip" else 15)
    zero = bytes(1024 * 1024)
    data = b"".join(compressor.compress(zero) for _ in range(BOMB_SIZE // len(zero))) + compressor.flush()
    for layer in layers[1:]:
        data = gzip.compress(data, 9) if layer == "gzip" else zlib.compress(data, 9)
    return data


def build_bombs() -> None:
    """Build every bomb once, up front (each takes about a second), so no case waits on the server."""
    for layers in _BOMB_LAYERS:
        _bomb(layers)


def trickle_status(wire: Wire, request: Request, server: HostileServer) -> None:
    wire.trickle(b"HTTP/1.1 200 OK\r\n" * 100)


def trickle_headers(wire: Wire, request: Request, server: HostileServer) -> None:
    wire.send(b"HTTP/1.1 200 OK\r\n")
    wire.trickle(b"X-Slow: " + b"a" * 10_000)


def trickle_body(wire: Wire, request: Request, server: HostileServer) -> None:
    body = _task_body(request)
    wire.send(_head("200 OK", "Content-Type: application/json", f"Content-Length: {len(body) + 10_000}"))
    wire.trickle(body + b" " * 10_000)


def silent_after_headers(wire: Wire, request: Request, server: HostileServer) -> None:
    wire.send(_head("200 OK", "Content-Type: application/json", "Content-Length: 100"))
    wire.hold()


def silent(wire: Wire, request: Request, server: HostileServer) -> None:
    wire.hold()


def endless_chunked(wire: Wire, request: Request, server: HostileServer) -> None:
    wire.send(_head("200 OK", "Content-Type: image/png", "Transfer-Encoding: chunked"))
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"\x89PNG\r\n\x1a\n" + bytes(64 * 1024 - 8))
    while True:
        wire.send(chunk)


def _bombing(*layers: str) -> Behaviour:
    def bomb(wire: Wire, request: Request, server: HostileServer) -> None:
        data = _bomb(layers)
        encoding = ", ".join(layers)
        content_type = "image/png" if request.method == "GET" and "/files/" in request.path else "application/json"
        wire.send(
            _head(
                "200 OK",
                f"Content-Type: {content_type}",
                f"Content-Encoding: {encoding}",
                f"Content-Length: {len(data)}",
            )
        )
        wire.send(data)

    return bomb


def huge_body(wire: Wire, request: Request, server: HostileServer) -> None:
    wire.send(_head("200 OK", "Content-Type: application/json", f"Content-Length: {2 * 1024**3}"))
    chunk = b'{"id": "' + b"x" * (1024 * 1024)
    while True:
        wire.send(chunk)


def huge_headers(wire: Wire, request: Request, server: HostileServer) -> None:
    wire.send(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Junk-%d: %s\r\n" % (i, b"j" * 1000) for i in range(1000)) + b"\r\n")


def garbled_status(wire: Wire, request: Request, server: HostileServer) -> None:
    wire.send(b"HTTZ/9.9 banana split\r\nContent-Length: 2\r\n\r\n{}")


def redirect_loop(wire: Wire, request: Request, server: HostileServer) -> None:
    wire.send(_head("302 Found", f"Location: {server.url}{request.path}", "Content-Length: 0"))


def _echo_in_task(status: str, message_of: Callable[[str], str]) -> Behaviour:
    def echo(wire: Wire, request: Request, server: HostileServer) -> None:
        task_id = request.path.rsplit("/", 1)[-1] if request.method == "GET" else "task-unified-1-hostile"
        error = {"code": "service_error", "message": message_of(server.key)}
        body = json.dumps({"id": task_id, "status": status.format(key=server.key), "progress": 5, "error": error})
        data = body.replace("\\\\u", "\\u").encode()
        wire.send(_head("200 OK", "Content-Type: application/json", f"Content-Length: {len(data)}") + data)

    return echo


def _escaped(key: str) -> str:
    """The key as JSON may write it: every character escaped as backslash-u and four hex digits."""
    return "".join(f"\\u{ord(ch):04x}" for ch in key)


def echo_key(wire: Wire, request: Request, server: HostileServer) -> None:
    key = server.key
    body = f'{{"error": {{"code": "unauthorized", "message": "Incorrect API key provided: {key}"}}}}'.encode()
    wire.send(
        _head(
            f"401 Bad key {key}",
            "Content-Type: application/json",
            f"x-request-id: req-{key}",
            f"Location: https://example.com/?k={key}",
            f"Content-Length: {len(body)}",
        )
        + body
    )


_BOMB_LAYERS = (("gzip",), ("deflate",), ("gzip", "gzip"))

BEHAVIOURS: dict[str, Behaviour] = {
    "trickled status line": trickle_status,
    "trickled headers": trickle_headers,
    "trickled body": trickle_body,
    "silent after headers": silent_after_headers,
    "silent": silent,
    "endless chunked body": endless_chunked,
    "gzip bomb": _bombing("gzip"),
    "deflate bomb": _bombing("deflate"),
    "stacked gzip bomb": _bombing("gzip", "gzip"),
    "2 GiB body": huge_body,
    "1 MB of headers": huge_headers,
    "garbled status line": garbled_status,
    "redirect loop": redirect_loop,
    "echoed key": echo_key,
    "key in a failed task": _echo_in_task("failed", lambda key: f"no access for {key}"),
    "key escaped in a task": _echo_in_task("failed", _escaped),
    "key in the status": _echo_in_task("stuck-{key}", lambda key: "fine"),
}


@dataclass
class HostileServer:
    """Serves ``behaviour`` to every connection on a free port of 127.0.0.1 until closed."""

    behaviour: Behaviour = silent
    key: str = "sk-evo-hostile-canary-0123456789"
    requests: list[Request] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)
        self._thread.start()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), name="hostile-conn", daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            sock.settimeout(2.0)
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    data = sock.recv(65536)
                    if not data:
                        return
                    head += data
                request_line = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
                request = Request(request_line[0], request_line[1] if len(request_line) > 1 else "/", head)
                self.requests.append(request)
                self.behaviour(Wire(sock, self._stop), request, self)
            except (_Hangup, OSError):
                return
