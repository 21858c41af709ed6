"""``AsyncClient``: the async face of the API (asyncio or trio, through anyio), the same methods as ``Client``.

The logic is shared (``_rules``, ``_retry``, ``_polling``, ``_responses``, ``_download``): only the
awaiting differs. A test compares the two classes' signatures.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
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
from ._batch_run import AsyncIO, run_async
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
from ._fetch import NO_AUTH, FetchRefused, fetch_async, parse_url
from ._file_host import FileQuota, UploadedFile, file_host_call, quota_request, upload_request
from ._local_images import ImageSource, LocalImage, local_source
from ._polling import PollSchedule, drive_async, wait_flow
from ._preflight import ImageBuffer, unreachable
from ._requests import ImageEditRequest
from ._retry import AsyncRetryTransport, RetryPolicy, call_options
from ._rules import RULES
from ._task import Task
from ._upload_cache import UploadCache
from ._wire import AsyncGuardedTransport, Secret

__all__ = ["AsyncClient"]


class _AsyncClientTransport(httpx.AsyncBaseTransport):
    """Sends through a caller's own ``httpx.AsyncClient``, without its auth or redirects (see ``_ClientTransport``)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._client.send(request, stream=True, auth=NO_AUTH, follow_redirects=False)


def _inner_transport(
    http_client: httpx.AsyncClient | None, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncBaseTransport:
    """What the client sends through: a transport, a caller's client, or a TLS-verifying default."""
    if http_client is not None and transport is not None:
        raise ConfigurationError("pass http_client or transport, not both")
    if transport is not None:
        return transport
    if http_client is not None:
        return _AsyncClientTransport(http_client)
    from ._wire.sockets import install_deadline_backend  # needs httpcore: only when a transport is built

    return install_deadline_backend(httpx.AsyncHTTPTransport(verify=True))


class _Shared(httpx.AsyncBaseTransport):
    """Another client's transport, used by a ``with_options`` client: closing it is the owner's job."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)


class AsyncClient:
    """An async client for EvoLink's image-edit API (asyncio or trio); the arguments are those of ``Client``.

    Example::

        async with AsyncClient() as client:
            task = await client.run(QwenImageEdit("Add a hat", ["https://example.com/a.png"]))
            await client.download(task, "out/")
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        poll_schedule: PollSchedule | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
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

    def _setup(self, options: ClientOptions, inner: httpx.AsyncBaseTransport, uploads: UploadCache) -> None:
        self._options = options
        self._uploads = uploads
        self._inner = inner
        self._settings = settings = options.settings()
        self._clock = clock = options.clock or time.monotonic
        self._sleep = sleep = options.sleep or anyio.sleep
        policy = RetryPolicy(max_retries=settings.max_retries)
        self._api = AsyncRetryTransport(
            AsyncGuardedTransport(inner, settings.api_wire()), policy, sleep=sleep, clock=clock
        )
        results = AsyncRetryTransport(
            AsyncGuardedTransport(inner, settings.download_wire()), policy, sleep=sleep, clock=clock
        )
        self._downloads = httpx.AsyncClient(**settings.download_http_options(), transport=results)

    def with_options(self, **overrides: Any) -> AsyncClient:
        """A client like this one with some constructor options changed, sharing its connections.

        See ``Client.with_options``.
        """
        derived = object.__new__(type(self))
        options = self._options.changed(overrides)
        derived._setup(options, _Shared(self._inner), self._uploads)
        if (options.api_key, options.files_base_url) != (self._options.api_key, self._options.files_base_url):
            derived._uploads = UploadCache()  # another account or file host: its uploads are its own
        return derived

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={str(self._settings.base_url)!r})"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client's connections (not those of an ``http_client`` you passed in)."""
        await self._downloads.aclose()
        await self._api.aclose()

    async def submit(
        self,
        request: ImageEditRequest,
        *,
        preflight: bool = False,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Task:
        """Validate ``request``, upload its local images, then create the task: see ``Client.submit``."""
        return await self._submit(
            request, self._uploads, preflight, max_retries, idempotency_key, timeout, extra_headers
        )

    async def _submit(
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
                await self._preflight(request)
        uploaded = {
            digest: (await self._upload_once(image, uploads)).file_url for digest, image in plan.distinct().items()
        }
        return await self._send(plan.call(uploaded))

    async def _upload_once(self, image: LocalImage, uploads: UploadCache) -> UploadedFile:
        async with uploads.async_lock(image.sha256):
            found = uploads.get(image.sha256)
            if found is not None:
                return found
            request = upload_request(self._settings, image)
            with file_host_call(self._settings, self._clock, self._settings.budget, image) as call:
                response = call.received(await self._api.handle_async_request(request), request)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
                uploaded = call.uploaded(response, image)
            uploads.put(uploaded)
            return uploaded

    async def upload(self, source: ImageSource) -> UploadedFile:
        """Upload one local image to EvoLink's file host: see ``Client.upload``."""
        return await self._upload_once(local_source(source), self._uploads)

    async def file_quota(self) -> FileQuota:
        """Read the account's file quota (free): see ``Client.file_quota``."""
        request = quota_request(self._settings)
        with file_host_call(self._settings, self._clock, self._settings.budget) as call:
            response = call.received(await self._api.handle_async_request(request), request)
            try:
                await response.aread()
            finally:
                await response.aclose()
            return call.quota(response)

    async def get_task(
        self,
        task_id: str,
        *,
        max_retries: int | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Task:
        """Read a task's status, progress and results: see ``Client.get_task``."""
        call = read_call(self._settings, task_id, timeout=timeout, max_retries=max_retries, extra_headers=extra_headers)
        return await self._send(call)

    async def _send(self, call: ApiCall) -> Task:
        with sending(call, self._settings, self._clock) as ex:
            response = ex.received(await self._api.handle_async_request(call.request), call.request)
            try:
                await response.aread()
            finally:
                await response.aclose()
            return ex.task(response)

    async def wait(
        self,
        task_or_id: Task | str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_update: Callable[[Task], object] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Task:
        """Poll until the task is finished; return it if completed: see ``Client.wait``."""
        first = task_or_id if isinstance(task_or_id, Task) else check_task_id(task_or_id)
        task_id = check_task_id(first)
        timeout = check_seconds("timeout", timeout)
        check_headers("extra_headers", extra_headers)
        flow = wait_flow(
            first, timeout=timeout, clock=self._clock, schedule=self._settings.schedule, on_update=on_update
        )
        with call_options(deadline=self._clock() + timeout):
            return await drive_async(flow, lambda: self.get_task(task_id, extra_headers=extra_headers), self._sleep)

    async def run(
        self,
        request: ImageEditRequest,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_update: Callable[[Task], object] | None = None,
        preflight: bool = False,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Task:
        """Submit ``request``, then wait for it: see ``Client.run``."""
        task = await self.submit(request, preflight=preflight, extra_headers=extra_headers)
        return await self.wait(task, timeout=timeout, on_update=on_update, extra_headers=extra_headers)

    async def run_many(
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
        """Run many requests with bounded, adaptive concurrency: see ``Client.run_many``.

        Cancelling it stops the batch at once: it cancels and awaits every task it started first.
        """
        settings = BatchSettings(
            AdaptiveLimit(check_count("concurrency", concurrency)),
            save_to=check_dest_dir(save_to) if save_to is not None else None,
            resend_uncertain=check_flag("resend_uncertain", resend_uncertain),
            policy=RetryPolicy(max_retries=self._settings.max_retries),
        )
        timeout = check_seconds("timeout", timeout)
        uploads = self._uploads.layer()  # a journal, if any, adds what it recorded and records the new
        io = AsyncIO(
            submit=lambda request, key: self._submit(request, uploads, max_retries=0, idempotency_key=key),
            wait=lambda task: self.wait(task, timeout=timeout),
            download=self.download,
            sleep=self._sleep,
            uploads=uploads,
        )
        return await run_async(requests, settings, io, journal=journal, on_result=on_result, collect=collect)

    async def download(
        self,
        task: Task,
        dest_dir: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        allow_internal_hosts: bool = False,
    ) -> list[Path]:
        """Save every result image of a completed task: see ``Client.download``."""
        task = check_task(task)
        max_bytes = check_count("max_bytes", max_bytes)
        timeout = check_seconds("timeout", timeout)
        rule = result_host_rule(self._settings.base_url, check_flag("allow_internal_hosts", allow_internal_hosts))
        plan = plan_download(task, check_dest_dir(dest_dir), rule)
        paths = []
        with call_options(deadline=self._clock() + timeout):
            for index, url in enumerate(plan.urls):
                with download_errors(plan, index):
                    async with fetch_async(self._downloads, url, plan.rule) as response:
                        with ImageSink(plan, index, response, max_bytes) as sink:
                            async for chunk in response.aiter_bytes():
                                sink.write(chunk)
                paths.append(sink.path)
        return [path for path in paths if path is not None]

    async def confirm_callback(
        self,
        body: bytes | str | Mapping[str, Any],
        *,
        max_retries: int | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Task:
        """Return the task a callback speaks of, as re-fetched from the API: see ``Client.confirm_callback``."""
        task_id = parse_callback(body).id
        return await self.get_task(task_id, max_retries=max_retries, timeout=timeout, extra_headers=extra_headers)

    async def _preflight(self, request: ImageEditRequest) -> None:
        rules = RULES[request.model]
        rule = result_host_rule(self._settings.base_url, allow_internal=False)
        violations = []
        for index, url in enumerate(request.image_urls):
            if not isinstance(url, str):
                continue  # a local image: checked already, by its bytes
            try:
                async with fetch_async(self._downloads, parse_url(url), rule) as response:
                    buffer = ImageBuffer(index, response, rules)
                    if buffer.problem is None:
                        async for chunk in response.aiter_bytes():
                            if not buffer.add(chunk):
                                break
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, FetchRefused) as error:
                violations.append(unreachable(index, error))
                continue
            violations += buffer.violations()
        if violations:
            raise RequestValidationError(violations)
