"""A small EvoLink look-alike on 127.0.0.1 that counts: POSTs per item, result downloads per task.

Written for the batch proofs (``benchmarks/batch.py``, ``benchmarks/crash_campaign.py``) on purpose
apart from the project's fake: it shares no code with the client, so it cannot share a bug with it,
and it keeps its counts in the process that survives the killed batch. An item is named by its
prompt (the proofs give every item its own). Tasks take ``duration`` seconds of real time.

Faults on demand: a share of POSTs answered 429 (``Retry-After`` in seconds or as an HTTP date), a
share of result downloads answered 503, a random delay before each POST's answer (to widen the
window in which a kill leaves a submit uncertain).

Run alone (``python -m benchmarks.loopback --duration 0.5``) it prints its URL and serves; ``GET
/stats`` returns its counts as JSON.
"""

from __future__ import annotations

import argparse
import email.utils
import itertools
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["CountingServer", "Faults"]

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@dataclass
class Faults:
    """Shares (0 to 1) of answers to spoil, and how."""

    post_429: float = 0.0
    retry_after_date: bool = False
    download_503: float = 0.0
    post_delay: float = 0.0
    """Up to this many seconds (uniformly drawn) before a POST is answered."""


@dataclass
class _Counts:
    posts: Counter[str] = field(default_factory=Counter)
    keys: dict[str, set[str]] = field(default_factory=dict)
    downloads: Counter[str] = field(default_factory=Counter)
    polls: int = 0
    refused: int = 0
    tasks: dict[str, tuple[str, float]] = field(default_factory=dict)


class _QuietServer(ThreadingHTTPServer):
    """Clients killed mid-request are the point of the exercise: their resets are not news."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class CountingServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 (a free port); ``start()``/``stop()`` or ``with``."""

    def __init__(self, duration: float = 0.5, faults: Faults | None = None, port: int = 0) -> None:
        self.duration = duration
        self.faults = faults or Faults()
        self.counts = _Counts()
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._random = random.Random(7)  # noqa: S311 - which answers to spoil, not secrets
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                server._post(self, body)

            def do_GET(self) -> None:
                server._get(self)

        self._http = _QuietServer(("127.0.0.1", port), Handler)
        self.base_url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def start(self) -> CountingServer:
        """Serve on a thread of this process."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> CountingServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """The counts, as JSON-ready data."""
        with self.lock:
            return {
                "posts": dict(self.counts.posts),
                "keys": {prompt: sorted(keys) for prompt, keys in self.counts.keys.items()},
                "downloads": dict(self.counts.downloads),
                "polls": self.counts.polls,
                "refused": self.counts.refused,
                "tasks": {task_id: prompt for task_id, (prompt, _) in self.counts.tasks.items()},
            }

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str, **headers: str) -> None:
        handler.send_response(status)
        handler.send_header("content-type", kind)
        handler.send_header("content-length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(body)

    def _json(self, handler: BaseHTTPRequestHandler, status: int, data: Any, **headers: str) -> None:
        self._send(handler, status, json.dumps(data).encode(), "application/json", **headers)

    def _task(self, task_id: str) -> dict[str, Any]:
        _, created = self.counts.tasks[task_id]
        elapsed = time.monotonic() - created
        done = elapsed >= self.duration
        body: dict[str, Any] = {
            "id": task_id,
            "object": "image.generation.task",
            "created": int(time.time()),
            "model": "qwen-image-edit",
            "status": "completed" if done else ("processing" if elapsed > 0 else "pending"),
            "progress": 100 if done else min(99, int(100 * elapsed / self.duration)),
            "type": "image",
            "task_info": {"can_cancel": not done, "estimated_time": max(1, round(self.duration))},
            "usage": {"billing_rule": "per_call", "credits_reserved": 1.0, "user_group": "default"},
        }
        if done:
            body["results"] = [f"{self.base_url}/files/{task_id}-0.png"]
        return body

    def _post(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        faults = self.faults
        if faults.post_delay:
            time.sleep(self._random.uniform(0, faults.post_delay))
        with self.lock:
            if faults.post_429 and self._random.random() < faults.post_429:
                self.counts.refused += 1
                when = email.utils.formatdate(time.time() + 1, usegmt=True) if faults.retry_after_date else "0"
                error = {"error": {"code": "rate_limit_exceeded", "message": "slow down", "type": "rate_limit"}}
                self._json(handler, 429, error, retry_after=when)
                return
            prompt = str(body.get("prompt"))
            self.counts.posts[prompt] += 1
            self.counts.keys.setdefault(prompt, set()).add(handler.headers.get("idempotency-key", ""))
            task_id = f"task-unified-{int(time.time())}-{next(self._ids):08d}"
            self.counts.tasks[task_id] = (prompt, time.monotonic())
            task = self._task(task_id)
        task["status"], task["progress"] = "pending", 0
        task.pop("results", None)
        self._json(handler, 200, task)

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        if path == "/stats":
            self._json(handler, 200, self.stats())
        elif path.startswith("/v1/tasks/"):
            with self.lock:
                self.counts.polls += 1
                known = path.removeprefix("/v1/tasks/") in self.counts.tasks
                task = self._task(path.removeprefix("/v1/tasks/")) if known else None
            if task is None:
                error = {"error": {"code": "task_not_found", "message": "no such task", "type": "invalid_request"}}
                self._json(handler, 404, error)
            else:
                self._json(handler, 200, task)
        elif path.startswith("/files/"):
            if self.faults.download_503 and self._random.random() < self.faults.download_503:
                self._send(handler, 503, b"busy", "text/plain")
                return
            with self.lock:
                self.counts.downloads[path.removeprefix("/files/").rsplit("-", 1)[0]] += 1
            self._send(handler, 200, PNG, "image/png")
        else:
            self._send(handler, 404, b"not found", "text/plain")


def main() -> None:
    """Serve until killed; print the URL first."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=0.5)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = CountingServer(args.duration, port=args.port)
    print(server.base_url, flush=True)
    server._http.serve_forever()


if __name__ == "__main__":
    main()
