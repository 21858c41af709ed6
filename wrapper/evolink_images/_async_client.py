"""``AsyncClient``: the asyncio face of the API, method for method the same as ``Client``.

The logic is shared (``_rules``, ``_retry``, ``_polling``, ``_responses``, ``_download``): only the
awaiting differs. A test compares the two classes' signatures.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from evolink_api import Client as ApiClient
from evolink_api.api.images import create_image_task
from evolink_api.api.tasks import get_task

from ._arguments import check_count, check_dest_dir, check_flag, check_seconds, check_task, check_task_id
from ._batch import AdaptiveLimit, BatchProgress, BatchResult, BatchSettings
from ._batch_run import AsyncIO, run_async
from ._callbacks import parse_callback
from ._client import new_idempotency_key
from ._config import DEFAULT_WAIT_TIMEOUT, ConfigurationError, Settings
from ._download import DEFAULT_MAX_BYTES, ImageSink, download_errors, result_urls
from ._errors import RequestValidationError
from ._polling import PollSchedule, drive_async, wait_flow
from ._preflight import ImageBuffer, unreachable
from ._requests import ImageEditRequest, to_api_body
from ._responses import exchange, record_response_async
from ._retry import AsyncRetryTransport, RetryPolicy, call_options
from ._rules import RULES, validate
from ._task import Task

__all__ = ["AsyncClient"]


class _AsyncClientTransport(httpx.AsyncBaseTransport):
    """Sends through a caller's own ``httpx.AsyncClient``, without its auth."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._client.send(request, stream=True)


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
    return httpx.AsyncHTTPTransport(verify=True)


class AsyncClient:
    """An asyncio client for EvoLink's image-edit API; the arguments are those of ``Client``.

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
    ) -> None:
        self._settings = Settings.create(api_key, base_url, timeout, max_retries, poll_schedule)
        self._clock = clock = clock or time.monotonic
        self._sleep = sleep = sleep or asyncio.sleep
        inner = _inner_transport(http_client, transport)

        def retrying() -> AsyncRetryTransport:
            return AsyncRetryTransport(inner, RetryPolicy(max_retries=max_retries), sleep=sleep, clock=clock)

        self._http = httpx.AsyncClient(
            **self._settings.api_http_options(), transport=retrying(), event_hooks={"response": [record_response_async]}
        )
        self._downloads = httpx.AsyncClient(**self._settings.download_http_options(), transport=retrying())
        self._api = ApiClient(base_url=str(self._settings.base_url)).set_async_httpx_client(self._http)

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
        await self._http.aclose()
        await self._downloads.aclose()

    async def submit(
        self,
        request: ImageEditRequest,
        *,
        preflight: bool = False,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        """Validate ``request``, then create the task: see ``Client.submit``."""
        validate(request)
        if preflight:
            await self._preflight(request)
        body = to_api_body(request)
        with call_options(max_retries=max_retries), exchange("POST", task_id=None, redact=self._settings.redact) as ex:
            result = await create_image_task.asyncio_detailed(
                client=self._api, body=body, idempotency_key=idempotency_key or new_idempotency_key()
            )
            return ex.task(result)

    async def get_task(self, task_id: str, *, max_retries: int | None = None) -> Task:
        """Read a task's status, progress and results: see ``Client.get_task``."""
        task_id = check_task_id(task_id)
        with (
            call_options(max_retries=max_retries),
            exchange("GET", task_id=task_id, redact=self._settings.redact) as ex,
        ):
            return ex.task(await get_task.asyncio_detailed(task_id, client=self._api))

    async def wait(
        self,
        task_or_id: Task | str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_update: Callable[[Task], object] | None = None,
    ) -> Task:
        """Poll until the task is finished; return it if completed: see ``Client.wait``."""
        first = task_or_id if isinstance(task_or_id, Task) else check_task_id(task_or_id)
        task_id = check_task_id(first)
        timeout = check_seconds("timeout", timeout)
        flow = wait_flow(
            first, timeout=timeout, clock=self._clock, schedule=self._settings.schedule, on_update=on_update
        )
        with call_options(deadline=self._clock() + timeout):
            return await drive_async(flow, lambda: self.get_task(task_id), self._sleep)

    async def run(
        self,
        request: ImageEditRequest,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        on_update: Callable[[Task], object] | None = None,
        preflight: bool = False,
    ) -> Task:
        """Submit ``request``, then wait for it: see ``Client.run``."""
        task = await self.submit(request, preflight=preflight)
        return await self.wait(task, timeout=timeout, on_update=on_update)

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
        )
        timeout = check_seconds("timeout", timeout)
        io = AsyncIO(
            submit=lambda request, key: self.submit(request, max_retries=0, idempotency_key=key),
            wait=lambda task: self.wait(task, timeout=timeout),
            download=self.download,
            sleep=self._sleep,
        )
        return await run_async(requests, settings, io, journal=journal, on_result=on_result, collect=collect)

    async def download(
        self, task: Task, dest_dir: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> list[Path]:
        """Save every result image of a completed task: see ``Client.download``."""
        task = check_task(task)
        max_bytes = check_count("max_bytes", max_bytes)
        urls, folder = result_urls(task, check_dest_dir(dest_dir))
        paths = []
        for index, url in enumerate(urls):
            with download_errors(task.id, index):
                async with self._downloads.stream("GET", url) as response:
                    with ImageSink(folder, task.id, index, response, max_bytes) as sink:
                        async for chunk in response.aiter_bytes():
                            sink.write(chunk)
                    paths.append(sink.path)
        return paths

    async def confirm_callback(self, body: bytes | str | Mapping[str, Any]) -> Task:
        """Return the task a callback speaks of, as re-fetched from the API: see ``Client.confirm_callback``."""
        return await self.get_task(parse_callback(body).id)

    async def _preflight(self, request: ImageEditRequest) -> None:
        rules = RULES[request.model]
        violations = []
        for index, url in enumerate(request.image_urls):
            try:
                async with self._downloads.stream("GET", url) as response:
                    buffer = ImageBuffer(index, response, rules)
                    if buffer.problem is None:
                        async for chunk in response.aiter_bytes():
                            if not buffer.add(chunk):
                                break
            except httpx.HTTPError as error:
                violations.append(unreachable(index, error))
                continue
            violations += buffer.violations()
        if violations:
            raise RequestValidationError(violations)
