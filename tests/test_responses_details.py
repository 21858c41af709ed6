"""How an answer becomes a ``Task`` or a typed error, pinned word for word at every cut.

A quoted value of exactly its limit is kept whole; one character more is cut to the limit and marked
``... (N more characters)``. Limits are written here as numbers, never read from the module under test:
an error message is part of the interface.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from evolink_images import (
    APIConnectionError,
    APIResponseError,
    Client,
    EvoLinkError,
    InternalServerError,
    MalformedTaskError,
    RequestValidationError,
    Violation,
    WanImageToImage,
)
from evolink_images._responses import Exchange, error_from_response, exchange
from evolink_images._wire import Redactor
from evolink_images.testing.fake import FakeClock
from evolink_images.testing.payloads import task_json

REQUEST = WanImageToImage("Make it night", ["https://example.com/a.png"])
KEY = "sk-evo-responses-details-0000"
MAY_EXIST = "; a task may have been created (and billed) all the same: check your recent tasks before submitting again"
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> Client:
    clock = FakeClock()
    return Client(KEY, transport=httpx.MockTransport(handler), clock=clock, sleep=clock.sleep, max_retries=0)


def raised(handler: Handler, call: Callable[[Client], Any]) -> EvoLinkError:
    with client(handler) as api, pytest.raises(EvoLinkError) as caught:
        call(api)
    return caught.value


def get_task_a(api: Client) -> Any:
    return api.get_task("task-a")


def submit(api: Client) -> Any:
    return api.submit(REQUEST)


def shown(text: str, limit: int) -> str:
    """``text`` as the messages quote it: whole up to ``limit``, else cut and marked."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


# --- Exchange.task: an answer about another task quotes its id, cut at 100 characters ---


@pytest.mark.parametrize(
    ("length", "quoted"),
    [(100, "b" * 100), (101, "b" * 100 + "... (1 more characters)"), (150, "b" * 100 + "... (50 more characters)")],
)
def test_an_answer_about_another_task_quotes_its_id_cut_at_100(length: int, quoted: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=task_json(id="b" * length))

    error = raised(handler, get_task_a)
    assert type(error) is APIResponseError
    assert str(error) == f"GET /v1/tasks/task-a: HTTP 200 response is about another task ({quoted!r})"
    assert (error.task_id, error.task_may_exist) == ("task-a", False)


# --- Exchange.task: an id that cannot be polled is quoted, cut at 100 characters ---


@pytest.mark.parametrize(
    ("task_id", "quoted"),
    [
        (".." + " " * 98, ".." + " " * 98),
        (".." + " " * 99, ".." + " " * 98 + "... (1 more characters)"),
        ("c" * 257, "c" * 100 + "... (157 more characters)"),
    ],
)
def test_a_created_task_id_that_cannot_be_polled_is_quoted_cut_at_100(task_id: str, quoted: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=task_json(id=task_id))

    error = raised(handler, submit)
    assert type(error) is APIResponseError
    assert str(error) == (
        f"POST /v1/images/generations: HTTP 200 response names a task id that cannot be polled ({quoted!r})" + MAY_EXIST
    )
    assert (error.task_id, error.task_may_exist) == (None, True)


# --- Exchange.task: a body that is not JSON quotes the parser's reason, cut at 100 characters ---


def test_a_body_that_is_not_json_quotes_the_parser() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{")

    error = raised(handler, get_task_a)
    assert type(error) is APIResponseError
    assert str(error) == (
        "GET /v1/tasks/task-a: HTTP 200 response is not JSON"
        " (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
    )


def test_a_long_decoding_reason_is_cut_at_100() -> None:
    # UTF-32 (told by the NULs) with a code point past U+10FFFF after ten million bytes: a 101-character reason.
    content = b"[\x00\x00\x00" + b" \x00\x00\x00" * 2_499_999 + b"\x00\x00\x11\x00"
    reason = "'utf-32-le' codec can't decode bytes in position 10000000-10000003: code point not in range(0x110000)"
    assert len(reason) == 101
    response = httpx.Response(200, content=content, request=httpx.Request("GET", "https://api.evolink.ai/v1/tasks/t"))
    with pytest.raises(APIResponseError) as caught:
        Exchange("GET", "t", Redactor(KEY)).task(response)
    assert str(caught.value) == f"GET /v1/tasks/t: HTTP 200 response is not JSON ({shown(reason, 100)})"
    assert str(caught.value).endswith("code point not in range(0x110000... (1 more characters))")


class Refusing(Redactor):
    """A redactor whose pass over parsed JSON fails with a reason of a chosen length."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(key)
        self.reason = reason

    def json(self, value: Any) -> Any:
        raise ValueError(self.reason)


@pytest.mark.parametrize(
    ("length", "quoted"),
    [(100, "r" * 100), (101, "r" * 100 + "... (1 more characters)"), (99, "r" * 99)],
)
def test_a_reason_a_body_is_not_json_is_cut_at_100(length: int, quoted: str) -> None:
    response = httpx.Response(
        200, content=b'{"id": "t\\u0031"}', request=httpx.Request("GET", "https://api.evolink.ai/v1/tasks/t1")
    )
    with pytest.raises(APIResponseError) as caught:
        Exchange("GET", "t1", Refusing(KEY, "r" * length)).task(response)
    assert str(caught.value) == f"GET /v1/tasks/t1: HTTP 200 response is not JSON ({quoted})"


# --- Exchange.translate: a decoding or connection failure quotes httpx's reason, cut at 200 characters ---

CUTS = [(200, "x" * 200), (201, "x" * 200 + "... (1 more characters)"), (199, "x" * 199)]


class Undecodable(httpx.SyncByteStream):
    """A body whose bytes cannot be decoded once its headers are in."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __iter__(self) -> Iterator[bytes]:
        raise httpx.DecodingError(self.reason)


@pytest.mark.parametrize(("length", "quoted"), CUTS)
def test_an_answer_that_cannot_be_decoded_quotes_the_reason_cut_at_200(length: int, quoted: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Undecodable("x" * length))

    error = raised(handler, get_task_a)
    assert type(error) is APIResponseError
    assert str(error) == f"GET /v1/tasks/task-a: HTTP 200 response could not be read: {quoted}"
    assert (error.task_id, error.task_may_exist) == ("task-a", False)


@pytest.mark.parametrize(("length", "quoted"), CUTS)
def test_a_decoding_failure_before_any_answer_quotes_the_reason_cut_at_200(length: int, quoted: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.DecodingError("x" * length)

    error = raised(handler, get_task_a)
    assert type(error) is APIResponseError
    assert str(error) == f"GET task task-a: the answer could not be read: {quoted}"
    assert error.response is None


@pytest.mark.parametrize(("length", "quoted"), CUTS)
def test_a_connection_error_quotes_its_reason_cut_at_200(length: int, quoted: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("x" * length)

    error = raised(handler, submit)
    assert type(error) is APIConnectionError
    assert str(error) == f"POST request failed: ConnectError: {quoted}"
    assert error.task_may_exist is False


@pytest.mark.parametrize(("length", "quoted"), CUTS)
def test_a_read_error_after_a_submit_quotes_its_reason_and_says_a_task_may_exist(length: int, quoted: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("x" * length)

    error = raised(handler, submit)
    assert type(error) is APIConnectionError
    assert str(error) == f"POST request failed: ReadError: {quoted}" + MAY_EXIST


# --- error_from_response: a POST is taken to create a task unless told otherwise ---


def failed_post(status: int) -> httpx.Response:
    request = httpx.Request("POST", "https://api.evolink.ai/v1/images/generations")
    return httpx.Response(status, json={"error": {"code": "boom", "message": "it broke"}}, request=request)


def test_error_from_response_takes_a_failed_post_to_create_a_task_by_default() -> None:
    error = error_from_response(failed_post(500), task_id=None, redactor=Redactor(KEY))
    assert type(error) is InternalServerError
    assert error.task_may_exist is True
    assert str(error) == "POST /v1/images/generations failed with HTTP 500: it broke" + MAY_EXIST


def test_error_from_response_for_a_call_that_creates_no_task_says_none_may_exist() -> None:
    error = error_from_response(failed_post(500), task_id=None, redactor=Redactor(KEY), creates_task=False)
    assert type(error) is InternalServerError
    assert error.task_may_exist is False
    assert str(error) == "POST /v1/images/generations failed with HTTP 500: it broke"


def test_a_submit_answered_with_a_500_says_a_task_may_exist() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": {"code": "boom", "message": "it broke"}})

    error = raised(handler, submit)
    assert type(error) is InternalServerError
    assert str(error) == "POST /v1/images/generations failed with HTTP 500: it broke" + MAY_EXIST


# --- exchange: the package's own errors pass through untouched, even those that are ValueErrors ---


@pytest.mark.parametrize(
    "error",
    [
        RequestValidationError([Violation("task_id", "is ''", "a non-empty id")]),
        MalformedTaskError("the body has no task id"),
        APIResponseError("already translated", response=None, task_id="t"),
    ],
)
@pytest.mark.parametrize("seen", [False, True])
def test_exchange_lets_the_packages_own_errors_through_unchanged(error: EvoLinkError, seen: bool) -> None:
    def call() -> None:
        with exchange("POST", task_id=None, redactor=Redactor(KEY)) as current:
            if seen:
                request = httpx.Request("POST", "https://api.evolink.ai/v1/images/generations")
                current.received(httpx.Response(200, content=b"{}"), request)
            raise error

    with pytest.raises(EvoLinkError) as caught:
        call()
    assert caught.value is error


def test_exchange_translates_a_plain_value_error() -> None:
    with pytest.raises(APIConnectionError) as caught, exchange("GET", task_id="t", redactor=Redactor(KEY)):
        raise ValueError("not the package's own")
    assert str(caught.value) == "GET task t failed: ValueError"


def test_exchange_with_nothing_raised_returns_quietly() -> None:
    with exchange("GET", task_id="t", redactor=Redactor(KEY)) as current:
        pass
    assert current.response is None
