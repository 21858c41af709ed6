"""The fake_evolink fixture importing teams get from the pytest plugin entry point."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import get_args

import httpx
import pytest

from evolink_images import AsyncClient, Client, QwenImageEdit, WaitTimeoutError, WanImageToImage
from evolink_images.testing import FakeClock, FakeEvoLink, FaultKind, Outcome, TaskPlan
from evolink_images.testing.faults import BODY_FAULTS, STATUS_FAULTS, TRANSPORT_FAULTS


def test_the_plugin_is_registered_through_its_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("evolink_images")


def test_code_that_builds_its_own_client_reaches_the_fake(fake_evolink: FakeEvoLink) -> None:
    with Client() as client:  # the key comes from EVOLINK_API_KEY, set by the fixture
        task = client.submit(QwenImageEdit("Add a hat", ["https://example.com/cat.png"]))
        assert client.get_task(task.id).status == "pending"
        assert client.wait(task.id).is_completed
    assert fake_evolink.created == 1


def test_the_fixtures_client_waits_on_the_fakes_clock(fake_evolink: FakeEvoLink) -> None:
    client = fake_evolink.client()
    task = client.run(QwenImageEdit("Add a hat", ["https://example.com/cat.png"]))
    assert task.is_completed
    assert fake_evolink.auth_sent_to_files == 0


ROOT = Path(__file__).resolve().parents[1]


def _readme_fixture_example() -> str:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("### In your own tests", 1)[1]
    return str(re.findall(r"```python\n(.*?)```", section, flags=re.S)[0])


def test_the_readme_fixture_example_passes_as_a_third_partys_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_readme_example=_readme_fixture_example())
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_readme_fixture_example_passes_mypy_strict(tmp_path: Path) -> None:
    from mypy import api

    example = tmp_path / "test_readme_example.py"
    example.write_text(_readme_fixture_example(), encoding="utf-8")
    # The project's cache makes this a couple of seconds once `mypy` has run (scripts/test runs it first).
    out, err, status = api.run(["--strict", "--cache-dir", str(ROOT / ".mypy_cache"), str(example)])
    assert status == 0, out + err


def test_an_app_that_builds_its_own_client_finishes_a_ten_minute_task_in_seconds(fake_evolink: FakeEvoLink) -> None:
    fake_evolink.plan = TaskPlan(duration=600)
    started = time.monotonic()
    with Client() as client:  # no clock, no sleep: the app's own code, unchanged
        task = client.run(QwenImageEdit("Add a hat", ["https://example.com/cat.png"]), timeout=900)
    assert task.is_completed
    assert fake_evolink.clock() >= 600  # the whole lifecycle happened, on the fake's clock
    assert time.monotonic() - started < 5


def test_an_app_that_builds_its_own_async_client_finishes_a_ten_minute_task_in_seconds(
    fake_evolink: FakeEvoLink,
) -> None:
    fake_evolink.plan = TaskPlan(duration=600)

    async def app() -> bool:
        async with AsyncClient() as client:
            task = await client.run(QwenImageEdit("Add a hat", ["https://example.com/cat.png"]), timeout=900)
        return task.is_completed

    started = time.monotonic()
    assert asyncio.run(app())
    assert fake_evolink.clock() >= 600
    assert time.monotonic() - started < 5


def test_a_client_given_its_own_clock_keeps_it_under_the_fixture(fake_evolink: FakeEvoLink) -> None:
    own = FakeClock(now=5000.0)
    with Client(clock=own, sleep=own.sleep) as client, pytest.raises(WaitTimeoutError):
        client.run(QwenImageEdit("Add a hat", ["https://example.com/cat.png"]), timeout=60)
    assert sum(own.sleeps) > 0  # the client waited on the clock it was given
    assert fake_evolink.clock() == 0  # not on the fake's, so the fake's task never moved on


def _nine_requests() -> list[WanImageToImage]:
    return [WanImageToImage(f"edit {i}", ["https://example.com/a.png"]) for i in range(9)]


def test_nine_async_tasks_at_concurrency_eight_take_two_task_times_not_nine(fake_evolink: FakeEvoLink) -> None:
    fake_evolink.plan = TaskPlan(duration=60)

    async def batch() -> list[bool]:
        async with AsyncClient() as client:
            results = await client.run_many(_nine_requests(), concurrency=8)
        return [result.ok for result in results]

    assert asyncio.run(batch()) == [True] * 9
    # Eight run side by side, the ninth starts when one ends: two task times plus the polling lag.
    assert 120 <= fake_evolink.clock() < 150


def test_the_accounts_max_running_limit_answers_429_and_the_batch_still_finishes(fake_evolink: FakeEvoLink) -> None:
    fake_evolink.plan = TaskPlan(duration=60)
    fake_evolink.max_running = 3
    fake_evolink.retry_after = "20"

    async def batch() -> list[bool]:
        async with fake_evolink.async_client() as client:
            return [result.ok for result in await client.run_many(_nine_requests(), concurrency=8)]

    assert asyncio.run(batch()) == [True] * 9
    assert fake_evolink.rate_limited > 0
    assert fake_evolink.created == 9
    # Three at a time: at least three task times, and far less than nine.
    assert 180 <= fake_evolink.clock() < 400


def test_requests_to_other_hosts_pass_through_to_the_real_network(fake_evolink: FakeEvoLink) -> None:
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        response = httpx.get(f"http://127.0.0.1:{server.server_address[1]}/ping", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert response.text == "hello"
    assert fake_evolink.recorded == []  # the fake never saw it


def test_every_request_is_recorded_whole_without_the_key(fake_evolink: FakeEvoLink) -> None:
    request = WanImageToImage(
        "Make it night", ["https://example.com/a.png"], n=2, callback_url="https://hooks.example.com/done"
    )
    with Client() as client:
        task = client.submit(request)
        client.get_task(task.id)
    post, get = fake_evolink.recorded
    assert (post.method, post.path, get.method, get.path) == (
        "POST",
        "/v1/images/generations",
        "GET",
        f"/v1/tasks/{task.id}",
    )
    assert post.json == {
        "model": "wan2.5-image-to-image",
        "prompt": "Make it night",
        "image_urls": ["https://example.com/a.png"],
        "n": 2,
        "callback_url": "https://hooks.example.com/done",
    }
    assert post.idempotency_key is not None
    assert post.idempotency_key == post.headers["idempotency-key"]
    assert post.authorized
    assert post.headers["authorization"] == "<redacted>"
    assert get.json is None
    assert get.idempotency_key is None
    assert fake_evolink.api_key not in repr(fake_evolink.recorded) + repr([r.headers for r in fake_evolink.recorded])
    assert fake_evolink.requests == [(post.method, post.url), (get.method, get.url)]  # the older, shorter view


def test_an_unknown_outcome_or_fault_is_refused_at_once(fake_evolink: FakeEvoLink) -> None:
    with pytest.raises(ValueError, match=r"unknown outcome 'faild'; known: cancelled, completed, failed"):
        fake_evolink.next_task(outcome="faild")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown fault 'rate_limited'"):
        fake_evolink.inject("rate_limited")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown fault target 'PUT'"):
        fake_evolink.inject("rate_limit", target="PUT")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fake_evolink.next_task(outcom="failed")  # type: ignore[call-arg]


def test_the_typed_names_agree_with_what_the_fake_accepts() -> None:
    assert set(get_args(FaultKind)) == TRANSPORT_FAULTS | set(STATUS_FAULTS) | BODY_FAULTS
    assert set(get_args(Outcome)) == {"completed", "failed", "cancelled"}
