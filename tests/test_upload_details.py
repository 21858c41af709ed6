"""Uploads in detail: local images checked by their content, the file host's envelope, the cache, the preflight.

The vendor's limits are written here as api-facts.md states them (section 8: JPEG, PNG, GIF and WEBP, 100 MB,
72 hours; section 2: wan's 10 MB and sides of 360 to 5000 px, qwen's 384 to 3072 px), never read from the code.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from evolink_images import (
    QWEN_RULES,
    WAN_RULES,
    APIConnectionError,
    APIStatusError,
    Client,
    FileHostError,
    RequestValidationError,
    UploadedFile,
    UploadError,
)
from evolink_images._errors import Violation
from evolink_images._fetch import FetchRefused
from evolink_images._file_host import LIFETIME, REUSE_MARGIN, parse_time
from evolink_images._local_images import (
    HOST_FORMATS,
    LocalImage,
    LocalImageChanged,
    inspect_local,
    is_local,
    local_problems,
    local_source,
)
from evolink_images._preflight import FETCH_CAP, ImageBuffer, inspect_image, unreachable
from evolink_images._upload_cache import UploadCache

KEY = "sk-evo-upload-details-31"
WAN_LIMIT = "a local JPEG, PNG or WEBP image of at most 10000000 bytes for wan2.5-image-to-image"
QWEN_LIMIT = "a local JPEG, PNG or WEBP image of at most 100000000 bytes for qwen-image-edit"
HOST_LIMIT = "a local GIF, JPEG, PNG or WEBP image of at most 100000000 bytes"
UTC = datetime.UTC


def image(width: int = 400, height: int = 400, kind: str = "PNG", colour: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, kind)
    return buffer.getvalue()


def noisy(width: int, height: int) -> bytes:
    """A PNG that hardly compresses (its size is close to 3 bytes a pixel)."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


@pytest.fixture
def short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A relative folder inside the test's temporary one: the paths in messages stay short and predictable."""
    monkeypatch.chdir(tmp_path)
    folder = Path("d")
    folder.mkdir()
    return folder


def checked(source: Any, rules: Any = None) -> LocalImage:
    result = inspect_local("image_urls[0]", source, rules)
    assert isinstance(result, LocalImage), result
    return result


def refused(source: Any, rules: Any = None) -> list[tuple[str, str, str]]:
    result = inspect_local("image_urls[0]", source, rules)
    assert isinstance(result, list)
    return [(v.field, v.problem, v.limit) for v in result]


# --- local images: what they are, read from their content ----------------------------------------------------------


def test_the_file_host_takes_jpeg_png_gif_and_webp_with_their_mime_types() -> None:
    assert HOST_FORMATS == {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


@pytest.mark.parametrize(("kind", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif")])
def test_a_checked_image_knows_its_size_digest_kind_and_mime_type(kind: str, mime: str) -> None:
    data = image(kind=kind)
    found = checked(data)
    assert (found.name, found.size, found.kind, found.mime_type) == ("<bytes>", len(data), kind, mime)
    assert found.sha256 == hashlib.sha256(data).hexdigest()
    assert found.path is None
    assert found.data == data


def test_a_webp_is_taken_by_the_host_and_by_both_models() -> None:
    data = image(kind="WEBP")
    assert checked(data).mime_type == "image/webp"
    assert checked(data, WAN_RULES).kind == "WEBP"
    assert checked(data, QWEN_RULES).kind == "WEBP"


@pytest.mark.parametrize(
    ("source", "local"),
    [
        (Path("a.png"), True),
        (b"x", True),
        (bytearray(b"x"), True),
        (memoryview(b"x"), True),
        (io.BytesIO(b"x"), True),
        ("https://example.com/a.png", False),
        ("a.png", False),
        (42, False),
        (None, False),
    ],
)
def test_a_local_image_is_a_path_object_bytes_or_a_file_object_and_a_str_is_a_url(source: Any, local: bool) -> None:
    assert is_local(source) is local


@pytest.mark.parametrize(
    ("rules", "limit"), [(None, HOST_LIMIT), (WAN_RULES, WAN_LIMIT), (QWEN_RULES, QWEN_LIMIT)], ids=str
)
def test_the_limit_named_is_the_models_formats_and_size_within_the_hosts(rules: Any, limit: str) -> None:
    assert refused(b"", rules) == [("image_urls[0]", "<bytes> is empty", limit)]


def test_a_model_taking_one_host_format_names_only_that_one() -> None:
    png_only = dataclasses.replace(WAN_RULES, image_formats=frozenset({"PNG", "BMP"}), image_max_bytes=5)
    assert refused(b"", png_only) == [
        ("image_urls[0]", "<bytes> is empty", "a local PNG image of at most 5 bytes for wan2.5-image-to-image")
    ]


def test_a_model_limit_above_the_hosts_is_held_to_the_hosts_100_mb() -> None:
    roomy = dataclasses.replace(WAN_RULES, image_max_bytes=10**9)
    [(_, _, limit)] = refused(b"", roomy)
    assert limit == "a local JPEG, PNG or WEBP image of at most 100000000 bytes for wan2.5-image-to-image"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (image(kind="BMP"), "<bytes> is BMP (convert it, or host it yourself and pass its URL)"),
        (image(kind="TIFF"), "<bytes> is TIFF (convert it, or host it yourself and pass its URL)"),
        (b"%PDF-1.7", "<bytes> is not a JPEG, PNG, GIF, WEBP, BMP or TIFF image"),
        (b"\x89PNG\r\n\x1a\n" + bytes(50), "<bytes> is not an image that can be decoded"),
    ],
    ids=["bmp", "tiff", "pdf", "broken png"],
)
def test_what_the_host_does_not_take_is_refused_in_words(data: bytes, problem: str) -> None:
    assert refused(data) == [("image_urls[0]", problem, HOST_LIMIT)]


def test_a_gif_is_refused_for_a_model_that_does_not_take_it() -> None:
    assert refused(image(kind="GIF"), WAN_RULES) == [
        ("image_urls[0]", "<bytes> is GIF (convert it, or host it yourself and pass its URL)", WAN_LIMIT)
    ]


@pytest.mark.parametrize(
    ("rules", "size", "ok"),
    [
        (WAN_RULES, (360, 5000), True),
        (WAN_RULES, (359, 400), False),
        (WAN_RULES, (400, 359), False),
        (WAN_RULES, (5001, 400), False),
        (WAN_RULES, (400, 5001), False),
        (QWEN_RULES, (384, 3072), True),
        (QWEN_RULES, (3072, 384), True),
        (QWEN_RULES, (383, 400), False),
        (QWEN_RULES, (400, 3073), False),
    ],
)
def test_each_side_of_a_local_image_is_held_to_the_models_range(rules: Any, size: tuple[int, int], ok: bool) -> None:
    data = image(*size)
    if ok:
        assert checked(data, rules).size == len(data)
        return
    low, high = (360, 5000) if rules is WAN_RULES else (384, 3072)
    assert refused(data, rules) == [
        ("image_urls[0]", f"<bytes> is {size[0]}x{size[1]} px", f"each side within [{low}, {high}] px")
    ]


def test_without_a_model_any_size_of_picture_is_taken() -> None:
    assert checked(image(10, 10)).size > 0


def test_a_wan_image_of_exactly_10_mb_is_taken_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    data = image(400, 400)
    fits = data + bytes(10_000_000 - len(data))  # trailing bytes after the PNG's end: Pillow still reads it
    assert checked(fits, WAN_RULES).size == 10_000_000
    over = fits + b"\0"
    assert refused(over, WAN_RULES) == [("image_urls[0]", "<bytes> is 10000001 bytes", WAN_LIMIT)]
    path = tmp_path / "exact.png"
    path.write_bytes(fits)
    assert checked(path, WAN_RULES).size == 10_000_000
    assert checked(io.BytesIO(fits), WAN_RULES).size == 10_000_000
    assert refused(io.BytesIO(over), WAN_RULES) == [
        ("image_urls[0]", "<file object> is over 10000000 bytes", WAN_LIMIT)
    ]


def test_a_host_image_of_exactly_100_mb_is_taken_and_one_byte_more_is_refused(short: Path) -> None:
    path = short / "big.png"
    with path.open("wb") as file:
        file.write(image())
        file.truncate(100_000_000)  # sparse
    assert checked(path).size == 100_000_000
    with path.open("r+b") as file:
        file.truncate(100_000_001)
    assert refused(path) == [("image_urls[0]", f"{path} is 100000001 bytes", HOST_LIMIT)]


def test_a_file_that_grows_between_its_size_and_its_read_is_refused_over_the_cap(
    short: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = short / "growing.png"
    path.write_bytes(image() + bytes(20))
    real_stat = Path.stat

    def small_stat(self: Path, **kwargs: Any) -> Any:
        result = real_stat(self, **kwargs)
        return os.stat_result((*result[:6], 10, *result[7:]))  # claims 10 bytes

    small = dataclasses.replace(WAN_RULES, image_max_bytes=len(image()) + 19)
    monkeypatch.setattr(Path, "stat", small_stat)
    [(_, problem, _)] = refused(path, small)
    assert problem == f"{path} is over {len(image()) + 19} bytes"


def test_a_file_of_many_chunks_is_read_whole_and_its_head_is_its_first_bytes(tmp_path: Path) -> None:
    data = noisy(400, 400)
    assert len(data) > 3 * 65536
    path = tmp_path / "noisy.png"
    path.write_bytes(data)
    found = checked(path, WAN_RULES)
    assert (found.size, found.sha256, found.kind) == (len(data), hashlib.sha256(data).hexdigest(), "PNG")
    assert found.data is None
    assert found.path == path
    assert checked(io.BytesIO(data)).sha256 == found.sha256


def test_a_file_object_is_read_in_chunks_and_its_head_checked() -> None:
    class Dribble(io.RawIOBase):
        """Gives at most 7 bytes a read, as a pipe may."""

        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            chunk, self.data = self.data[: min(size, 7)], self.data[min(size, 7) :]
            return chunk

    data = image(kind="JPEG")
    found = checked(Dribble(data))
    assert (found.size, found.kind, found.data) == (len(data), "JPEG", data)


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        (Path("/no/such/a.png"), "/no/such/a.png"),
        (Path("/no/such/" + "x" * 100 + ".png"), "..." + ("/no/such/" + "x" * 100 + ".png")[-77:]),
        (Path("/no/such/" + "x" * 67 + ".png"), "/no/such/" + "x" * 67 + ".png"),  # 80 characters: kept
        (Path("/no/such/" + "x" * 68 + ".png"), "..." + ("/no/such/" + "x" * 68 + ".png")[-77:]),  # 81: cut
        (Path("/no/such/tab\there.png"), repr("/no/such/tab\there.png")),
    ],
    ids=["short", "long", "80", "81", "unprintable"],
)
def test_a_path_is_shown_as_given_cut_to_80_characters_and_quoted_when_unprintable(source: Path, shown: str) -> None:
    assert refused(source) == [("image_urls[0]", f"{shown} does not exist", HOST_LIMIT)]
    assert len(shown) <= 80


def test_a_folder_is_not_a_regular_file(short: Path) -> None:
    assert refused(short) == [("image_urls[0]", "d is not a regular file", HOST_LIMIT)]


def test_a_file_that_cannot_be_opened_is_refused_with_the_systems_words(
    short: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = short / "locked.png"
    path.write_bytes(image())

    def denied(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", denied)
    assert refused(path) == [("image_urls[0]", f"{path} cannot be read (Permission denied)", HOST_LIMIT)]


def test_a_path_object_of_bytes_is_shown_by_its_repr() -> None:
    class BytesPath(os.PathLike[bytes]):
        def __fspath__(self) -> bytes:
            return b"/no/such/a.png"

        def __repr__(self) -> str:
            return "BytesPath()"

    from evolink_images._local_images import _display

    assert _display(BytesPath()) == "BytesPath()"


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        (bytearray(), "<bytes>"),
        (memoryview(b""), "<bytes>"),
        (io.BytesIO(), "<file object>"),
    ],
)
def test_bytes_and_a_nameless_file_object_are_shown_by_what_they_are(source: Any, shown: str) -> None:
    assert refused(source) == [("image_urls[0]", f"{shown} is empty", HOST_LIMIT)]


def test_a_file_object_is_shown_by_its_name(short: Path) -> None:
    path = short / "empty.png"
    path.write_bytes(b"")
    with path.open("rb") as file:
        assert refused(file) == [("image_urls[0]", f"{path} is empty", HOST_LIMIT)]
    unnamed = io.BytesIO()
    unnamed.name = ""
    assert refused(unnamed)[0][1] == "<file object> is empty"


def test_a_closed_file_object_is_refused_with_its_error() -> None:
    closed = io.BytesIO(b"x")
    closed.close()
    assert refused(closed) == [
        ("image_urls[0]", "<file object> cannot be read (ValueError: I/O operation on closed file.)", HOST_LIMIT)
    ]


def test_a_file_object_read_error_is_shown_cut_to_80_characters() -> None:
    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            raise OSError("e" * 100)

    assert refused(Failing()) == [("image_urls[0]", f"<file object> cannot be read (OSError: {'e' * 80})", HOST_LIMIT)]


def test_a_text_file_object_is_refused_naming_the_mode() -> None:
    assert refused(io.StringIO("text")) == [
        ("image_urls[0]", "<file object> is a text file object (open the file with 'rb')", HOST_LIMIT)
    ]


def test_the_problems_of_a_good_image_are_none_and_of_a_bad_one_its_violations() -> None:
    assert local_problems("image_urls[1]", image(), WAN_RULES) == []
    assert local_problems("image_urls[1]", b"", WAN_RULES) == [
        Violation("image_urls[1]", "<bytes> is empty", WAN_LIMIT)
    ]


def test_upload_takes_a_str_as_a_path_and_refuses_anything_else_in_words(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(image())
    assert local_source(str(path)).path == path
    with pytest.raises(RequestValidationError) as caught:
        local_source(3.5)
    assert caught.value.violations == (Violation("source", "is float", "a path, bytes or a binary file object"),)
    with pytest.raises(RequestValidationError) as empty:
        local_source(b"")
    assert empty.value.violations == (Violation("source", "<bytes> is empty", HOST_LIMIT),)


# --- local images: what is sent -------------------------------------------------------------------------------------


def test_the_upload_name_is_the_files_own_name_else_one_made_from_its_digest(tmp_path: Path) -> None:
    data = image(kind="JPEG")
    plain = tmp_path / "photo.jpg"
    plain.write_bytes(data)
    assert checked(plain).upload_name == "photo.jpg"
    digest = hashlib.sha256(data).hexdigest()
    assert checked(data).upload_name == f"image-{digest[:16]}.jpg"
    for odd in ("café.jpg", "tab\tname.jpg"):
        path = tmp_path / odd
        path.write_bytes(data)
        assert checked(path).upload_name == f"image-{digest[:16]}.jpg"


def test_bytes_are_handed_on_in_64_kib_chunks() -> None:
    data = noisy(300, 300)
    chunks = list(checked(data).chunks())
    assert b"".join(chunks) == data
    assert [len(chunk) for chunk in chunks[:-1]] == [65536] * (len(chunks) - 1)
    assert 0 < len(chunks[-1]) <= 65536


def test_a_file_is_read_again_in_64_kib_chunks_matching_its_check(tmp_path: Path) -> None:
    data = noisy(300, 300)
    path = tmp_path / "n.png"
    path.write_bytes(data)
    chunks = list(checked(path).chunks())
    assert b"".join(chunks) == data
    assert [len(chunk) for chunk in chunks[:-1]] == [65536] * (len(chunks) - 1)


def test_the_async_chunks_are_the_same_bytes(tmp_path: Path) -> None:
    import asyncio

    data = noisy(200, 200)
    path = tmp_path / "n.png"
    path.write_bytes(data)
    found = checked(path)

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in found.achunks()])

    assert asyncio.run(collect()) == data


@pytest.mark.parametrize("change", ["edited", "grown", "shrunk", "same size"])
def test_a_file_changed_since_its_check_never_gives_its_last_chunk(tmp_path: Path, change: str) -> None:
    data = noisy(300, 300)
    path = tmp_path / "n.png"
    path.write_bytes(data)
    found = checked(path)
    changed = {
        "edited": data[:-1] + bytes([data[-1] ^ 1]),
        "grown": data + b"x",
        "shrunk": data[:-1],
        "same size": bytes([data[0] ^ 1]) + data[1:],
    }[change]
    path.write_bytes(changed)
    given: list[bytes] = []

    def read_all() -> None:
        given.extend(found.chunks())

    with pytest.raises(LocalImageChanged) as caught:
        read_all()
    assert str(caught.value) == "changed between its check and its upload: nothing was stored"
    assert sum(len(chunk) for chunk in given) < len(data)
    assert len(b"".join(given)) == (len(data) // 65536) * 65536 - (65536 if len(data) % 65536 == 0 else 0)


def test_a_file_gone_since_its_check_cannot_be_read_again(tmp_path: Path) -> None:
    path = tmp_path / "gone.png"
    path.write_bytes(image())
    found = checked(path)
    path.unlink()
    with pytest.raises(LocalImageChanged) as caught:
        list(found.chunks())
    assert str(caught.value) == "could not be read again (No such file or directory)"


# --- the file host: what an upload sends and what its answers mean ---------------------------------------------------

ENVELOPE = {"success": True, "code": 200, "msg": "ok"}


def answering(*bodies: Any, status: int = 200, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    queue = list(bodies)

    def answer(request: httpx.Request) -> httpx.Response:
        request.read()
        if seen is not None:
            seen.append(request)
        body = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(answer)


def upload(source: Any, *bodies: Any, status: int = 200, seen: list[httpx.Request] | None = None) -> Any:
    with Client(KEY, transport=answering(*bodies, status=status, seen=seen), max_retries=0) as client:
        return client.upload(source)


def stored(**data: Any) -> dict[str, Any]:
    return {**ENVELOPE, "data": {"file_url": "https://files.evolink.ai/u/a.png", **data}}


def test_an_upload_is_one_multipart_post_of_the_file_to_the_stream_endpoint(tmp_path: Path) -> None:
    data = image()
    path = tmp_path / "my photo(1).png"
    path.write_bytes(data)
    seen: list[httpx.Request] = []
    upload(path, stored(), seen=seen)
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == "https://files-api.evolink.ai/api/v1/files/upload/stream"
    assert request.headers["host"] == "files-api.evolink.ai"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    content_type = request.headers["content-type"]
    match = re.fullmatch(r"multipart/form-data; boundary=(evolink-[0-9a-f]{32})", content_type)
    assert match is not None
    boundary = match.group(1)
    expected = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="my_photo_1_.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    assert request.content == expected
    assert request.headers["content-length"] == str(len(expected))


def test_an_upload_sends_exactly_its_headers_and_the_clients_timeouts(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    with Client(KEY, transport=answering(stored(), seen=seen), timeout=12) as client:
        client.upload(image())
        timeouts = client._settings.timeout.as_dict()
    names = [name for name, _ in seen[0].headers.raw]
    assert names == [b"Host", b"User-Agent", b"Accept-Encoding", b"Content-Type", b"Content-Length", b"Authorization"]
    sent = seen[0].extensions["timeout"]
    assert sent["connect"] == timeouts["connect"]
    assert 11.0 < sent["read"] <= 12.0


def test_a_quota_read_carries_the_clients_timeouts() -> None:
    seen: list[httpx.Request] = []
    with Client(KEY, transport=answering({**ENVELOPE, "data": {}}, seen=seen), timeout=12) as client:
        client.file_quota()
        timeouts = client._settings.timeout.as_dict()
    sent = seen[0].extensions["timeout"]
    assert sent["connect"] == timeouts["connect"]
    assert 11.0 < sent["read"] <= 12.0


def test_a_long_file_name_is_cut_to_100_characters_in_the_upload(tmp_path: Path) -> None:
    path = tmp_path / ("n" * 150 + ".png")
    path.write_bytes(image())
    seen: list[httpx.Request] = []
    upload(path, stored(), seen=seen)
    assert f'filename="{"n" * 100}"'.encode() in seen[0].content


def test_a_multipart_body_is_sent_whole_again_when_iterated_again() -> None:
    from evolink_images._file_host import _Multipart

    found = checked(image())
    body = _Multipart(found, "b")
    first = b"".join(body)
    assert first == b"".join(body)
    assert len(first) == body.length
    assert first.startswith(b'--b\r\nContent-Disposition: form-data; name="file"; filename="image-')
    assert first.endswith(b"\r\n--b--\r\n")


def test_the_quota_read_is_a_get_of_the_quota_endpoint_with_the_key() -> None:
    seen: list[httpx.Request] = []
    data = {"used_files": 3, "max_files": 100.0, "remain_files": 97, "user_group": "default", "is_custom": True}
    transport = answering({**ENVELOPE, "data": {**data, "quota_reason": "promo", "extra": 1}}, seen=seen)
    with Client(KEY, transport=transport) as client:
        quota = client.file_quota()
    assert (seen[0].method, str(seen[0].url)) == ("GET", "https://files-api.evolink.ai/api/v1/files/quota")
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert (quota.used_files, quota.max_files, quota.remain_files) == (3, 100, 97)
    assert (quota.user_group, quota.is_custom, quota.quota_reason) == ("default", True, "promo")
    assert quota.raw["extra"] == 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"used_files": 2.5, "max_files": True, "remain_files": "7"}, (None, None, None, None, None, None)),
        ({"user_group": 5, "is_custom": "yes", "quota_reason": 1}, (None, None, None, None, None, None)),
        (
            {"used_files": 0, "max_files": 2000, "remain_files": 2000, "is_custom": False},
            (0, 2000, 2000, None, False, None),
        ),
    ],
)
def test_quota_fields_are_taken_only_with_their_documented_types(data: Any, expected: tuple[Any, ...]) -> None:
    with Client(KEY, transport=answering({**ENVELOPE, "data": data})) as client:
        quota = client.file_quota()
    got = (quota.used_files, quota.max_files, quota.remain_files, quota.user_group, quota.is_custom, quota.quota_reason)
    assert got == expected


def test_a_quota_answer_without_data_is_a_file_host_error_in_words() -> None:
    with Client(KEY, transport=answering({**ENVELOPE, "data": None})) as client, pytest.raises(FileHostError) as caught:
        client.file_quota()
    assert str(caught.value) == "the file quota read: HTTP 200 answer says success but gives no quota"
    assert caught.value.status_code == 200
    assert not isinstance(caught.value, UploadError)


def test_a_quota_refusal_names_no_code_and_no_message_when_it_has_none() -> None:
    with Client(KEY, transport=answering({"success": False})) as client, pytest.raises(FileHostError) as caught:
        client.file_quota()
    assert str(caught.value) == "the file quota read was refused by the file host: no code: no message"
    assert (caught.value.code, caught.value.message) == (None, "no message")


def test_a_quota_read_answered_with_an_error_status_is_the_typed_status_error() -> None:
    with (
        Client(KEY, transport=answering({"error": "x"}, status=403)) as client,
        pytest.raises(APIStatusError) as caught,
    ):
        client.file_quota()
    assert caught.value.status_code == 403


@pytest.mark.parametrize(
    ("code", "expected"),
    [(40002, 40002), ("E_TYPE", "E_TYPE"), (True, None), (None, None), (4.5, None)],
)
def test_a_refused_upload_keeps_its_code_when_it_is_a_number_or_a_text(code: Any, expected: Any) -> None:
    with pytest.raises(UploadError) as caught:
        upload(image(), {"success": False, "code": code, "msg": "type not allowed"})
    shown = expected if expected is not None else "no code"
    assert str(caught.value) == f"the upload of <bytes> was refused by the file host: {shown}: type not allowed"
    assert (caught.value.code, caught.value.message, caught.value.file_name) == (
        expected,
        "type not allowed",
        "<bytes>",
    )
    assert caught.value.may_be_stored is False


def test_a_refusal_carrying_the_key_has_it_cut_out() -> None:
    with pytest.raises(UploadError) as caught:
        upload(image(), {"success": False, "code": f"c-{KEY}", "msg": f"bad key {KEY}"})
    assert KEY not in str(caught.value)
    assert caught.value.code == "c-<redacted>"
    assert caught.value.message == "bad key <redacted>"


def test_a_long_refusal_code_is_cut_to_100_characters() -> None:
    with pytest.raises(UploadError) as caught:
        upload(image(), {"success": False, "code": "E" * 150, "msg": "m"})
    assert caught.value.code == "E" * 100 + "... (50 more characters)"


def test_a_long_file_url_is_logged_cut_to_200_characters(caplog: pytest.LogCaptureFixture) -> None:
    url = "https://files.evolink.ai/u/" + "a" * 219 + ".png"
    assert len(url) == 250
    with caplog.at_level(logging.INFO, logger="evolink_images"):
        uploaded = upload(image(), {**ENVELOPE, "data": {"file_url": url}})
    assert uploaded.file_url == url
    [record] = [record for record in caplog.records if record.getMessage().startswith("uploaded ")]
    assert record.name == "evolink_images"
    assert record.getMessage().endswith(f" as {url[:200]}... (50 more characters)")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>oops</html>", "is not JSON"),
        ([1, 2], "is not the file host's envelope ({success, code, msg, data})"),
        ({"success": 1, "data": {}}, "is not the file host's envelope ({success, code, msg, data})"),
        ({**ENVELOPE, "data": {"file_url": 7}}, "says success but gives no usable file_url"),
        (
            {**ENVELOPE, "data": {"file_url": "ftp://files.evolink.ai/a.png"}},
            "says success but gives no usable file_url",
        ),
        ({**ENVELOPE, "data": ["https://files.evolink.ai/a.png"]}, "says success but gives no usable file_url"),
    ],
    ids=["html", "list", "success not a bool", "url not a str", "ftp url", "data a list"],
)
def test_an_unreadable_200_is_an_upload_error_that_may_have_stored_in_words(body: Any, why: str) -> None:
    with pytest.raises(UploadError) as caught:
        upload(image(), body)
    error = caught.value
    assert str(error).startswith(f"the upload of <bytes>: HTTP 200 answer {why}")
    assert str(error).endswith(
        "; the file may have been stored all the same (one slot of the file quota until it expires)"
    )
    assert (error.status_code, error.may_be_stored, error.file_name) == (200, True, "<bytes>")


def test_a_stored_file_is_described_by_the_hosts_answer(caplog: pytest.LogCaptureFixture) -> None:
    data = image()
    soon = datetime.datetime.now(UTC) + datetime.timedelta(hours=10)
    answer = stored(
        file_id="f-1", file_size=len(data), mime_type="image/png", file_name="a.png", expires_at=soon.isoformat()
    )
    with caplog.at_level(logging.INFO, logger="evolink_images"):
        uploaded = upload(data, answer)
    assert uploaded.file_url == "https://files.evolink.ai/u/a.png"
    assert (uploaded.file_id, uploaded.size, uploaded.mime_type, uploaded.file_name) == (
        "f-1",
        len(data),
        "image/png",
        "a.png",
    )
    assert uploaded.expires_at == soon
    assert uploaded.sha256 == hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256(data).hexdigest()[:16]
    assert f"uploaded image-{digest}.png ({len(data)} bytes) as https://files.evolink.ai/u/a.png" in caplog.messages


def test_a_stored_file_with_odd_fields_keeps_only_what_has_its_type() -> None:
    uploaded = upload(image(), stored(file_id=5, file_size="12", mime_type=None, file_name=["x"], expires_at="soon"))
    assert (uploaded.file_id, uploaded.size, uploaded.mime_type, uploaded.file_name) == (None, None, None, None)
    latest = datetime.datetime.now(UTC) + datetime.timedelta(hours=72)
    assert latest - datetime.timedelta(minutes=1) < uploaded.expires_at <= latest
    assert upload(image(), stored(file_size=12.0)).size == 12


@pytest.mark.parametrize(
    ("status", "stored_maybe"),
    [(500, True), (502, True), (503, False), (504, True), (499, False), (429, False), (400, False), (413, False)],
)
def test_an_upload_answered_with_an_error_status_may_be_stored_only_after_a_5xx_but_503(
    status: int, stored_maybe: bool
) -> None:
    with pytest.raises(UploadError) as caught:
        upload(image(), {"error": {"code": "e", "message": "m"}}, status=status)
    error = caught.value
    assert error.status_code == status
    assert error.may_be_stored is stored_maybe
    assert isinstance(error.__cause__, APIStatusError)
    assert error.__cause__.task_may_exist is False  # the file host never creates a task
    assert str(error).startswith(f"the upload of <bytes> failed: {error.__cause__}")
    assert error.code == error.__cause__.code
    assert error.message == error.__cause__.message


@pytest.mark.parametrize(
    ("fault", "stored_maybe", "detail"),
    [
        (httpx.ConnectError("refused"), False, "failed: ConnectError: refused"),
        (httpx.ConnectTimeout("slow connect"), False, "timed out (ConnectTimeout)"),
        (httpx.PoolTimeout("pool"), False, "timed out (PoolTimeout)"),
        (httpx.ReadTimeout("silent"), True, "timed out (ReadTimeout)"),
        (httpx.RemoteProtocolError("dropped"), True, "failed: RemoteProtocolError: dropped"),
    ],
    ids=["connect", "connect timeout", "pool timeout", "read timeout", "dropped"],
)
def test_an_upload_that_failed_on_the_wire_may_be_stored_only_once_sent(
    fault: Exception, stored_maybe: bool, detail: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise fault

    with (
        Client(KEY, transport=httpx.MockTransport(fail), max_retries=0) as client,
        pytest.raises(UploadError) as caught,
    ):
        client.upload(image())
    error = caught.value
    assert error.may_be_stored is stored_maybe
    assert error.status_code is None
    assert error.file_name == "<bytes>"
    assert error.task_may_exist is False
    assert str(error).startswith(f"the upload of <bytes> failed: POST request {detail}")


def test_a_quota_read_that_failed_on_the_wire_is_not_an_upload_error() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("silent")

    with (
        Client(KEY, transport=httpx.MockTransport(fail), max_retries=0) as client,
        pytest.raises(APIConnectionError) as caught,
    ):
        client.file_quota()
    assert not isinstance(caught.value, UploadError)
    assert str(caught.value) == "GET request timed out (ReadTimeout)"


def test_a_file_edited_mid_upload_is_an_upload_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "edited.png"
    path.write_bytes(image())

    class EditThenRead(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            path.write_bytes(image(colour=(1, 1, 1)))
            request.read()
            return httpx.Response(200, json=stored())

    with Client(KEY, transport=EditThenRead(), max_retries=0) as client, pytest.raises(UploadError) as caught:
        client.upload(path)
    assert str(caught.value) == f"{path} changed between its check and its upload: nothing was stored"
    assert caught.value.file_name == str(path)
    assert caught.value.may_be_stored is False


# --- stored files: lifetime, records --------------------------------------------------------------------------------


def test_a_file_lives_72_hours_and_is_reused_while_2_hours_are_left() -> None:
    assert datetime.timedelta(hours=72) == LIFETIME
    assert datetime.timedelta(hours=2) == REUSE_MARGIN
    expires = datetime.datetime(2026, 12, 5, 12, tzinfo=UTC)
    uploaded = UploadedFile("https://files.evolink.ai/u/a.png", expires)
    assert uploaded.reusable(expires - datetime.timedelta(hours=2))
    assert not uploaded.reusable(expires - datetime.timedelta(hours=2) + datetime.timedelta(seconds=1))
    assert uploaded.reusable(expires - datetime.timedelta(hours=50))
    assert UploadedFile("u", datetime.datetime.now(UTC) + datetime.timedelta(hours=3)).reusable()
    assert not UploadedFile("u", datetime.datetime.now(UTC) + datetime.timedelta(hours=1)).reusable()


def test_a_record_keeps_the_url_expiry_and_id_and_reads_back() -> None:
    expires = datetime.datetime(2026, 12, 5, 12, tzinfo=UTC)
    uploaded = UploadedFile("https://files.evolink.ai/u/a.png", expires, "f-9", size=5, sha256="a" * 64)
    record = uploaded.to_record()
    assert record == {
        "file_url": "https://files.evolink.ai/u/a.png",
        "expires_at": "2026-12-05T12:00:00+00:00",
        "file_id": "f-9",
    }
    back = UploadedFile.from_record("b" * 64, json.loads(json.dumps(record)))
    assert back == UploadedFile("https://files.evolink.ai/u/a.png", expires, "f-9", sha256="b" * 64)


def test_what_the_host_sent_raw_is_neither_shown_nor_compared() -> None:
    from evolink_images._file_host import FileQuota

    expires = datetime.datetime(2026, 12, 5, 12, tzinfo=UTC)
    one = UploadedFile("https://files.evolink.ai/u/a.png", expires, raw={"secret_field": 1})
    assert one == UploadedFile("https://files.evolink.ai/u/a.png", expires, raw={"other": 2})
    assert "secret_field" not in repr(one)
    quota = FileQuota(1, 2, 1, raw={"secret_field": 1})
    assert quota == FileQuota(1, 2, 1, raw={})
    assert "secret_field" not in repr(quota)


def test_a_checked_images_bytes_are_not_in_its_repr() -> None:
    found = checked(image())
    assert "data=" not in repr(found)
    assert "sha256=" in repr(found)


@pytest.mark.parametrize(
    "record",
    [
        {"file_url": 1, "expires_at": "2026-12-05T12:00:00Z"},
        {"file_url": "https://files.evolink.ai/u/a.png", "expires_at": "later"},
        {"file_url": "https://files.evolink.ai/u/a.png"},
    ],
)
def test_a_record_that_is_not_an_upload_reads_as_none(record: dict[str, Any]) -> None:
    assert UploadedFile.from_record("a" * 64, record) is None


def test_a_record_with_an_odd_id_reads_without_it() -> None:
    back = UploadedFile.from_record("a" * 64, {"file_url": "u", "expires_at": "2026-12-05T12:00:00Z", "file_id": 3})
    assert back is not None
    assert back.file_id is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-05", datetime.datetime(2026, 12, 5, tzinfo=UTC)),  # 10 characters: the shortest
        ("2026-12-5", None),  # 9
        ("2026-12-05T10:00:00Z" + " " * 44, datetime.datetime(2026, 12, 5, 10, tzinfo=UTC)),  # 64
        ("2026-12-05T10:00:00Z" + " " * 45, None),  # 65
        ("2026-12-05 10:00:00 ", datetime.datetime(2026, 12, 5, 10, tzinfo=UTC)),
        (None, None),
    ],
)
def test_an_expiry_is_read_from_10_to_64_characters(text: Any, expected: Any) -> None:
    assert parse_time(text) == expected


# --- the upload cache -----------------------------------------------------------------------------------------------


def later(hours: float) -> datetime.datetime:
    return datetime.datetime.now(UTC) + datetime.timedelta(hours=hours)


def test_an_upload_with_too_little_time_left_is_forgotten_and_the_layer_below_asked() -> None:
    below = UploadCache()
    fresh = UploadedFile("https://files.evolink.ai/u/fresh.png", later(70), sha256="a" * 64)
    below.put(fresh)
    stale = UploadedFile("https://files.evolink.ai/u/stale.png", later(1), sha256="a" * 64)
    above = below.layer(known=[stale])
    assert above.get("a" * 64) == fresh
    assert above._files == {}
    lonely = UploadCache(known=[stale])
    assert lonely.get("a" * 64) is None
    assert lonely._files == {}
    assert UploadCache().get("b" * 64) is None


def test_a_layer_knows_what_it_was_given_before_what_is_below() -> None:
    below = UploadCache(known=[UploadedFile("https://files.evolink.ai/u/old.png", later(70), sha256="a" * 64)])
    mine = UploadedFile("https://files.evolink.ai/u/new.png", later(70), sha256="a" * 64)
    assert below.layer(known=[mine]).get("a" * 64) == mine


def test_an_upload_without_a_digest_is_neither_kept_passed_down_nor_reported() -> None:
    reported: list[UploadedFile] = []
    below = UploadCache()
    above = below.layer(on_upload=reported.append)
    above.put(UploadedFile("https://files.evolink.ai/u/x.png", later(70)))
    assert reported == []
    assert above._files == {}
    assert below._files == {}


def test_attach_adds_known_uploads_and_reports_the_next_ones() -> None:
    cache = UploadCache()
    known = UploadedFile("https://files.evolink.ai/u/k.png", later(70), sha256="k" * 64)
    reported: list[UploadedFile] = []
    cache.attach([known, UploadedFile("https://files.evolink.ai/u/n.png", later(70))], reported.append)
    assert cache.get("k" * 64) == known
    assert list(cache._files) == ["k" * 64]
    made = UploadedFile("https://files.evolink.ai/u/m.png", later(70), sha256="m" * 64)
    cache.put(made)
    assert reported == [made]


def test_every_layer_shares_one_lock_per_digest() -> None:
    root = UploadCache()
    layer = root.layer().layer()
    assert layer.lock("a") is root.lock("a")
    assert layer.lock("a") is not layer.lock("b")
    assert layer.async_lock("a") is root.async_lock("a")
    assert layer.async_lock("a") is not layer.async_lock("b")
    assert layer.lock("a") is not UploadCache().lock("a")


# --- the preflight ----------------------------------------------------------------------------------------------------


def test_the_fetch_cap_is_64_mib() -> None:
    assert FETCH_CAP == 64 * 1024 * 1024


def test_a_buffer_names_its_field_and_takes_the_models_cap_else_the_fetch_cap() -> None:
    ok = httpx.Response(200)
    wan = ImageBuffer(2, ok, WAN_RULES)
    assert (wan.field, wan.cap, wan.problem) == ("image_urls[2]", 10_000_000, None)
    assert ImageBuffer(0, ok, QWEN_RULES).cap == 67_108_864


@pytest.mark.parametrize("status", [201, 204, 404, 500])
def test_an_image_answered_with_another_status_than_200_is_not_checked(status: int) -> None:
    buffer = ImageBuffer(1, httpx.Response(status), QWEN_RULES)
    expected = Violation("image_urls[1]", f"could not be fetched (HTTP {status})", "a reachable image")
    assert buffer.violations() == [expected]


def test_a_buffer_takes_its_cap_exactly_and_refuses_one_byte_more() -> None:
    small = dataclasses.replace(WAN_RULES, image_max_bytes=10)
    buffer = ImageBuffer(0, httpx.Response(200), small)
    assert buffer.add(bytes(6)) is True
    assert buffer.add(bytes(4)) is True
    assert buffer.problem is None
    assert buffer.add(b"x") is False
    assert buffer.violations() == [Violation("image_urls[0]", "is over 10 bytes", "10 bytes")]


def test_past_the_fetch_cap_the_limit_says_it_is_the_fetch_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    import evolink_images._preflight as preflight

    monkeypatch.setattr(preflight, "FETCH_CAP", 8)
    buffer = ImageBuffer(0, httpx.Response(200), QWEN_RULES)
    assert buffer.add(bytes(9)) is False
    assert buffer.violations() == [Violation("image_urls[0]", "is over 8 bytes", "8 bytes (fetch cap)")]


def test_a_buffer_within_its_cap_is_checked_as_an_image() -> None:
    buffer = ImageBuffer(0, httpx.Response(200), WAN_RULES)
    buffer.add(image(300, 400))
    assert buffer.violations() == [Violation("image_urls[0]", "is 300x400 px", "each side within [360, 5000] px")]
    good = ImageBuffer(0, httpx.Response(200), WAN_RULES)
    good.add(image())
    assert good.violations() == []


def test_an_unreachable_image_says_why() -> None:
    assert unreachable(3, FetchRefused("points at a private address")) == Violation(
        "image_urls[3]", "points at a private address", "an image on a public http(s) host"
    )
    assert unreachable(0, httpx.ConnectError("x")) == Violation(
        "image_urls[0]", "could not be fetched (ConnectError)", "a reachable image"
    )


def test_the_preflight_names_the_models_formats_when_refusing() -> None:
    assert inspect_image("image_urls[0]", b"junk", WAN_RULES) == [
        Violation("image_urls[0]", "is not an image that can be decoded", "BMP, JPEG, PNG, WEBP")
    ]
    assert inspect_image("image_urls[0]", image(kind="GIF"), QWEN_RULES) == [
        Violation("image_urls[0]", "is GIF", "BMP, JPEG, PNG, TIFF, WEBP for qwen-image-edit")
    ]
    assert inspect_image("image_urls[0]", image(100, 100, kind="GIF"), WAN_RULES) == [
        Violation("image_urls[0]", "is GIF", "BMP, JPEG, PNG, WEBP for wan2.5-image-to-image"),
        Violation("image_urls[0]", "is 100x100 px", "each side within [360, 5000] px"),
    ]


def test_the_preflight_without_pillow_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from evolink_images import ConfigurationError

    data = image()
    monkeypatch.setitem(sys.modules, "PIL", None)  # "from PIL import Image" now raises ImportError
    with pytest.raises(ConfigurationError) as caught:
        inspect_image("image_urls[0]", data, WAN_RULES)
    assert str(caught.value) == "the image preflight needs Pillow: pip install 'evolink-images[preflight]'"


def test_without_pillow_a_local_image_is_checked_by_its_format_and_size_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    data = image(10, 10)  # too small for wan, but only Pillow can tell
    monkeypatch.setitem(sys.modules, "PIL", None)
    assert checked(data, WAN_RULES).size == len(data)
