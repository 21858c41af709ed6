"""Each model's request rules as data (api-facts.md sections 2 and 5), and the check that applies them.

One ``ModelRules`` per model: a limit changes in one place, and the tests derive their boundary
inputs from the same table. ``validate`` reports every violation at once and never touches the
network.

Deliberate differences from the spec's JSON Schema (the contract tests list them too):

- ``callback_url`` must also name a public host (the spec can only say so in prose) and may not
  contain a backslash (parsers disagree on where its host ends). Hosts are read as a browser reads
  them (percent-decoded, IDNA-mapped: ``_addresses.py``) before that check.
- An image URL's host must be a valid name once percent-decoded and IDNA-mapped (``xn--`` is not),
  and an IPv6 literal must be public. The spec's pattern admits only IPv6 literals shaped as global
  unicast (``2000::/3``, the only public range); the wrapper also refuses the non-public blocks inside
  it (``2001:db8::/32`` and the like). Other image hosts are not checked for being public: EvoLink,
  not this machine, fetches them (and a local fake serves inputs on loopback).
- ``n`` must be a Python ``int``: JSON Schema counts ``2.0`` as an integer; the wire format does not
  need to.
- Text must be valid Unicode: a lone surrogate is a string to JSON Schema, but UTF-8 cannot carry it.
- ``extra_body`` is the explicit escape hatch: its fields are sent although the spec does not
  list them; it may not repeat a documented field.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._addresses import host_problem, normalise_host
from ._errors import RequestValidationError, Violation, shown
from ._local_images import LocalImage, inspect_local, is_local
from ._requests import ImageEditRequest, QwenImageEdit, WanImageToImage

__all__ = [
    "CALLBACK_URL_PATTERN",
    "IMAGE_URL_PATTERN",
    "QWEN_RULES",
    "RULES",
    "WAN_RULES",
    "ModelRules",
    "check",
    "check_with_images",
    "validate",
]


@dataclass(frozen=True)
class ModelRules:
    """The limits of one model's request, and of its input images (checked by the preflight)."""

    model: str
    image_count: tuple[int, int]
    n_range: tuple[int, int] | None
    """The allowed ``n``, or None when the model takes no ``n``."""
    image_formats: frozenset[str]
    """Pillow format names, read from the image bytes."""
    image_side: tuple[int, int]
    """Width and height, each, in pixels."""
    image_max_bytes: int | None
    prompt_length: tuple[int, int] = (1, 2000)
    callback_url_max: int = 2048


WAN_RULES = ModelRules(
    model="wan2.5-image-to-image",
    image_count=(1, 2),
    n_range=(1, 4),
    image_formats=frozenset({"JPEG", "PNG", "BMP", "WEBP"}),
    image_side=(360, 5000),
    image_max_bytes=10 * 1000 * 1000,
)
QWEN_RULES = ModelRules(
    model="qwen-image-edit",
    image_count=(1, 3),
    n_range=None,
    image_formats=frozenset({"JPEG", "PNG", "BMP", "WEBP", "TIFF"}),
    image_side=(384, 3072),
    image_max_bytes=None,
)
RULES: Mapping[str, ModelRules] = {rules.model: rules for rules in (WAN_RULES, QWEN_RULES)}

# The spec's ImageUrl and CallbackUrl patterns, character for character (a test compares them), applied
# with re.search as JSON Schema does: RFC 3986 characters only, so a match is always a valid URI.
# "$(?!\n)" is "end of string" in Python's dialect and in ECMA-262.
_URI_CHARS = r"-A-Za-z0-9._~!$&'()*+,;="  # unreserved and sub-delims; "-" first, so not a range
_PCT = r"%[0-9A-Fa-f]{2}"
# An IPv6 literal whose first group is 2xxx or 3xxx (2000::/3, global unicast: every other block is
# internal or reserved), in full or with one "::" after the first group, per RFC 3986's grammar
# (the dotted-IPv4 tail form is left out). Internal literals ([::1], [fd00::1], [::ffff:a.b.c.d])
# therefore fail the pattern, and the wrapper names the reason.
_H16 = "[0-9A-Fa-f]{1,4}"


def _groups(count: int) -> str:
    return "" if count == 0 else rf"(?::{_H16})" + ("" if count == 1 else f"{{{count}}}")


def _compressed(before: int) -> str:
    """The first group, ``before`` more groups, "::", then at most 6 - before groups."""
    after = 6 - before
    more = "" if after <= 1 else rf"(?::{_H16}){{0,{after - 1}}}"
    tail = "" if after == 0 else rf"(?:{_H16}{more})?"
    return f"{_groups(before)}::{tail}"


_IPV6_PUBLIC = r"\[[23][0-9A-Fa-f]{3}(?:" + "|".join([_groups(7), *map(_compressed, range(7))]) + r")\]"
_URI_TAIL = (
    rf"(?:(?:[{_URI_CHARS}:]|{_PCT})*@)?"  # userinfo
    rf"(?:{_IPV6_PUBLIC}|(?:[{_URI_CHARS}]|{_PCT})+)"  # host: a public IPv6 literal, a name or IPv4
    r"(?::[0-9]*)?"  # port
    rf"(?:/(?:[{_URI_CHARS}:@]|{_PCT})*)*"  # path
    rf"(?:\?(?:[{_URI_CHARS}:@/?]|{_PCT})*)?"  # query
    rf"(?:#(?:[{_URI_CHARS}:@/?]|{_PCT})*)?"  # fragment
    r"$(?!\n)"
)
IMAGE_URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://{_URI_TAIL}"
CALLBACK_URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]://{_URI_TAIL}"
_IMAGE_URL = re.compile(IMAGE_URL_PATTERN)
_CALLBACK_URL = re.compile(CALLBACK_URL_PATTERN)
_DOCUMENTED_FIELDS = frozenset({"model", "prompt", "image_urls", "n", "callback_url"})


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _short(value: Any) -> str:
    return shown(value)


def _check_prompt(prompt: Any, rules: ModelRules) -> list[Violation]:
    low, high = rules.prompt_length
    limit = f"{low} to {high} characters"
    if not isinstance(prompt, str):
        return [Violation("prompt", f"must be a string, not {type(prompt).__name__}", limit)]
    if not low <= len(prompt) <= high:
        return [Violation("prompt", f"has {len(prompt)} characters", limit)]
    if not _utf8(prompt):
        return [Violation("prompt", "holds a lone surrogate, which UTF-8 cannot carry", "valid Unicode text")]
    return []


def _check_image_urls(urls: Any, rules: ModelRules, images: dict[int, LocalImage] | None = None) -> list[Violation]:
    """Check the list and each item: a URL by its text, a local image (a path, bytes, a file) by its content.

    Each local image that passes is put in ``images`` (by its index) when given, as read and checked.
    """
    low, high = rules.image_count
    limit = f"{low} to {high} absolute http(s) URLs (or local images) for {rules.model}"
    if isinstance(urls, str | bytes) or not isinstance(urls, list | tuple):
        return [Violation("image_urls", f"must be a list of URLs, not {type(urls).__name__}", limit)]
    found = []
    if not low <= len(urls) <= high:
        found.append(Violation("image_urls", f"has {len(urls)} URLs", limit))
    url_limit = "http(s)://, a host name, an IPv4 or a public IPv6 literal, RFC 3986 characters only"
    for index, url in enumerate(urls):
        if not isinstance(url, str) and is_local(url):
            checked = inspect_local(f"image_urls[{index}]", url, rules)
            if isinstance(checked, list):
                found += checked
            elif images is not None:
                images[index] = checked
            continue
        problem = _image_host_problem(url) if isinstance(url, str) else None
        if problem is not None:
            found.append(Violation(f"image_urls[{index}]", problem, url_limit))
        elif not isinstance(url, str) or not _IMAGE_URL.search(url):
            found.append(Violation(f"image_urls[{index}]", f"{_short(url)} is not an absolute http(s) URL", url_limit))
    return found


def _url_host(url: str) -> str | None:
    """The host of ``url`` as written (brackets dropped), or None when it has none or cannot be split."""
    try:
        return urllib.parse.urlsplit(url).hostname
    except ValueError:
        return None


def _image_host_problem(url: str) -> str | None:
    """Why an image URL's host is refused: not a valid name, or an IPv6 literal that is not public."""
    host = _url_host(url)
    if not host:
        return None  # the pattern reports it
    try:
        normalise_host(host)
    except ValueError as error:
        return str(error)
    return host_problem(host) if ":" in host else None


def _check_n(n: Any, rules: ModelRules) -> list[Violation]:
    if n is None:
        return []
    if rules.n_range is None:
        return [Violation("n", f"is set to {_short(n)}", f"{rules.model} takes no n")]
    low, high = rules.n_range
    limit = f"an integer from {low} to {high}"
    if isinstance(n, bool) or not isinstance(n, int):
        return [Violation("n", f"must be an integer, not {type(n).__name__}", limit)]
    if not low <= n <= high:
        return [Violation("n", f"is {_short(n)}", limit)]
    return []


def _check_callback_url(url: Any, rules: ModelRules) -> list[Violation]:
    if url is None:
        return []
    limit = f"https on a public host, at most {rules.callback_url_max} characters"
    if not isinstance(url, str):
        return [Violation("callback_url", f"must be a string, not {type(url).__name__}", limit)]
    if len(url) > rules.callback_url_max:
        return [Violation("callback_url", f"has {len(url)} characters", limit)]
    if "\\" in url:
        return [Violation("callback_url", "contains a backslash", limit)]
    host = _url_host(url)
    # The host's own problem first: "[::1] is loopback" says more than "not a URL the pattern admits".
    problem = host_problem(host) if host else None
    if problem:
        return [Violation("callback_url", problem, limit)]
    if not _CALLBACK_URL.search(url) or host is None:
        return [Violation("callback_url", f"{_short(url)} is not an absolute https URL", limit)]
    return []


def _check_extra_body(extra: Any) -> list[Violation]:
    limit = "a mapping of undocumented field names to JSON values"
    if not isinstance(extra, Mapping):
        return [Violation("extra_body", f"must be a mapping, not {type(extra).__name__}", limit)]
    if not extra:
        return []
    found = []
    for key in extra:
        if not isinstance(key, str):
            found.append(Violation("extra_body", f"has a key that is not a string: {_short(key)}", limit))
        elif key in _DOCUMENTED_FIELDS:
            found.append(Violation(f"extra_body.{key}", "repeats a documented field", "set it directly instead"))
    try:
        json.dumps(dict(extra), allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as error:
        found.append(Violation("extra_body", f"is not JSON that UTF-8 can carry ({type(error).__name__})", limit))
    return found


def check(request: Any) -> list[Violation]:
    """Return every rule ``request`` breaks (an empty list when it may be sent); local images are read to check them."""
    return check_with_images(request)[0]


def check_with_images(request: Any) -> tuple[list[Violation], dict[int, LocalImage]]:
    """Every rule ``request`` breaks, and its local images as read and checked (by their index in ``image_urls``)."""
    if not isinstance(request, WanImageToImage | QwenImageEdit):
        return [
            Violation("request", f"must be WanImageToImage or QwenImageEdit, not {type(request).__name__}", "a request")
        ], {}
    rules = RULES[request.model]
    images: dict[int, LocalImage] = {}
    return [
        *_check_prompt(request.prompt, rules),
        *_check_image_urls(request.image_urls, rules, images),
        *_check_n(getattr(request, "n", None), rules),
        *_check_callback_url(request.callback_url, rules),
        *_check_extra_body(request.extra_body),
    ], images


def validate(request: ImageEditRequest) -> None:
    """Check ``request`` against its model's rules, with no network: the same check ``submit`` makes.

    Local images (paths, bytes, binary files in ``image_urls``) are read and checked as their upload
    would be: format by magic number, size, and dimensions when Pillow is installed.

    Raises:
        RequestValidationError: with every violation, each naming the field and the limit.
    """
    violations = check(request)
    if violations:
        raise RequestValidationError(violations)
