"""A scripted HTTP server on 127.0.0.1, for tests where a real socket matters (lying hosts, redirects, echoes).

Each route answers with a fixed status, headers and body; every request is recorded with its headers,
so a test can assert what reached the server and what never did.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx

__all__ = ["Answer", "LoopbackServer", "ToLoopback"]


@dataclass(frozen=True)
class Answer:
    """What a route sends back."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    """Seconds of silence before the status line."""


@dataclass(frozen=True)
class Seen:
    """One request that reached the server."""

    method: str
    path: str
    headers: dict[str, str]


class LoopbackServer:
    """Serves ``routes`` (path -> ``Answer``) on ``http://127.0.0.1:<port>``; 404 elsewhere."""

    def __init__(self, routes: dict[str, Answer] | None = None) -> None:
        self.routes: dict[str, Answer] = dict(routes or {})
        self.seen: list[Seen] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                owner.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                answer = owner.routes.get(self.path.split("?", 1)[0], Answer(404, body=b"no such route"))
                time.sleep(answer.delay)  # the server's own silence, not the test's: tests never sleep
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up first (a refused body, a spent budget): as it may

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    def hits(self, path: str) -> int:
        """How many requests reached ``path``."""
        return sum(1 for seen in self.seen if seen.path.split("?", 1)[0] == path)


class ToLoopback(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Sends every request to the loopback server whatever its host (so a "public" host can be tested).

    The URL keeps its host for the client's checks; only the connection goes to 127.0.0.1.
    """

    def __init__(self, server: LoopbackServer) -> None:
        self._server = server
        self._sync = httpx.HTTPTransport()
        self._async = httpx.AsyncHTTPTransport()

    def _rewrite(self, request: httpx.Request) -> httpx.Request:
        url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._server.port)
        return httpx.Request(
            request.method, url, headers=request.headers, content=request.content, extensions=request.extensions
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._sync.handle_request(self._rewrite(request))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._async.handle_async_request(self._rewrite(request))

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        await self._async.aclose()


def paths(server: LoopbackServer) -> Iterator[str]:
    """Every path that reached the server, in order."""
    return (seen.path for seen in server.seen)
