"""A fake EvoLink, built from the spec: one model of the API behind two faces.

``FakeEvoLink.handle()`` is the whole API as a pure function of (method, URL, headers, body): it
checks auth and validates each body against the spec's own JSON schemas (``spec.py``: a real JSON
Schema engine, not hand-written checks), answers with spec-conformant bodies, and moves each task
through its lifecycle on a controllable clock: ``pending``, ``processing`` with rising progress,
then ``completed`` (result URLs it also serves as real PNG bytes), ``failed`` (with a failure code
of api-facts.md section 4.2) or ``cancelled``. Faults are injected on demand (``faults.py``).

It is EvoLink's file host too (``file_host.py``): uploads to ``files_api_url`` are stored, counted
against a quota and served at their ``file_url``, and a task whose first input is an upload (or an
image hosted with ``host_input``) really edits that image (``render.py``).

Faces: ``handler`` is an httpx/respx side effect (in-process, sync and async clients alike);
``server.FakeServer`` serves the same model over HTTP on loopback.

Every accepted POST creates a task, whatever its ``Idempotency-Key``: the fake never hides a double
submit, and ``created`` counts them.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack, get_args

import httpx
import jsonschema

from .clock import FakeClock
from .faults import STATUS_FAULTS, TRANSPORT_FAULTS, Fault, FaultKind, Target, apply_fault
from .file_host import FakeFileHost
from .images import gradient_png
from .payloads import catalog_json, catalog_models
from .record import RecordedRequest, record
from .spec import load_spec, pointer_validator, schema_validator
from .wire import FakeResponse, error_response

if TYPE_CHECKING:
    from evolink_images import AsyncClient, Client

__all__ = [
    "API_HOST",
    "FAKE_API_KEY",
    "FILES_API_HOST",
    "FILES_HOST",
    "OUTCOMES",
    "FakeClock",
    "FakeEvoLink",
    "FakeResponse",
    "Outcome",
    "PlanOptions",
    "RecordedRequest",
    "TaskPlan",
]

API_HOST = "https://api.evolink.ai"
FILES_HOST = "https://files.evolink.ai"
FILES_API_HOST = "https://files-api.evolink.ai"
FAKE_API_KEY = "sk-evo-fake-0000000000000000"
_IDEMPOTENCY_KEY_SCHEMA = "#/components/parameters/IdempotencyKey/schema"

Outcome = Literal["completed", "failed", "cancelled"]
"""How a task ends."""
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))


@dataclass
class TaskPlan:
    """How a created task behaves."""

    duration: float = 10.0
    """Seconds from creation to the terminal status."""
    estimated_time: int | None = None
    """What the create response says (default: the duration, rounded)."""
    outcome: Outcome = "completed"
    error_code: str = "service_error"
    status: str | None = None
    """A status to report instead of the lifecycle's (for example an unknown one), forever."""

    def __post_init__(self) -> None:
        # Refused at once: a misspelt outcome would otherwise make a test pass for the wrong reason.
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; known: {', '.join(sorted(OUTCOMES))}")
        if self.duration < 0:
            raise ValueError(f"duration must be at least 0 seconds, got {self.duration}")


class PlanOptions(TypedDict, total=False):
    """The fields of ``TaskPlan``, as keyword arguments of ``FakeEvoLink.next_task``."""

    duration: float
    estimated_time: int | None
    outcome: Outcome
    error_code: str
    status: str | None


@dataclass
class _Task:
    id: str
    model: str
    created_at: float
    created_unix: int
    n: int
    prompt: str
    image_urls: list[str]
    plan: TaskPlan


@dataclass
class FakeEvoLink:
    """The fake API. Its state is open for assertions: ``tasks``, ``created``, ``recorded``, ``rate_limited``."""

    api_key: str = field(default=FAKE_API_KEY, repr=False)
    clock: Callable[[], float] = field(default_factory=FakeClock)
    base_url: str = API_HOST
    files_url: str = FILES_HOST
    files_api_url: str = FILES_API_HOST
    """The file host's API (uploads, the quota); ``FakeServer`` serves it on the API's own origin."""
    plan: TaskPlan = field(default_factory=TaskPlan)
    tasks: dict[str, _Task] = field(default_factory=dict)
    recorded: list[RecordedRequest] = field(default_factory=list)
    """Every request that reached the fake, whole (the key redacted), in order."""
    auth_sent_to_files: int = 0
    max_running: int | None = None
    """A per-account limit on tasks in flight: a submit beyond it gets 429 with ``Retry-After``."""
    retry_after: str = "1"
    """The ``Retry-After`` sent with the ``max_running`` 429."""
    rate_limited: int = 0
    """How many submits the limit refused."""
    inputs: dict[str, bytes] = field(default_factory=dict)
    """Input images the fake hosts itself, by name, under ``<files_url>/inputs/``."""
    catalog: list[dict[str, Any]] = field(default_factory=catalog_models)
    """The entries of the keyless ``GET /v1/catalog/models`` (edit a ``lifecycle`` to test the live probe)."""
    file_host: FakeFileHost = field(init=False, repr=False)
    """The file host's state: ``files`` stored, ``uploads`` and ``refused`` counts, ``max_files``."""
    _faults: list[Fault] = field(default_factory=list)
    _next_plans: list[TaskPlan] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.file_host = FakeFileHost(clock=self.clock, files_url=lambda: self.files_url)

    @property
    def created(self) -> int:
        """How many tasks were created (each one a charge on a real account)."""
        return len(self.tasks)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """``(method, URL)`` of every request, in order (``recorded`` has the whole requests)."""
        return [(request.method, request.url) for request in self.recorded]

    def posts(self) -> int:
        """How many POSTs reached the fake."""
        return sum(1 for request in self.recorded if request.method == "POST")

    def host_input(self, name: str, image: bytes) -> str:
        """Host an input image at ``<files_url>/inputs/<name>``; return its URL.

        Results of tasks whose first input is hosted here are that image, really edited as the
        prompt asks (``render.py``, with Pillow); other results are generated gradients.
        """
        self.inputs[name] = image
        return f"{self.files_url}/inputs/{name}"

    def next_task(self, **plan: Unpack[PlanOptions]) -> None:
        """Make the next created task follow ``TaskPlan(**plan)`` instead of the default plan.

        Raises:
            ValueError: an unknown outcome (``outcome="faild"``) or a negative duration.
            TypeError: an unknown field.
        """
        self._next_plans.append(TaskPlan(**plan))

    def inject(
        self,
        kind: FaultKind,
        *,
        target: Target = "GET",
        times: int = 1,
        retry_after: str | None = None,
        after_create: bool | None = None,
    ) -> None:
        """Queue a fault for the next ``times`` requests to ``target`` (see ``faults.py``).

        Raises:
            ValueError: an unknown fault kind or target, or ``times`` below 1.
        """
        self._faults.append(Fault(kind, target=target, times=times, retry_after=retry_after, after_create=after_create))

    def client(self, **options: Any) -> Client:
        """A ``Client`` wired to this fake in-process, sharing its clock (so waiting takes no real time)."""
        from evolink_images import Client

        clock = self.clock
        sleep = clock.sleep if isinstance(clock, FakeClock) else None
        transport = httpx.MockTransport(self.handler)
        options.setdefault("files_base_url", self.files_api_url)
        return Client(self.api_key, base_url=self.base_url, transport=transport, clock=clock, sleep=sleep, **options)

    def async_client(self, **options: Any) -> AsyncClient:
        """An ``AsyncClient`` wired to this fake in-process, sharing its clock."""
        from evolink_images import AsyncClient

        clock = self.clock
        sleep = clock.async_sleep if isinstance(clock, FakeClock) else None
        transport = httpx.MockTransport(self.handler)
        options.setdefault("files_base_url", self.files_api_url)
        return AsyncClient(
            self.api_key, base_url=self.base_url, transport=transport, clock=clock, sleep=sleep, **options
        )

    # The respx / httpx.MockTransport face.
    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer an httpx request (raise the httpx exception of a transport fault)."""
        answer = self.handle(request.method, str(request.url), request.headers, request.content)
        if answer.transport_fault is not None:
            raise _TRANSPORT_EXCEPTIONS[answer.transport_fault](answer.transport_fault, request=request)
        # A stream (not content=) so that the body is read as from a wire and httpx sets .elapsed.
        return httpx.Response(answer.status, headers=answer.headers, stream=httpx.ByteStream(answer.content))

    def handle(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> FakeResponse:
        """Answer one request; thread-safe. API answers carry an ``x-request-id``, as EvoLink's do."""
        with self._lock:
            self.recorded.append(record(method, url, headers, body, self.api_key))
            if url.startswith(self.files_url):
                return self._files(method, url, headers)
            answer = self._api(method, url, headers, body)
            answer.headers.setdefault("x-request-id", f"req-fake-{len(self.recorded):08d}")
            return answer

    def _api(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> FakeResponse:
        """Route one API or file-host request (under the lock)."""
        path = url[len(self.base_url) :] if url.startswith(self.base_url) else httpx.URL(url).path
        path = path.split("?", 1)[0]
        if path.startswith("/api/v1/files/") and url.startswith(self.files_api_url):
            return self._file_api(method, path, headers, body)
        if path == "/v1/images/generations":
            if method != "POST":
                return error_response(405, "method_not_allowed", "use POST", Allow="POST")
            return self._authorised(headers) or self._create(headers, body)
        if path == "/v1/catalog/models":
            # Keyless and free (api-facts.md section 9): a key, if sent, is not checked.
            if method != "GET":
                return error_response(405, "method_not_allowed", "use GET", Allow="GET")
            return FakeResponse.json(200, catalog_json(self.catalog))
        if path.startswith("/v1/tasks/") and path.count("/") == 3:
            if method != "GET":
                return error_response(405, "method_not_allowed", "use GET", Allow="GET")
            return self._authorised(headers) or self._read(httpx.URL(url).path.rsplit("/", 1)[1])
        return error_response(404, "not_found", f"no route for {path}")

    def _file_api(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> FakeResponse:
        target: Target = "quota" if path.endswith("/quota") else "upload"
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return FakeResponse.json(401, {"success": False, "code": 401, "msg": "Invalid or missing API key"})
        fault = self._fault(target)
        if fault is not None and not fault.creates_task:
            return apply_fault(fault, None)
        answer = self.file_host.handle(method, path, headers, body, self._served)
        if fault is None:
            return answer
        return apply_fault(fault, json.loads(answer.content), answer)

    def _served(self, url: str) -> bytes | None:
        """The bytes the fake serves at ``url`` (an upload or a hosted input), for the URL upload."""
        stored = self.file_host.by_url(url)
        if stored is not None:
            return stored.data
        hosted = f"{self.files_url}/inputs/"
        return self.inputs.get(url[len(hosted) :]) if url.startswith(hosted) else None

    def _fault(self, target: Target) -> Fault | None:
        for fault in self._faults:
            if fault.target == target:
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _authorised(self, headers: Mapping[str, str]) -> FakeResponse | None:
        if headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return error_response(401, "unauthorized", "Invalid or missing API key")

    def _create(self, headers: Mapping[str, str], body: bytes) -> FakeResponse:
        fault = self._fault("POST")
        if fault is not None and not fault.creates_task:
            return apply_fault(fault, None)
        if self.max_running is not None and self._running() >= self.max_running:
            self.rate_limited += 1
            return error_response(
                429, "rate_limit_exceeded", "too many tasks in flight", **{"Retry-After": self.retry_after}
            )
        try:
            payload = json.loads(body)
        except ValueError:
            return error_response(400, "invalid_request", "the body is not JSON")
        # Validate against the variant the discriminator names, so the message is about that model.
        union = load_spec()["components"]["schemas"]["ImageEditRequest"]
        model = payload.get("model") if isinstance(payload, dict) else None
        variant = union["discriminator"]["mapping"].get(model) if isinstance(model, str) else None
        validator = pointer_validator(variant) if variant else schema_validator("ImageEditRequest")
        problem = jsonschema.exceptions.best_match(validator.iter_errors(payload))
        if problem is not None:
            param = ".".join(str(part) for part in problem.absolute_path) or None
            return error_response(400, "invalid_request", problem.message[:300], param)
        key = headers.get("idempotency-key")
        if key is not None and not pointer_validator(_IDEMPOTENCY_KEY_SCHEMA).is_valid(key):
            return error_response(
                400, "invalid_request", "Idempotency-Key must be 16-96 of [A-Za-z0-9._-]", "Idempotency-Key"
            )
        plan = self._next_plans.pop(0) if self._next_plans else self.plan
        number = next(self._ids)
        unix = int(time.time())
        task = _Task(
            id=f"task-unified-{unix}-{number:08d}",
            model=payload["model"],
            created_at=self.clock(),
            created_unix=unix,
            n=payload.get("n", 1),
            prompt=payload["prompt"],
            image_urls=list(payload["image_urls"]),
            plan=plan,
        )
        self.tasks[task.id] = task
        body_out = self._body(task, on_create=True)
        return apply_fault(fault, body_out) if fault is not None else FakeResponse.json(200, body_out)

    def _read(self, task_id: str) -> FakeResponse:
        fault = self._fault("GET")
        if fault is not None and (fault.kind in TRANSPORT_FAULTS or fault.kind in STATUS_FAULTS):
            return apply_fault(fault, None)  # the fault comes first, known task or not
        task = self.tasks.get(task_id)
        if task is None:
            # The spec does not restrict an id's shape, so every unknown id is a 404 (never a 400).
            return error_response(404, "task_not_found", f"task {task_id} not found", "task_id")
        body = self._body(task, on_create=False)
        return apply_fault(fault, body) if fault is not None else FakeResponse.json(200, body)

    def _running(self) -> int:
        return sum(1 for task in self.tasks.values() if self._status(task)[0] in {"pending", "processing"})

    def _status(self, task: _Task) -> tuple[str, int]:
        plan = task.plan
        elapsed = self.clock() - task.created_at
        if plan.status is not None:
            return plan.status, 0
        if elapsed >= plan.duration:
            return plan.outcome, 100 if plan.outcome == "completed" else 0
        if elapsed < plan.duration * 0.1:
            return "pending", 0
        return "processing", min(99, int(100 * elapsed / plan.duration))

    def _body(self, task: _Task, *, on_create: bool) -> dict[str, Any]:
        status, progress = ("pending", 0) if on_create else self._status(task)
        reserved = round(1.2 * task.n, 2) if task.model.startswith("wan") else 1
        body: dict[str, Any] = {
            "created": task.created_unix,
            "id": task.id,
            "model": task.model,
            "object": "image.generation.task",
            "progress": progress,
            "status": status,
            "task_info": {"can_cancel": status == "pending"},
            "type": "image",
            "usage": {"billing_rule": "per_call", "credits_reserved": reserved, "user_group": "default"},
        }
        if on_create:
            estimate = task.plan.estimated_time
            body["task_info"]["estimated_time"] = round(task.plan.duration) if estimate is None else estimate
        if status == "completed":
            body["results"] = [f"{self.files_url}/results/{task.id}-{i}.png" for i in range(task.n)]
            body["usage"]["credits_used"] = reserved
        elif status in {"failed", "cancelled"}:
            code = "request_cancelled" if status == "cancelled" else task.plan.error_code
            body["error"] = {"code": code, "message": f"the task ended: {code}", "type": "task_error"}
        return body

    def _files(self, method: str, url: str, headers: Mapping[str, str]) -> FakeResponse:
        if "authorization" in headers:
            self.auth_sent_to_files += 1
        fault = self._fault("files")
        folder, _, name = url[len(self.files_url) :].lstrip("/").partition("/")
        if method == "GET" and folder == "inputs" and name in self.inputs:
            return FakeResponse(200, {"content-type": "image/png"}, self.inputs[name])
        stored = self.file_host.served(name.split("?", 1)[0]) if folder == "uploads" else None
        if method == "GET" and stored is not None:
            return FakeResponse(200, {"content-type": stored.mime_type}, stored.data)
        task_id, _, index = name.removesuffix(".png").rpartition("-")
        task = self.tasks.get(task_id)
        if method != "GET" or folder != "results" or task is None or not index.isdigit():
            return FakeResponse(404, {"content-type": "text/plain"}, b"not found")
        if self._status(task)[0] != "completed" or int(index) >= task.n:
            return FakeResponse(404, {"content-type": "text/plain"}, b"not found")
        response = FakeResponse(200, {"content-type": "image/png"}, self._result_image(task, int(index)))
        return apply_fault(fault, None, response) if fault is not None else response

    def _result_image(self, task: _Task, index: int) -> bytes:
        source = self._served(task.image_urls[0])
        if source is not None:
            try:
                from .render import edit_image
            except ImportError:  # pragma: no cover - Pillow is in the cli and dev extras
                pass
            else:
                try:
                    return edit_image(source, task.prompt, index)
                except OSError:  # an upload Pillow cannot decode (a GIF frame it refuses, say)
                    pass
        return gradient_png(96, 64, f"{task.prompt}#{index}")


_TRANSPORT_EXCEPTIONS: dict[str, type[httpx.TransportError]] = {
    "connect_error": httpx.ConnectError,
    "connect_timeout": httpx.ConnectTimeout,
    "read_timeout": httpx.ReadTimeout,
    "dropped": httpx.RemoteProtocolError,
}
