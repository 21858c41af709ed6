"""Hypothesis properties of the file host's operations: every answer the spec allows is handled.

Every upload the client sends is one form with one file, byte for byte.

- Every spec-valid upload envelope gives an ``UploadedFile`` (``success: true`` with a usable
  ``file_url``) or an ``UploadError`` (``success: false``, or a URL the client cannot send), never
  anything else, and the generated model reads it back whole.
- Every spec-valid quota envelope gives a ``FileQuota`` or a ``FileHostError``.
- A local image is uploaded exactly when the wrapper's checks accept it, and then the fake file host
  (which detects the type by content) stores it: the two agree on what may be sent.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import re
from typing import Any

import httpx
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image

from evolink_api.models import FileQuotaResponse, FileUploadResponse
from evolink_images import (
    Client,
    FileHostError,
    FileQuota,
    RequestValidationError,
    UploadedFile,
    UploadError,
    WanImageToImage,
)
from evolink_images._rules import IMAGE_URL_PATTERN, WAN_RULES
from evolink_images.testing.fake import FakeEvoLink

from .strategies import spec_bodies

KEY = "sk-evo-properties-0000"


def answering(body: Any) -> Client:
    return Client(KEY, transport=httpx.MockTransport(lambda request: httpx.Response(200, json=body)), max_retries=0)


def png(width: int, height: int, kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (width % 256, height % 256, 99)).save(buffer, kind)
    return buffer.getvalue()


@given(spec_bodies("FileUploadResponse"))
def test_every_spec_valid_upload_answer_is_a_stored_file_or_an_upload_error(body: Any) -> None:
    assert FileUploadResponse.from_dict(body).to_dict() == body
    with answering(body) as client:
        try:
            result: object = client.upload(png(8, 8, "PNG"))
        except UploadError as error:
            result = error
    data = body.get("data")
    usable = isinstance(data, dict) and re.search(IMAGE_URL_PATTERN, data["file_url"]) is not None
    if body["success"] and usable:
        assert isinstance(result, UploadedFile)
        assert result.file_url == data["file_url"]
    else:
        assert isinstance(result, UploadError)
        assert result.may_be_stored == bool(body["success"])  # a success the client cannot use may hold a slot


@given(spec_bodies("FileQuotaResponse"))
@example({"success": True, "data": {"max_files": 0.0}})  # JSON Schema's integer admits 0.0: it is a count
def test_every_spec_valid_quota_answer_is_a_quota_or_a_file_host_error(body: Any) -> None:
    assert FileQuotaResponse.from_dict(body).to_dict() == body
    with answering(body) as client:
        try:
            result: object = client.file_quota()
        except FileHostError as error:
            result = error
    if body["success"] and isinstance(body.get("data"), dict):
        assert isinstance(result, FileQuota)
        assert result.max_files == body["data"].get("max_files")
    else:
        assert isinstance(result, FileHostError)


SIDES = st.sampled_from([1, 359, 360, 361, 800, 4999, 5000, 5001])


@given(kind=st.sampled_from(["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"]), width=SIDES, height=SIDES)
def test_a_local_image_is_uploaded_exactly_when_the_checks_accept_it_and_the_host_stores_it(
    kind: str, width: int, height: int
) -> None:
    data = png(width, height, kind)
    low, high = WAN_RULES.image_side
    accepted = kind in {"PNG", "JPEG", "WEBP"} and low <= width <= high and low <= height <= high
    fake = FakeEvoLink()
    with fake.client() as client:
        try:
            client.submit(WanImageToImage("x", [data]))
        except RequestValidationError:
            assert not accepted
            assert fake.recorded == []
            return
    assert accepted
    [upload] = [seen for seen in fake.recorded if seen.path.endswith("/upload/stream")]
    form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + upload.headers["content-type"].encode() + b"\r\n\r\n" + upload.content
    )
    [part] = list(form.iter_parts())
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_payload(decode=True) == data  # one file, whole, byte for byte
    assert len(upload.content) == int(upload.headers["content-length"])
    assert fake.file_host.uploads == 1
    assert fake.created == 1
