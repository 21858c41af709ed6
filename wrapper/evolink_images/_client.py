"""``Client``: the blocking face of the API. ``AsyncClient`` (``_async_client.py``) has the same methods.

Each method is thin: the rules, retry policy, polling decisions and error mapping live in their own
modules and are shared with the async client.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from ._arguments import (
    check_count,
    check_dest_dir,
    check_flag,
    check_headers,
    check_seconds,
    check_task,
    check_task_id,
)
from ._batch import AdaptiveLimit, BatchProgress, BatchResult, BatchSettings
from ._batch_run import SyncIO, run_threads, stoppable_sleep
from ._callbacks import parse_callback
from ._calls import ApiCall, plan_submit, read_call, sending
from ._config import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_WAIT_TIMEOUT, ClientOptions, ConfigurationError
from ._download import (
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_MAX_BYTES,
    ImageSink,
    download_errors,
    plan_download,
    result_host_rule,
)
from ._errors import RequestValidationError
from ._fetch import NO_AUTH, FetchRefused, fetch, parse_url
from ._file_host import FileQuota, UploadedFile, file_host_call, quota_request, upload_request
from ._local_images import ImageSource, LocalImage, local_source
from ._polling import PollSchedule, drive, wait_flow
from ._preflight import ImageBuffer, unreachable
from ._requests import ImageEditRequest
from ._retry import RetryPolicy, RetryTransport, call_options
from ._rules import RULES
from ._task import Task
from ._upload_cache import UploadCache
from ._wire import GuardedTransport, Secret

__all__ = ["Client"]


class _ClientTransport(httpx.BaseTransport):
    """Sends through a caller's own ``httpx.Client`` (its proxies, TLS and limits), without its auth.

    The request is sent as built by our own client: the caller's auth is never applied (``auth`` is
    an empty ``httpx.Auth``, not ``None``, which would let httpx fall back to credentials in the URL)
    and its ``follow_redirects`` never re-sends a request anywhere: a redirect comes back to us as a
    response, for the API client to refuse and the download path to check.
    """

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._client.send(request, stream=True, auth=NO_AUTH, follow_redirects=False)


def _inner_transport(http_client: httpx.Client | None, transport: httpx.BaseTransport | None) -> httpx.BaseTransport:
    """What the client sends through: a transport, a caller's client, or a TLS-verifying default."""
    if http_client is not None and transport is not None:
        raise ConfigurationError("pass http_client or transport, not both")
    if transport is not None:
        return transport
    if http_client is not None:
        return _ClientTransport(http_client)
    from ._wire.sockets import install_deadline_backend  # needs httpcore: only when a transport is built

    return install_deadline_backend(httpx.HTTPTransport(verify=True))


class _Shared(httpx.BaseTransport):
    """Another client's transport, used by a ``with_options`` client: closing it is the owner's job."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)


class Client:
    """A blocking client for EvoLink's image-edit API.

    Args:
        api_key: the API key; default: the ``EVOLINK_API_KEY`` environment variable.
        base_url: default ``https://api.evolink.ai``; plain http only for a loopback host.
        timeout: the total seconds one API call may take (``submit``, ``get_task``: connecting, sending,
            reading the whole answer, every retry and back-off), whatever the server does; default 60 s.
            An ``httpx.Timeout`` sets per-phase limits on silence instead (the total stays 60 s).
        max_retries: retries of a failed request where retrying is safe (see ``_retry.py``); default 2.
        http_client: your own ``httpx.Client`` to send through (its proxies, TLS, limits); you close it.
        transport: an httpx transport to send through instead (``httpx.MockTransport`` in tests, or an
            ``httpx.HTTPTransport`` with your own settings); not with ``http_client``.
        poll_schedule: the shape of ``wait``'s polling schedule.
        clock: monotonic seconds, for deadlines; default ``time.monotonic`` (inject for tests and simulations).
        sleep: how to wait; default ``time.sleep`` (``anyio.sleep`` for ``AsyncClient``).
        max_response_bytes: the largest API answer accepted, counted on decoded bytes; default 1 MiB.
        default_headers: headers to send with every API request (never to result hosts; not
            ``Authorization``: the key comes only from ``api_key``).
        files_base_url: EvoLink's file host, where local images are uploaded with the same key;
            default ``EVOLINK_FILES_BASE_URL``, else ``https://files-api.evolink.ai`` (else
            ``base_url`` itself when that is loopback: a local fake serves both).

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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        default_headers: Mapping[str, str] | None = None,
        files_base_url: str | None = None,
    ) -> None:
        key = Secret(api_key) if api_key is not None else None
        options = ClientOptions(
            key,
            base_url,
            timeout,
            max_retries,
            poll_schedule,
            clock,
            sleep,
            max_response_bytes,
            default_headers,
            files_base_url,
        )
        self._setup(options, _inner_transport(http_client, transport), UploadCache())

    def _setup(self, options: ClientOptions, inner: httpx.BaseTransport, uploads: UploadCache) -> None:
        self._options = options
        self._uploads = uploads
        self._inner = inner
        self._settings = settings = options.settings()
        self._clock = clock = options.clock or time.monotonic
        self._sleep = sleep = options.sleep or time.sleep
        policy = RetryPolicy(max_retries=settings.max_retries)
        self._api = RetryTransport(GuardedTransport(inner, settings.api_wire()), policy, sleep=sleep, clock=clock)
        results = RetryTransport(GuardedTransport(inner, settings.download_wire()), policy, sleep=sleep, clock=clock)
        self._downloads = httpx.Client(**settings.download_http_options(), transport=results)

    def with_options(self, **overrides: Any) -> Client:
        """A client like this one with some constructor options changed, sharing its connections.

        Any of ``api_key``, ``base_url``, ``timeout``, ``max_retries``, ``poll_schedule``, ``clock``,
        ``sleep``, ``max_response_bytes``, ``default_headers`` and ``files_base_url``. The new
        client's ``close`` leaves the shared connections open: closing this client closes them. It
        shares this client's uploads too (the same bytes are not uploaded again), unless it has
        another ``api_key`` or ``files_base_url``.

        Example::

            patient = client.with_options(timeout=120, max_retries=5)
        """
        derived = object.__new__(type(self))
        options = self._options.changed(overrides)
        derived._setup(options, _Shared(self._inner), self._uploads)
        if (options.api_key, options.files_base_url) != (self._options.api_key, self._options.files_base_url):
            derived._uploads = UploadCache()  # another account or file host: its uploads are its own
        return derived

    def __repr__(self) -> str:
        return f"Client(base_url={str(self._settings.base_url)!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the client's connections (not those of an ``http_client`` you passed in)."""
        self._downloads.close()
        self._api.close()

    def submit(
        self,
        request: ImageEditRequest,
        *,
        preflight: bool = False,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Task:
        """Validate ``request``, upload its local images, then create the task (one paid task, however many retries).

        Local images (paths, bytes, binary files in ``image_urls``) are checked first with the rest
        of the request; nothing is uploaded unless everything passes. Each is then uploaded to the
        file host (the same bytes once per client, while the upload has 2 hours or more to live) and
        its ``file_url`` sent instead.

        Args:
            request: a ``WanImageToImage`` or ``QwenImageEdit``.
            preflight: also fetch each input image and check its format, size and dimensions (within
                a budget of its own, the client's ``timeout``).
            max_retries: override the client's retry count for this call.
            idempotency_key: the ``Idempotency-Key`` to send (16 to 96 of ``[A-Za-z0-9._-]``); by
                default a fresh one. Reuse one only for the same logical submit.
            timeout: this call's total budget in seconds, instead of the client's.
            extra_headers: headers to add to this request (not ``Authorization``).

        Raises:
            RequestValidationError: the request, a local image or an argument breaks a rule; nothing
                was uploaded and nothing sent.
            UploadError: a local image could not be uploaded; no task was created.
            APIError: the API refused or failed; ``task_may_exist`` says whether a task may exist.
        """
        return self._submit(request, self._uploads, preflight, max_retries, idempotency_key, timeout, extra_headers)

    def _submit(
        self,
        request: ImageEditRequest,
        uploads: UploadCache,
        preflight: bool = False,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Task:
        plan = plan_submit(
            self._settings,
            request,
            idempotency_key=idempotency_key,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
        )
        if preflight:
            with call_options(deadline=self._clock() + self._settings.budget):
                self._preflight(request)
        uploaded = {digest: self._upload_once(image, uploads).file_url for digest, image in plan.distinct().items()}
        return self._send(plan.call(uploaded))

    def _upload_once(self, image: LocalImage, uploads: UploadCache) -> UploadedFile:
        with uploads.lock(image.sha256):
            found = uploads.get(image.sha256)
            if found is not None:
                return found
            request = upload_request(self._settings, image)
            with file_host_call(self._settings, self._clock, self._settings.budget, image) as call:
                response = call.received(self._api.handle_request(request), request)
                try:
                    response.read()
                finally:
                    response.close()
                uploaded = call.uploaded(response, image)
            uploads.put(uploaded)
            return uploaded

    def upload(self, source: ImageSource) -> UploadedFile:
        """Upload one local image to EvoLink's file host; return where it is, until when.

        The same bytes are uploaded once per client (while the upload has 2 hours or more to live).
        Each upload holds one slot of the account's file quota until it expires, 72 hours later.

        Args:
            source: a path (``pathlib.Path`` or ``str``), ``bytes``, or a binary file object: a JPEG,
                PNG, GIF or WEBP of at most 100 MB (the file host's rules; a model's own are checked
                when the image goes in a request).

        Raises:
            RequestValidationError: it is not such an image, or cannot be read; nothing was sent.
            UploadError: the file host refused or failed (``code``, ``message``, ``file_name``).
        """
        return self._upload_once(local_source(source), self._uploads)

    def file_quota(self) -> FileQuota:
        """Read the account's file quota (free): how many uploads it holds, and how many more fit.

        Raises:
            FileHostError: the file host answered ``success: false``.
            APIError: the read failed.
        """
        request = quota_request(self._settings)
        with file_host_call(self._settings, self._clock, self._settings.budget) as call:
            response = call.received(self._api.handle_request(request), request)
            try:
                response.read()
            finally:
                response.close()
            return call.quota(response)

    def get_task(
        self,
        task_id: str,
        *,
        max_retries: int | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Task:
        """Read a task's status, progress and results.

        Args:
            task_id: the task's id.
            max_retries: override the client's retry count for this call.
            timeout: this call's total budget in seconds, instead of the client's.
            extra_headers: headers to add to this request (not ``Authorization``).

        Raises:
            RequestValidationError: ``task_id`` is empty, not a string, or not an id.
            APIError: the read failed (``NotFoundError`` for an unknown or expired task; an
                ``APIResponseError`` for an answer about another task).
        """
        call = read_call(self._settings, task_id, timeout=timeout, max_retries=max_retries, extra_headers=extra_headers)
        return self._send(call)

    def _send(self, call: ApiCall) -> Task:
        with sending(call, self._settings, self._clock) as ex:
            response = ex.received(self._api.handle_request(call.request), call.request)
            try:
                response.read()
            finally:
                response.close()
            return ex.task(response)

    def wait(
        self,
        task_or_id: Task | str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_update: Callable[[Task], object] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Task:
        """Poll until the task is finished; return it if completed.

        Transient poll failures (connection errors, 429, 5xx) do not end the wait while the
        deadline allows. Pass the ``Task`` from ``submit`` rather than its id: its
        ``estimated_time`` makes the schedule tighter around the expected end. ``extra_headers``
        go with every poll.

        Raises:
            TaskFailedError, TaskCancelledError: the task ended without results.
            WaitTimeoutError: ``timeout`` seconds passed first; the task goes on.
            APIError: polling failed in a way retrying cannot fix; it carries the task id.
        """
        first = task_or_id if isinstance(task_or_id, Task) else check_task_id(task_or_id)
        task_id = check_task_id(first)
        timeout = check_seconds("timeout", timeout)
        check_headers("extra_headers", extra_headers)
        flow = wait_flow(
            first, timeout=timeout, clock=self._clock, schedule=self._settings.schedule, on_update=on_update
        )
        with call_options(deadline=self._clock() + timeout):
            return drive(flow, lambda: self.get_task(task_id, extra_headers=extra_headers), self._sleep)

    def run(
        self,
        request: ImageEditRequest,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_update: Callable[[Task], object] | None = None,
        preflight: bool = False,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Task:
        """Submit ``request``, then wait for it (see ``submit`` and ``wait``); ``extra_headers`` go with each."""
        task = self.submit(request, preflight=preflight, extra_headers=extra_headers)
        return self.wait(task, timeout=timeout, on_update=on_update, extra_headers=extra_headers)

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
            Exception: what ``requests`` (while being read) or ``on_result`` raised: the batch stopped
                the same way, and every item it had started was reported to ``on_result`` first.
        """
        settings = BatchSettings(
            AdaptiveLimit(check_count("concurrency", concurrency)),
            save_to=check_dest_dir(save_to) if save_to is not None else None,
            resend_uncertain=check_flag("resend_uncertain", resend_uncertain),
            policy=RetryPolicy(max_retries=self._settings.max_retries),
        )
        timeout = check_seconds("timeout", timeout)
        stop = threading.Event()
        # Waits sleep through a stop: a stopped batch's threads end at their next poll, not their timeout.
        waiter = self.with_options(sleep=stoppable_sleep(self._sleep, stop))
        uploads = self._uploads.layer()  # a journal, if any, adds what it recorded and records the new
        io = SyncIO(
            submit=lambda request, key: self._submit(request, uploads, max_retries=0, idempotency_key=key),
            wait=lambda task: waiter.wait(task, timeout=timeout),
            download=self.download,
            sleep=self._sleep,
            stop=stop,
            uploads=uploads,
        )
        try:
            return run_threads(requests, settings, io, journal=journal, on_result=on_result, collect=collect)
        finally:
            stop.set()
            waiter.close()

    def download(
        self,
        task: Task,
        dest_dir: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        allow_internal_hosts: bool = False,
    ) -> list[Path]:
        """Save every result image of a completed task into ``dest_dir``; return the paths.

        Files are named ``<task id>-<index>.<ext>``, the extension read from the image's own bytes.
        Result URLs expire 24 hours after completion. The API key is never sent to the result host.
        Everything that can be checked before fetching is: the URLs, their hosts, the folder.

        Args:
            task: a completed ``Task``.
            dest_dir: the folder to save into (created if missing).
            max_bytes: the largest image accepted.
            timeout: seconds the whole call may take, every image and redirect included.
            allow_internal_hosts: fetch results from loopback, private or link-local hosts too (by
                default only public hosts, unless the client's ``base_url`` is loopback).

        Raises:
            DownloadError: the task has no results; a result URL is junk, not http(s) or on an
                internal host; the folder cannot take the files (the message names it); an image
                failed, was too large or not an image. No partial file is left behind.
        """
        task = check_task(task)
        max_bytes = check_count("max_bytes", max_bytes)
        timeout = check_seconds("timeout", timeout)
        rule = result_host_rule(self._settings.base_url, check_flag("allow_internal_hosts", allow_internal_hosts))
        plan = plan_download(task, check_dest_dir(dest_dir), rule)
        paths = []
        with call_options(deadline=self._clock() + timeout):
            for index, url in enumerate(plan.urls):
                with (
                    download_errors(plan, index),
                    fetch(self._downloads, url, plan.rule) as response,
                    ImageSink(plan, index, response, max_bytes) as sink,
                ):
                    for chunk in response.iter_bytes():
                        sink.write(chunk)
                paths.append(sink.path)
        return [path for path in paths if path is not None]

    def confirm_callback(
        self,
        body: bytes | str | Mapping[str, Any],
        *,
        max_retries: int | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Task:
        """Return the task a callback speaks of, as re-fetched from the API (callbacks are unsigned).

        ``max_retries``, ``timeout`` and ``extra_headers`` apply to that read, as for ``get_task``.
        """
        task_id = parse_callback(body).id
        return self.get_task(task_id, max_retries=max_retries, timeout=timeout, extra_headers=extra_headers)

    def _preflight(self, request: ImageEditRequest) -> None:
        rules = RULES[request.model]
        rule = result_host_rule(self._settings.base_url, allow_internal=False)
        violations = []
        for index, url in enumerate(request.image_urls):
            if not isinstance(url, str):
                continue  # a local image: checked already, by its bytes
            try:
                with fetch(self._downloads, parse_url(url), rule) as response:
                    buffer = ImageBuffer(index, response, rules)
                    for chunk in response.iter_bytes() if buffer.problem is None else ():
                        if not buffer.add(chunk):
                            break
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, FetchRefused) as error:
                violations.append(unreachable(index, error))
                continue
            violations += buffer.violations()
        if violations:
            raise RequestValidationError(violations)
