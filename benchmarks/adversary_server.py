"""An adversary's EvoLink on 127.0.0.1, written from scratch on ``socketserver``, for batch attacks.

It shares nothing with the client or the project's fakes: it parses HTTP/1.1 itself, counts every
POST per request body (canonical JSON) and every result download per task, serves real PNG
results, and misbehaves on demand (a rule per prompt). It honours ``Idempotency-Key`` (a POST with
a key it has seen returns the task that key made, without a new task), like a gateway that keeps
its promise, so "tasks created" and "POSTs sent" are counted apart.

Prompt markers (anything in the prompt) choose an item's fate:

- ``[fail]``: the task fails; ``[cancel]``: it is cancelled; ``[slow]``: it takes ``slow_seconds``;
- ``[400]``, ``[401]``, ``[402]``, ``[403]``, ``[429]``, ``[503]``: POST answered with that status (no
  task made) while the status is in ``refuse`` (so a test can "fix the key" by emptying the set);
- ``[500]``: the task is made (and paid), then the POST is answered 500;
- ``[est-str]``: the create answer has ``"estimated_time": "30"``.

Server-wide switches: ``results_status`` (an int makes every download answer it), ``poll_status``
(the same for every task read), ``post_429_once``
(the first POST of each body gets 429 with an HTTP-date ``Retry-After`` ``retry_after_s`` ahead),
``post_delay`` (seconds before each POST answer), ``post_429_rate`` (random 429s) and
``download_503_rate`` (random 503s).
"""

from __future__ import annotations

import email.utils
import json
import random
import socket
import socketserver
import struct
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def png_bytes(seed: int) -> bytes:
    """A real 8x8 PNG whose colour depends on ``seed``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    pixel = bytes([seed % 256, (seed // 256) % 256, 128])
    raw = b"".join(b"\x00" + pixel * 8 for _ in range(8))
    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def canonical(body: Any) -> str:
    """The key a request body's POSTs are counted under."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class _Task:
    id: str
    body: dict[str, Any]
    created: float
    duration: float
    fate: str  # completed, failed, cancelled
    n: int


@dataclass
class State:
    """What the server counts, and how it misbehaves (set between runs)."""

    task_seconds: float = 0.3
    slow_seconds: float = 30.0
    post_delay: float = 0.0
    post_429_rate: float = 0.0
    download_503_rate: float = 0.0
    post_429_once: bool = False
    retry_after_s: float = 2.0
    results_status: int | None = None
    poll_status: int | None = None
    refuse: set[int] = field(default_factory=lambda: {400, 401, 402, 403, 429, 500, 503})
    posts: Counter[str] = field(default_factory=Counter)
    created: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    keys: dict[str, list[str]] = field(default_factory=dict)
    downloads: Counter[str] = field(default_factory=Counter)
    polls: int = 0
    tasks: dict[str, _Task] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seq: int = 0

    def snapshot(self) -> dict[str, Any]:
        """A copy of the counts."""
        with self.lock:
            return {
                "posts": dict(self.posts),
                "created": dict(self.created),
                "accepted": dict(self.accepted),
                "downloads": dict(self.downloads),
                "keys": {k: list(v) for k, v in self.keys.items()},
                "tasks": {t.id: canonical(t.body) for t in self.tasks.values()},
                "polls": self.polls,
            }


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        try:
            while self._one():
                pass
        except (OSError, ValueError):
            return

    def _one(self) -> bool:
        line = self.rfile.readline(65537)
        if not line:
            return False
        try:
            method, target, _version = line.decode("latin-1").split(" ", 2)
        except ValueError:
            return False
        headers: dict[str, str] = {}
        while True:
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or "0")
        body = self.rfile.read(length) if length else b""
        status, extra, payload, ctype = self.server.route(method, target, headers, body)
        reason = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error"}.get(status, "X")
        head = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {ctype}", f"Content-Length: {len(payload)}"]
        head += [f"{k}: {v}" for k, v in extra.items()]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        self.wfile.flush()
        return headers.get("connection", "").lower() != "close"


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: State

    def route(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes, str]:
        st = self.state
        if method == "POST" and target == "/v1/images/generations":
            return self._create(st, headers, body)
        if method == "GET" and target.startswith("/v1/tasks/"):
            return self._task(st, target.rsplit("/", 1)[1])
        if method == "GET" and target.startswith("/results/"):
            return self._result(st, target.rsplit("/", 1)[1])
        return _json(404, {"error": {"code": "not_found", "message": "no route"}})

    def _create(self, st: State, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes, str]:
        if st.post_delay:
            time.sleep(random.uniform(0, st.post_delay))  # noqa: S311 - timing, not secrets
        body = json.loads(raw)
        key = canonical(body)
        prompt = str(body.get("prompt", ""))
        idem = headers.get("idempotency-key", "")
        with st.lock:
            st.posts[key] += 1
            st.keys.setdefault(key, []).append(idem)
            first = st.posts[key] == 1
            for code in (400, 401, 402, 403, 429, 503):
                if f"[{code}]" in prompt and code in st.refuse:
                    extra = {"Retry-After": "0"} if code in (429, 503) else {}
                    return _json(code, {"error": {"code": "refused", "message": f"refused {code}"}}, extra)
            if (st.post_429_once and first) or random.random() < st.post_429_rate:  # noqa: S311 - not a secret
                when = email.utils.formatdate(time.time() + st.retry_after_s, usegmt=True)
                return _json(429, {"error": {"code": "rate_limit_exceeded", "message": "slow"}}, {"Retry-After": when})
            st.accepted[key] += 1
            if idem and idem in st.by_key:
                task = st.tasks[st.by_key[idem]]
            else:
                st.seq += 1
                tid = f"task-unified-{int(time.time())}-{st.seq:08d}"
                fate = "failed" if "[fail]" in prompt else "cancelled" if "[cancel]" in prompt else "completed"
                duration = st.slow_seconds if "[slow]" in prompt else st.task_seconds
                task = _Task(tid, body, time.monotonic(), duration, fate, int(body.get("n", 1) or 1))
                st.tasks[tid] = task
                st.created[key] += 1
                if idem:
                    st.by_key[idem] = tid
        if "[500]" in prompt and 500 in st.refuse:
            return _json(500, {"error": {"code": "internal_error", "message": "made it, then broke"}})
        answer = self._body(task, "pending", 0)
        answer["task_info"] = {"can_cancel": True, "estimated_time": "30" if "[est-str]" in prompt else task.duration}
        return _json(200, answer)

    def _body(self, task: _Task, status: str, progress: int) -> dict[str, Any]:
        port = self.server_address[1]
        out: dict[str, Any] = {
            "id": task.id,
            "created": int(time.time()),
            "model": task.body.get("model"),
            "object": "image.generation.task",
            "status": status,
            "progress": progress,
            "type": "image",
        }
        if status == "completed":
            out["results"] = [f"http://127.0.0.1:{port}/results/{task.id}-{i}.png" for i in range(task.n)]
        if status in ("failed", "cancelled"):
            code = "content_policy_violation" if status == "failed" else "request_cancelled"
            out["error"] = {"code": code, "message": status, "type": "task_error"}
        return out

    def _task(self, st: State, tid: str) -> tuple[int, dict[str, str], bytes, str]:
        with st.lock:
            st.polls += 1
            task = st.tasks.get(tid)
        if st.poll_status is not None:
            return _json(st.poll_status, {"error": {"code": "unauthorized", "message": "poll refused"}})
        if task is None:
            return _json(404, {"error": {"code": "task_not_found", "message": "no such task"}})
        age = time.monotonic() - task.created
        if age >= task.duration:
            return _json(200, self._body(task, task.fate, 100))
        return _json(200, self._body(task, "processing", int(100 * age / task.duration)))

    def _result(self, st: State, name: str) -> tuple[int, dict[str, str], bytes, str]:
        tid = name.rsplit("-", 1)[0]
        with st.lock:
            st.downloads[tid] += 1
            seed = st.downloads[tid] + len(tid)
        if st.results_status is not None:
            return _json(st.results_status, {"error": "result host down"})
        if random.random() < st.download_503_rate:  # noqa: S311 - not a secret
            return _json(503, {"error": "busy"})
        return 200, {}, png_bytes(seed), "image/png"


def _json(status: int, body: Any, extra: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes, str]:
    return status, dict(extra or {}), json.dumps(body).encode(), "application/json"


class AdversaryServer:
    """Runs the server on a free loopback port in a thread; ``state`` holds the counts."""

    def __init__(self, state: State | None = None) -> None:
        self.state = state or State()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> AdversaryServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def refused_url() -> str:
    """A loopback URL nothing listens on (a port bound, then closed)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"
