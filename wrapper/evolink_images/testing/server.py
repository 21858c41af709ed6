"""The fake EvoLink over real HTTP on loopback.

For the demo, the schemathesis command line and clients in other languages:

    with FakeServer() as server:           # picks a free port on 127.0.0.1
        client = Client(server.fake.api_key, base_url=server.base_url)

Result images are served by the same server under ``/files``, and the file host's API (uploads, the
quota) under ``/api/v1/files/``: the client's ``files_base_url`` defaults to a loopback ``base_url``.
The server runs in a background thread and on real time (``time.monotonic``) unless given a fake
with another clock.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from .fake import FakeEvoLink, TaskPlan

__all__ = ["FakeServer"]

HANG_SECONDS = 30.0
"""How long a ``read_timeout`` fault holds the connection before hanging up."""


def _handler_class(fake: FakeEvoLink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            answer = fake.handle(self.command, f"{fake.base_url}{self.path}", headers, body)
            if answer.transport_fault is not None:
                if answer.transport_fault in {"read_timeout", "connect_timeout"}:
                    time.sleep(HANG_SECONDS)
                self.close_connection = True
                return
            self.send_response(answer.status)
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet; the fake records every request in ``fake.requests``."""

    return Handler


class FakeServer:
    """Serves a ``FakeEvoLink`` on ``http://127.0.0.1:<port>`` until stopped."""

    def __init__(self, fake: FakeEvoLink | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake or FakeEvoLink(clock=time.monotonic, plan=TaskPlan(duration=3.0))
        self._server = ThreadingHTTPServer((host, port), _handler_class(self.fake))
        self._server.daemon_threads = True
        bound_host, bound_port = self._server.server_address[:2]
        self.base_url = f"http://{bound_host!s}:{bound_port}"
        self.fake.base_url = self.base_url
        self.fake.files_url = f"{self.base_url}/files"
        self.fake.files_api_url = self.base_url
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-evolink", daemon=True)

    def start(self) -> FakeServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
