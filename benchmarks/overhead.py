"""Client overhead per task: a submit, ``POLLS`` polls and parsing, through the wrapper and a bare httpx client.

A task is what a caller pays for: one submit, then the polls until it ends (8, about the adaptive
schedule's mean in the polling benchmark), each parsed. Both clients send the same requests
through the same in-process transport, in one run, interleaved in rounds so that a busy moment of
the machine hits both alike. Two transports: canned responses
(only client-side work is measured: the strictest ratio) and the fake EvoLink (which also
validates each body with the spec's schema, as a server would).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from evolink_images import Client, WanImageToImage
from evolink_images.testing.fake import FakeEvoLink
from evolink_images.testing.payloads import task_json, wan_body

__all__ = ["OverheadResult", "run"]

KEY = "sk-evo-bench-0000000000"
POLLS = 8
BODY = wan_body()
REQUEST = WanImageToImage(BODY["prompt"], BODY["image_urls"])
PENDING = json.dumps(task_json("pending")).encode()
COMPLETED = json.dumps(task_json("completed")).encode()


def canned(request: httpx.Request) -> httpx.Response:
    """A transport answering instantly with fixed task bodies."""
    body = PENDING if request.method == "POST" else COMPLETED
    return httpx.Response(200, headers={"content-type": "application/json"}, content=body)


@dataclass(frozen=True)
class OverheadResult:
    """Microseconds per task (submit + poll + parse) for each client, and their ratio."""

    transport: str
    bare_us: float
    wrapper_us: float

    @property
    def ratio(self) -> float:
        """Wrapper time over bare time."""
        return self.wrapper_us / self.bare_us


def _bare(http: httpx.Client) -> Callable[[], object]:
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "bench-idempotency-key-0001"}

    def one_task() -> object:
        created = http.post("/v1/images/generations", json=BODY, headers=headers).json()
        for _ in range(POLLS):
            task = http.get(f"/v1/tasks/{created['id']}", headers=headers).json()
        return task["status"], task.get("results")

    return one_task


def _wrapped(client: Client) -> Callable[[], object]:
    def one_task() -> object:
        task_id = client.submit(REQUEST).id
        for _ in range(POLLS):
            task = client.get_task(task_id)
        return task.status, task.results

    return one_task


def _per_call_us(call: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count * 1e6


def measure(
    name: str, handler: Callable[[httpx.Request], httpx.Response], *, count: int, rounds: int
) -> OverheadResult:
    """Median over ``rounds`` interleaved rounds of ``count`` tasks each."""
    base = "https://api.evolink.ai"
    with (
        httpx.Client(base_url=base, transport=httpx.MockTransport(handler)) as http,
        Client(KEY, transport=httpx.MockTransport(handler)) as client,
    ):
        bare, wrapped = _bare(http), _wrapped(client)
        bare(), wrapped()  # warm up
        bare_times, wrapped_times = [], []
        for _ in range(rounds):
            bare_times.append(_per_call_us(bare, count))
            wrapped_times.append(_per_call_us(wrapped, count))
    return OverheadResult(name, statistics.median(bare_times), statistics.median(wrapped_times))


def run(count: int = 100, rounds: int = 7) -> list[OverheadResult]:
    """Both transports."""
    fake = FakeEvoLink(api_key=KEY)
    return [
        measure("canned responses", canned, count=count, rounds=rounds),
        measure("fake EvoLink", fake.handler, count=count, rounds=rounds),
    ]


if __name__ == "__main__":
    for result in run():
        print(result, f"ratio {result.ratio:.2f}")
