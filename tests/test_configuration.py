"""What teams reach for: environment, headers, ``with_options``, logging, request ids, trio.

Configuration by environment, default and per-call headers, ``with_options``, a logging switch,
the request id of a call, and the async client under trio as under asyncio.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import trio

from evolink_images import AsyncClient, Client, ConfigurationError, RequestValidationError, Task, WanImageToImage
from evolink_images.testing.fake import FakeEvoLink, TaskPlan
from evolink_images.testing.payloads import task_json
from evolink_images.testing.server import FakeServer

from .conftest import BASE_URL, CANARY_KEY, Face

TASK_URL = f"{BASE_URL}/v1/tasks/task-1"
REQUEST = WanImageToImage("Make it night", ["https://example.com/a.png"])


def mock_client(router: respx.Router, **options: Any) -> Client:
    return Client(CANARY_KEY, http_client=httpx.Client(transport=httpx.MockTransport(router.handler)), **options)


def test_evolink_base_url_points_the_client_at_another_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_BASE_URL", "http://127.0.0.1:9")
    router = respx.Router()
    route = router.get("http://127.0.0.1:9/v1/tasks/task-1").respond(200, json=task_json(id="task-1"))
    with mock_client(router) as client:
        client.get_task("task-1")
    assert route.call_count == 1
    assert route.calls.last.request.url.host == "127.0.0.1"


def test_a_base_url_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_BASE_URL", "http://127.0.0.1:9")
    with Client(CANARY_KEY, base_url="https://api.evolink.ai") as client:
        assert repr(client) == "Client(base_url='https://api.evolink.ai')"


def test_a_plain_http_base_url_from_the_environment_is_refused_off_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_BASE_URL", "http://api.example.com")
    with pytest.raises(ConfigurationError, match="loopback"):
        Client(CANARY_KEY)


def test_default_headers_go_to_the_api_and_never_to_result_hosts(tmp_path: Path) -> None:
    router = respx.Router()
    api = router.get(TASK_URL).respond(200, json=task_json("completed", id="task-1"))
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    results = router.get(url__startswith="https://files.evolink.ai/").respond(
        200, content=png, headers={"content-type": "image/png"}
    )
    with mock_client(router, default_headers={"X-Team": "growth"}) as client:
        client.download(client.get_task("task-1"), tmp_path)
    assert api.calls.last.request.headers["X-Team"] == "growth"
    assert all("X-Team" not in call.request.headers for call in results.calls)


@pytest.mark.parametrize(
    "headers", [{"Authorization": "Bearer other"}, {"X-Bad": "a\r\nb"}, {"bad name": "x"}, ["X-A", "b"]]
)
def test_default_headers_that_could_carry_another_key_or_break_framing_are_refused(headers: Any) -> None:
    with pytest.raises(ConfigurationError, match="default_headers"):
        Client(CANARY_KEY, default_headers=headers)


def test_extra_headers_are_sent_with_that_call_only(api_client: Face, api: respx.Router) -> None:
    route = api.get(TASK_URL).respond(200, json=task_json(id="task-1"))
    api_client.get_task("task-1", extra_headers={"X-Trace": "abc"})
    api_client.get_task("task-1")
    assert route.calls[0].request.headers["X-Trace"] == "abc"
    assert "X-Trace" not in route.calls[1].request.headers


def test_extra_headers_go_with_the_submit_and_every_poll_of_run(api_client: Face, api: respx.Router) -> None:
    submitted = api.post(f"{BASE_URL}/v1/images/generations").respond(200, json=task_json(id="task-1"))
    polled = api.get(TASK_URL).respond(200, json=task_json("completed", id="task-1"))
    api_client.run(REQUEST, extra_headers={"X-Trace": "abc"})
    assert [call.request.headers["X-Trace"] for call in [*submitted.calls, *polled.calls]] == ["abc", "abc"]


def test_an_authorization_extra_header_is_refused_before_sending(api_client: Face, api: respx.Router) -> None:
    route = api.route().respond(200, json=task_json())
    with pytest.raises(RequestValidationError, match="extra_headers"):
        api_client.submit(REQUEST, extra_headers={"authorization": "Bearer sk-evo-other"})
    assert route.call_count == 0


def test_with_options_changes_settings_and_shares_the_connections() -> None:
    router = respx.Router()
    answers = [httpx.Response(503), httpx.Response(200, json=task_json(id="task-1"))]
    route = router.get(TASK_URL).mock(side_effect=lambda request: answers.pop(0))
    with mock_client(router, max_retries=0, sleep=lambda seconds: None) as client:
        patient = client.with_options(max_retries=1, default_headers={"X-Patient": "yes"})
        shared: Any = patient._inner
        assert shared._inner is client._inner  # the same connections
        assert patient.get_task("task-1").id == "task-1"  # one retry: the 503, then the task
        assert [call.request.headers.get("X-Patient") for call in route.calls] == ["yes", "yes"]
        patient.close()  # leaves the shared connections open
        answers.append(httpx.Response(200, json=task_json(id="task-1")))
        assert client.get_task("task-1").id == "task-1"
    assert "X-Patient" not in route.calls.last.request.headers


def test_with_options_refuses_what_it_cannot_change_and_never_shows_a_new_key() -> None:
    with Client(CANARY_KEY) as client:
        with pytest.raises(ConfigurationError, match="http_client"):
            client.with_options(http_client=httpx.Client())
        other = client.with_options(api_key="sk-evo-another-secret-1234")
        assert "sk-evo-another-secret-1234" not in repr(other) + repr(vars(other))


def test_evolink_log_sends_the_packages_log_to_stderr_without_the_key(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], api: respx.Router
) -> None:
    logger = logging.getLogger("evolink_images")
    before = (logger.level, list(logger.handlers))
    monkeypatch.setenv("EVOLINK_LOG", "debug")
    try:
        api.post(f"{BASE_URL}/v1/images/generations").respond(200, json=task_json(id="task-9"))
        with mock_client(api) as client:
            client.submit(REQUEST)
        err = capfd.readouterr().err
    finally:
        logger.setLevel(before[0])
        logger.handlers[:] = before[1]
    assert "POST /v1/images/generations -> 200" in err
    assert "created task task-9" in err
    assert CANARY_KEY not in err


def test_a_task_carries_the_request_id_of_the_answer_and_turns_back_into_json(
    api_client: Face, api: respx.Router
) -> None:
    api.get(TASK_URL).respond(200, json=task_json(id="task-1"), headers={"x-request-id": "req-77"})
    task = api_client.get_task("task-1")
    assert task.request_id == "req-77"
    assert Task.from_dict(json.loads(task.to_json())) == task


def test_the_async_client_runs_a_task_end_to_end_under_trio() -> None:
    fake = FakeEvoLink(clock=time.monotonic, plan=TaskPlan(duration=1.0, estimated_time=1))
    with FakeServer(fake) as server:

        async def main() -> Task:
            async with AsyncClient(fake.api_key, base_url=server.base_url) as client:
                return await client.run(WanImageToImage("x", ["https://example.com/a.png"]), timeout=20)

        task = trio.run(main)
    assert task.is_completed
    assert fake.created == 1


def test_run_many_runs_a_journaled_batch_under_trio(tmp_path: Path) -> None:
    fake = FakeEvoLink(clock=time.monotonic, plan=TaskPlan(duration=1.0, estimated_time=1))
    requests = [WanImageToImage(f"edit {number}", ["https://example.com/a.png"]) for number in range(5)]
    with FakeServer(fake) as server:

        async def main() -> list[Any]:
            async with AsyncClient(fake.api_key, base_url=server.base_url) as client:
                return await client.run_many(requests, concurrency=2, journal=tmp_path / "j.jsonl", timeout=20)

        results = trio.run(main)
    assert [result.ok for result in results] == [True] * 5
    assert fake.created == 5


def test_a_batch_cancelled_under_trio_stops_and_leaves_a_journal_a_rerun_finishes(tmp_path: Path) -> None:
    fake = FakeEvoLink(clock=time.monotonic, plan=TaskPlan(duration=30))
    requests = [WanImageToImage(f"edit {number}", ["https://example.com/a.png"]) for number in range(4)]
    journal = tmp_path / "j.jsonl"
    with FakeServer(fake) as server:

        async def cancelled_after_the_submits() -> float:
            async with AsyncClient(fake.api_key, base_url=server.base_url) as client:
                started = trio.current_time()
                with trio.move_on_after(1.0):
                    await client.run_many(requests, concurrency=4, journal=journal, timeout=60)
                return trio.current_time() - started

        took = trio.run(cancelled_after_the_submits)
        assert took < 1.0 + 2.0  # the cancellation is honoured within the grace second (plus slack)
        created = fake.created
        assert created == 4
        fake.plan = TaskPlan(duration=0.1)
        for task in fake.tasks.values():
            task.plan = TaskPlan(duration=0.1)

        async def rerun() -> list[Any]:
            async with AsyncClient(fake.api_key, base_url=server.base_url) as client:
                return await client.run_many(requests, concurrency=4, journal=journal, timeout=20)

        results = trio.run(rerun)
    assert [result.ok for result in results] == [True] * 4
    assert fake.created == created  # the re-run waited on the submitted tasks: nothing paid twice


@pytest.mark.parametrize("base_url", ["https://", "https:///v1", "http://:8080"])
def test_a_base_url_without_a_host_is_refused(base_url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Client("sk-evo-a-key-of-some-length", base_url=base_url)
    assert str(refused.value) == (
        f"base_url {base_url!r} is refused: use https (plain http only for a loopback host such as 127.0.0.1)"
    )
