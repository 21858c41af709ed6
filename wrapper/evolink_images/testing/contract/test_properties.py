"""Hypothesis properties of the client against the spec and the fake, each named as the sentence it proves.

Deliberate differences between the wrapper's validation and the spec's schema (the wrapper is
stricter, never laxer):

- ``callback_url`` must name a public host: the spec can say so only in prose.
- An image URL's host must be a valid name once decoded, and an IPv6 literal a public one: the
  spec's pattern admits 2000::/3 literals, some blocks of which are not public (``2001:db8::/32``).
- ``n`` must be a Python int: JSON Schema counts ``2.0`` as an integer.
- ``extra_body`` fields are sent on purpose although the spec rejects unknown fields.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from evolink_api.models import ErrorResponse
from evolink_api.models import Task as ApiTask
from evolink_images import (
    EvoLinkError,
    RequestValidationError,
    Task,
    TaskCancelledError,
    TaskFailedError,
    WaitTimeoutError,
    WanImageToImage,
)
from evolink_images._addresses import host_problem, normalise_host
from evolink_images._responses import CODE_LIMIT, error_from_response
from evolink_images._rules import check
from evolink_images._wire import Redactor
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan
from evolink_images.testing.faults import FaultKind
from evolink_images.testing.spec import schema_validator

from .strategies import OUTCOMES, TRANSIENT_FAULTS, Drawn, requests, spec_bodies, valid_requests

DOCUMENTED = {"model", "prompt", "image_urls", "n", "callback_url"}


def image_host_refused(url: object) -> bool:
    """True when an image URL's host is not a valid name, or is an IPv6 literal that is not public."""
    try:
        host = urllib.parse.urlsplit(url).hostname if isinstance(url, str) else None
        if host:
            normalise_host(host)
    except ValueError:
        return True
    return bool(host and ":" in host and host_problem(host))


def deliberate_difference(drawn: Drawn) -> bool:
    """True when the wrapper refuses on purpose what the spec's schema would accept."""
    callback = drawn.body.get("callback_url")
    if isinstance(callback, str) and host_problem(urllib.parse.urlsplit(callback).hostname or ""):
        return True
    if any(image_host_refused(url) for url in drawn.body.get("image_urls", [])):
        return True
    if isinstance(drawn.body.get("n"), float):
        return True
    return bool(set(drawn.request.extra_body) & DOCUMENTED)  # extra_body may not repeat a documented field


@given(requests())
@example(
    Drawn(
        WanImageToImage("x", ["https://e.com/a"], n=2.0),  # type: ignore[arg-type]  # a float on purpose
        {"model": "wan2.5-image-to-image", "prompt": "x", "image_urls": ["https://e.com/a"], "n": 2.0},
    )
)
def test_validate_accepts_exactly_when_the_spec_accepts_but_for_the_listed_differences(drawn: Drawn) -> None:
    wrapper_ok = check(drawn.request) == []
    spec_ok = schema_validator("ImageEditRequest").is_valid(drawn.body)
    if wrapper_ok and not spec_ok:
        assert set(drawn.request.extra_body) - DOCUMENTED, f"the wrapper accepts a spec-invalid body: {drawn.body!r}"
    if spec_ok and not wrapper_ok:
        assert deliberate_difference(drawn), f"the wrapper refuses a spec-valid body: {drawn.body!r}"


@given(valid_requests())
def test_every_request_the_wrapper_sends_validates_against_the_spec(request: Any) -> None:
    fake = FakeEvoLink()
    with fake.client() as client:
        client.submit(request)
    assert fake.created == 1  # the fake validates each body with the spec's own schema


@given(requests())
def test_a_rejected_request_never_reaches_the_network(drawn: Drawn) -> None:
    if check(drawn.request) == []:
        return
    fake = FakeEvoLink()
    with fake.client() as client, pytest.raises(RequestValidationError):
        client.run(drawn.request)
    assert fake.requests == []


@given(spec_bodies("Task"))
def test_every_spec_valid_task_body_parses_in_the_generated_client_and_the_wrapper(body: Any) -> None:
    generated = ApiTask.from_dict(body)
    assert generated.to_dict() == body
    view = Task.from_dict(body)
    assert view.id == body["id"]
    assert view.status == body["status"]
    assert view.is_terminal == (body["status"] in {"completed", "failed", "cancelled"})


@given(spec_bodies("ErrorResponse"), st.sampled_from([400, 401, 402, 403, 404, 413, 429, 500, 502, 503, 520]))
@example({"error": {"code": "0" * 101}}, 400)  # found on the lowest Hypothesis: a long code is cut
def test_every_spec_valid_error_body_parses_and_maps_to_a_typed_error(body: Any, status: int) -> None:
    assert ErrorResponse.from_dict(body).to_dict() == body
    response = httpx.Response(status, json=body, request=httpx.Request("GET", "https://api.evolink.ai/v1/tasks/t"))
    error = error_from_response(response, task_id="t", redactor=Redactor("sk-evo-unused-key"))
    assert error.status_code == status
    code = body["error"].get("code")
    expected = code if isinstance(code, str | int) and not isinstance(code, bool) else None
    if isinstance(expected, str) and len(expected) > CODE_LIMIT:  # a long code is cut, like any echoed text
        assert isinstance(error.code, str)
        assert error.code.startswith(expected[:CODE_LIMIT])
        assert len(error.code) < len(expected) + 40
    else:
        assert error.code == expected


@given(
    duration=st.floats(0, 300),
    estimate_error=st.floats(0.5, 1.5),
    outcome=st.sampled_from(OUTCOMES),
    faults=st.lists(st.sampled_from(TRANSIENT_FAULTS), max_size=6),
    timeout=st.floats(1, 400),
)
def test_wait_returns_or_raises_the_right_thing_within_its_deadline_and_never_submits_twice(
    duration: float, estimate_error: float, outcome: str, faults: list[FaultKind], timeout: float
) -> None:
    clock = FakeClock()
    plan = TaskPlan(duration=duration, estimated_time=round(duration * estimate_error), outcome=outcome)  # type: ignore[arg-type]
    fake = FakeEvoLink(clock=clock, plan=plan)
    for kind in faults:
        fake.inject(kind, target="GET")
    start = clock()
    with fake.client() as client:
        try:
            result: object = client.run(WanImageToImage("x", ["https://example.com/a.png"]), timeout=timeout)
        except EvoLinkError as error:
            result = error
    assert clock() - start <= timeout + 1e-9, "wait outlived its deadline"
    assert fake.posts() == 1
    assert fake.created == 1
    expected = {"completed": Task, "failed": TaskFailedError, "cancelled": TaskCancelledError}[outcome]
    assert isinstance(result, expected | WaitTimeoutError), type(result)
    if isinstance(result, WaitTimeoutError):
        assert clock() - start >= timeout - 1.0 - 1e-9  # it gave up only at the end
    if isinstance(result, Task):
        assert result.is_completed
        assert result.results
