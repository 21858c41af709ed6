"""The batch's input: each request's canonical body, its content name in the journal, and the lazy feed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from evolink_images import QwenImageEdit, RequestValidationError, WanImageToImage
from evolink_images._batch_feed import Feed, canonical_body, content_digest, item_identity

NIGHT = WanImageToImage("Make it night ☾", ["https://example.com/a.png"], n=2)


def test_the_canonical_body_has_sorted_keys_no_spaces_and_unescaped_text() -> None:
    assert canonical_body(NIGHT) == (
        '{"image_urls":["https://example.com/a.png"],"model":"wan2.5-image-to-image","n":2,"prompt":"Make it night ☾"}'
    )


def test_the_content_digest_is_the_first_128_bits_of_the_sha256_of_the_utf8_text() -> None:
    text = '{"prompt":"☾"}'
    assert content_digest(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    assert len(content_digest("")) == 32
    assert content_digest("\ud800") == hashlib.sha256("\ud800".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def test_an_items_identity_is_its_digest_and_which_copy_it_is() -> None:
    digest = hashlib.sha256(canonical_body(NIGHT).encode()).hexdigest()[:32]
    assert item_identity(NIGHT, 1) == f"{digest}#1"
    assert item_identity(NIGHT, 3) == f"{digest}#3"


def drain(feed: Feed) -> list[Any]:
    items = []
    while (item := feed.next()) is not None:
        items.append(item)
    return items


def test_copies_of_one_request_are_numbered_in_input_order_and_other_requests_start_at_one() -> None:
    other = QwenImageEdit("Make it day", ["https://example.com/b.png"])
    items = drain(Feed([NIGHT, other, NIGHT, NIGHT], named=True))
    assert [item.index for item in items] == [0, 1, 2, 3]
    assert [item.identity for item in items] == [
        item_identity(NIGHT, 1),
        item_identity(other, 1),
        item_identity(NIGHT, 2),
        item_identity(NIGHT, 3),
    ]
    assert all(item.error is None for item in items)


def test_without_a_journal_items_have_no_identity() -> None:
    [item] = drain(Feed([NIGHT], named=False))
    assert (item.index, item.request, item.identity, item.error) == (0, NIGHT, "", None)


def test_an_invalid_request_is_an_item_with_its_validation_error_and_no_identity() -> None:
    bad = WanImageToImage("", ["https://example.com/a.png"])
    [item] = drain(Feed([bad], named=True))
    assert item.identity == ""
    assert isinstance(item.error, RequestValidationError)
    assert [v.field for v in item.error.violations] == ["prompt"]


def test_something_that_is_not_a_request_is_an_item_that_cannot_be_sent() -> None:
    [item] = drain(Feed(iter([object()]), named=True))  # type: ignore[arg-type]
    assert isinstance(item.error, RequestValidationError)
    [violation] = item.error.violations
    assert violation.field == "request"


def test_a_sequence_is_checked_whole_before_the_first_item_and_an_iterable_only_as_it_is_read() -> None:
    read: list[int] = []

    def lazily() -> Iterator[WanImageToImage]:
        for number in range(3):
            read.append(number)
            yield WanImageToImage(f"edit {number}", ["https://example.com/a.png"])

    feed = Feed(lazily(), named=True)
    assert read == []
    first = feed.next()
    assert first is not None
    assert (read, first.index, feed.read) == ([0], 0, 1)
    assert [item.index for item in drain(feed)] == [1, 2]
    assert (feed.read, feed.exhausted, feed.source_error) == (3, True, None)
    assert feed.next() is None


def test_an_input_that_fails_stops_the_feed_and_keeps_its_error() -> None:
    def failing() -> Iterator[WanImageToImage]:
        yield NIGHT
        raise OSError("the file went away")

    feed = Feed(failing(), named=False)
    assert feed.next() is not None
    assert feed.next() is None
    assert feed.exhausted
    assert isinstance(feed.source_error, OSError)
    assert feed.next() is None


@pytest.mark.parametrize("extra", [{"seed": {1, 2}}, {"seed": float("inf")}])
def test_an_extra_body_that_is_not_json_is_refused_as_such(extra: dict[str, Any]) -> None:
    [item] = drain(Feed([WanImageToImage("x", ["https://example.com/a.png"], extra_body=extra)], named=True))
    assert isinstance(item.error, RequestValidationError)
    [violation] = item.error.violations
    assert violation.field == "extra_body"


def test_an_extra_body_that_validates_but_cannot_be_written_canonically_is_refused_with_the_reason() -> None:
    mixed_keys = WanImageToImage("x", ["https://example.com/a.png"], extra_body={"seed": {1: "a", "b": 2}})
    [item] = drain(Feed([mixed_keys], named=True))
    assert item.identity == ""
    assert isinstance(item.error, RequestValidationError)
    [violation] = item.error.violations
    assert (violation.field, violation.problem, violation.limit) == (
        "extra_body",
        "cannot be sent as JSON (TypeError: '<' not supported between instances of 'str' and 'int')",
        "JSON values only (str, number, list, dict)",
    )
