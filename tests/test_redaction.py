"""The redactor piece by piece: exactly what it cuts, what it leaves, and what it holds back of a stream."""

from __future__ import annotations

import logging

import pytest

from evolink_images._wire import redaction
from evolink_images._wire.redaction import MARK, Redactor, redact_logs

KEY = "sk-evo-redaction-canary-7"


def test_the_mark_that_replaces_the_key_is_the_word_redacted_in_angle_brackets() -> None:
    assert MARK == "<redacted>"
    assert repr(Redactor(KEY)) == "Redactor(<redacted>)"


def test_every_copy_of_the_key_in_text_is_replaced_and_the_rest_is_kept() -> None:
    redactor = Redactor(KEY)
    assert redactor.text(f"a {KEY} b {KEY}") == "a <redacted> b <redacted>"
    assert redactor.text("no secret here") == "no secret here"


def test_every_copy_of_the_key_in_bytes_is_replaced_and_the_rest_is_kept() -> None:
    redactor = Redactor(KEY)
    assert redactor.data(f"{KEY}:{KEY}".encode()) == b"<redacted>:<redacted>"
    assert redactor.data(b"plain") == b"plain"


def test_holds_says_whether_bytes_carry_the_key() -> None:
    redactor = Redactor(KEY)
    assert redactor.holds(f"x{KEY}x".encode()) is True
    assert redactor.holds(KEY[:-1].encode()) is False


def test_an_empty_key_redacts_nothing_and_is_never_held() -> None:
    redactor = Redactor("")
    assert redactor.holds(b"anything") is False
    assert redactor.text("anything") == "anything"
    assert redactor.data(b"anything") == b"anything"
    stream = redactor.stream()
    assert stream.feed(b"abc") == b"abc"
    assert stream.finish() == b""


def test_json_values_that_are_not_strings_lists_or_objects_pass_through_unchanged() -> None:
    redactor = Redactor(KEY)
    for value in [1, 2.5, None, True, False]:
        assert redactor.json(value) is value
    assert redactor.json([KEY, 3, None]) == ["<redacted>", 3, None]


def test_a_stream_holds_back_one_byte_less_than_the_key_and_hands_over_the_rest_at_the_end() -> None:
    stream = Redactor("abc").stream()
    assert stream.feed(b"x") == b""  # shorter than what is held back
    assert stream.feed(b"yz") == b"x"
    assert stream.feed(b"") == b""
    assert stream.finish() == b"yz"
    assert stream.finish() == b""


def test_a_stream_cuts_a_key_arriving_one_byte_at_a_time() -> None:
    stream = Redactor("abc").stream()
    out = b"".join(stream.feed(bytes([byte])) for byte in b"1abc2") + stream.finish()
    assert out == b"1<redacted>2"


@pytest.mark.parametrize("chunks", [[b"xkx"], [b"x", b"k", b"x"]])
def test_a_one_character_key_is_cut_without_holding_anything_back(chunks: list[bytes]) -> None:
    stream = Redactor("k").stream()
    out = [stream.feed(chunk) for chunk in chunks]
    assert b"".join(out) == b"x<redacted>x"
    assert all(out)  # each chunk handed over at once
    assert stream.finish() == b""


def test_a_two_character_key_holds_back_one_byte_and_hands_over_the_rest_of_each_chunk() -> None:
    stream = Redactor("ab").stream()
    assert stream.feed(b"xxxa") == b"xxx"
    assert stream.feed(b"b") == b"<redacted"
    assert stream.feed(b"y") == b">"
    assert stream.finish() == b"y"


def test_a_key_split_after_its_first_byte_never_leaks_that_byte() -> None:
    stream = Redactor("ab").stream()
    assert stream.feed(b"a") == b""
    assert stream.feed(b"b") + stream.finish() == b"<redacted>"


# Every logger that may write what a server sent: ours, httpx's and each of httpcore's (written out here,
# not read from the module: a logger dropped from its list must fail this test).
LOGGED_BY_SERVERS = [
    "evolink_images",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
]


@pytest.mark.parametrize("name", LOGGED_BY_SERVERS)
def test_a_live_redactors_key_is_cut_from_every_record_of_each_logger_that_may_echo_a_server(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    redactor = Redactor("sk-evo-logs-canary-31")
    redact_logs(redactor)
    with caplog.at_level(logging.DEBUG, logger=name):
        logging.getLogger(name).debug("server said %s twice: %s", "sk-evo-logs-canary-31", "sk-evo-logs-canary-31")
    [record] = [record for record in caplog.records if record.name == name]
    assert record.getMessage() == f"server said {MARK} twice: {MARK}"
    del redactor


def test_with_no_live_redactor_every_record_is_kept_as_it_is(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    redact_logs(Redactor("sk-evo-gone-canary-5"))  # the filter is installed; its redactor is gone at once
    monkeypatch.setattr(redaction._LOG_REDACTION, "_refs", ())  # and no other test's client is alive
    with caplog.at_level(logging.DEBUG, logger="httpx"):
        logging.getLogger("httpx").debug("kept: %s", "sk-evo-gone-canary-5")
    assert [record.getMessage() for record in caplog.records] == ["kept: sk-evo-gone-canary-5"]


def test_every_live_redactors_key_is_cut_not_only_the_newest(caplog: pytest.LogCaptureFixture) -> None:
    first, second = Redactor("sk-evo-first-canary-1"), Redactor("sk-evo-second-canary-2")
    redact_logs(first)
    redact_logs(second)
    with caplog.at_level(logging.DEBUG, logger="evolink_images"):
        logging.getLogger("evolink_images").debug("%s and %s", "sk-evo-first-canary-1", "sk-evo-second-canary-2")
    assert [record.getMessage() for record in caplog.records] == [f"{MARK} and {MARK}"]
    del first, second  # both alive to here


def test_a_record_without_the_key_keeps_its_message_and_arguments(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor("sk-evo-absent-canary-3")
    redact_logs(redactor)
    with caplog.at_level(logging.DEBUG, logger="httpx"):
        logging.getLogger("httpx").debug("status %d for %s", 200, "/v1/tasks/t-1")
    [record] = caplog.records
    assert (record.msg, record.args) == ("status %d for %s", (200, "/v1/tasks/t-1"))
    del redactor


def test_a_record_that_cannot_be_formatted_is_passed_on_for_logging_to_report() -> None:
    redactor = Redactor("sk-evo-broken-canary-4")
    redact_logs(redactor)
    record = logging.LogRecord("httpx", logging.DEBUG, __file__, 1, "%d items", ("many",), None)
    assert redaction._LOG_REDACTION.filter(record) is True
    assert (record.msg, record.args) == ("%d items", ("many",))
    del redactor


def test_the_log_filter_is_installed_once_per_logger_however_many_clients() -> None:
    keep = [Redactor(f"sk-evo-many-canary-{number}") for number in range(3)]
    for redactor in keep:
        redact_logs(redactor)
    for name in LOGGED_BY_SERVERS:
        assert logging.getLogger(name).filters.count(redaction._LOG_REDACTION) == 1
