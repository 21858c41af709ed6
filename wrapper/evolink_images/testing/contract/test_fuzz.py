"""Fuzzing every public entry point: the only outcomes are a valid request or an error naming the argument.

Run at the ``fuzz`` profile for 10,000 examples per property::

    HYPOTHESIS_PROFILE=fuzz evolink-images contract-check -- -k fuzz
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from evolink_images import (
    Client,
    ConfigurationError,
    EvoLinkError,
    QwenImageEdit,
    RequestValidationError,
    Task,
    WanImageToImage,
    parse_callback,
    validate,
)
from evolink_images.testing.fake import FakeClock
from evolink_images.testing.payloads import task_json

from .strategies import ANY_STRING, ANY_VALUE, JUNK, URLS

FIELDS = ("prompt", "image_urls", "n", "callback_url", "extra_body", "request")
sent: list[httpx.Request] = []


def capture(request: httpx.Request) -> httpx.Response:
    sent.append(request)
    if request.method == "GET":  # a task read is answered about the task asked for
        task_id = urllib.parse.unquote(request.url.raw_path.decode("ascii").rsplit("/", 1)[-1])
        return httpx.Response(200, json=task_json("pending", id=task_id))
    return httpx.Response(200, json=task_json("pending"))


CLOCK = FakeClock()
CLIENT = Client(
    "sk-evo-fuzz-0000000000",
    transport=httpx.MockTransport(capture),
    max_retries=0,
    clock=CLOCK,
    sleep=CLOCK.sleep,
)


def named(error: BaseException | None, allowed: tuple[str, ...]) -> bool:
    """True for a RequestValidationError whose every violation names one of ``allowed``."""
    if not isinstance(error, RequestValidationError) or not error.violations:
        return False
    return all(v.field.split("[")[0].split(".")[0] in allowed for v in error.violations)


def raised(call: Callable[[], object]) -> BaseException | None:
    """Run ``call``; return what it raised, if anything."""
    try:
        call()
    except Exception as error:
        return error
    return None


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    model=st.sampled_from([WanImageToImage, QwenImageEdit]),
    prompt=ANY_VALUE,
    image_urls=ANY_VALUE | st.lists(ANY_STRING | JUNK, max_size=5) | st.lists(st.sampled_from(URLS[:5]), max_size=3),
    n=ANY_VALUE | st.integers(-2, 8),
    callback_url=st.none() | ANY_STRING,
    extra_body=st.just({}) | JUNK | st.dictionaries(ANY_STRING, JUNK, max_size=3),
)
@example(model=WanImageToImage, prompt="night \ud800", image_urls=[URLS[0]], n=None, callback_url=None, extra_body={})
def test_any_request_is_sent_whole_or_refused_naming_its_fields(
    model: type, prompt: Any, image_urls: Any, n: Any, callback_url: Any, extra_body: Any
) -> None:
    fields = {"prompt": prompt, "image_urls": image_urls, "callback_url": callback_url, "extra_body": extra_body}
    request = model(**fields, n=n) if model is WanImageToImage else model(**fields)
    sent.clear()
    error = raised(lambda: validate(request))
    if error is not None:
        assert named(error, FIELDS), error
        assert named(raised(lambda: CLIENT.submit(request)), FIELDS)
        assert sent == []
        return
    CLIENT.submit(request)
    [request_sent] = sent
    body = json.loads(request_sent.content.decode("utf-8"))
    assert body["prompt"] == prompt
    assert body["image_urls"] == list(image_urls)
    assert {key: body[key] for key in extra_body} == extra_body


@given(ANY_VALUE)
def test_any_task_id_is_used_or_refused_naming_task_id(task_id: Any) -> None:
    sent.clear()
    error = raised(lambda: CLIENT.get_task(task_id))
    assert error is None or named(error, ("task_id",)), error
    assert len(sent) == (1 if error is None else 0)


@given(ANY_VALUE | st.floats(), ANY_VALUE)
def test_any_wait_arguments_are_used_or_refused_naming_them(timeout: Any, task_id: Any) -> None:
    task = Task.from_dict(task_json("completed"))
    error = raised(lambda: CLIENT.wait(task, timeout=timeout))
    assert error is None or named(error, ("timeout",)), error
    error = raised(lambda: CLIENT.wait(task_id, timeout=1))
    # A valid id is polled: the capture answers "pending", so the wait may time out, as documented.
    assert error is None or named(error, ("task_id",)) or isinstance(error, EvoLinkError), error


@given(ANY_VALUE, ANY_VALUE, ANY_VALUE)
def test_any_download_arguments_are_refused_naming_them(task: Any, dest_dir: Any, max_bytes: Any) -> None:
    error = raised(lambda: CLIENT.download(task, dest_dir, max_bytes=max_bytes))
    assert named(error, ("task", "dest_dir", "max_bytes")), error


@given(ANY_VALUE | st.binary() | st.dictionaries(ANY_STRING, ANY_VALUE))
def test_any_callback_body_parses_or_is_refused_naming_body(body: Any) -> None:
    error = raised(lambda: parse_callback(body))
    assert error is None or named(error, ("body",)), error


@given(api_key=ANY_VALUE, base_url=ANY_VALUE, timeout=ANY_VALUE, max_retries=ANY_VALUE)
def test_any_client_settings_make_a_client_or_a_configuration_error(
    api_key: Any, base_url: Any, timeout: Any, max_retries: Any
) -> None:
    error = raised(lambda: Client(api_key, base_url=base_url, timeout=timeout, max_retries=max_retries).close())
    assert error is None or isinstance(error, ConfigurationError), error
