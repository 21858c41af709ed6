"""The clients' details, pinned word for word: error texts, task parsing, arguments, configuration, calls.

Every limit and every message is written here as the docstrings, the README and api-facts.md state
it, never read from the module under test: a message is part of the interface (it names the field
and the limit a caller must change).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import platform
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import evolink_images
from evolink_images import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConfigurationError,
    DownloadError,
    EvoLinkError,
    FileHostError,
    InsufficientQuotaError,
    InternalServerError,
    MalformedTaskError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    QwenImageEdit,
    RateLimitError,
    RequestValidationError,
    Task,
    TaskCancelledError,
    TaskError,
    TaskErrorInfo,
    TaskFailedError,
    TaskUsage,
    UploadError,
    Violation,
    WaitTimeoutError,
    WanImageToImage,
)
from evolink_images._arguments import (
    check_count,
    check_dest_dir,
    check_flag,
    check_headers,
    check_retries,
    check_seconds,
    check_task,
    check_task_id,
    is_task_id,
)
from evolink_images._calls import check_idempotency_key, create_call, new_idempotency_key, plan_submit, read_call
from evolink_images._config import ClientOptions, Settings, configure_logging
from evolink_images._errors import cut, shown, status_error_class
from evolink_images._requests import to_api_body
from evolink_images._responses import Exchange, error_from_response, exchange, json_body, public_response
from evolink_images._wire import DeadlineExceeded, Redactor, Secret
from evolink_images.testing.fake import FakeClock
from evolink_images.testing.images import gradient_png

from .conftest import Face

TASK_ID = "task-unified-42"


def failed_task(code: Any = "service_error", message: Any = "The service failed", **body: Any) -> Task:
    return Task.from_dict({"id": TASK_ID, "status": "failed", "error": {"code": code, "message": message}, **body})


# --- _errors: quoting and cutting ---------------------------------------------------------------------


def test_a_quoted_value_is_its_repr_up_to_sixty_characters_then_cut_with_dots() -> None:
    assert shown("abc") == "'abc'"
    exact = "x" * 58  # its repr is 60 characters: kept whole
    assert shown(exact) == repr(exact)
    assert shown("x" * 59) == "'" + "x" * 56 + "..."
    assert len(shown("x" * 59)) == 60
    assert shown("abcdef", limit=5) == "'a..."


def test_a_value_without_a_repr_is_named_by_its_type_and_an_int_by_its_digit_count() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert shown(Broken()) == "<Broken>"
    assert shown(10**5000) == "<int of about 5000 digits>"


def test_a_server_text_is_cut_at_five_hundred_characters_saying_how_much_was_left_out() -> None:
    assert cut("y" * 500) == "y" * 500
    assert cut("y" * 501) == "y" * 500 + "... (1 more characters)"
    assert cut("abcdef", 4) == "abcd... (2 more characters)"


# --- _errors: the messages ------------------------------------------------------------------------------


def test_an_error_about_a_task_says_how_to_resume_it_unless_its_text_names_the_task() -> None:
    error = EvoLinkError("the poll failed", task_id="task-9")
    assert str(error) == "the poll failed (task task-9; resume with wait('task-9'))"
    assert error.message == "the poll failed"
    assert error.task_id == "task-9"
    assert str(EvoLinkError("task-9 broke", task_id="task-9")) == "task-9 broke"
    assert str(EvoLinkError("plain")) == "plain"
    assert EvoLinkError("plain").task_id is None


def test_a_validation_error_lists_every_violation_with_its_field_and_limit_and_says_nothing_was_sent() -> None:
    violations = [Violation("n", "is 5", "1 to 4"), Violation("prompt", "is empty", "1 to 2000 characters")]
    error = RequestValidationError(violations)
    assert str(Violation("n", "is 5", "1 to 4")) == "n: is 5 (limit: 1 to 4)"
    assert str(error) == (
        "2 problem(s) with the request; nothing was sent:\n"
        "  - n: is 5 (limit: 1 to 4)\n"
        "  - prompt: is empty (limit: 1 to 2000 characters)"
    )
    assert error.violations == tuple(violations)
    assert isinstance(error, ValueError)
    assert isinstance(MalformedTaskError("m"), ValueError)


def test_an_api_error_that_may_have_created_a_task_says_so_in_its_text() -> None:
    error = APIError("POST request failed", task_may_exist=True)
    assert str(error) == (
        "POST request failed; a task may have been created (and billed) all the same: check your recent tasks"
        " before submitting again"
    )
    assert error.task_may_exist is True
    quiet = APIError("GET task t failed")
    assert str(quiet) == "GET task t failed"
    assert (quiet.task_may_exist, quiet.request) == (False, None)


def test_a_response_error_without_a_response_has_no_status_or_request() -> None:
    error = APIResponseError("unreadable", response=None, task_id="task-3")
    assert (error.response, error.status_code, error.request, error.task_id) == (None, None, None, "task-3")
    assert error.unusable_task is False
    request = httpx.Request("GET", "https://api.evolink.ai/v1/tasks/task-3")
    answered = APIResponseError("odd", response=httpx.Response(200, request=request))
    assert (answered.status_code, answered.request) == (200, request)


def test_a_status_error_keeps_the_servers_own_message_code_and_request_id() -> None:
    request = httpx.Request("GET", "https://api.evolink.ai/v1/tasks/task-3")
    response = httpx.Response(429, headers={"x-request-id": "req-1"}, request=request)
    error = RateLimitError("GET /v1/tasks/task-3 failed with HTTP 429: slow down", response=response, code="rate")
    assert error.message == "GET /v1/tasks/task-3 failed with HTTP 429: slow down"  # no detail: the text
    detailed = RateLimitError("text", response=response, code=7, detail="slow down")
    assert (detailed.message, detailed.code, detailed.status_code, detailed.request_id) == (
        "slow down",
        7,
        429,
        "req-1",
    )
    assert detailed.request is request
    bare = APIStatusError("text", response=httpx.Response(418, request=request))
    assert (bare.request_id, bare.code) == (None, None)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, InsufficientQuotaError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (413, PayloadTooLargeError),
        (429, RateLimitError),
        (499, APIStatusError),
        (500, InternalServerError),
        (501, InternalServerError),
        (599, InternalServerError),
        (520, InternalServerError),
        (405, APIStatusError),
        (300, APIStatusError),
    ],
)
def test_each_status_has_its_error_class(status: int, kind: type[APIStatusError]) -> None:
    assert status_error_class(status) is kind


def test_the_error_tree_is_the_one_the_module_draws() -> None:
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(APIConnectionError, APIError)
    assert issubclass(UploadError, FileHostError)
    assert issubclass(FileHostError, APIError)
    assert issubclass(TaskFailedError, TaskError)
    assert issubclass(WaitTimeoutError, TaskError)
    assert issubclass(DownloadError, EvoLinkError)
    assert not issubclass(DownloadError, APIError)


def test_a_file_host_error_carries_the_hosts_code_message_and_status() -> None:
    error = FileHostError("upload refused", code=40002, detail="type not allowed", status_code=200)
    assert (str(error), error.code, error.message, error.status_code) == (
        "upload refused",
        40002,
        "type not allowed",
        200,
    )
    plain = FileHostError("host down")
    assert (plain.code, plain.message, plain.status_code, plain.task_id) == (None, "host down", None, None)


def test_an_upload_error_that_may_have_stored_the_file_says_it_uses_a_quota_slot() -> None:
    error = UploadError("upload of a.png failed", file_name="a.png", code=500, may_be_stored=True)
    assert str(error) == (
        "upload of a.png failed; the file may have been stored all the same (one slot of the file quota until"
        " it expires)"
    )
    assert (error.file_name, error.may_be_stored, error.code) == ("a.png", True, 500)
    quiet = UploadError("upload of <bytes> failed", file_name="<bytes>")
    assert (str(quiet), quiet.may_be_stored) == ("upload of <bytes> failed", False)


@pytest.mark.parametrize(
    ("code", "cause", "advice", "retryable"),
    [
        (
            "content_policy_violation",
            "request",
            "the request itself was refused: retrying it unchanged will fail again",
            False,
        ),
        ("service_error", "service", "the service failed: the same request may succeed later", True),
        ("brand_new_code", "unknown", "the cause is unknown", False),
    ],
)
def test_a_failed_task_says_whose_fault_it_was_and_whether_a_retry_can_help(
    code: str, cause: str, advice: str, retryable: bool
) -> None:
    task = failed_task(code, "It broke")
    error = TaskFailedError(task)
    assert str(error) == f"task {TASK_ID} failed: {code}: It broke ({advice})"
    assert (error.code, error.message, error.cause, error.task_id, error.task) == (
        code,
        "It broke",
        cause,
        TASK_ID,
        task,
    )
    assert task.error is not None
    assert task.error.retryable is retryable


def test_a_failed_task_without_an_error_object_has_no_code_and_an_unknown_cause() -> None:
    error = TaskFailedError(Task(id=TASK_ID, status="failed"))
    assert str(error) == f"task {TASK_ID} failed: no code:  (the cause is unknown)"
    assert (error.code, error.message, error.cause) == (None, "", "unknown")
    no_message = TaskFailedError(failed_task("service_error", None))
    assert str(no_message) == (
        f"task {TASK_ID} failed: service_error:  (the service failed: the same request may succeed later)"
    )


def test_a_failed_tasks_long_code_and_message_are_cut() -> None:
    error = TaskFailedError(failed_task("c" * 101, "m" * 501))
    assert str(error) == (
        f"task {TASK_ID} failed: {'c' * 100}... (1 more characters): {'m' * 500}... (1 more characters)"
        " (the cause is unknown)"
    )
    assert error.message == "m" * 501  # the attribute keeps it whole


def test_a_cancelled_task_and_a_wait_timeout_name_the_task_and_how_to_resume() -> None:
    cancelled = TaskCancelledError(Task(id=TASK_ID, status="cancelled"))
    assert str(cancelled) == f"task {TASK_ID} was cancelled"
    late = WaitTimeoutError(Task(id=TASK_ID, status="processing", progress=40), 12.5)
    assert (
        str(late)
        == f"task {TASK_ID} was still processing (40%) after 12.5 s; it goes on: resume with wait('{TASK_ID}')"
    )
    assert late.timeout == 12.5
    assert str(WaitTimeoutError(Task(id="t", status="s" * 101), 600.0)) == (
        f"task t was still {'s' * 100}... (1 more characters) (0%) after 600 s; it goes on: resume with wait('t')"
    )


# --- _config: what a client is built with ---------------------------------------------------------------

KEY = "sk-evo-details-0123456789"


def refused_settings(**arguments: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        Settings.create(**{**SETTINGS_ARGUMENTS, **arguments})
    assert KEY not in str(caught.value) + repr(caught.value)
    return str(caught.value)


SETTINGS_ARGUMENTS: dict[str, Any] = {
    "api_key": KEY,
    "base_url": None,
    "timeout": None,
    "max_retries": 2,
    "schedule": None,
}


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("EVOLINK_API_KEY", "EVOLINK_BASE_URL", "EVOLINK_FILES_BASE_URL", "EVOLINK_LOG"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.usefixtures("clean_environment")
def test_each_bad_setting_is_refused_with_a_message_naming_it_and_what_it_takes() -> None:
    assert refused_settings(api_key=None) == (
        "no API key: pass api_key=... or set the EVOLINK_API_KEY environment variable"
    )
    assert refused_settings(api_key="  ") == (
        "no API key: pass api_key=... or set the EVOLINK_API_KEY environment variable"
    )
    assert refused_settings(api_key=5) == "api_key must be a string, not int"
    assert refused_settings(api_key=KEY + "\n") == "the API key contains a line break"
    assert refused_settings(api_key="sk\rx") == "the API key contains a line break"
    assert refused_settings(max_retries=-1) == "max_retries must be a whole number >= 0, not -1"
    assert refused_settings(max_retries=True) == "max_retries must be a whole number >= 0, not True"
    assert refused_settings(max_retries=1.0) == "max_retries must be a whole number >= 0, not 1.0"
    assert refused_settings(base_url=b"https://x") == "base_url must be a string, not bytes"
    assert refused_settings(schedule="fast") == "poll_schedule must be a PollSchedule, not str"
    assert refused_settings(max_response_bytes=0) == "max_response_bytes must be a whole number >= 1, not 0"
    assert refused_settings(max_response_bytes=False) == "max_response_bytes must be a whole number >= 1, not False"
    assert refused_settings(max_response_bytes=2.0) == "max_response_bytes must be a whole number >= 1, not 2.0"
    assert refused_settings(files_base_url=7) == "files_base_url must be a string, not int"


@pytest.mark.usefixtures("clean_environment")
def test_the_smallest_settings_allowed_are_taken() -> None:
    settings = Settings.create(**{**SETTINGS_ARGUMENTS, "max_retries": 0, "max_response_bytes": 1})
    assert (settings.max_retries, settings.max_response_bytes) == (0, 1)
    assert settings.api_key.reveal() == KEY


@pytest.mark.usefixtures("clean_environment")
def test_the_key_is_stripped_of_surrounding_spaces_and_taken_from_the_environment(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    assert Settings.create(**{**SETTINGS_ARGUMENTS, "api_key": f"  {KEY} "}).api_key.reveal() == KEY
    clean_environment.setenv("EVOLINK_API_KEY", KEY)
    assert Settings.create(**{**SETTINGS_ARGUMENTS, "api_key": None}).api_key.reveal() == KEY
    assert Settings.create(**{**SETTINGS_ARGUMENTS, "api_key": "sk-evo-argument-wins"}).api_key.reveal() == (
        "sk-evo-argument-wins"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://api.evolink.ai",
        "ftp://api.evolink.ai",
        "https://",
        "https://api.evolink.ai:notaport",
        "http://10.0.0.1:8080",
        "api.evolink.ai",
    ],
)
@pytest.mark.usefixtures("clean_environment")
def test_a_base_url_that_is_not_https_or_loopback_http_is_refused_naming_the_argument(url: str) -> None:
    expected = "{} {!r} is refused: use https (plain http only for a loopback host such as 127.0.0.1)"
    assert refused_settings(base_url=url) == expected.format("base_url", url)
    assert refused_settings(files_base_url=url) == expected.format("files_base_url", url)


@pytest.mark.usefixtures("clean_environment")
def test_base_urls_lose_their_trailing_slash_and_plain_http_is_taken_on_loopback() -> None:
    settings = Settings.create(
        **{**SETTINGS_ARGUMENTS, "base_url": "HTTPS://api.example.com/", "files_base_url": "http://127.0.0.1:9/"}
    )
    assert str(settings.base_url) == "https://api.example.com"
    assert str(settings.files_base_url) == "http://127.0.0.1:9"
    assert settings.api_url("/v1/tasks/t") == "https://api.example.com/v1/tasks/t"
    assert settings.files_url("/api/v1/files/upload/stream") == "http://127.0.0.1:9/api/v1/files/upload/stream"
    local = Settings.create(**{**SETTINGS_ARGUMENTS, "base_url": "http://localhost:8000/"})
    assert str(local.base_url) == "http://localhost:8000"


@pytest.mark.usefixtures("clean_environment")
def test_the_file_host_defaults_to_evolinks_or_to_a_loopback_api_itself(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    assert str(Settings.create(**SETTINGS_ARGUMENTS).files_base_url) == "https://files-api.evolink.ai"
    assert str(Settings.create(**SETTINGS_ARGUMENTS).base_url) == "https://api.evolink.ai"
    local = Settings.create(**{**SETTINGS_ARGUMENTS, "base_url": "http://127.0.0.1:8123"})
    assert str(local.files_base_url) == "http://127.0.0.1:8123"
    public = Settings.create(**{**SETTINGS_ARGUMENTS, "base_url": "https://api.example.com"})
    assert str(public.files_base_url) == "https://files-api.evolink.ai"
    clean_environment.setenv("EVOLINK_FILES_BASE_URL", " https://files.example.com ")
    clean_environment.setenv("EVOLINK_BASE_URL", " https://api.example.org ")
    from_environment = Settings.create(**SETTINGS_ARGUMENTS)
    assert str(from_environment.files_base_url) == "https://files.example.com"
    assert str(from_environment.base_url) == "https://api.example.org"
    given = Settings.create(**{**SETTINGS_ARGUMENTS, "files_base_url": "https://f.example.net"})
    assert str(given.files_base_url) == "https://f.example.net"


@pytest.mark.parametrize(
    ("timeout", "phases", "budget"),
    [
        (None, httpx.Timeout(30.0, connect=10.0), 60.0),
        (httpx.Timeout(5.0), httpx.Timeout(5.0), 60.0),
        (5, httpx.Timeout(5.0, connect=5.0), 5.0),
        (20.0, httpx.Timeout(20.0, connect=10.0), 20.0),
        (10.0, httpx.Timeout(10.0, connect=10.0), 10.0),
        (30, httpx.Timeout(30.0, connect=10.0), 30.0),
        (120, httpx.Timeout(30.0, connect=10.0), 120.0),
        (0.5, httpx.Timeout(0.5, connect=0.5), 0.5),
    ],
)
@pytest.mark.usefixtures("clean_environment")
def test_a_timeout_is_the_calls_whole_budget_and_bounds_each_phase(
    timeout: Any, phases: httpx.Timeout, budget: float
) -> None:
    settings = Settings.create(**{**SETTINGS_ARGUMENTS, "timeout": timeout})
    assert (settings.timeout, settings.budget) == (phases, budget)
    assert type(settings.budget) is float


@pytest.mark.parametrize(
    ("timeout", "quoted"),
    [(0, "0"), (-1, "-1"), (math.inf, "inf"), (math.nan, "nan"), (True, "True"), ("30", "'30'"), (10**400, None)],
)
@pytest.mark.usefixtures("clean_environment")
def test_a_timeout_that_is_not_a_positive_finite_number_is_refused(timeout: Any, quoted: str | None) -> None:
    message = refused_settings(timeout=timeout)
    start = "timeout must be a positive number of seconds or an httpx.Timeout, not "
    assert message.startswith(start)
    if quoted is not None:
        assert message == start + quoted
    else:
        assert message == start + "1" + "0" * 56 + "..."


@pytest.mark.usefixtures("clean_environment")
def test_every_api_request_names_the_client_and_its_encodings_before_the_callers_headers() -> None:
    settings = Settings.create(**{**SETTINGS_ARGUMENTS, "default_headers": {"X-Team": "growth"}})
    agent = f"evolink-images/0.1.0 python/{platform.python_version()} httpx/{httpx.__version__}"
    assert settings.api_headers == (
        ("User-Agent", agent),
        ("Accept-Encoding", "gzip, deflate"),
        ("X-Team", "growth"),
    )
    assert settings.download_http_options() == {
        "timeout": httpx.Timeout(30.0, connect=10.0),
        "follow_redirects": False,
        "headers": {"User-Agent": agent, "Accept-Encoding": "gzip, deflate"},
    }


@pytest.mark.usefixtures("clean_environment")
def test_the_api_wire_caps_answers_and_carries_the_key_and_the_download_wire_neither() -> None:
    settings = Settings.create(**{**SETTINGS_ARGUMENTS, "timeout": 7, "max_response_bytes": 4096})
    api = settings.api_wire()
    assert (api.budget, api.max_body, api.redact_bodies) == (7.0, 4096, True)
    assert api.redactor is settings.redactor
    assert api.credentials is not None
    request = httpx.Request("GET", "https://api.evolink.ai/v1/tasks/t")
    assert api.credentials.attach(request)
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    upload = httpx.Request("POST", "https://files-api.evolink.ai/api/v1/files/upload/stream")
    assert api.credentials.attach(upload)
    assert not api.credentials.attach(httpx.Request("GET", "https://files.evolink.ai/r.png"))
    download = settings.download_wire()
    assert (download.budget, download.max_body, download.redact_bodies, download.credentials) == (
        7.0,
        None,
        False,
        None,
    )
    assert settings.redact(f"echo {KEY} back") == "echo <redacted> back"


@pytest.mark.usefixtures("clean_environment")
def test_with_options_names_what_it_takes_when_given_what_it_does_not() -> None:
    options = ClientOptions()
    assert options.max_retries == 2
    assert options.max_response_bytes == 1024 * 1024
    assert (options.api_key, options.base_url, options.timeout, options.files_base_url) == (None, None, None, None)
    with pytest.raises(ConfigurationError) as caught:
        options.changed({"zeta": 1, "http_client": None})
    assert str(caught.value) == (
        "with_options takes no http_client, zeta: only api_key, base_url, timeout, max_retries, poll_schedule,"
        " clock, sleep, max_response_bytes, default_headers, files_base_url"
    )
    changed = options.changed({"api_key": KEY, "max_retries": 5})
    assert isinstance(changed.api_key, Secret)
    assert changed.api_key.reveal() == KEY
    assert KEY not in repr(changed)
    assert changed.max_retries == 5
    assert options.changed({"api_key": None}).api_key is None
    assert ClientOptions(Secret(KEY)).settings().api_key.reveal() == KEY


@pytest.mark.usefixtures("clean_environment")
def test_default_headers_that_break_a_rule_are_a_configuration_error_with_the_rules_text() -> None:
    message = refused_settings(default_headers={"Idempotency-Key": "k"})
    assert message == (
        "1 problem(s) with the request; nothing was sent:\n"
        "  - default_headers['Idempotency-Key']: is 'k' (limit: no Idempotency-Key header: pass"
        " submit(idempotency_key=...))"
    )


@pytest.mark.parametrize(("level", "number"), [("debug", logging.DEBUG), (" INFO ", logging.INFO)])
def test_evolink_log_adds_one_stderr_handler_at_its_level_that_escapes_control_characters(
    clean_environment: pytest.MonkeyPatch, level: str, number: int
) -> None:
    logger = logging.getLogger("evolink_images")
    before = (logger.level, list(logger.handlers))
    clean_environment.setenv("EVOLINK_LOG", level)
    try:
        configure_logging()
        configure_logging()
        added = [handler for handler in logger.handlers if handler not in before[1]]
        assert len(added) == 1
        assert logger.level == number
        formatter = added[0].formatter
        assert formatter is not None
        record = logging.LogRecord("evolink_images", logging.INFO, "f", 1, "bad \x1b[31m\u202e\x7f end", None, None)
        line = formatter.format(record)
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} evolink_images INFO bad \\x1b\[31m\\u202e\\x7f end", line
        )
        assert getattr(added[0], "stream", None) is sys.stderr
    finally:
        logger.setLevel(before[0])
        logger.handlers[:] = before[1]


def test_without_evolink_log_no_handler_is_added(clean_environment: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("evolink_images")
    before = (logger.level, list(logger.handlers))
    clean_environment.setenv("EVOLINK_LOG", "verbose")
    configure_logging()
    assert (logger.level, list(logger.handlers)) == before


# --- _arguments: every argument but the request --------------------------------------------------------


def refusal(error: RequestValidationError) -> str:
    assert len(error.violations) == 1
    return str(error.violations[0])


@pytest.mark.parametrize("task_id", ["", "   ", ".", "..", " .. ", "t" * 257, "task\n1", "task\x00", 5, None])
def test_a_task_id_that_cannot_name_a_task_is_refused_with_the_limit(task_id: Any) -> None:
    assert not is_task_id(task_id)
    with pytest.raises(RequestValidationError) as caught:
        check_task_id(task_id)
    assert refusal(caught.value) == (
        f"task_id: is {shown(task_id)} (limit: a task id such as task-unified-..., at most 256 characters)"
    )


@pytest.mark.parametrize("task_id", ["t" * 256, "task-unified-1757156493-imcg5zqt", "a", "...", " x "])
def test_any_printable_id_of_at_most_256_characters_is_a_task_id(task_id: str) -> None:
    assert is_task_id(task_id)
    assert check_task_id(task_id) == task_id
    assert check_task_id(Task(id=task_id)) == task_id


def test_only_a_task_is_a_task() -> None:
    task = Task(id="t")
    assert check_task(task) is task
    with pytest.raises(RequestValidationError) as caught:
        check_task("t")
    assert refusal(caught.value) == "task: is 't' (limit: a Task, as returned by submit, get_task or wait)"


@pytest.mark.parametrize("value", [0, -1, 0.0, math.inf, math.nan, True, "5", None, 10**400])
def test_seconds_must_be_positive_and_finite(value: Any) -> None:
    with pytest.raises(RequestValidationError) as caught:
        check_seconds("timeout", value)
    assert refusal(caught.value) == f"timeout: is {shown(value)} (limit: a positive number of seconds)"


def test_seconds_are_returned_as_floats() -> None:
    assert check_seconds("timeout", 3) == 3.0
    assert type(check_seconds("timeout", 3)) is float
    assert check_seconds("timeout", 0.001) == 0.001


def test_retries_counts_and_flags_take_whole_numbers_and_bools_only() -> None:
    assert check_retries("max_retries", 0) == 0
    assert check_count("concurrency", 1) == 1
    assert check_flag("preflight", False) is False
    assert check_flag("preflight", True) is True
    cases: list[tuple[Any, str, Any, str]] = [
        (check_retries, "max_retries", -1, "max_retries: is -1 (limit: a whole number of at least 0)"),
        (check_retries, "max_retries", True, "max_retries: is True (limit: a whole number of at least 0)"),
        (check_retries, "max_retries", 1.0, "max_retries: is 1.0 (limit: a whole number of at least 0)"),
        (check_count, "concurrency", 0, "concurrency: is 0 (limit: a whole number of at least 1)"),
        (check_count, "concurrency", True, "concurrency: is True (limit: a whole number of at least 1)"),
        (check_count, "concurrency", 2.0, "concurrency: is 2.0 (limit: a whole number of at least 1)"),
        (check_flag, "preflight", 1, "preflight: is 1 (limit: True or False)"),
    ]
    for check, name, value, message in cases:
        with pytest.raises(RequestValidationError) as caught:
            check(name, value)
        assert refusal(caught.value) == message


@pytest.mark.parametrize("folder", ["", "a\x00b", 5, None, b"out"])
def test_a_destination_that_is_not_a_folder_path_is_refused(folder: Any) -> None:
    with pytest.raises(RequestValidationError) as caught:
        check_dest_dir(folder)
    assert refusal(caught.value) == f"dest_dir: is {shown(folder)} (limit: a folder path)"


def test_a_destination_folder_is_a_path(tmp_path: Path) -> None:
    assert check_dest_dir(str(tmp_path)) == tmp_path
    assert check_dest_dir(tmp_path / "new") == tmp_path / "new"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (["X-A"], "extra_headers: is ['X-A'] (limit: a mapping of header names to text values)"),
        ({"X A": "v"}, "extra_headers: is 'X A' (limit: header names made of token characters (RFC 9110))"),
        ({"": "v"}, "extra_headers: is '' (limit: header names made of token characters (RFC 9110))"),
        ({7: "v"}, "extra_headers: is 7 (limit: header names made of token characters (RFC 9110))"),
        (
            {"idempotency-KEY": "k"},
            "extra_headers['idempotency-KEY']: is 'k' (limit: no Idempotency-Key header: pass"
            " submit(idempotency_key=...))",
        ),
        *[
            (
                {name: "v"},
                f"extra_headers[{name!r}]: is 'v' (limit: any header but accept-encoding, authorization,"
                " content-length, content-type, host, transfer-encoding)",
            )
            for name in (
                "Authorization",
                "HOST",
                "Content-Length",
                "transfer-encoding",
                "Content-Type",
                "Accept-Encoding",
            )
        ],
        ({"X-A": "a\rb"}, "extra_headers['X-A']: is 'a\\rb' (limit: ASCII text on one line)"),
        ({"X-A": "a\nb"}, "extra_headers['X-A']: is 'a\\nb' (limit: ASCII text on one line)"),
        ({"X-A": "a\x00b"}, "extra_headers['X-A']: is 'a\\x00b' (limit: ASCII text on one line)"),
        ({"X-A": "caf\u00e9"}, "extra_headers['X-A']: is 'caf\u00e9' (limit: ASCII text on one line)"),
        ({"X-A": 5}, "extra_headers['X-A']: is 5 (limit: ASCII text on one line)"),
    ],
)
def test_a_header_that_may_not_be_sent_is_refused_naming_it_and_why(headers: Any, message: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        check_headers("extra_headers", headers)
    assert refusal(caught.value) == message


def test_headers_that_may_be_sent_come_back_as_pairs_in_order() -> None:
    assert check_headers("extra_headers", None) == ()
    assert check_headers("extra_headers", {"X-B": "2", "x-a": "one two", "Accept": "*/*"}) == (
        ("X-B", "2"),
        ("x-a", "one two"),
        ("Accept", "*/*"),
    )
    assert check_headers("h", {"!#$%&'*+-.^_`|~09AZaz": ""}) == (("!#$%&'*+-.^_`|~09AZaz", ""),)
    assert check_headers("h", {"X-Mixed": "XXL size, Xmas"}) == (("X-Mixed", "XXL size, Xmas"),)


# --- _calls and _requests: what a call sends ----------------------------------------------------------

URL = "https://example.com/a.png"


@pytest.fixture
def settings(clean_environment: pytest.MonkeyPatch) -> Settings:
    return Settings.create(**{**SETTINGS_ARGUMENTS, "timeout": 9})


@pytest.mark.parametrize("key", ["k" * 15, "k" * 97, "key with spaces!", "k" * 15 + "/", 12345678901234567, None])
def test_an_idempotency_key_outside_16_to_96_safe_characters_is_refused(key: Any) -> None:
    with pytest.raises(RequestValidationError) as caught:
        check_idempotency_key(key)
    assert refusal(caught.value) == (
        f"idempotency_key: is {cut(repr(key), 60)} (limit: 16 to 96 characters of A-Z a-z 0-9 . _ -)"
    )


@pytest.mark.parametrize("key", ["k" * 16, "k" * 96, "Az09._-Az09._-Az09"])
def test_an_idempotency_key_of_16_to_96_safe_characters_is_sent_as_given(key: str, settings: Settings) -> None:
    assert check_idempotency_key(key) == key
    call = create_call(settings, WanImageToImage("p", [URL]), idempotency_key=key, timeout=None, max_retries=None)
    assert call.request.headers["Idempotency-Key"] == key


def test_a_fresh_idempotency_key_names_the_client_and_is_new_each_time() -> None:
    first, second = new_idempotency_key(), new_idempotency_key()
    assert first != second
    for key in (first, second):
        assert key.startswith("evolink-images-")
        assert len(key) == len("evolink-images-") + 32
        assert check_idempotency_key(key) == key


def test_a_submit_call_posts_the_models_body_with_the_clients_budget_and_headers(settings: Settings) -> None:
    request = WanImageToImage("p", [URL], n=3, callback_url="https://hooks.example.com/cb", extra_body={"seed": 7})
    call = create_call(
        settings, request, idempotency_key=None, timeout=None, max_retries=None, extra_headers={"X-Trace": "t1"}
    )
    assert (call.task_id, call.budget, call.max_retries) == (None, 9.0, None)
    sent = call.request
    assert (sent.method, str(sent.url)) == ("POST", "https://api.evolink.ai/v1/images/generations")
    assert json.loads(sent.content) == {
        "model": "wan2.5-image-to-image",
        "prompt": "p",
        "image_urls": [URL],
        "n": 3,
        "callback_url": "https://hooks.example.com/cb",
        "seed": 7,
    }
    assert sent.headers["X-Trace"] == "t1"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Accept-Encoding"] == "gzip, deflate"
    assert sent.headers["User-Agent"].startswith("evolink-images/0.1.0 ")
    assert sent.headers["Idempotency-Key"].startswith("evolink-images-")
    assert "Authorization" not in sent.headers  # the wire adds it, for the API's origin only
    assert sent.extensions["timeout"] == httpx.Timeout(9.0, connect=9.0).as_dict()


def test_a_qwen_body_has_no_n_and_absent_options_are_left_out(settings: Settings) -> None:
    call = create_call(settings, QwenImageEdit("p", [URL]), idempotency_key=None, timeout=3, max_retries=0)
    assert json.loads(call.request.content) == {"model": "qwen-image-edit", "prompt": "p", "image_urls": [URL]}
    assert (call.budget, call.max_retries) == (3.0, 0)
    assert (WanImageToImage("p", [URL]).model, QwenImageEdit("p", [URL]).model) == (
        "wan2.5-image-to-image",
        "qwen-image-edit",
    )
    wan = json.loads(
        create_call(
            settings, WanImageToImage("p", [URL]), idempotency_key=None, timeout=None, max_retries=None
        ).request.content
    )
    assert wan == {"model": "wan2.5-image-to-image", "prompt": "p", "image_urls": [URL]}


def test_a_request_with_local_images_is_sent_only_with_the_urls_of_their_uploads() -> None:
    with pytest.raises(TypeError) as caught:
        to_api_body(WanImageToImage("p", [b"\x89PNG"]))
    assert str(caught.value) == "a request with local images is sent with the URLs of their uploads"
    body = to_api_body(WanImageToImage("p", [b"\x89PNG"]), ["https://files.evolink.ai/u.png"])
    assert body.to_dict()["image_urls"] == ["https://files.evolink.ai/u.png"]


def test_bad_call_arguments_are_refused_before_anything_is_built(settings: Settings) -> None:
    request = WanImageToImage("p", [URL])
    with pytest.raises(RequestValidationError) as caught:
        create_call(settings, request, idempotency_key=None, timeout=0, max_retries=None)
    assert refusal(caught.value) == "timeout: is 0 (limit: a positive number of seconds)"
    with pytest.raises(RequestValidationError) as caught:
        create_call(settings, request, idempotency_key=None, timeout=None, max_retries=-1)
    assert refusal(caught.value) == "max_retries: is -1 (limit: a whole number of at least 0)"
    with pytest.raises(RequestValidationError) as caught:
        create_call(settings, WanImageToImage("", [URL]), idempotency_key=None, timeout=None, max_retries=None)
    assert caught.value.violations[0].field == "prompt"
    with pytest.raises(RequestValidationError) as caught:
        read_call(settings, "t", timeout=None, max_retries=None, extra_headers={"Host": "x"})
    assert caught.value.violations[0].field == "extra_headers['Host']"


def test_a_read_call_gets_the_task_it_names_under_the_budget_asked_for(settings: Settings) -> None:
    call = read_call(settings, Task(id="task-7"), timeout=2.5, max_retries=4)
    assert (call.task_id, call.budget, call.max_retries) == ("task-7", 2.5, 4)
    assert (call.request.method, str(call.request.url)) == ("GET", "https://api.evolink.ai/v1/tasks/task-7")
    with pytest.raises(RequestValidationError) as caught:
        read_call(settings, "task-7", timeout=None, max_retries=-1)
    assert refusal(caught.value) == "max_retries: is -1 (limit: a whole number of at least 0)"
    with pytest.raises(RequestValidationError) as late:
        read_call(settings, "task-7", timeout=math.inf, max_retries=None)
    assert refusal(late.value) == "timeout: is inf (limit: a positive number of seconds)"
    default = read_call(settings, "task-8", timeout=None, max_retries=None)
    assert (default.task_id, default.budget, default.max_retries) == ("task-8", 9.0, None)


def test_a_planned_submit_keeps_one_key_and_checks_every_argument_before_any_upload(settings: Settings) -> None:
    png = gradient_png(400, 400, "details")
    request = WanImageToImage("p", [URL])
    plan = plan_submit(settings, request, idempotency_key=None, timeout=None, max_retries=None)
    assert plan.images == {}
    assert plan.distinct() == {}
    first, again = plan.call({}), plan.call({})
    assert first is again  # nothing to upload: the call checked first is the one sent
    assert first.request.headers["Idempotency-Key"].startswith("evolink-images-")
    with pytest.raises(RequestValidationError) as caught:
        plan_submit(settings, request, idempotency_key="short", timeout=None, max_retries=None)
    assert caught.value.violations[0].field == "idempotency_key"
    with pytest.raises(RequestValidationError) as caught:
        plan_submit(settings, WanImageToImage("p", [png, png]), idempotency_key=None, timeout=-1, max_retries=None)
    assert refusal(caught.value) == "timeout: is -1 (limit: a positive number of seconds)"
    local = plan_submit(
        settings, WanImageToImage("p", [png, URL]), idempotency_key="k" * 16, timeout=None, max_retries=None
    )
    assert list(local.images) == [0]
    (digest,) = local.distinct()
    sent = local.call({digest: "https://files.evolink.ai/up.png"})
    assert json.loads(sent.request.content)["image_urls"] == ["https://files.evolink.ai/up.png", URL]
    assert sent.request.headers["Idempotency-Key"] == "k" * 16
    twice = plan_submit(
        settings, WanImageToImage("p", [png, png]), idempotency_key=None, timeout=None, max_retries=None
    )
    assert list(twice.images) == [0, 1]
    assert len(twice.distinct()) == 1
    keys = {twice.call({d: "https://files.evolink.ai/u.png"}).request.headers["Idempotency-Key"] for d in [digest] * 2}
    assert len(keys) == 1  # one key for the submit, however often its call is built


# --- _responses: answers become tasks, failures typed errors ------------------------------------------

REDACTOR = Redactor(KEY)
TASK_URL = "https://api.evolink.ai/v1/tasks/task-1"
SUBMIT_URL = "https://api.evolink.ai/v1/images/generations"


def answer(
    status: int, content: bytes = b"", method: str = "GET", url: str = TASK_URL, **headers: str
) -> httpx.Response:
    request = httpx.Request(method, url, headers={"Authorization": f"Bearer {KEY}"})
    return httpx.Response(status, content=content, headers=headers, request=request)


def task_body(**fields: Any) -> bytes:
    return json.dumps({"id": "task-1", "status": "pending", **fields}).encode()


def no_key(error: BaseException) -> None:
    texts = [str(error), repr(error), repr(vars(error))]
    response = getattr(error, "response", None)
    if response is not None:
        texts += [str(response.request.headers), repr(response.request.headers.raw)]
    assert not any(KEY in text for text in texts)


@pytest.mark.parametrize(
    ("status", "content", "message"),
    [
        (404, json.dumps({"error": {"code": "not_found", "message": "no such task"}}).encode(), "no such task"),
        (502, b"<html> <h1>Bad   Gateway</h1>\n</html>", "Bad Gateway: <html> <h1>Bad Gateway</h1> </html>"),
        (503, b"", "Service Unavailable: empty body"),
        (520, b"origin\nerror", "HTTP error: origin error"),
        (400, b'{"error": "flat"}', 'Bad Request: {"error": "flat"}'),
        (400, b'{"error": {"code": 1, "message": 2}}', 'Bad Request: {"error": {"code": 1, "message": 2}}'),
    ],
)
def test_an_error_status_names_the_call_the_status_and_the_servers_message(
    status: int, content: bytes, message: str
) -> None:
    error = error_from_response(answer(status, content), task_id="task-1", redactor=REDACTOR)
    assert str(error) == f"GET /v1/tasks/task-1 failed with HTTP {status}: {message}"
    assert (error.message, error.status_code, error.task_id, error.task_may_exist) == (message, status, "task-1", False)
    no_key(error)


def test_an_error_message_is_cut_to_500_characters_and_its_code_to_100_and_both_lose_the_key() -> None:
    body = {"error": {"code": "c" * 101, "message": f"{KEY} " + "m" * 600}}
    error = error_from_response(answer(400, json.dumps(body).encode()), task_id=None, redactor=REDACTOR)
    assert error.code == "c" * 100 + "... (1 more characters)"
    assert error.message == cut("<redacted> " + "m" * 600)
    assert str(error) == f"GET /v1/tasks/task-1 failed with HTTP 400: {error.message}"
    assert error.response.request.headers.get("Authorization") is None
    keyed = error_from_response(
        answer(401, json.dumps({"error": {"code": f"bad {KEY}", "message": "m"}}).encode()),
        task_id=None,
        redactor=REDACTOR,
    )
    assert keyed.code == "bad <redacted>"
    integer = error_from_response(
        answer(400, json.dumps({"error": {"code": 40001, "message": "m"}}).encode()), task_id=None, redactor=REDACTOR
    )
    assert integer.code == 40001
    flag = error_from_response(
        answer(400, json.dumps({"error": {"code": True, "message": "m"}}).encode()), task_id=None, redactor=REDACTOR
    )
    assert flag.code is None


@pytest.mark.parametrize(
    ("status", "method", "creates_task", "may_exist"),
    [
        (500, "POST", True, True),
        (502, "POST", True, True),
        (504, "POST", True, True),
        (503, "POST", True, False),
        (499, "POST", True, False),
        (429, "POST", True, False),
        (500, "GET", True, False),
        (500, "POST", False, False),
    ],
)
def test_only_a_task_creating_post_answered_with_a_5xx_but_503_may_have_created_a_task(
    status: int, method: str, creates_task: bool, may_exist: bool
) -> None:
    response = answer(status, b"", method=method, url=SUBMIT_URL)
    error = error_from_response(response, task_id=None, redactor=REDACTOR, creates_task=creates_task)
    assert error.task_may_exist is may_exist
    assert ("a task may have been created (and billed)" in str(error)) is may_exist


def test_a_public_response_keeps_the_answer_and_drops_only_the_authorization_header() -> None:
    response = answer(200, b"body", **{"x-request-id": "req-3"})
    response.request.headers["X-Trace"] = "t"
    public = public_response(response)
    assert (public.status_code, public.content, public.headers["x-request-id"]) == (200, b"body", "req-3")
    assert public.request.headers.get("Authorization") is None
    assert public.request.headers["X-Trace"] == "t"
    assert (public.request.method, public.request.url) == ("GET", httpx.URL(TASK_URL))
    unread = httpx.Response(200, stream=httpx.ByteStream(b"later"), request=response.request)
    assert public_response(unread).content == b""


def test_json_is_redacted_after_parsing_when_the_key_was_written_with_escapes() -> None:
    escaped = "".join(f"\\u{ord(ch):04x}" for ch in KEY)
    body = json_body(answer(200, ('{"message": "' + escaped + '"}').encode()), REDACTOR)
    assert body == {"message": "<redacted>"}
    assert json_body(answer(200, b'{"a": 1}'), REDACTOR) == {"a": 1}
    with pytest.raises(ValueError, match=r"^the body is JSON nested too deeply to read$") as caught:
        json_body(answer(200, b"[" * 100_000 + b"]" * 100_000), REDACTOR)
    assert str(caught.value) == "the body is JSON nested too deeply to read"


def exchange_for(method: str = "GET", task_id: str | None = "task-1", creates_task: bool = True) -> Exchange:
    return Exchange(method=method, task_id=task_id, redactor=REDACTOR, creates_task=creates_task)


def test_a_task_answer_is_the_task_with_its_request_id() -> None:
    for status in (200, 201, 202):
        task = exchange_for().task(answer(status, task_body(), **{"x-request-id": "req-5"}))
        assert (task.id, task.status, task.request_id) == ("task-1", "pending", "req-5")


@pytest.mark.parametrize(
    ("method", "task_id", "status", "content", "why", "may_exist"),
    [
        ("GET", "task-1", 204, b"", "HTTP 204 response is not a task object", False),
        ("POST", None, 203, task_body(), "HTTP 203 response is not a task object", True),
        (
            "GET",
            "task-1",
            200,
            b"nope",
            "HTTP 200 response is not JSON (Expecting value: line 1 column 1 (char 0))",
            False,
        ),
        ("GET", "task-1", 200, task_body(id="task-2"), "HTTP 200 response is about another task ('task-2')", False),
        ("POST", None, 200, task_body(id=".."), "HTTP 200 response names a task id that cannot be polled ('..')", True),
        (
            "GET",
            "task-1",
            200,
            task_body(status=None),
            "HTTP 200 response is not a task the client can act on (task task-1 has no status)",
            False,
        ),
    ],
)
def test_an_answer_that_is_not_a_usable_task_says_why(
    method: str, task_id: str | None, status: int, content: bytes, why: str, may_exist: bool
) -> None:
    url = TASK_URL if method == "GET" else SUBMIT_URL
    with pytest.raises(APIResponseError) as caught:
        exchange_for(method, task_id).task(answer(status, content, method=method, url=url))
    error = caught.value
    suffix = (
        "; a task may have been created (and billed) all the same: check your recent tasks before submitting again"
        if may_exist
        else ""
    )
    assert error.message == f"{method} {httpx.URL(url).path}: {why}{suffix}"
    assert (error.status_code, error.task_may_exist) == (status, may_exist)
    no_key(error)


def test_an_unusable_body_about_the_task_asked_for_ends_a_wait_and_one_about_another_does_not() -> None:
    with pytest.raises(APIResponseError) as caught:
        exchange_for().task(answer(200, task_body(results="nope")))
    assert (caught.value.unusable_task, caught.value.task_id) == (True, "task-1")
    with pytest.raises(APIResponseError) as caught:
        exchange_for().task(answer(200, task_body(id="task-2", status=None)))
    assert (caught.value.unusable_task, caught.value.task_id) == (False, "task-1")
    with pytest.raises(APIResponseError) as caught:
        exchange_for("POST", None).task(answer(200, task_body(id="task-new", status=None), "POST", SUBMIT_URL))
    assert (caught.value.unusable_task, caught.value.task_id) == (True, "task-new")
    with pytest.raises(APIResponseError) as caught:
        exchange_for("POST", None).task(answer(200, b'{"status": "pending"}', "POST", SUBMIT_URL))
    assert (caught.value.unusable_task, caught.value.task_id) == (False, None)


def test_an_error_status_answer_becomes_its_typed_error_with_the_task_id() -> None:
    with pytest.raises(NotFoundError) as caught:
        exchange_for().task(answer(404, b""))
    assert caught.value.task_id == "task-1"
    assert str(caught.value) == "GET /v1/tasks/task-1 failed with HTTP 404: Not Found: empty body"
    with pytest.raises(InternalServerError) as upload:
        exchange_for("POST", None, creates_task=False).task(answer(500, b"", "POST", SUBMIT_URL))
    assert upload.value.task_may_exist is False


@pytest.mark.parametrize(
    ("method", "task_id", "raised", "seen", "kind", "message", "may_exist"),
    [
        (
            "GET",
            "task-1",
            DeadlineExceeded("out of time"),
            False,
            APITimeoutError,
            "GET task task-1: the call's total time budget ran out before an answer came",
            False,
        ),
        (
            "POST",
            None,
            DeadlineExceeded("out of time"),
            True,
            APITimeoutError,
            "POST request: the call's total time budget ran out while the answer was still arriving",
            True,
        ),
        (
            "GET",
            "task-1",
            httpx.ReadTimeout("slow"),
            False,
            APITimeoutError,
            "GET task task-1 timed out (ReadTimeout)",
            False,
        ),
        ("POST", None, httpx.ReadTimeout("slow"), False, APITimeoutError, "POST request timed out (ReadTimeout)", True),
        (
            "POST",
            None,
            httpx.ConnectTimeout("slow"),
            False,
            APITimeoutError,
            "POST request timed out (ConnectTimeout)",
            False,
        ),
        (
            "POST",
            None,
            httpx.PoolTimeout("slow"),
            False,
            APITimeoutError,
            "POST request timed out (PoolTimeout)",
            False,
        ),
        (
            "POST",
            None,
            httpx.ConnectError(f"refused {KEY}"),
            False,
            APIConnectionError,
            "POST request failed: ConnectError: refused <redacted>",
            False,
        ),
        (
            "POST",
            None,
            httpx.ReadError("reset"),
            False,
            APIConnectionError,
            "POST request failed: ReadError: reset",
            True,
        ),
        (
            "GET",
            "task-1",
            httpx.DecodingError("bad gzip"),
            False,
            APIResponseError,
            "GET task task-1: the answer could not be read: bad gzip",
            False,
        ),
        (
            "GET",
            "task-1",
            httpx.DecodingError("bad gzip"),
            True,
            APIResponseError,
            "GET /v1/tasks/task-1: HTTP 200 response could not be read: bad gzip",
            False,
        ),
        ("GET", "task-1", ValueError("odd"), False, APIConnectionError, "GET task task-1 failed: ValueError", False),
        ("POST", None, RecursionError(), False, APIConnectionError, "POST request failed: RecursionError", True),
        (
            "GET",
            "task-1",
            ValueError("odd"),
            True,
            APIResponseError,
            "GET /v1/tasks/task-1: HTTP 200 response could not be parsed (ValueError)",
            False,
        ),
    ],
)
def test_whatever_a_call_raises_becomes_the_packages_error_saying_what_happened(
    method: str,
    task_id: str | None,
    raised: BaseException,
    seen: bool,
    kind: type[EvoLinkError],
    message: str,
    may_exist: bool,
) -> None:
    current = exchange_for(method, task_id)
    if seen:
        url = TASK_URL if method == "GET" else SUBMIT_URL
        response = answer(200, b"", method=method, url=url)
        assert current.received(response, response.request) is response
    error = current.translate(raised)
    assert type(error) is kind
    assert isinstance(error, APIError)
    suffix = (
        "; a task may have been created (and billed) all the same: check your recent tasks before submitting again"
        if may_exist
        else ""
    )
    assert error.message == message + suffix
    assert (error.task_id, error.task_may_exist) == (task_id, may_exist)
    no_key(error)


def test_an_error_status_seen_before_the_body_failed_is_reported_as_that_status() -> None:
    current = exchange_for()
    response = answer(503, b"")
    current.received(response, response.request)
    error = current.translate(ValueError("truncated"))
    assert type(error) is InternalServerError
    assert str(error) == "GET /v1/tasks/task-1 failed with HTTP 503: Service Unavailable: empty body"
    assert error.message == "Service Unavailable: empty body"


def test_the_exchange_block_translates_httpx_and_value_errors_and_lets_its_own_and_others_pass() -> None:
    with pytest.raises(APIConnectionError) as caught, exchange("GET", task_id="task-1", redactor=REDACTOR):
        raise httpx.ReadError("reset")
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    own = NotFoundError("gone", response=answer(404))
    with pytest.raises(NotFoundError) as passed, exchange("GET", task_id="task-1", redactor=REDACTOR):
        raise own
    assert passed.value is own
    with pytest.raises(KeyError), exchange("GET", task_id="task-1", redactor=REDACTOR):
        raise KeyError("not ours")
    with exchange("POST", task_id=None, redactor=REDACTOR, creates_task=False) as current:
        assert (current.method, current.task_id, current.creates_task) == ("POST", None, False)


# --- the clients and the package ------------------------------------------------------------------------


@pytest.mark.usefixtures("clean_environment")
def test_a_client_shows_only_its_base_url_and_refuses_both_a_transport_and_an_http_client() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    with Client(KEY, transport=transport, base_url="https://api.example.com/") as client:
        assert repr(client) == "Client(base_url='https://api.example.com')"
        assert repr(client.with_options(base_url="https://other.example.com")) == (
            "Client(base_url='https://other.example.com')"
        )
    assert repr(AsyncClient(KEY, transport=httpx.MockTransport(lambda request: httpx.Response(500)))) == (
        "AsyncClient(base_url='https://api.evolink.ai')"
    )
    with httpx.Client() as http, pytest.raises(ConfigurationError) as caught:
        Client(KEY, http_client=http, transport=transport)
    assert str(caught.value) == "pass http_client or transport, not both"
    with pytest.raises(ConfigurationError) as refused:
        AsyncClient(
            KEY, http_client=httpx.AsyncClient(), transport=httpx.MockTransport(lambda request: httpx.Response(500))
        )
    assert str(refused.value) == "pass http_client or transport, not both"


def test_the_package_names_its_version_and_refuses_unknown_attributes() -> None:
    assert evolink_images.__version__ == "0.1.0"
    assert evolink_images.AsyncClient is AsyncClient
    with pytest.raises(AttributeError) as caught:
        evolink_images.NoSuchThing  # noqa: B018
    assert str(caught.value) == "module 'evolink_images' has no attribute 'NoSuchThing'"


def test_wait_and_run_give_up_after_600_seconds_by_default(
    api_client: Face, api: respx.Router, clock: FakeClock
) -> None:
    api.get("https://api.evolink.ai/v1/tasks/task-1").respond(200, json={"id": "task-1", "status": "processing"})
    api.post(SUBMIT_URL).respond(200, json={"id": "task-1", "status": "pending"})
    started = clock()
    with pytest.raises(WaitTimeoutError) as caught:
        api_client.wait("task-1")
    assert (
        str(caught.value) == "task task-1 was still processing (0%) after 600 s; it goes on: resume with wait('task-1')"
    )
    assert caught.value.timeout == 600.0
    assert 599.0 <= clock() - started <= 600.0
    with pytest.raises(WaitTimeoutError) as ran:
        api_client.run(WanImageToImage("p", [URL]))
    assert ran.value.timeout == 600.0


@pytest.mark.usefixtures("clean_environment")
def test_only_trailing_slashes_are_cut_from_a_base_url() -> None:
    settings = Settings.create(
        **{**SETTINGS_ARGUMENTS, "base_url": "https://api.example.com/X", "files_base_url": "http://127.0.0.1:9/X//"}
    )
    assert str(settings.base_url) == "https://api.example.com/X"
    assert str(settings.files_base_url) == "http://127.0.0.1:9/X"


def test_evolink_log_adds_its_handler_even_when_the_logger_already_has_someone_elses(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    logger = logging.getLogger("evolink_images")
    before = (logger.level, list(logger.handlers))
    foreign = logging.NullHandler()
    logger.addHandler(foreign)
    clean_environment.setenv("EVOLINK_LOG", "info")
    try:
        configure_logging()
        ours = [handler for handler in logger.handlers if handler not in (*before[1], foreign)]
        assert len(ours) == 1
        assert getattr(ours[0], "evolink_env", False) is True
    finally:
        logger.setLevel(before[0])
        logger.handlers[:] = before[1]


@pytest.mark.usefixtures("clean_environment")
def test_a_key_may_hold_any_character_but_a_line_break() -> None:
    key = "sk-evo-XX-Xmas-key-0001"
    assert Settings.create(**{**SETTINGS_ARGUMENTS, "api_key": key}).api_key.reveal() == key


@pytest.mark.usefixtures("clean_environment")
def test_building_settings_cuts_their_key_from_what_httpcore_logs(caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-evo-only-in-this-test-4471"
    settings = Settings.create(**{**SETTINGS_ARGUMENTS, "api_key": key})
    caplog.set_level(logging.DEBUG, logger="httpcore.http11")
    logging.getLogger("httpcore.http11").debug("send_request_headers.started headers=%r", [("Authorization", key)])
    assert caplog.messages == ["send_request_headers.started headers=[('Authorization', '<redacted>')]"]
    assert settings.api_key.reveal() == key  # alive until here: the log filter holds it only weakly


def test_the_options_repr_leaves_the_key_out_entirely() -> None:
    shown_options = repr(ClientOptions(Secret(KEY), base_url="https://api.example.com"))
    assert shown_options.startswith("ClientOptions(base_url='https://api.example.com', timeout=None, max_retries=2,")
    assert "api_key" not in shown_options
    assert KEY not in shown_options


# --- _task: the last edges ---------------------------------------------------------------------------------


def test_an_estimate_just_below_zero_is_absent_and_a_tasks_json_keeps_its_text_unescaped() -> None:
    body = {"id": "t", "status": "pending", "task_info": {"estimated_time": -0.5}, "model": "qwen-image-edit"}
    assert Task.from_dict(body).estimated_time is None
    assert (
        Task(id="t", model="caf\u00e9").to_json()
        == '{"id": "t", "status": "pending", "progress": 0, "model": "caf\u00e9"}'
    )
    failed = failed_task(created=1757156493, model="wan2.5-image-to-image", usage={"credits_used": 2})
    assert (failed.created, failed.model, failed.usage) == (
        1757156493,
        "wan2.5-image-to-image",
        TaskUsage(credits_used=2.0),
    )
    assert failed.error == TaskErrorInfo(code="service_error", message="The service failed", cause="service")


def test_each_answer_is_logged_at_debug_with_its_request_id_and_each_created_task_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="evolink_images")
    current = exchange_for()
    response = answer(200, task_body(), **{"x-request-id": "req-5"})
    current.received(response, response.request)
    bare = answer(404)
    current.received(bare, bare.request)
    long = answer(200, b"", **{"x-request-id": "r" * 101})
    current.received(long, long.request)
    posted = exchange_for("POST", None)
    created = answer(200, task_body(status="pending"), "POST", SUBMIT_URL)
    posted.task(posted.received(created, created.request))
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        ("DEBUG", "GET /v1/tasks/task-1 -> 200 (request id req-5)"),
        ("DEBUG", "GET /v1/tasks/task-1 -> 404 (request id -)"),
        ("DEBUG", f"GET /v1/tasks/task-1 -> 200 (request id {'r' * 100}... (1 more characters))"),
        ("DEBUG", "POST /v1/images/generations -> 200 (request id -)"),
        ("INFO", "created task task-1 (pending)"),
    ]
    caplog.clear()
    caplog.set_level(logging.INFO, logger="evolink_images")
    current.received(response, response.request)
    assert caplog.records == []


def test_an_error_page_is_quoted_by_its_first_200_characters_and_its_own_reason_phrase() -> None:
    request = httpx.Request("GET", TASK_URL)
    page = httpx.Response(
        502,
        content=b"a" * 300,
        request=request,
        extensions={"reason_phrase": b"Upstream Gone", "http_version": b"HTTP/1.1", "network_stream": object()},
    )
    error = error_from_response(page, task_id="task-1", redactor=REDACTOR)
    assert error.message == "Upstream Gone: " + "a" * 200
    assert error.response.reason_phrase == "Upstream Gone"
    assert error.response.http_version == "HTTP/1.1"
    assert set(error.response.extensions) == {"reason_phrase", "http_version"}


# --- the clients' own checks and defaults ---------------------------------------------------------------


def test_wait_refuses_a_bad_timeout_or_header_before_any_poll_even_for_a_finished_task(
    api_client: Face, api: respx.Router
) -> None:
    route = api.get("https://api.evolink.ai/v1/tasks/task-1").respond(200, json={"id": "task-1", "status": "completed"})
    done = Task(id="task-1", status="completed")
    with pytest.raises(RequestValidationError) as caught:
        api_client.wait(done, timeout=0)
    assert refusal(caught.value) == "timeout: is 0 (limit: a positive number of seconds)"
    with pytest.raises(RequestValidationError) as caught:
        api_client.wait(done, extra_headers={"Host": "x"})
    assert refusal(caught.value) == (
        "extra_headers['Host']: is 'x' (limit: any header but accept-encoding, authorization, content-length,"
        " content-type, host, transfer-encoding)"
    )
    with pytest.raises(RequestValidationError) as caught:
        api_client.wait("..")
    assert caught.value.violations[0].field == "task_id"
    assert route.call_count == 0


def test_run_many_refuses_bad_arguments_naming_each_before_anything_is_sent(
    api_client: Face, api: respx.Router
) -> None:
    route = api.post(SUBMIT_URL).respond(200, json={"id": "task-1", "status": "pending"})
    requests = [WanImageToImage("p", [URL])]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"concurrency": 0}, "concurrency: is 0 (limit: a whole number of at least 1)"),
        ({"resend_uncertain": 1}, "resend_uncertain: is 1 (limit: True or False)"),
        ({"timeout": -1}, "timeout: is -1 (limit: a positive number of seconds)"),
        ({"save_to": ""}, "dest_dir: is '' (limit: a folder path)"),
    ]
    for arguments, message in cases:
        with pytest.raises(RequestValidationError) as caught:
            api_client.run_many(requests, **arguments)
        assert refusal(caught.value) == message
    assert route.call_count == 0


def test_download_refuses_bad_arguments_naming_each_before_fetching(
    api_client: Face, api: respx.Router, tmp_path: Path
) -> None:
    done = Task(id="task-1", status="completed", results=("https://files.evolink.ai/r.png",))
    route = api.get("https://files.evolink.ai/r.png").respond(200, content=b"\x89PNG")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"max_bytes": 0}, "max_bytes: is 0 (limit: a whole number of at least 1)"),
        ({"timeout": 0}, "timeout: is 0 (limit: a positive number of seconds)"),
        ({"allow_internal_hosts": 1}, "allow_internal_hosts: is 1 (limit: True or False)"),
    ]
    for arguments, message in cases:
        with pytest.raises(RequestValidationError) as caught:
            api_client.download(done, tmp_path, **arguments)
        assert refusal(caught.value) == message
    with pytest.raises(RequestValidationError) as caught:
        api_client.download("task-1", tmp_path)
    assert refusal(caught.value) == "task: is 'task-1' (limit: a Task, as returned by submit, get_task or wait)"
    assert route.call_count == 0


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_the_documented_defaults_of_each_method(cls: type) -> None:
    def defaults(name: str) -> dict[str, Any]:
        return {
            parameter.name: parameter.default
            for parameter in inspect.signature(getattr(cls, name)).parameters.values()
            if parameter.default is not inspect.Parameter.empty
        }

    assert defaults("__init__")["max_retries"] == 2
    assert defaults("__init__")["max_response_bytes"] == 1024 * 1024
    assert defaults("submit")["preflight"] is False
    assert defaults("run")["preflight"] is False
    assert defaults("wait")["timeout"] == 600.0
    assert defaults("run")["timeout"] == 600.0
    many = defaults("run_many")
    assert (many["concurrency"], many["timeout"], many["resend_uncertain"], many["collect"]) == (8, 600.0, False, True)
    assert defaults("download")["allow_internal_hosts"] is False


@pytest.mark.usefixtures("clean_environment")
def test_a_client_retries_twice_by_default(clock: FakeClock) -> None:
    answers = [
        httpx.Response(503),
        httpx.Response(503),
        httpx.Response(200, json={"id": "task-1", "status": "pending"}),
    ]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0) if answers else httpx.Response(503)

    with Client(KEY, transport=httpx.MockTransport(handler), clock=clock, sleep=clock.sleep) as client:
        assert client.get_task("task-1").id == "task-1"
        assert len(seen) == 3
        with pytest.raises(InternalServerError):
            client.get_task("task-1")
        assert len(seen) == 6


@pytest.mark.usefixtures("clean_environment")
def test_leaving_a_client_closes_the_transport_it_was_given() -> None:
    closed: list[str] = []

    class Recording(httpx.MockTransport):
        def close(self) -> None:
            closed.append("closed")

    with Client(KEY, transport=Recording(lambda request: httpx.Response(500))):
        assert closed == []
    assert closed
