"""Validation: every rule of every model at and past its limit, all violations at once, nothing sent."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from evolink_images import (
    QWEN_RULES,
    RULES,
    WAN_RULES,
    ModelRules,
    QwenImageEdit,
    RequestValidationError,
    WanImageToImage,
    validate,
)
from evolink_images._rules import check

from .conftest import Face

URL = "https://example.com/image.png"


# The vendor's documented limits (api-facts.md sections 2 and 5), written out here: a test that read
# them from RULES would pass whatever the table said.
WAN = "wan2.5-image-to-image"
QWEN = "qwen-image-edit"
IMAGE_COUNTS = {WAN: (1, 2), QWEN: (1, 3)}
PROMPT_LENGTH = (1, 2000)
CALLBACK_URL_MAX = 2048


def make(model: str, **fields: Any) -> WanImageToImage | QwenImageEdit:
    fields.setdefault("prompt", "Make it night")
    fields.setdefault("image_urls", [URL])
    if model == WAN:
        return WanImageToImage(**fields)
    return QwenImageEdit(**fields)


def fields_of(request: Any) -> list[str]:
    return [violation.field for violation in check(request)]


@pytest.mark.parametrize("model", [WAN, QWEN])
class TestEachModelsLimits:
    def test_prompt_length_is_checked_at_both_ends(self, model: str) -> None:
        low, high = PROMPT_LENGTH
        assert fields_of(make(model, prompt="x" * low)) == []
        assert fields_of(make(model, prompt="x" * high)) == []
        assert fields_of(make(model, prompt="x" * (low - 1))) == ["prompt"]
        assert fields_of(make(model, prompt="x" * (high + 1))) == ["prompt"]

    def test_prompt_counts_code_points_like_json_schema(self, model: str) -> None:
        assert fields_of(make(model, prompt="\U0001f600" * PROMPT_LENGTH[1])) == []

    def test_image_count_is_checked_at_both_ends(self, model: str) -> None:
        low, high = IMAGE_COUNTS[model]
        assert fields_of(make(model, image_urls=[URL] * low)) == []
        assert fields_of(make(model, image_urls=[URL] * high)) == []
        assert fields_of(make(model, image_urls=[URL] * (low - 1))) == ["image_urls"]
        assert fields_of(make(model, image_urls=[URL] * (high + 1))) == ["image_urls"]

    @pytest.mark.parametrize(
        "url",
        ["ftp://e.com/a.png", "/a.png", "https:///a.png", "https://e.com/a b.png", "https://e.com/a\n", "", "e.com"],
    )
    def test_each_bad_image_url_is_named_by_its_index(self, model: str, url: str) -> None:
        assert fields_of(make(model, image_urls=[URL, url])) == ["image_urls[1]"]

    def test_callback_url_length_is_checked_at_the_limit(self, model: str) -> None:
        base = "https://example.com/"
        at_limit = base + "a" * (CALLBACK_URL_MAX - len(base))
        assert fields_of(make(model, callback_url=at_limit)) == []
        assert fields_of(make(model, callback_url=at_limit + "a")) == ["callback_url"]

    def test_a_string_for_image_urls_is_refused_not_split_into_characters(self, model: str) -> None:
        assert fields_of(make(model, image_urls=URL)) == ["image_urls"]


def test_the_rules_table_holds_the_vendors_documented_numbers() -> None:
    assert RULES == {WAN: WAN_RULES, QWEN: QWEN_RULES}
    assert (
        ModelRules(
            model="wan2.5-image-to-image",
            image_count=(1, 2),
            n_range=(1, 4),
            image_formats=frozenset({"JPEG", "PNG", "BMP", "WEBP"}),
            image_side=(360, 5000),
            image_max_bytes=10_000_000,
            prompt_length=(1, 2000),
            callback_url_max=2048,
        )
        == WAN_RULES
    )
    assert (
        ModelRules(
            model="qwen-image-edit",
            image_count=(1, 3),
            n_range=None,
            image_formats=frozenset({"JPEG", "PNG", "BMP", "WEBP", "TIFF"}),
            image_side=(384, 3072),
            image_max_bytes=None,
            prompt_length=(1, 2000),
            callback_url_max=2048,
        )
        == QWEN_RULES
    )


@pytest.mark.parametrize(
    ("n", "ok"), [(None, True), (1, True), (4, True), (0, False), (5, False), (True, False), (2.0, False), ("2", False)]
)
def test_wan_n_is_an_integer_from_1_to_4(n: Any, ok: bool) -> None:
    assert (fields_of(make(WAN, n=n)) == []) is ok


def test_qwen_takes_no_n_even_through_extra_body() -> None:
    assert fields_of(make(QWEN, extra_body={"n": 2})) == ["extra_body.n"]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://172.31.255.255/hook",
        "https://192.168.1.1/hook",
        "https://localhost/hook",
        "https://LocalHost./hook",
        "https://api.localhost/hook",
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:a00:1]/hook",
        "https://2130706433/hook",
        "https://0177.0.0.1/hook",
        "https://0x7f.0.0.1/hook",
        "https://0x7f000001/hook",
        "https://127.1/hook",
        "https://good.example@10.0.0.1/hook",
        "https://10.0.0.1\\@good.example/hook",
        "https://printer.local/hook",
    ],
)
def test_callback_url_refuses_every_non_public_form(url: str) -> None:
    assert fields_of(make(WAN, callback_url=url)) == ["callback_url"]


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "HTTPS://Example.COM/h?x=1", "https://8.8.8.8/hook", "https://a.b.c:8443/h#x"]
)
def test_callback_url_accepts_public_https_hosts(url: str) -> None:
    assert fields_of(make(WAN, callback_url=url)) == []


def test_every_violation_is_reported_at_once_naming_field_and_limit() -> None:
    request = WanImageToImage(prompt="", image_urls=["nope"] * 3, n=9, callback_url="http://x", extra_body={"model": 1})
    with pytest.raises(RequestValidationError) as caught:
        validate(request)
    error = caught.value
    assert isinstance(error, ValueError)
    assert [v.field for v in error.violations] == [
        "prompt",
        "image_urls",
        "image_urls[0]",
        "image_urls[1]",
        "image_urls[2]",
        "n",
        "callback_url",
        "extra_body.model",
    ]
    assert "1 to 2000 characters" in str(error)
    assert "1 to 2 absolute http(s) URLs" in str(error)
    assert "an integer from 1 to 4" in str(error)


@pytest.mark.parametrize(
    "extra",
    [{"seed": 7, "size": "1024x1024"}, {}],
)
def test_extra_body_accepts_undocumented_json_fields(extra: dict[str, Any]) -> None:
    validate(make(WAN, extra_body=extra))


@pytest.mark.parametrize(
    ("extra", "field"), [({"seed": object()}, "extra_body"), ({1: "x"}, "extra_body"), ([1], "extra_body")]
)
def test_extra_body_refuses_what_cannot_be_sent(extra: Any, field: str) -> None:
    assert field in fields_of(make(WAN, extra_body=extra))


@pytest.mark.parametrize("junk", [None, 5, "prompt", {"model": "wan2.5-image-to-image"}])
def test_something_that_is_not_a_request_is_refused(junk: Any) -> None:
    assert fields_of(junk) == ["request"]


@pytest.mark.parametrize("prompt", [None, 5, b"bytes", ["list"]])
def test_a_prompt_of_the_wrong_type_is_a_violation_not_a_crash(prompt: Any) -> None:
    assert fields_of(make(WAN, prompt=prompt)) == ["prompt"]


def test_a_rejected_request_never_reaches_the_network(api_client: Face, api: respx.Router) -> None:
    route = api.route()
    bad = QwenImageEdit(prompt="x" * 2001, image_urls=[URL] * 4)
    with pytest.raises(RequestValidationError):
        api_client.submit(bad)
    with pytest.raises(RequestValidationError):
        api_client.run(bad)
    assert route.call_count == 0


def test_the_url_patterns_are_the_specs_character_for_character() -> None:
    from evolink_images._rules import CALLBACK_URL_PATTERN, IMAGE_URL_PATTERN
    from evolink_images.testing.spec import load_spec

    schemas = load_spec()["components"]["schemas"]
    assert schemas["ImageUrl"]["pattern"] == IMAGE_URL_PATTERN
    assert schemas["CallbackUrl"]["pattern"] == CALLBACK_URL_PATTERN


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://user:pw@example.com:8443/a%20b.png?x=1#top", True),
        ("https://[2001:db8::1]/a.png", False),
        ("https://example.com/a%zz.png", False),
        ("https://example.com/a.png#one#two", False),
        ("https://exämple.com/a.png", False),
        ("https://(\u0006/a.png", False),
    ],
)
def test_image_urls_must_be_rfc_3986_uris(url: str, ok: bool) -> None:
    assert (fields_of(make(WAN, image_urls=[url])) == []) is ok


@pytest.mark.parametrize("prompt", ["night \ud800", "\udfff", "a\ud83d"])
def test_a_prompt_utf8_cannot_carry_is_refused_before_sending(prompt: str) -> None:
    assert fields_of(make(WAN, prompt=prompt)) == ["prompt"]


def test_extra_body_utf8_cannot_carry_is_refused() -> None:
    assert fields_of(make(WAN, extra_body={"note": "\ud800"})) == ["extra_body"]


def problems_of(request: Any) -> list[str]:
    return [violation.problem for violation in check(request)]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://%31%32%37.0.0.1/cb", "loopback"),
        ("https://%6c%6f%63%61%6c%68%6f%73%74/cb", "loopback"),
        ("https://localhost%2e/cb", "loopback"),
        ("https://%EF%BC%91%EF%BC%92%EF%BC%97.0.0.1/cb", "loopback"),  # full-width digits, as WHATWG maps them
        ("https://%31%30.0.0.1/cb", "non-public"),
        ("https://xn--/x", "not a valid domain name"),
        ("https://%ff.example/cb", "not UTF-8"),
        ("https://%25.example/cb", "no host name may hold"),
        ("https://[::1]/cb", "loopback"),
        ("https://[fd00::1]/cb", "non-public"),
        ("https://[::ffff:169.254.169.254]/cb", "non-public address 169.254.169.254"),
        ("https://[2001:db8::1]/cb", "non-public"),
    ],
)
def test_callback_hosts_are_decoded_before_the_address_check_and_refused_for_the_right_reason(
    url: str, reason: str
) -> None:
    (problem,) = problems_of(make(WAN, callback_url=url))
    assert reason in problem


@pytest.mark.parametrize("url", ["https://[2606:4700::1111]/cb", "https://[2a00:1450:4001:81a::200e]:8443/cb"])
def test_a_public_ipv6_literal_is_a_valid_callback_url(url: str) -> None:
    assert fields_of(make(WAN, callback_url=url)) == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://[::1]/a.png", "loopback"),
        ("https://[fd00::1]/a.png", "non-public"),
        ("https://[::ffff:169.254.169.254]/a.png", "non-public address 169.254.169.254"),
        ("https://[fe80::1]/a.png", "non-public"),
        ("https://xn--/x", "not a valid domain name"),
    ],
)
def test_an_image_url_on_an_internal_ipv6_literal_or_a_broken_name_is_refused_as_such(url: str, reason: str) -> None:
    (problem,) = problems_of(make(WAN, image_urls=[url]))
    assert reason in problem


def test_a_public_ipv6_literal_is_a_valid_image_url() -> None:
    assert fields_of(make(WAN, image_urls=["https://[2606:4700::1111]/a.png"])) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://[2606:4700::1111]/a.png",
        "https://[2606:4700:0:0:0:0:0:1111]/a.png",
        "https://[::1]/a.png",
        "https://[fd00::1]/a.png",
        "https://[::ffff:169.254.169.254]/a.png",
        "https://[2606:4700::1111::1]/a.png",
        "https://[2606:4700:1:2:3:4:5:6:7]/a.png",
        "https://[v1.x]/a.png",
    ],
)
def test_the_spec_and_the_wrapper_agree_on_ipv6_literals(url: str) -> None:
    from evolink_images.testing.spec import schema_validator

    body = {"model": "wan2.5-image-to-image", "prompt": "x", "image_urls": [url], "callback_url": url}
    spec_ok = schema_validator("ImageEditRequest").is_valid(body)
    wrapper_ok = check(WanImageToImage("x", [url], callback_url=url)) == []
    assert spec_ok is wrapper_ok


def violations_of(request: Any) -> list[tuple[str, str, str]]:
    return [(violation.field, violation.problem, violation.limit) for violation in check(request)]


URLS_LIMIT = "http(s)://, a host name, an IPv4 or a public IPv6 literal, RFC 3986 characters only"
CALLBACK_LIMIT = "https on a public host, at most 2048 characters"
EXTRA_LIMIT = "a mapping of undocumented field names to JSON values"


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (make(WAN, prompt=5), [("prompt", "must be a string, not int", "1 to 2000 characters")]),
        (make(QWEN, prompt="x" * 2001), [("prompt", "has 2001 characters", "1 to 2000 characters")]),
        (
            make(WAN, prompt="\ud800"),
            [("prompt", "holds a lone surrogate, which UTF-8 cannot carry", "valid Unicode text")],
        ),
        (
            make(WAN, image_urls=(URL,) * 3),
            [("image_urls", "has 3 URLs", "1 to 2 absolute http(s) URLs (or local images) for wan2.5-image-to-image")],
        ),
        (
            make(QWEN, image_urls=[]),
            [("image_urls", "has 0 URLs", "1 to 3 absolute http(s) URLs (or local images) for qwen-image-edit")],
        ),
        (
            make(QWEN, image_urls=b"https://e.com/a.png"),
            [
                (
                    "image_urls",
                    "must be a list of URLs, not bytes",
                    "1 to 3 absolute http(s) URLs (or local images) for qwen-image-edit",
                )
            ],
        ),
        (
            make(WAN, image_urls={URL}),
            [
                (
                    "image_urls",
                    "must be a list of URLs, not set",
                    "1 to 2 absolute http(s) URLs (or local images) for wan2.5-image-to-image",
                )
            ],
        ),
        (make(WAN, image_urls=[7]), [("image_urls[0]", "7 is not an absolute http(s) URL", URLS_LIMIT)]),
        (
            make(WAN, image_urls=["x" * 61]),
            [("image_urls[0]", f"'{'x' * 56}... is not an absolute http(s) URL", URLS_LIMIT)],
        ),
        (  # a repr of 61 characters: one past the 60 shown whole
            make(WAN, image_urls=["x" * 59]),
            [("image_urls[0]", f"'{'x' * 56}... is not an absolute http(s) URL", URLS_LIMIT)],
        ),
        (
            make(WAN, image_urls=["x" * 58]),
            [("image_urls[0]", f"'{'x' * 58}' is not an absolute http(s) URL", URLS_LIMIT)],
        ),
        (
            make(WAN, image_urls=["https://[::1]/a.png"]),
            [("image_urls[0]", "points at the loopback host '::1'", URLS_LIMIT)],
        ),
        (
            make(WAN, image_urls=["https://xn--/a.png"]),
            [("image_urls[0]", "host 'xn--' is not a valid domain name", URLS_LIMIT)],
        ),
        (make(WAN, image_urls=["https://10.0.0.1/a.png"]), []),  # EvoLink fetches images, not this machine
        (make(WAN, image_urls=["https://[2606:4700::1111]/a.png"]), []),
        (make(WAN, n="2"), [("n", "must be an integer, not str", "an integer from 1 to 4")]),
        (make(WAN, n=False), [("n", "must be an integer, not bool", "an integer from 1 to 4")]),
        (make(WAN, n=0), [("n", "is 0", "an integer from 1 to 4")]),
        (make(WAN, n=5), [("n", "is 5", "an integer from 1 to 4")]),
        (make(WAN, callback_url=7), [("callback_url", "must be a string, not int", CALLBACK_LIMIT)]),
        (
            make(WAN, callback_url="https://e.com/" + "a" * 2035),
            [("callback_url", "has 2049 characters", CALLBACK_LIMIT)],
        ),
        (make(WAN, callback_url="https://e.com\\@x/"), [("callback_url", "contains a backslash", CALLBACK_LIMIT)]),
        (
            make(WAN, callback_url="https://10.0.0.1/h"),
            [("callback_url", "points at the non-public address 10.0.0.1 (written '10.0.0.1')", CALLBACK_LIMIT)],
        ),
        (
            make(WAN, callback_url="http://example.com/h"),
            [("callback_url", "'http://example.com/h' is not an absolute https URL", CALLBACK_LIMIT)],
        ),
        (
            make(WAN, callback_url="https:///h"),
            [("callback_url", "'https:///h' is not an absolute https URL", CALLBACK_LIMIT)],
        ),
        (
            make(WAN, callback_url="https://[v1.x]/h"),
            [("callback_url", "'https://[v1.x]/h' is not an absolute https URL", CALLBACK_LIMIT)],
        ),
        (make(WAN, callback_url=""), [("callback_url", "'' is not an absolute https URL", CALLBACK_LIMIT)]),
        (make(WAN, extra_body=[1]), [("extra_body", "must be a mapping, not list", EXTRA_LIMIT)]),
        (
            make(WAN, extra_body={1: "x"}),
            [("extra_body", "has a key that is not a string: 1", EXTRA_LIMIT)],
        ),
        (
            make(WAN, extra_body={"prompt": "y"}),
            [("extra_body.prompt", "repeats a documented field", "set it directly instead")],
        ),
        (
            make(WAN, extra_body={"seed": float("nan")}),
            [("extra_body", "is not JSON that UTF-8 can carry (ValueError)", EXTRA_LIMIT)],
        ),
        (
            make(WAN, extra_body={"seed": object()}),
            [("extra_body", "is not JSON that UTF-8 can carry (TypeError)", EXTRA_LIMIT)],
        ),
        (
            make(WAN, extra_body={"note": "\ud800"}),
            [("extra_body", "is not JSON that UTF-8 can carry (UnicodeEncodeError)", EXTRA_LIMIT)],
        ),
        (make(WAN, extra_body={"note": "caf\u00e9 \U0001f600"}), []),
        (None, [("request", "must be WanImageToImage or QwenImageEdit, not NoneType", "a request")]),
    ],
)
def test_each_violation_names_its_field_its_problem_and_the_documented_limit(
    request_: Any, expected: list[tuple[str, str, str]]
) -> None:
    assert violations_of(request_) == expected


@pytest.mark.parametrize("model", [WAN, QWEN])
def test_each_documented_field_is_refused_in_extra_body(model: str) -> None:
    for field in ["model", "prompt", "image_urls", "n", "callback_url"]:
        assert fields_of(make(model, extra_body={field: 1})) == [f"extra_body.{field}"]


def test_a_valid_request_passes_validate_and_a_broken_one_raises_with_every_violation() -> None:
    validate(make(WAN, n=4, callback_url="https://example.com/hook"))
    with pytest.raises(RequestValidationError) as caught:
        validate(make(QWEN, prompt="", image_urls=[]))
    assert [(v.field, v.problem) for v in caught.value.violations] == [
        ("prompt", "has 0 characters"),
        ("image_urls", "has 0 URLs"),
    ]


def test_an_n_for_qwen_is_refused_because_the_model_takes_none() -> None:
    from evolink_images._rules import _check_n

    assert [(v.field, v.problem, v.limit) for v in _check_n(1, QWEN_RULES)] == [
        ("n", "is set to 1", "qwen-image-edit takes no n")
    ]
    assert _check_n(None, QWEN_RULES) == []
