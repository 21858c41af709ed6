"""A hostile HTTP/1.1 server on raw sockets, written from scratch for the adversary suite.

It shares nothing with the client or with the project's fake: it reads a request line, headers and
a Content-Length body with the socket module, then lets a *behaviour* write whatever bytes it likes
(trickled, endless, compressed into bombs, lying, redirecting, echoing a canary key). Every
behaviour stops when the peer goes away or when the server is closed, so no test can hang on it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_REQUEST_HEAD = 256 * 1024
ZERO_BLOCK = bytes(1024 * 1024)


@dataclass
class Received:
    """One request as the server read it off the socket."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


class Gone(Exception):
    """The peer closed the connection, or the server is stopping."""


class Conn:
    """The writing side handed to a behaviour: raw bytes, with the server's stop flag honoured."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.stop = stop

    def send(self, data: bytes) -> None:
        if self.stop.is_set():
            raise Gone
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise Gone from error

    def trickle(self, data: bytes, delay: float) -> None:
        """Send one byte at a time, `delay` seconds apart."""
        for index in range(len(data)):
            self.send(data[index : index + 1])
            if self.stop.wait(delay):
                raise Gone

    def hold(self, seconds: float = 120.0) -> None:
        """Say nothing for `seconds` (or until the server stops)."""
        self.stop.wait(seconds)
        raise Gone


Behaviour = Callable[[Conn, Received], None]


def head(status: int = 200, headers: dict[str, str] | None = None, reason: str = "OK") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response(
    status: int = 200,
    body: bytes | str | Any = b"",
    headers: dict[str, str] | None = None,
    reason: str = "OK",
) -> bytes:
    if isinstance(body, str):
        payload = body.encode()
    elif isinstance(body, bytes):
        payload = body
    else:
        payload = json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", "Connection": "close"}
    all_headers.update(headers or {})
    all_headers["Content-Length"] = str(len(payload))
    return head(status, all_headers, reason) + payload


def fixed(status: int = 200, body: bytes | str | Any = b"", **options: Any) -> Behaviour:
    data = response(status, body, **options)

    def behave(conn: Conn, request: Received) -> None:
        conn.send(data)

    return behave


def zeros_compressed(encodings: list[str]) -> Iterator[bytes]:
    """An endless stream of zeros, compressed once per encoding (the first applied first)."""
    compressors = []
    for encoding in encodings:
        wbits = 31 if encoding == "gzip" else 15
        compressors.append(zlib.compressobj(9, zlib.DEFLATED, wbits))
    while True:
        chunk = ZERO_BLOCK
        for compressor in compressors:
            chunk = compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if chunk:
            yield chunk


def bomb(encodings: list[str], content_type: str = "application/json", chunked: bool = True) -> Behaviour:
    """An endless compression bomb: `Content-Encoding` lists the encodings in the order applied."""

    def behave(conn: Conn, request: Received) -> None:
        headers = {"Content-Type": content_type, "Content-Encoding": ", ".join(encodings)}
        headers["Transfer-Encoding"] = "chunked"
        conn.send(head(200, headers))
        for chunk in zeros_compressed(encodings):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    return behave


def endless_chunked(content_type: str = "application/json", piece: bytes = b"[" * 4096) -> Behaviour:
    def behave(conn: Conn, request: Received) -> None:
        conn.send(head(200, {"Content-Type": content_type, "Transfer-Encoding": "chunked"}))
        while True:
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))

    return behave


def trickled(data: bytes, delay: float = 0.2, split: int | None = None) -> Behaviour:
    """Send `data[:split]` at once, then the rest one byte every `delay` seconds."""

    def behave(conn: Conn, request: Received) -> None:
        start = split or 0
        conn.send(data[:start])
        conn.trickle(data[start:], delay)

    return behave


def silent_after(data: bytes) -> Behaviour:
    def behave(conn: Conn, request: Received) -> None:
        conn.send(data)
        conn.hold()

    return behave


def silent() -> Behaviour:
    def behave(conn: Conn, request: Received) -> None:
        conn.hold()

    return behave


class AdversaryServer:
    """`with AdversaryServer() as server: server.route = lambda request: behaviour`."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.05)  # accept() polls the stop flag: closing does not wake it
        self.port = self.listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.stop = threading.Event()
        self.received: list[Received] = []
        self.route: Callable[[Received], Behaviour] = lambda request: fixed(404, {"error": {}})
        self.threads: list[threading.Thread] = []
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)

    def __enter__(self) -> AdversaryServer:
        accepter = threading.Thread(target=self._accept, daemon=True)
        accepter.start()
        self.threads.append(accepter)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stop.set()
        if self.threads:
            self.threads[0].join(timeout=2)  # the accepter, first started
        with contextlib.suppress(OSError):
            self.listener.close()
        with self.lock:
            sockets = list(self.sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self.threads:
            thread.join(timeout=2)

    def url(self, path: str) -> str:
        return self.base_url + path

    def requests(self, method: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if method is None or r.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len([r for r in self.received if r.method == method]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.arrived.wait(left)
        return True

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            with self.lock:
                self.sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            with self.lock:
                self.threads.append(thread)

    def _read_request(self, sock: socket.socket, buffer: bytearray) -> Received | None:
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > MAX_REQUEST_HEAD:
                return None
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buffer += chunk
        end = buffer.index(b"\r\n\r\n")
        text = bytes(buffer[:end]).decode("latin-1")
        del buffer[: end + 4]
        first, *lines = text.split("\r\n")
        method, target, _ = ([*first.split(" ", 2), "", ""])[:3]
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or "0")
        while len(buffer) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buffer += chunk
        body = bytes(buffer[:length])
        del buffer[:length]
        return Received(method, target, headers, body)

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(30)
        buffer = bytearray()
        try:
            while not self.stop.is_set():
                request = self._read_request(sock, buffer)
                if request is None:
                    return
                with self.arrived:
                    self.received.append(request)
                    self.arrived.notify_all()
                behaviour = self.route(request)
                behaviour(Conn(sock, self.stop), request)
                # Behaviours send Connection: close (or never end): one request per connection.
                return
        except (Gone, OSError):
            return
        finally:
            with contextlib.suppress(OSError):
                sock.close()
