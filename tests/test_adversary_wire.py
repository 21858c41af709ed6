"""The client against a hostile server written from scratch (tests/adversary_server.py), not the fake.

Written from the README and the issues only, before reading the client: every case is bounded by a
budget of about a second, asserts the wall time (budget plus 2 s of slack for a busy machine), the
exception type (only the tree in ``_errors.py``), the peak memory where a body is involved, and that
the canary key reaches no exception attribute, log record or line of the command's output.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
import types
import zlib
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from evolink_images import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    Client,
    DownloadError,
    EvoLinkError,
    RequestValidationError,
    Task,
    WaitTimeoutError,
    WanImageToImage,
    parse_callback,
    validate,
)
from tests.adversary_server import (
    ZERO_BLOCK,
    AdversaryServer,
    Behaviour,
    Conn,
    Received,
    bomb,
    endless_chunked,
    fixed,
    head,
    response,
    silent,
    silent_after,
    trickled,
)

KEY = "sk-evo-CANARY0123456789abcdefXYZ"
KEY_PIECES = [KEY[i : i + 10] for i in range(len(KEY) - 9)]
BUDGET = 1.0
WAIT = 1.5
SLACK = 2.0
TASK_ID = "task-unified-1700000000-adversary"
PUBLIC_IMAGE = "https://example.com/a.png"
CLI = Path(sys.executable).with_name("evolink-images")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def task_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": TASK_ID,
        "object": "image.generation.task",
        "created": 1700000000,
        "model": "wan2.5-image-to-image",
        "status": "pending",
        "progress": 0,
        "type": "image",
        "task_info": {"can_cancel": True, "estimated_time": 30},
        "usage": {"billing_rule": "per_call", "credits_reserved": 1.2, "user_group": "default"},
    }
    body.update(fields)
    return body


def png_bytes(width: int = 400, height: int = 400) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = png_bytes()


@pytest.fixture
def server() -> Iterator[AdversaryServer]:
    with AdversaryServer() as running:
        yield running


# --- walking what escapes ------------------------------------------------------------------------


def holds_key(text: str) -> bool:
    return any(piece in text for piece in KEY_PIECES)


def key_paths(value: object, path: str = "error", seen: set[int] | None = None, depth: int = 0) -> list[str]:
    """Every place under `value` (attributes, args, notes, causes, containers) that holds the key."""
    seen = set() if seen is None else seen
    if isinstance(value, (bytes, bytearray)):
        return [path] if holds_key(bytes(value).decode("latin-1")) else []
    if isinstance(value, str):
        return [path] if holds_key(value) else []
    if value is None or isinstance(value, (int, float, bool, types.ModuleType, type)) or depth > 12:
        return []
    if id(value) in seen:
        return []
    seen.add(id(value))
    found: list[str] = []
    for show, label in ((repr, " (repr)"), (str, " (str)")):
        try:
            text = show(value)
        except Exception as error:  # a repr that fails is reported by what it raised
            text = f"{type(error).__name__}: {error}"
        if holds_key(text):
            found.append(path + label)
    children: list[tuple[str, object]] = []
    if isinstance(value, BaseException):
        for name in ("args", "__notes__", "__cause__", "__context__"):
            children.append((name, getattr(value, name, None)))
    if isinstance(value, dict):
        children += [(f"[{key!r}]", item) for key, item in value.items()]
        children += [(f"key {key!r}", key) for key in value]
    elif isinstance(value, (list, tuple, set, frozenset)):
        children += [(f"[{index}]", item) for index, item in enumerate(value)]
    elif isinstance(value, (httpx.Headers, httpx.Cookies)):
        children += [(f"[{key!r}]", item) for key, item in value.items()]
    names = set(getattr(value, "__dict__", {}))
    for klass in type(value).__mro__:
        slots = getattr(klass, "__slots__", ())
        names.update([slots] if isinstance(slots, str) else slots)
    names.update(["request", "response", "headers", "content", "url", "reason_phrase", "message"])
    for name in sorted(names):
        if name.startswith("__") and name not in ("__notes__",):
            continue
        try:
            child = getattr(value, name)
        except Exception as error:  # a property that cannot be read is walked as what it raised
            child = error
        if callable(child) and not isinstance(child, (str, bytes, dict)):
            continue
        children.append((name, child))
    for name, child in children:
        found += key_paths(child, f"{path}.{name}" if not name.startswith("[") else path + name, seen, depth + 1)
    return found


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")


@pytest.fixture
def every_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    """Every logger at DEBUG (httpx, httpcore and ours included), captured at the root."""
    monkeypatch.setenv("EVOLINK_LOG", "debug")
    handler = Captured()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    touched = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "evolink_images")}
    ours = list(logging.getLogger("evolink_images").handlers)  # EVOLINK_LOG adds one: not beyond this test
    for name in touched:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, level in touched.items():
            logging.getLogger(name).setLevel(level)
        logging.getLogger("evolink_images").handlers[:] = ours


# --- running one call, sync and async side by side -----------------------------------------------

Outcome = tuple[BaseException | None, object, float]


def timed(call: Callable[[], object]) -> Outcome:
    start = time.monotonic()
    try:
        return None, call(), time.monotonic() - start
    except BaseException as error:  # the test asserts what it is
        return error, None, time.monotonic() - start


def run_async(make: Callable[[AsyncClient], Coroutine[Any, Any, object]], base_url: str) -> object:
    async def go() -> object:
        async with AsyncClient(KEY, base_url=base_url, timeout=BUDGET) as client:
            return await make(client)

    return asyncio.run(go())


def side_by_side(
    base_url: str,
    sync_call: Callable[[Client], object],
    async_call: Callable[[AsyncClient], Coroutine[Any, Any, object]],
) -> dict[str, Outcome]:
    """Run the sync and the async client at once (each in its own thread); both answers, timed."""
    outcomes: dict[str, Outcome] = {}

    def sync_side() -> None:
        with Client(KEY, base_url=base_url, timeout=BUDGET) as client:
            outcomes["sync"] = timed(lambda: sync_call(client))

    def async_side() -> None:
        outcomes["async"] = timed(lambda: run_async(async_call, base_url))

    threads = [threading.Thread(target=sync_side), threading.Thread(target=async_side)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT + 3 * SLACK)
    assert set(outcomes) == {"sync", "async"}, "a call did not end"
    return outcomes


def full_task_answer() -> bytes:
    return response(200, task_body())


def full_image_answer() -> bytes:
    return response(200, PNG, headers={"Content-Type": "image/png"})


def slow_behaviours(answer: bytes) -> dict[str, Behaviour]:
    status_end = answer.index(b"\r\n") + 2
    head_end = answer.index(b"\r\n\r\n") + 4
    return {
        "trickled status line": trickled(answer, 0.15),
        "trickled headers": trickled(answer, 0.1, split=status_end),
        "trickled body": trickled(answer, 0.1, split=head_end),
        "silent after the headers": silent_after(answer[:head_end].replace(b"Content-Length: ", b"Content-Length: 9")),
    }


OPERATIONS = ["submit", "get_task", "wait", "download", "preflight"]
EXPECTED: dict[str, type[EvoLinkError]] = {
    "submit": APITimeoutError,
    "get_task": APITimeoutError,
    "wait": WaitTimeoutError,
    "download": DownloadError,
    "preflight": RequestValidationError,
}


def route_for(operation: str, behaviour: Behaviour) -> Callable[[Received], Behaviour]:
    def route(request: Received) -> Behaviour:
        if operation in ("download", "preflight"):
            if request.target.startswith("/img"):
                return behaviour
            return fixed(200, task_body())
        return behaviour

    return route


def sync_operation(operation: str, base_url: str, folder: Path) -> Callable[[Client], object]:
    done = Task(id=TASK_ID, status="completed", results=(base_url + "/img/a.png",))
    calls: dict[str, Callable[[Client], object]] = {
        "submit": lambda client: client.submit(WanImageToImage("p", [PUBLIC_IMAGE])),
        "get_task": lambda client: client.get_task(TASK_ID),
        "wait": lambda client: client.wait(TASK_ID, timeout=WAIT),
        "download": lambda client: client.download(done, folder / "sync", timeout=BUDGET),
        "preflight": lambda client: client.submit(WanImageToImage("p", [base_url + "/img/in.png"]), preflight=True),
    }
    return calls[operation]


def async_operation(
    operation: str, base_url: str, folder: Path
) -> Callable[[AsyncClient], Coroutine[Any, Any, object]]:
    done = Task(id=TASK_ID, status="completed", results=(base_url + "/img/a.png",))

    async def call(client: AsyncClient) -> object:
        if operation == "submit":
            return await client.submit(WanImageToImage("p", [PUBLIC_IMAGE]))
        if operation == "get_task":
            return await client.get_task(TASK_ID)
        if operation == "wait":
            return await client.wait(TASK_ID, timeout=WAIT)
        if operation == "download":
            return await client.download(done, folder / "async", timeout=BUDGET)
        return await client.submit(WanImageToImage("p", [base_url + "/img/in.png"]), preflight=True)

    return call


# --- 1. time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("behaviour_name", list(slow_behaviours(full_task_answer())))
def test_no_trickle_or_silence_stretches_a_call_past_its_budget(
    server: AdversaryServer, tmp_path: Path, operation: str, behaviour_name: str
) -> None:
    answer = full_image_answer() if operation in ("download", "preflight") else full_task_answer()
    server.route = route_for(operation, slow_behaviours(answer)[behaviour_name])
    outcomes = side_by_side(
        server.base_url,
        sync_operation(operation, server.base_url, tmp_path),
        async_operation(operation, server.base_url, tmp_path),
    )
    budget = WAIT if operation == "wait" else BUDGET
    for side, (error, _, wall) in outcomes.items():
        assert isinstance(error, EXPECTED[operation]), (side, repr(error))
        assert wall <= budget + SLACK, (side, wall)
        if operation in ("submit", "get_task", "download"):
            assert "budget" in str(error), (side, str(error))


def endless_gzip_png(encodings: list[str]) -> Behaviour:
    """A compressed stream that decodes to a PNG signature followed by zeros, forever."""

    def behave(conn: Conn, request: Received) -> None:
        compressors = [zlib.compressobj(9, zlib.DEFLATED, 31 if name == "gzip" else 15) for name in encodings]
        conn.send(
            head(
                200,
                {"Content-Type": "image/png", "Content-Encoding": ", ".join(encodings), "Transfer-Encoding": "chunked"},
            )
        )
        chunk = PNG_SIGNATURE + ZERO_BLOCK
        while True:
            for compressor in compressors:
                chunk = compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
            if chunk:
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            chunk = ZERO_BLOCK

    return behave


BOMBS: dict[str, Callable[[bool], Behaviour]] = {
    "gzip bomb": lambda image: endless_gzip_png(["gzip"]) if image else bomb(["gzip"]),
    "deflate bomb": lambda image: endless_gzip_png(["deflate"]) if image else bomb(["deflate"]),
    "stacked gzip, gzip bomb": lambda image: endless_gzip_png(["gzip", "gzip"]) if image else bomb(["gzip", "gzip"]),
    "endless chunked body": lambda image: (
        endless_chunked("image/png", PNG_SIGNATURE + ZERO_BLOCK[:65536]) if image else endless_chunked()
    ),
}


@pytest.mark.parametrize("operation", ["submit", "get_task", "download", "preflight"])
@pytest.mark.parametrize("bomb_name", list(BOMBS))
def test_a_bomb_costs_its_cap_plus_a_small_constant(
    server: AdversaryServer, tmp_path: Path, operation: str, bomb_name: str
) -> None:
    image = operation in ("download", "preflight")
    server.route = route_for(operation, BOMBS[bomb_name](image))
    cap = {"submit": 1 << 20, "get_task": 1 << 20, "download": 1 << 20, "preflight": 10_000_000}[operation]
    done = Task(id=TASK_ID, status="completed", results=(server.url("/img/a.png"),))
    calls: dict[str, Callable[[Client], object]] = {
        "submit": lambda client: client.submit(WanImageToImage("p", [PUBLIC_IMAGE])),
        "get_task": lambda client: client.get_task(TASK_ID),
        "download": lambda client: client.download(done, tmp_path, max_bytes=cap, timeout=BUDGET + 4),
        "preflight": lambda client: client.submit(WanImageToImage("p", [server.url("/img/in.png")]), preflight=True),
    }
    with Client(KEY, base_url=server.base_url, timeout=BUDGET + 4) as client:
        tracemalloc.start()
        try:
            error, _, wall = timed(lambda: calls[operation](client))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert isinstance(error, (APIResponseError, DownloadError, RequestValidationError)), repr(error)
    assert peak <= cap + 16 * 2**20, peak / 2**20
    assert wall <= BUDGET + 4 + SLACK
    assert list(tmp_path.iterdir()) == [], "a partial file was left behind"


RSS_CHILD = """
import json, resource, sys, time
from evolink_images import Client, Task
key, base, folder, what = sys.argv[1:5]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
client = Client(key, base_url=base, timeout=20)
try:
    if what == "download":
        done = Task(id="task-unified-1-rss", status="completed", results=(base + "/img/a.png",))
        client.download(done, folder, timeout=20)
    else:
        client.get_task("task-unified-1-rss")
    kind = "none"
except Exception as error:
    kind = type(error).__module__ + "." + type(error).__name__
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"kind": kind, "grew_mib": (after - before) / 1024}))
"""


@pytest.mark.parametrize(("what", "cap_mib"), [("get_task", 1), ("download", 64)])
def test_a_stacked_bomb_grows_the_process_by_its_cap_at_most(
    server: AdversaryServer, tmp_path: Path, what: str, cap_mib: int
) -> None:
    server.route = lambda request: endless_gzip_png(["gzip", "gzip"]) if what == "download" else bomb(["gzip", "gzip"])
    child = subprocess.run(  # noqa: S603 - this interpreter, on a script of this file
        [sys.executable, "-c", RSS_CHILD, KEY, server.base_url, str(tmp_path), what],
        capture_output=True,
        text=True,
        timeout=60,
    )
    result = json.loads(child.stdout)
    assert result["kind"].startswith("evolink_images."), result
    assert result["grew_mib"] <= cap_mib + 32, result


def huge_status_line(conn: Conn, request: Received) -> None:
    conn.send(b"HTTP/1.1 200 " + b"O" * 2_000_000 + b"\r\n\r\n")


def garbled_status_line(conn: Conn, request: Received) -> None:
    conn.send(b"HTTQ/9.9 two hundred\r\n\r\n{}")


def many_informational(conn: Conn, request: Received) -> None:
    while True:
        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")


@pytest.mark.parametrize(
    "behaviour",
    [
        fixed(200, task_body(), headers={f"X-H{i}": "a" * 1000 for i in range(1200)}),
        huge_status_line,
        garbled_status_line,
        many_informational,
    ],
    ids=["1 MB of headers", "2 MB status line", "garbled status line", "endless 100 Continue"],
)
def test_garbled_or_huge_heads_are_connection_errors_within_the_budget(
    server: AdversaryServer, tmp_path: Path, behaviour: Behaviour
) -> None:
    server.route = lambda request: behaviour
    outcomes = side_by_side(
        server.base_url,
        lambda client: client.get_task(TASK_ID),
        lambda client: client.get_task(TASK_ID),
    )
    for side, (error, _, wall) in outcomes.items():
        assert isinstance(error, (APIConnectionError, APITimeoutError)), (side, repr(error))
        assert wall <= BUDGET + SLACK, (side, wall)


# --- 2. lies and types ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [201, 202])
def test_any_2xx_carrying_a_task_is_a_task(server: AdversaryServer, status: int) -> None:
    server.route = lambda request: fixed(status, task_body(), reason="Created")
    with Client(KEY, base_url=server.base_url, timeout=BUDGET) as client:
        assert client.submit(WanImageToImage("p", [PUBLIC_IMAGE])).id == TASK_ID


@pytest.mark.parametrize(
    ("body", "check"),
    [
        (b'{"id":"%s","status":"processing","progress":1e999}' % TASK_ID.encode(), lambda task: task.progress == 100),
        (task_body(progress=-7), lambda task: task.progress == 0),
        (task_body(progress="50"), lambda task: 0 <= task.progress <= 100),
        (task_body(task_info={"estimated_time": "30"}), lambda task: task.estimated_time is None),
        (
            b'{"id":"%s","status":"pending","task_info":{"estimated_time":NaN}}' % TASK_ID.encode(),
            lambda task: task.estimated_time is None,
        ),
        (task_body(usage="lots"), lambda task: task.usage is None),
        (task_body(created=10**400), lambda task: True),
    ],
    ids=[
        "progress 1e999",
        "progress -7",
        "progress '50'",
        "estimated_time '30'",
        "estimated_time NaN",
        "usage 'lots'",
        "created 10**400",
    ],
)
def test_odd_field_values_are_clamped_or_dropped_never_raised(
    server: AdversaryServer, body: Any, check: Callable[[Task], bool]
) -> None:
    server.route = lambda request: fixed(200, body)
    with Client(KEY, base_url=server.base_url, timeout=BUDGET) as client:
        task = client.get_task(TASK_ID)
    assert check(task), task


@pytest.mark.parametrize(
    "body",
    [
        "[" * 200_000 + "]" * 200_000,
        f'{{"id":"{TASK_ID}","x":' + '{"a":' * 100_000 + "1" + "}" * 100_001,
        task_body(id="task-unified-2-another"),
        b'{"id":"%s","id":"task-unified-2-another","status":"pending"}' % TASK_ID.encode(),
        b'{"id":"%s","status":"pending","progress":%s}' % (TASK_ID.encode(), b"9" * 5000),
        b'{"id":"%s","status":"\xff\xfe"}' % TASK_ID.encode(),
    ],
    ids=["nested arrays", "nested objects", "another task", "duplicate id keys", "5000-digit integer", "bad UTF-8"],
)
def test_an_unusable_answer_to_a_read_is_an_api_response_error(server: AdversaryServer, body: Any) -> None:
    server.route = lambda request: fixed(200, body)
    outcomes = side_by_side(
        server.base_url, lambda client: client.get_task(TASK_ID), lambda client: client.get_task(TASK_ID)
    )
    for side, (error, _, _) in outcomes.items():
        assert isinstance(error, APIResponseError), (side, repr(error))


@pytest.mark.parametrize("task_id", ["..", ".", "x" * 300, "a\r\nb"])
def test_a_created_task_whose_id_cannot_be_polled_is_named_as_a_paid_task_not_as_nothing_sent(
    server: AdversaryServer, task_id: str
) -> None:
    server.route = lambda request: fixed(200, task_body(id=task_id))
    with Client(KEY, base_url=server.base_url, timeout=BUDGET) as client:
        error, _, _ = timed(lambda: client.run(WanImageToImage("p", [PUBLIC_IMAGE]), timeout=WAIT))
    assert isinstance(error, APIResponseError), repr(error)
    assert error.task_may_exist
    assert "nothing was sent" not in str(error)
    assert len(server.requests("POST")) == 1


@pytest.mark.parametrize("results", ["https://example.com/a.png", [1, None], [{"url": "x"}]])
def test_a_completed_task_with_garbled_results_ends_the_wait_at_once_naming_the_task(
    server: AdversaryServer, results: object
) -> None:
    server.route = lambda request: fixed(200, task_body(status="completed", progress=100, results=results))
    outcomes = side_by_side(
        server.base_url,
        lambda client: client.wait(TASK_ID, timeout=6),
        lambda client: client.wait(TASK_ID, timeout=6),
    )
    for side, (error, _, wall) in outcomes.items():
        assert isinstance(error, APIResponseError), (side, repr(error))
        assert error.task_id == TASK_ID
        assert wall < 4, (side, wall)


@pytest.mark.parametrize(
    "body",
    ["[" * 100_000, b"{" * 100_000, '{"id":"t-1","status":"completed","results":' + "[" * 50_000 + "]" * 50_000 + "}"],
    ids=["nested arrays", "nested objects as bytes", "nested results"],
)
def test_a_hostile_callback_body_is_a_validation_error_never_a_recursion_error(
    server: AdversaryServer, body: str | bytes
) -> None:
    """Callbacks are unsigned: anyone can post a body to the URL, so its parser meets the worst."""
    with pytest.raises(RequestValidationError):
        parse_callback(body)
    with Client(KEY, base_url=server.base_url, timeout=BUDGET) as client, pytest.raises(RequestValidationError):
        client.confirm_callback(body)
    assert server.requests() == []


HUGE = 10**5000  # no repr: str() of an int over 4,300 digits raises ValueError


@pytest.mark.parametrize(
    "call",
    [
        lambda client: validate(WanImageToImage("p", [PUBLIC_IMAGE], n=HUGE)),
        lambda client: validate(WanImageToImage("p", [PUBLIC_IMAGE], n=-HUGE)),
        lambda client: client.wait(TASK_ID, timeout=10**400),
        lambda client: client.get_task(TASK_ID, timeout=10**400),
        lambda client: client.get_task(TASK_ID, max_retries="x"),
        lambda client: client.get_task(TASK_ID, max_retries=-HUGE),
        lambda client: client.submit(WanImageToImage("p", [PUBLIC_IMAGE]), max_retries=-1),
        lambda client: client.download(
            Task(id=TASK_ID, status="completed", results=(PUBLIC_IMAGE,)), ".", timeout=10**400
        ),
        lambda client: client.run_many([], concurrency=-HUGE),
        lambda client: Client(KEY, timeout=10**400),
        lambda client: Client(KEY, max_retries=-HUGE),
        lambda client: Client(KEY, max_response_bytes=-HUGE),
    ],
    ids=[
        "n of 5000 digits",
        "n of -5000 digits",
        "wait timeout 10**400",
        "get_task timeout 10**400",
        "max_retries 'x'",
        "max_retries of -5000 digits",
        "submit max_retries -1",
        "download timeout 10**400",
        "concurrency of -5000 digits",
        "Client timeout 10**400",
        "Client max_retries of -5000 digits",
        "Client max_response_bytes of -5000 digits",
    ],
)
def test_an_argument_too_big_to_print_or_of_the_wrong_type_is_refused_by_name_with_nothing_sent(
    server: AdversaryServer, call: Callable[[Client], object]
) -> None:
    with Client(KEY, base_url=server.base_url, timeout=BUDGET) as client:
        error, _, _ = timed(lambda: call(client))
    assert isinstance(error, EvoLinkError), repr(error)
    assert server.requests() == []


def test_an_api_redirect_is_an_error_and_never_followed(server: AdversaryServer) -> None:
    server.route = lambda request: fixed(302, "", headers={"Location": "/v1/tasks/" + TASK_ID})
    with Client(KEY, base_url=server.base_url, timeout=BUDGET) as client:
        error, _, _ = timed(lambda: client.get_task(TASK_ID))
    assert isinstance(error, APIStatusError), repr(error)
    assert len(server.requests()) == 1


def test_a_caller_http_client_lends_neither_its_auth_nor_its_redirects(server: AdversaryServer, tmp_path: Path) -> None:
    def route(request: Received) -> Behaviour:
        if request.target.startswith("/png"):
            return fixed(200, PNG, headers={"Content-Type": "image/png"})
        if request.method == "POST" and request.target == "/v1/images/generations":
            return fixed(307, "", headers={"Location": "/elsewhere/v1/images/generations"})
        return fixed(200, task_body(id="task-unified-elsewhere"))

    server.route = route
    caller = httpx.Client(auth=httpx.BasicAuth("user", "password"), follow_redirects=True)
    with caller, Client(KEY, base_url=server.base_url, http_client=caller, timeout=BUDGET) as client:
        error, _, _ = timed(lambda: client.submit(WanImageToImage("p", [PUBLIC_IMAGE])))
        assert isinstance(error, APIStatusError), repr(error)
        task = Task(
            id=TASK_ID, status="completed", results=(server.url("/png/a"), f"http://localhost:{server.port}/png/b")
        )
        client.download(task, tmp_path, timeout=BUDGET)
    posts = server.requests("POST")
    assert len(posts) == 1
    assert posts[0].headers["authorization"] == f"Bearer {KEY}"
    downloads = [request for request in server.requests() if request.target.startswith("/png")]
    assert len(downloads) == 2
    assert all("authorization" not in request.headers for request in downloads)


# --- 3. secrets ----------------------------------------------------------------------------------


def echoing(status: int, body: Any, reason: str = "Nope") -> Behaviour:
    return fixed(
        status,
        body,
        headers={"x-request-id": KEY, "X-Echo": KEY, "Location": f"http://127.0.0.1:9/{KEY}"},
        reason=f"{reason} {KEY}",
    )


ECHOES: dict[str, tuple[Behaviour, str]] = {
    "401 echoing the key everywhere": (
        echoing(
            401, {"error": {"code": "invalid_api_key", "message": f"Incorrect API key provided: {KEY}", "param": KEY}}
        ),
        "get_task",
    ),
    "500 to a submit echoing the key": (echoing(500, {"error": {"message": KEY, "request_id": KEY}}), "submit"),
    "302 with the key in Location and reason": (echoing(302, ""), "get_task"),
    "HTML error page with the key": (echoing(502, f"<html>{KEY}</html>"), "get_task"),
    "failed task whose message is the key": (
        echoing(200, task_body(status="failed", error={"code": KEY, "message": f"bad {KEY}", "type": KEY})),
        "wait",
    ),
    "status that is the key": (echoing(200, task_body(status=KEY, progress=5, model=KEY)), "wait"),
    "key in the middle of a very long message": (
        fixed(200, task_body(status="failed", error={"code": "x", "message": "A" * 190 + KEY + "B" * 190})),
        "wait",
    ),
    "answer about another task named by the key": (echoing(200, task_body(id=f"task-unified-{KEY}")), "get_task"),
}


@pytest.mark.parametrize("case", list(ECHOES))
def test_an_echoed_key_reaches_no_exception_attribute_and_no_log_record(
    server: AdversaryServer, every_log: Captured, case: str
) -> None:
    behaviour, operation = ECHOES[case]
    server.route = lambda request: behaviour
    sync_call = {
        "get_task": lambda client: client.get_task(TASK_ID),
        "submit": lambda client: client.submit(WanImageToImage("p", [PUBLIC_IMAGE])),
        "wait": lambda client: client.wait(TASK_ID, timeout=WAIT),
    }[operation]

    async def async_call(client: AsyncClient) -> object:
        if operation == "get_task":
            return await client.get_task(TASK_ID)
        if operation == "submit":
            return await client.submit(WanImageToImage("p", [PUBLIC_IMAGE]))
        return await client.wait(TASK_ID, timeout=WAIT)

    outcomes = side_by_side(server.base_url, sync_call, async_call)
    for side, (error, _, _) in outcomes.items():
        assert isinstance(error, EvoLinkError), (side, repr(error))
        assert key_paths(error) == [], (side, key_paths(error))
    leaked = [line[:160] for line in every_log.lines if holds_key(line)]
    assert leaked == []


def test_our_log_lines_cut_a_huge_echoed_value(server: AdversaryServer, every_log: Captured) -> None:
    server.route = lambda request: fixed(200, task_body(status="S" * 200_000, progress=3))
    with Client(KEY, base_url=server.base_url, timeout=BUDGET) as client:
        error, _, _ = timed(lambda: client.wait(TASK_ID, timeout=WAIT))
    assert isinstance(error, WaitTimeoutError)
    assert len(str(error)) < 2000
    ours = [line for line in every_log.lines if line.startswith("evolink_images")]
    assert ours
    assert max(len(line) for line in ours) < 2000


# --- 4. downloads and hosts ----------------------------------------------------------------------


def test_downloads_decide_by_the_bytes_not_the_label(server: AdversaryServer, tmp_path: Path) -> None:
    labels = {
        "/html": (b"<html>not an image</html>", "image/png"),
        "/png-as-jpeg": (PNG, "image/jpeg"),
        "/png-as-octets": (PNG, "application/octet-stream"),
        "/png-as-binary": (PNG, "binary/octet-stream"),
        "/jpeg-as-jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"x" * 100, "image/jpg"),
    }

    def route(request: Received) -> Behaviour:
        body, label = labels[request.target]
        return fixed(200, body, headers={"Content-Type": label})

    server.route = route
    saved: dict[str, str] = {}
    with Client(KEY, base_url=server.base_url, timeout=BUDGET) as client:
        for index, path in enumerate(labels):
            task = Task(id=f"task-unified-{index}", status="completed", results=(server.url(path),))
            try:
                saved[path] = client.download(task, tmp_path, timeout=BUDGET)[0].suffix
            except DownloadError:
                saved[path] = "DownloadError"
    assert saved == {
        "/html": "DownloadError",
        "/png-as-jpeg": ".png",
        "/png-as-octets": ".png",
        "/png-as-binary": ".png",
        "/jpeg-as-jpg": ".jpg",
    }


def test_ids_that_need_escaping_never_share_a_file(server: AdversaryServer, tmp_path: Path) -> None:
    server.route = lambda request: fixed(200, PNG, headers={"Content-Type": "image/png"})
    ids = [
        "task-unified-1/a",
        "task-unified-1?a",
        "task-unified-1_a",
        "TASK-unified-1",
        "task-unified-1",
        "..",
        ".",
        "t" * 300,
        "é" * 200,
    ]
    names = []
    with Client(KEY, base_url=server.base_url, timeout=BUDGET) as client:
        for task_id in ids:
            task = Task(id=task_id, status="completed", results=(server.url("/png"),))
            names.append(client.download(task, tmp_path, timeout=BUDGET)[0].name)
    assert len(set(names)) == len(ids), names
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(names)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_files_get_the_mode_open_would_give(server: AdversaryServer, tmp_path: Path, umask: int) -> None:
    server.route = lambda request: fixed(200, PNG, headers={"Content-Type": "image/png"})
    old = os.umask(umask)
    try:
        with Client(KEY, base_url=server.base_url, timeout=BUDGET) as client:
            task = Task(id=TASK_ID, status="completed", results=(server.url("/png"),))
            path = client.download(task, tmp_path / "out", timeout=BUDGET)[0]
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "https://xn--/x",
        "http://" + "a" * 300 + ".com/x",
        "http://a b/x",
        "http://\x00/x",
        "javascript:alert(1)",
    ],
    ids=["unclosed bracket", "empty punycode", "300-character label", "space in host", "NUL host", "javascript"],
)
def test_a_junk_result_url_is_a_download_error_with_nothing_fetched(
    server: AdversaryServer, tmp_path: Path, url: str
) -> None:
    with Client(KEY, base_url=server.base_url, timeout=BUDGET) as client:
        error, _, wall = timed(
            lambda: client.download(Task(id=TASK_ID, status="completed", results=(url,)), tmp_path, timeout=BUDGET)
        )
    assert isinstance(error, DownloadError), repr(error)
    assert wall < 0.9, wall


@pytest.mark.parametrize("host", ["a" * 300 + ".com", "a..b"], ids=["300-character label", "empty label"])
def test_a_redirect_to_a_host_the_resolver_cannot_encode_is_a_download_error(
    server: AdversaryServer, tmp_path: Path, host: str
) -> None:
    server.route = lambda request: fixed(302, "", headers={"Location": f"http://{host}/x.png"})
    outcomes = side_by_side(
        server.base_url,
        lambda client: client.download(
            Task(id=TASK_ID, status="completed", results=(server.url("/r"),)), tmp_path / "s", timeout=BUDGET
        ),
        lambda client: client.download(
            Task(id=TASK_ID, status="completed", results=(server.url("/r"),)), tmp_path / "a", timeout=BUDGET
        ),
    )
    for side, (error, _, _) in outcomes.items():
        assert isinstance(error, DownloadError), (side, repr(error))
        assert "redirected" in str(error)


INTERNAL_HOSTS = [
    "http://169.254.169.254/latest",
    "http://[::ffff:169.254.169.254]/x",
    "http://0x7f.1/x",
    "http://[fd00::1]/x",
    "http://127.0.0.1./x",
    "http://10.0.0.1./x",
    "http://2130706433/x",
    "http://%31%32%37.0.0.1/x",
    "http://metadata.google.internal/x",
    "http://[::ffff:7f00:1]/x",
]


@pytest.mark.parametrize("url", INTERNAL_HOSTS)
def test_an_internal_result_host_is_refused_before_anything_is_sent(tmp_path: Path, url: str) -> None:
    with Client(KEY, base_url="https://api.evolink.ai", timeout=BUDGET) as client:
        error, _, wall = timed(
            lambda: client.download(Task(id=TASK_ID, status="completed", results=(url,)), tmp_path, timeout=BUDGET)
        )
    assert isinstance(error, DownloadError), repr(error)
    assert wall < 0.5, wall
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/",
        f"http://127.0.0.1:{1}/x",
        "http://[::ffff:127.0.0.1]/x",
        "//10.0.0.1/x",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_from_a_public_host_inward_is_refused_once_and_never_sent(
    server: AdversaryServer, tmp_path: Path, location: str
) -> None:
    """The result host is public (93.184.216.34) and reached through a proxy: the loopback server."""
    server.route = lambda request: fixed(302, "", headers={"Location": location})
    proxy = httpx.Client(proxy=server.base_url, follow_redirects=True)
    with proxy, Client(KEY, base_url="https://api.evolink.ai", http_client=proxy, timeout=BUDGET) as client:
        task = Task(id=TASK_ID, status="completed", results=("http://93.184.216.34/a.png",))
        error, _, _ = timed(lambda: client.download(task, tmp_path, timeout=BUDGET))
    assert isinstance(error, DownloadError), repr(error)
    assert [request.target for request in server.requests()] == ["http://93.184.216.34/a.png"]


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://%31%32%37.0.0.1/cb", False),
        ("https://%6c%6f%63%61%6c%68%6f%73%74/cb", False),
        ("https://localhost%2e/cb", False),
        ("https://127%2e0%2e0%2e1/cb", False),
        ("https://[::ffff:169.254.169.254]/cb", False),
        ("https://[fd00::1]/cb", False),
        ("https://[2606:4700::1111]/cb", True),
    ],
)
def test_callback_hosts_are_read_as_a_browser_reads_them(url: str, accepted: bool) -> None:
    error, _, _ = timed(lambda: validate(WanImageToImage("p", [PUBLIC_IMAGE], callback_url=url)))
    if accepted:
        assert error is None, str(error)
        return
    assert isinstance(error, RequestValidationError), repr(error)
    if "[" in url:  # an internal IPv6 literal is refused as internal, not as a malformed URL
        assert "non-public" in str(error) or "loopback" in str(error), str(error)


def test_a_bad_destination_is_refused_before_anything_is_fetched(server: AdversaryServer, tmp_path: Path) -> None:
    server.route = lambda request: fixed(200, PNG, headers={"Content-Type": "image/png"})
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    task = Task(id=TASK_ID, status="completed", results=(server.url("/png"),))
    with Client(KEY, base_url=server.base_url, timeout=BUDGET) as client:
        for destination in (a_file, a_file / "under", tmp_path / ("x" * 300)):
            with pytest.raises(DownloadError) as caught:
                client.download(task, destination, timeout=BUDGET)
            assert str(destination)[:40] in str(caught.value)
    assert server.requests() == []


# --- 5. the command line -------------------------------------------------------------------------

EDIT = ["edit", "--model", "wan2.5-image-to-image", "--prompt", "p", "--image", PUBLIC_IMAGE]


def command(server: AdversaryServer | None, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, EVOLINK_API_KEY=KEY, EVOLINK_LOG="debug", PYTHONIOENCODING="utf-8")
    env.pop("EVOLINK_BASE_URL", None)
    base = ["--base-url", server.base_url] if server else []
    return subprocess.run(  # noqa: S603 - the project's own console script
        [str(CLI), *base, *args], env=env, capture_output=True, text=True, timeout=timeout, errors="replace"
    )


def interrupted(server: AdversaryServer, *args: str, signals: int = 1) -> tuple[int, str, str]:
    env = dict(os.environ, EVOLINK_API_KEY=KEY)
    env.pop("EVOLINK_BASE_URL", None)
    env.pop("EVOLINK_LOG", None)
    process = subprocess.Popen(  # noqa: S603 - the project's own console script
        [str(CLI), "--base-url", server.base_url, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.wait_for("POST", 1, timeout=20), "the POST never arrived"
        time.sleep(0.2)  # let the request finish leaving the client
        for _ in range(signals):
            process.send_signal(signal.SIGINT)
            time.sleep(0.005)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, out, err


@pytest.mark.parametrize("json_output", [False, True])
def test_ctrl_c_while_the_server_holds_the_post_says_a_task_may_exist(
    server: AdversaryServer, tmp_path: Path, json_output: bool
) -> None:
    server.route = lambda request: silent()
    code, out, err = interrupted(server, *EDIT, "--out", str(tmp_path / "out"), *(["--json"] if json_output else []))
    assert code == 130
    assert "may have been created" in err
    if json_output:
        assert json.loads(out)["error"]["task_may_exist"] is True


def test_a_burst_of_ctrl_c_never_prints_a_traceback(server: AdversaryServer, tmp_path: Path) -> None:
    server.route = lambda request: silent()
    code, _, err = interrupted(server, *EDIT, "--out", str(tmp_path / "out"), signals=12)
    assert code == 130
    assert "Traceback" not in err, err
    assert "Exception ignored" not in err, err
    assert "may have been created" in err


def test_edit_out_an_existing_file_is_exit_2_before_the_post(server: AdversaryServer, tmp_path: Path) -> None:
    server.route = lambda request: fixed(200, task_body())
    a_file = tmp_path / "existing"
    a_file.write_text("x")
    for out in (a_file, a_file / "sub"):
        result = command(server, *EDIT, "--out", str(out), "--json")
        assert result.returncode == 2, result.stderr
        assert json.loads(result.stdout)["error"]["task_may_exist"] is False
    assert server.requests("POST") == []


def test_bad_local_input_is_exit_2_never_please_report_it(server: AdversaryServer, tmp_path: Path) -> None:
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(bytes(range(256)) * 4)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"model": "wan2.5-image-to-image", "prompt": "p", "image_urls": [PUBLIC_IMAGE]}) + "\n")
    for args in (
        ["batch", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o1")],
        ["batch", str(binary), "--out", str(tmp_path / "o2")],
        ["batch", str(good), "--out", str(a_file)],
        [*EDIT, "--timeout", "nan"],
        ["status", ".."],
    ):
        result = command(server, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert "report" not in result.stderr, (args, result.stderr)
    assert server.requests() == []


def test_a_401_to_the_post_says_no_task_was_created(server: AdversaryServer, tmp_path: Path) -> None:
    server.route = lambda request: fixed(401, {"error": {"code": "invalid_api_key", "message": "wrong key"}})
    result = command(server, *EDIT, "--out", str(tmp_path / "out"), "--json")
    assert result.returncode == 3
    error = json.loads(result.stdout)["error"]
    assert error["task_may_exist"] is False
    assert "may have been created" not in error["message"]


def test_downloading_a_failed_task_says_it_failed_and_offers_no_download_again(
    server: AdversaryServer, tmp_path: Path
) -> None:
    server.route = lambda request: fixed(
        200, task_body(status="failed", error={"code": "content_policy_violation", "message": "no"})
    )
    result = command(server, "download", TASK_ID, "--out", str(tmp_path / "out"), "--json")
    assert result.returncode == 4, result.stderr
    message = json.loads(result.stdout)["error"]["message"]
    assert "is completed" not in message, message
    assert "fetch its results again" not in message, message


ECHOING_TASKS: dict[str, dict[str, Any]] = {
    "failed with the key": task_body(status="failed", error={"code": "x", "message": f"m {KEY}"}),
    "status is the key": task_body(status=KEY, progress=3),
    "lone surrogate status": {"id": TASK_ID, "status": "\ud800x", "progress": 3},
    "terminal escapes": task_body(
        status="\x1b[2J\x1b]0;pwned\x07", progress=3, error={"code": "\x1b[31m", "message": "\x1b[2J"}
    ),
    "half a megabyte of status": task_body(status="S" * 500_000, progress=3),
}


@pytest.mark.parametrize("case", list(ECHOING_TASKS))
@pytest.mark.parametrize(
    "args",
    [
        ["status", TASK_ID],
        ["status", TASK_ID, "--json"],
        ["status", TASK_ID, "--wait", "--timeout", "1"],
        ["download", TASK_ID],
    ],
    ids=["status", "status --json", "status --wait", "download"],
)
def test_the_command_prints_hostile_task_fields_redacted_escaped_and_cut(
    server: AdversaryServer, tmp_path: Path, case: str, args: list[str]
) -> None:
    body = ECHOING_TASKS[case]
    server.route = lambda request: fixed(200, json.dumps(body).encode(), headers={"x-request-id": KEY})
    if args[0] == "download":
        args = [*args, "--out", str(tmp_path / "out")]
    result = command(server, *args)
    assert result.returncode in (0, 4, 5, 6), (result.returncode, result.stderr[-500:])
    everything = result.stdout + result.stderr
    assert not holds_key(everything)
    assert "\x1b" not in everything
    assert "\x07" not in everything
    assert "UnicodeEncodeError" not in everything
    printed = result.stderr if "--json" in args else everything  # --json gives the task back whole
    assert max((len(line) for line in printed.splitlines()), default=0) < 3000


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_status_the_terminal_cannot_encode_is_printed_as_escapes_not_exit_2(
    server: AdversaryServer, encoding: str
) -> None:
    server.route = lambda request: fixed(200, task_body(status="done \U0001f4a5", progress=3))
    env = dict(os.environ, EVOLINK_API_KEY=KEY, PYTHONIOENCODING=encoding)
    env.pop("EVOLINK_BASE_URL", None)
    result = subprocess.run(  # noqa: S603 - the project's own console script
        [str(CLI), "--base-url", server.base_url, "status", TASK_ID], env=env, capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert b"\\U0001f4a5" in result.stdout
