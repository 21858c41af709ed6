"""The fake EvoLink itself: lifecycle, validation, faults, images, and the loopback face."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from evolink_images import EvoLinkError, WanImageToImage
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan
from evolink_images.testing.faults import FAULT_KINDS, Fault, FaultKind
from evolink_images.testing.payloads import wan_body
from evolink_images.testing.server import FakeServer
from evolink_images.testing.spec import schema_validator

SUBMIT = "https://api.evolink.ai/v1/images/generations"


def post(fake: FakeEvoLink, body: Any, **headers: str) -> httpx.Response:
    auth = {"authorization": f"Bearer {fake.api_key}", **headers}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = fake.handle("POST", SUBMIT, auth, content)
    return httpx.Response(answer.status, headers=answer.headers, content=answer.content)


def get(fake: FakeEvoLink, url: str, *, auth: bool = True) -> httpx.Response:
    headers = {"authorization": f"Bearer {fake.api_key}"} if auth else {}
    answer = fake.handle("GET", url, headers, b"")
    return httpx.Response(answer.status, headers=answer.headers, content=answer.content)


@pytest.mark.parametrize("outcome", ["completed", "failed", "cancelled"])
def test_a_task_moves_from_pending_through_processing_to_its_outcome(outcome: str) -> None:
    clock = FakeClock()
    fake = FakeEvoLink(clock=clock, plan=TaskPlan(duration=20, outcome=outcome))  # type: ignore[arg-type]
    created = post(fake, wan_body(n=2)).json()
    assert created["task_info"]["estimated_time"] == 20
    url = f"https://api.evolink.ai/v1/tasks/{created['id']}"
    seen = []
    for _ in range(6):
        body = get(fake, url).json()
        schema_validator("Task").validate(body)
        seen.append((body["status"], body["progress"]))
        clock.advance(5)
    assert seen[0] == ("pending", 0)
    assert [status for status, _ in seen[1:4]] == ["processing"] * 3
    assert [progress for _, progress in seen[1:4]] == [25, 50, 75]
    assert seen[4][0] == seen[5][0] == outcome
    final = get(fake, url).json()
    if outcome == "completed":
        assert len(final["results"]) == 2
    else:
        assert final["error"]["code"] in {"service_error", "request_cancelled"}


def test_result_urls_serve_real_distinct_png_images() -> None:
    clock = FakeClock()
    fake = FakeEvoLink(clock=clock)
    task = post(fake, wan_body(n=2)).json()
    clock.advance(60)
    results = get(fake, f"https://api.evolink.ai/v1/tasks/{task['id']}").json()["results"]
    images = [get(fake, url, auth=False).content for url in results]
    for data in images:
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG"
            assert image.size == (96, 64)
    assert images[0] != images[1]
    assert get(fake, results[0].replace("-0.png", "-9x.png"), auth=False).status_code == 404


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (wan_body(n=5), "n"),
        (wan_body(prompt=""), "prompt"),
        (wan_body(image_urls=[]), "image_urls"),
        (wan_body(seed=1), None),
        ({"model": "dall-e", "prompt": "x"}, None),
        (b"{not json", None),
    ],
)
def test_an_invalid_body_is_rejected_with_400_and_the_error_shape(body: Any, param: str | None) -> None:
    fake = FakeEvoLink()
    response = post(fake, body)
    assert response.status_code == 400
    schema_validator("ErrorResponse").validate(response.json())
    assert response.json()["error"].get("param") == param
    assert fake.created == 0


@pytest.mark.parametrize("key", [None, "sk-evo-wrong"])
def test_auth_is_enforced_on_every_operation(key: str | None) -> None:
    fake = FakeEvoLink()
    headers = {"authorization": f"Bearer {key}"} if key else {}
    for method, url in [("POST", SUBMIT), ("GET", "https://api.evolink.ai/v1/tasks/task-unified-1")]:
        answer = fake.handle(method, url, headers, json.dumps(wan_body()).encode())
        assert answer.status == 401
    assert fake.created == 0


def test_an_invalid_idempotency_key_is_rejected() -> None:
    fake = FakeEvoLink()
    assert post(fake, wan_body(), **{"idempotency-key": "short"}).status_code == 400


def test_the_fake_never_hides_a_double_submit() -> None:
    fake = FakeEvoLink()
    for _ in range(2):
        assert post(fake, wan_body(), **{"idempotency-key": "k" * 16}).status_code == 200
    assert fake.created == 2


def test_wrong_methods_and_unknown_paths_get_documented_json_errors() -> None:
    fake = FakeEvoLink()
    wrong = fake.handle("GET", SUBMIT, {}, b"")
    assert (wrong.status, wrong.headers["Allow"]) == (405, "POST")
    assert fake.handle("DELETE", "https://api.evolink.ai/v1/tasks/t", {}, b"").headers["Allow"] == "GET"
    missing = fake.handle("GET", "https://api.evolink.ai/v2/other", {}, b"")
    assert missing.status == 404
    assert json.loads(missing.content)["error"]["code"] == "not_found"


def test_faults_are_consumed_in_order_and_counted() -> None:
    fake = FakeEvoLink()
    fake.inject("rate_limit", target="POST", times=2, retry_after="3")
    first, second, third = (post(fake, wan_body()) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "3"
    assert fake.created == 1


def test_a_post_fault_after_creation_still_creates_the_task() -> None:
    fake = FakeEvoLink()
    fake.inject("server_error", target="POST")
    assert post(fake, wan_body()).status_code == 500
    assert fake.created == 1


def test_unknown_faults_and_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Fault("meteor")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        Fault("not_json", times=0)


BODY_KINDS: list[FaultKind] = [
    "unknown_status",
    "extra_fields",
    "missing_fields",
    "task_info_null",
    "completed_without_results",
]


@pytest.mark.parametrize("kind", BODY_KINDS)
def test_body_faults_that_are_still_spec_valid_are_spec_valid(kind: FaultKind) -> None:
    fake = FakeEvoLink()
    task_id = post(fake, wan_body()).json()["id"]
    fake.inject(kind)
    body = get(fake, f"https://api.evolink.ai/v1/tasks/{task_id}").json()
    schema_validator("Task").validate(body)


def outcome_of(call: Callable[[], object]) -> Exception | None:
    """Run ``call``; return what it raised, if anything."""
    try:
        call()
    except Exception as error:
        return error
    return None


@pytest.mark.parametrize("kind", sorted(FAULT_KINDS))
def test_every_fault_reaches_the_client_as_a_documented_outcome(kind: FaultKind, tmp_path: Path) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    client = fake.client(max_retries=0)
    fake.inject(kind, target="files" if kind == "html_result" else "GET")
    request = WanImageToImage("x", ["https://example.com/a.png"])
    error = outcome_of(lambda: client.download(client.run(request, timeout=120), tmp_path))
    assert error is None or isinstance(error, EvoLinkError), f"{kind}: {type(error).__name__} escaped"
    assert fake.created == 1
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".part"]


def test_the_loopback_server_serves_the_same_fake() -> None:
    with FakeServer() as server:
        fake = server.fake
        fake.plan = TaskPlan(duration=0)
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        created = httpx.post(f"{server.base_url}/v1/images/generations", json=wan_body(), headers=headers)
        assert created.status_code == 200
        task = httpx.get(f"{server.base_url}/v1/tasks/{created.json()['id']}", headers=headers).json()
        assert task["status"] == "completed"
        image = httpx.get(task["results"][0])
        assert image.headers["content-type"] == "image/png"
        assert httpx.get(f"{server.base_url}/v1/tasks/x").status_code == 401
        fake.inject("dropped", target="GET")
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{server.base_url}/v1/tasks/x", headers=headers)
