"""The preflight's image limits, at and past each documented edge (api-facts.md section 2).

The expected limits are the vendor's numbers written here, never read from ``_rules.py``: a test that
took them from the table under test would pass whatever the table said.
"""

from __future__ import annotations

import io

import httpx
import pytest

from evolink_images import QWEN_RULES, WAN_RULES, ModelRules
from evolink_images._preflight import FETCH_CAP, ImageBuffer, inspect_image

WAN_SIDES = (360, 5000)
QWEN_SIDES = (384, 3072)
WAN_FORMATS = ["JPEG", "PNG", "BMP", "WEBP"]
QWEN_FORMATS = ["JPEG", "PNG", "BMP", "WEBP", "TIFF"]
WAN_MAX_BYTES = 10_000_000


def image_of(width: int, height: int, kind: str = "PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L" if kind != "WEBP" else "RGB", (width, height), 255).save(buffer, kind)
    return buffer.getvalue()


def problems(data: bytes, rules: ModelRules) -> list[tuple[str, str, str]]:
    return [(v.field, v.problem, v.limit) for v in inspect_image("image_urls[0]", data, rules)]


@pytest.mark.parametrize(("rules", "sides"), [(WAN_RULES, WAN_SIDES), (QWEN_RULES, QWEN_SIDES)], ids=["wan", "qwen"])
def test_each_side_is_accepted_at_both_documented_limits_and_refused_one_pixel_past(
    rules: ModelRules, sides: tuple[int, int]
) -> None:
    low, high = sides
    for width, height in [(low, low), (high, low), (low, high)]:
        assert problems(image_of(width, height), rules) == [], (width, height)
    limit = f"each side within [{low}, {high}] px"
    for width, height in [(low - 1, low), (low, low - 1), (high + 1, low), (low, high + 1)]:
        assert problems(image_of(width, height), rules) == [("image_urls[0]", f"is {width}x{height} px", limit)], (
            width,
            height,
        )


@pytest.mark.parametrize(
    ("rules", "formats"), [(WAN_RULES, WAN_FORMATS), (QWEN_RULES, QWEN_FORMATS)], ids=["wan", "qwen"]
)
def test_each_documented_format_is_accepted_and_another_is_refused_naming_the_allowed_ones(
    rules: ModelRules, formats: list[str]
) -> None:
    side = 400
    for kind in formats:
        assert problems(image_of(side, side, kind), rules) == [], kind
    refused = ["GIF"] if "TIFF" in formats else ["GIF", "TIFF"]
    for kind in refused:
        assert problems(image_of(side, side, kind), rules) == [
            ("image_urls[0]", f"is {kind}", f"{', '.join(sorted(formats))} for {rules.model}")
        ]


def test_bytes_that_are_no_image_are_refused_naming_the_allowed_formats() -> None:
    assert problems(b"hello", WAN_RULES) == [
        ("image_urls[0]", "is not an image that can be decoded", "BMP, JPEG, PNG, WEBP")
    ]


def test_a_wan_image_of_exactly_10_mb_fits_and_one_byte_more_does_not() -> None:
    buffer = ImageBuffer(0, httpx.Response(200), WAN_RULES)
    assert [buffer.problem] == [None]
    assert buffer.add(b"\0" * (WAN_MAX_BYTES - 1))
    assert buffer.add(b"\0")
    assert [buffer.problem] == [None]
    assert not buffer.add(b"\0")
    assert buffer.problem is not None
    assert (buffer.problem.field, buffer.problem.problem, buffer.problem.limit) == (
        "image_urls[0]",
        "is over 10000000 bytes",
        "10000000 bytes",
    )


def test_a_qwen_image_has_no_documented_size_limit_so_only_the_64_mib_fetch_cap_applies() -> None:
    assert FETCH_CAP == 64 * 1024 * 1024
    buffer = ImageBuffer(2, httpx.Response(200), QWEN_RULES)
    assert buffer.add(b"\0" * FETCH_CAP)
    assert not buffer.add(b"\0")
    assert buffer.problem is not None
    assert (buffer.problem.field, buffer.problem.problem, buffer.problem.limit) == (
        "image_urls[2]",
        f"is over {64 * 1024 * 1024} bytes",
        f"{64 * 1024 * 1024} bytes (fetch cap)",
    )


def test_an_image_answered_with_another_status_than_200_is_refused_with_that_status() -> None:
    buffer = ImageBuffer(1, httpx.Response(204), WAN_RULES)
    assert buffer.problem is not None
    assert (buffer.problem.field, buffer.problem.problem, buffer.problem.limit) == (
        "image_urls[1]",
        "could not be fetched (HTTP 204)",
        "a reachable image",
    )
    assert buffer.violations() == [buffer.problem]
