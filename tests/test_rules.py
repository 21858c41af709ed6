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


def make(rules: ModelRules, **fields: Any) -> WanImageToImage | QwenImageEdit:
    fields.setdefault("prompt", "Make it night")
    fields.setdefault("image_urls", [URL])
    if rules is WAN_RULES:
        return WanImageToImage(**fields)
    return QwenImageEdit(**fields)


def fields_of(request: Any) -> list[str]:
    return [violation.field for violation in check(request)]


@pytest.mark.parametrize("rules", RULES.values(), ids=list(RULES))
class TestEachModelsLimits:
    def test_prompt_length_is_checked_at_both_ends(self, rules: ModelRules) -> None:
        low, high = rules.prompt_length
        assert fields_of(make(rules, prompt="x" * low)) == []
        assert fields_of(make(rules, prompt="x" * high)) == []
        assert fields_of(make(rules, prompt="x" * (low - 1))) == ["prompt"]
        assert fields_of(make(rules, prompt="x" * (high + 1))) == ["prompt"]

    def test_prompt_counts_code_points_like_json_schema(self, rules: ModelRules) -> None:
        assert fields_of(make(rules, prompt="\U0001f600" * rules.prompt_length[1])) == []

    def test_image_count_is_checked_at_both_ends(self, rules: ModelRules) -> None:
        low, high = rules.image_count
        assert fields_of(make(rules, image_urls=[URL] * low)) == []
        assert fields_of(make(rules, image_urls=[URL] * high)) == []
        assert fields_of(make(rules, image_urls=[URL] * (low - 1))) == ["image_urls"]
        assert fields_of(make(rules, image_urls=[URL] * (high + 1))) == ["image_urls"]

    @pytest.mark.parametrize(
        "url",
        ["ftp://e.com/a.png", "/a.png", "https:///a.png", "https://e.com/a b.png", "https://e.com/a\n", "", "e.com"],
    )
    def test_each_bad_image_url_is_named_by_its_index(self, rules: ModelRules, url: str) -> None:
        assert fields_of(make(rules, image_urls=[URL, url][: rules.image_count[1]])) == ["image_urls[1]"]

    def test_callback_url_length_is_checked_at_the_limit(self, rules: ModelRules) -> None:
        base = "https://example.com/"
        at_limit = base + "a" * (rules.callback_url_max - len(base))
        assert fields_of(make(rules, callback_url=at_limit)) == []
        assert fields_of(make(rules, callback_url=at_limit + "a")) == ["callback_url"]

    def test_a_string_for_image_urls_is_refused_not_split_into_characters(self, rules: ModelRules) -> None:
        assert fields_of(make(rules, image_urls=URL)) == ["image_urls"]


@pytest.mark.parametrize(
    ("n", "ok"), [(None, True), (1, True), (4, True), (0, False), (5, False), (True, False), (2.0, False), ("2", False)]
)
def test_wan_n_is_an_integer_from_1_to_4(n: Any, ok: bool) -> None:
    assert (fields_of(make(WAN_RULES, n=n)) == []) is ok


def test_qwen_takes_no_n_even_through_extra_body() -> None:
    assert fields_of(make(QWEN_RULES, extra_body={"n": 2})) == ["extra_body.n"]


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
    assert fields_of(make(WAN_RULES, callback_url=url)) == ["callback_url"]


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "HTTPS://Example.COM/h?x=1", "https://8.8.8.8/hook", "https://a.b.c:8443/h#x"]
)
def test_callback_url_accepts_public_https_hosts(url: str) -> None:
    assert fields_of(make(WAN_RULES, callback_url=url)) == []


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
    validate(make(WAN_RULES, extra_body=extra))


@pytest.mark.parametrize(
    ("extra", "field"), [({"seed": object()}, "extra_body"), ({1: "x"}, "extra_body"), ([1], "extra_body")]
)
def test_extra_body_refuses_what_cannot_be_sent(extra: Any, field: str) -> None:
    assert field in fields_of(make(WAN_RULES, extra_body=extra))


@pytest.mark.parametrize("junk", [None, 5, "prompt", {"model": "wan2.5-image-to-image"}])
def test_something_that_is_not_a_request_is_refused(junk: Any) -> None:
    assert fields_of(junk) == ["request"]


@pytest.mark.parametrize("prompt", [None, 5, b"bytes", ["list"]])
def test_a_prompt_of_the_wrong_type_is_a_violation_not_a_crash(prompt: Any) -> None:
    assert fields_of(make(WAN_RULES, prompt=prompt)) == ["prompt"]


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
    assert (fields_of(make(WAN_RULES, image_urls=[url])) == []) is ok


@pytest.mark.parametrize("prompt", ["night \ud800", "\udfff", "a\ud83d"])
def test_a_prompt_utf8_cannot_carry_is_refused_before_sending(prompt: str) -> None:
    assert fields_of(make(WAN_RULES, prompt=prompt)) == ["prompt"]


def test_extra_body_utf8_cannot_carry_is_refused() -> None:
    assert fields_of(make(WAN_RULES, extra_body={"note": "\ud800"})) == ["extra_body"]


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
    (problem,) = problems_of(make(WAN_RULES, callback_url=url))
    assert reason in problem


@pytest.mark.parametrize("url", ["https://[2606:4700::1111]/cb", "https://[2a00:1450:4001:81a::200e]:8443/cb"])
def test_a_public_ipv6_literal_is_a_valid_callback_url(url: str) -> None:
    assert fields_of(make(WAN_RULES, callback_url=url)) == []


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
    (problem,) = problems_of(make(WAN_RULES, image_urls=[url]))
    assert reason in problem


def test_a_public_ipv6_literal_is_a_valid_image_url() -> None:
    assert fields_of(make(WAN_RULES, image_urls=["https://[2606:4700::1111]/a.png"])) == []


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
