"""``Client``: the blocking face of the API. ``AsyncClient`` (``_async_client.py``) has the same methods.

Each method is thin: the rules, retry policy, polling decisions and error mapping live in their own
modules and are shared with the async client.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from evolink_api import Client as ApiClient
from evolink_api.api.images import create_image_task
from evolink_api.api.tasks import get_task

from ._arguments import check_count, check_dest_dir, check_flag, check_seconds, check_task, check_task_id
from ._batch import AdaptiveLimit, BatchProgress, BatchResult, BatchSettings
from ._batch_run import SyncIO, run_threads
from ._callbacks import parse_callback
from ._config import DEFAULT_WAIT_TIMEOUT, ConfigurationError, Settings
from ._download import DEFAULT_MAX_BYTES, ImageSink, download_errors, result_urls
from ._errors import RequestValidationError
from ._polling import PollSchedule, drive, wait_flow
from ._preflight import ImageBuffer, unreachable
from ._requests import ImageEditRequest, to_api_body
from ._responses import exchange, record_response
from ._retry import RetryPolicy, RetryTransport, call_options
from ._rules import RULES, validate
from ._task import Task

__all__ = ["Client", "new_idempotency_key"]


def new_idempotency_key() -> str:
    """Return a fresh ``Idempotency-Key``: one per logical submit, reused on each of its retries."""
    return f"evolink-images-{secrets.token_hex(16)}"


class _ClientTransport(httpx.BaseTransport):
    """Sends through a caller's own ``httpx.Client`` (its proxies, TLS and limits), without its auth."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._client.send(request, stream=True)


def _inner_transport(http_client: httpx.Client | None, transport: httpx.BaseTransport | None) -> httpx.BaseTransport:
    """What the client sends through: a transport, a caller's client, or a TLS-verifying default."""
    if http_client is not None and transport is not None:
        raise ConfigurationError("pass http_client or transport, not both")
    if transport is not None:
        return transport
    if http_client is not None:
        return _ClientTransport(http_client)
    return httpx.HTTPTransport(verify=True)


class Client:
    """A blocking client for EvoLink's image-edit API.

    Args:
        api_key: the API key; default: the ``EVOLINK_API_KEY`` environment variable.
        base_url: default ``https://api.evolink.ai``; plain http only for a loopback host.
        timeout: seconds (or an ``httpx.Timeout``) for each HTTP request; default 30 s, 10 s to connect.
        max_retries: retries of a failed request where retrying is safe (see ``_retry.py``); default 2.
        http_client: your own ``httpx.Client`` to send through (its proxies, TLS, limits); you close it.
        transport: an httpx transport to send through instead (``httpx.MockTransport`` in tests, or an
            ``httpx.HTTPTransport`` with your own settings); not with ``http_client``.
        poll_schedule: the shape of ``wait``'s polling schedule.
        clock: monotonic seconds, for deadlines; default ``time.monotonic`` (inject for tests and simulations).
        sleep: how to wait; default ``time.sleep`` (``asyncio.sleep`` for ``AsyncClient``).

    Example::

        with Client() as client:
            task = client.run(WanImageToImage("Make it night", ["https://example.com/a.png"]))
            client.download(task, "out/")
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        poll_schedule: PollSchedule | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._settings = Settings.create(api_key, base_url, timeout, max_retries, poll_schedule)
        self._clock = clock = clock or time.monotonic
        self._sleep = sleep = sleep or time.sleep
        inner = _inner_transport(http_client, transport)

        def retrying() -> RetryTransport:
            return RetryTransport(inner, RetryPolicy(max_retries=max_retries), sleep=sleep, clock=clock)

        self._http = httpx.Client(
            **self._settings.api_http_options(), transport=retrying(), event_hooks={"response": [record_response]}
        )
        self._downloads = httpx.Client(**self._settings.download_http_options(), transport=retrying())
        self._api = ApiClient(base_url=str(self._settings.base_url)).set_httpx_client(self._http)

    def __repr__(self) -> str:
        return f"Client(base_url={str(self._settings.base_url)!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the client's connections (not those of an ``http_client`` you passed in)."""
        self._http.close()
        self._downloads.close()

    def submit(
        self,
        request: ImageEditRequest,
        *,
        preflight: bool = False,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        """Validate ``request``, then create the task (one paid task, however many retries).

        Args:
            request: a ``WanImageToImage`` or ``QwenImageEdit``.
            preflight: also fetch each input image and check its format, size and dimensions.
            max_retries: override the client's retry count for this call.
            idempotency_key: the ``Idempotency-Key`` to send (16 to 96 of ``[A-Za-z0-9._-]``); by
                default a fresh one. Reuse one only for the same logical submit.

        Raises:
            RequestValidationError: the request breaks a rule; nothing was sent.
            APIError: the API refused or failed; ``task_may_exist`` says whether a task may exist.
        """
        validate(request)
        if preflight:
            self._preflight(request)
        body = to_api_body(request)
        with call_options(max_retries=max_retries), exchange("POST", task_id=None, redact=self._settings.redact) as ex:
            result = create_image_task.sync_detailed(
                client=self._api, body=body, idempotency_key=idempotency_key or new_idempotency_key()
            )
            return ex.task(result)

    def get_task(self, task_id: str, *, max_retries: int | None = None) -> Task:
        """Read a task's status, progress and results.

        Raises:
            RequestValidationError: ``task_id`` is empty or not a string.
            APIError: the read failed (``NotFoundError`` for an unknown or expired task).
        """
        task_id = check_task_id(task_id)
        with (
            call_options(max_retries=max_retries),
            exchange("GET", task_id=task_id, redact=self._settings.redact) as ex,
        ):
            return ex.task(get_task.sync_detailed(task_id, client=self._api))

    def wait(
        self,
        task_or_id: Task | str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_update: Callable[[Task], object] | None = None,
    ) -> Task:
        """Poll until the task is finished; return it if completed.

        Transient poll failures (connection errors, 429, 5xx) do not end the wait while the
        deadline allows. Pass the ``Task`` from ``submit`` rather than its id: its
        ``estimated_time`` makes the schedule tighter around the expected end.

        Raises:
            TaskFailedError, TaskCancelledError: the task ended without results.
            WaitTimeoutError: ``timeout`` seconds passed first; the task goes on.
            APIError: polling failed in a way retrying cannot fix; it carries the task id.
        """
        first = task_or_id if isinstance(task_or_id, Task) else check_task_id(task_or_id)
        task_id = check_task_id(first)
        timeout = check_seconds("timeout", timeout)
        flow = wait_flow(
            first, timeout=timeout, clock=self._clock, schedule=self._settings.schedule, on_update=on_update
        )
        with call_options(deadline=self._clock() + timeout):
            return drive(flow, lambda: self.get_task(task_id), self._sleep)

    def run(
        self,
        request: ImageEditRequest,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_update: Callable[[Task], object] | None = None,
        preflight: bool = False,
    ) -> Task:
        """Submit ``request``, then wait for it (see ``submit`` and ``wait``)."""
        return self.wait(self.submit(request, preflight=preflight), timeout=timeout, on_update=on_update)

    def run_many(
        self,
        requests: Iterable[ImageEditRequest],
        *,
        concurrency: int = 8,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        journal: str | os.PathLike[str] | None = None,
        save_to: str | os.PathLike[str] | None = None,
        resend_uncertain: bool = False,
        on_result: Callable[[BatchResult, BatchProgress], object] | None = None,
        collect: bool = True,
    ) -> list[BatchResult]:
        """Run many requests, at most ``concurrency`` tasks in flight; one result per item.

        A 429 lowers the concurrency, which then recovers. Whatever one item raises becomes that
        item's result (``BatchResult.error``); the others go on. With ``journal``, each item's state
        is recorded before each step (see ``_batch.py``), so a re-run after a crash, a timeout or a
        failed download goes on where it stopped and never pays twice for an item.

        Args:
            requests: the requests, in any iterable: a list is checked whole before anything is sent;
                anything else (a generator over a huge file) is read one item at a time.
            concurrency: the most tasks in flight at once (also the number of workers).
            timeout: each task's wait, in seconds; a task still running then stays in the journal as
                submitted, and a re-run waits on it again.
            journal: a JSON-lines file recording each item's state (one process at a time).
            save_to: a folder to save each completed task's results into; an item is done once they
                are saved (a failed download is retried by a re-run).
            resend_uncertain: send again, with the same idempotency key, items whose submit was
                interrupted in an earlier run. If the API ignores the key (its handling is
                undocumented) and the first submit did create a task, that item is paid twice.
            on_result: called as each item ends (on the calling thread), with counts for a display.
            collect: keep every result for the returned list; False keeps memory bounded by the
                concurrency (results then go only to ``on_result``, and the list is empty).

        Raises:
            JournalLockedError: another process is running a batch on this journal; nothing was sent.
            JournalDamagedError: the journal is damaged before its last line; nothing was sent.
            JournalError: the journal could not be written; the batch stopped before its next submit.
            KeyboardInterrupt: the batch stopped at once (within a second); the journal is consistent.
        """
        settings = BatchSettings(
            AdaptiveLimit(check_count("concurrency", concurrency)),
            save_to=check_dest_dir(save_to) if save_to is not None else None,
            resend_uncertain=check_flag("resend_uncertain", resend_uncertain),
        )
        timeout = check_seconds("timeout", timeout)
        io = SyncIO(
            submit=lambda request, key: self.submit(request, max_retries=0, idempotency_key=key),
            wait=lambda task: self.wait(task, timeout=timeout),
            download=self.download,
            sleep=self._sleep,
        )
        return run_threads(requests, settings, io, journal=journal, on_result=on_result, collect=collect)

    def download(
        self, task: Task, dest_dir: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> list[Path]:
        """Save every result image of a completed task into ``dest_dir``; return the paths.

        Files are named ``<task id>-<index>.<ext>`` from the content type. Result URLs expire 24 hours
        after completion. The API key is never sent to the result host.

        Raises:
            DownloadError: the task has no results, or an image failed, was too large or not an
                image; no partial file is left behind.
        """
        task = check_task(task)
        max_bytes = check_count("max_bytes", max_bytes)
        urls, folder = result_urls(task, check_dest_dir(dest_dir))
        paths = []
        for index, url in enumerate(urls):
            with download_errors(task.id, index), self._downloads.stream("GET", url) as response:
                with ImageSink(folder, task.id, index, response, max_bytes) as sink:
                    for chunk in response.iter_bytes():
                        sink.write(chunk)
                paths.append(sink.path)
        return paths

    def confirm_callback(self, body: bytes | str | Mapping[str, Any]) -> Task:
        """Return the task a callback speaks of, as re-fetched from the API (callbacks are unsigned)."""
        return self.get_task(parse_callback(body).id)

    def _preflight(self, request: ImageEditRequest) -> None:
        rules = RULES[request.model]
        violations = []
        for index, url in enumerate(request.image_urls):
            try:
                with self._downloads.stream("GET", url) as response:
                    buffer = ImageBuffer(index, response, rules)
                    for chunk in response.iter_bytes() if buffer.problem is None else ():
                        if not buffer.add(chunk):
                            break
            except httpx.HTTPError as error:
                violations.append(unreachable(index, error))
                continue
            violations += buffer.violations()
        if violations:
            raise RequestValidationError(violations)
