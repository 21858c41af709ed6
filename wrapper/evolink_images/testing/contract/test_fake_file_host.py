"""The fake file host: the envelope, types by content, one file per form, the quota, expiry, faults, both faces."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
import pytest
from PIL import Image

from evolink_images import Client, WanImageToImage
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan
from evolink_images.testing.file_host import LIFETIME
from evolink_images.testing.server import FakeServer
from evolink_images.testing.spec import schema_validator

FILES_API = "https://files-api.evolink.ai"


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 400), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


def send(fake: FakeEvoLink, method: str, path: str, content: bytes = b"", **headers: str) -> httpx.Response:
    answer = fake.handle(
        method, f"{fake.files_api_url}{path}", {"authorization": f"Bearer {fake.api_key}", **headers}, content
    )
    return httpx.Response(answer.status, headers=answer.headers, content=answer.content)


def form(*parts: tuple[str, str | None, bytes]) -> tuple[bytes, str]:
    body = b"".join(
        b'--b0undary\r\nContent-Disposition: form-data; name="%s"%s\r\n\r\n%s\r\n'
        % (name.encode(), b'; filename="%s"' % filename.encode() if filename else b"", data)
        for name, filename, data in parts
    )
    return body + b"--b0undary--\r\n", "multipart/form-data; boundary=b0undary"


def upload(fake: FakeEvoLink, *parts: tuple[str, str | None, bytes]) -> httpx.Response:
    body, content_type = form(*parts)
    return send(fake, "POST", "/api/v1/files/upload/stream", body, **{"content-type": content_type})


def test_a_stored_file_is_served_at_its_file_url_until_it_expires() -> None:
    clock = FakeClock()
    fake = FakeEvoLink(clock=clock)
    answer = upload(fake, ("file", "cat.png", png()), ("file_name", None, b"kitty.png"))
    body = answer.json()
    schema_validator("FileUploadResponse").validate(body)
    assert body["success"] is True
    assert body["data"]["mime_type"] == "image/png"
    assert body["data"]["original_name"] == "kitty.png"
    url = body["data"]["file_url"]
    served = fake.handle("GET", url, {}, b"")
    assert (served.status, served.content) == (200, png())
    clock.advance(LIFETIME)
    assert fake.handle("GET", url, {}, b"").status == 404
    assert send(fake, "GET", "/api/v1/files/quota").json()["data"]["used_files"] == 0


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        ((("file_name", None, b"a.png"),), "got 0"),
        ((("file", "a.png", png()), ("file", "b.png", png())), "got 2"),
        ((("image", "a.png", png()),), "in the field 'file'"),
    ],
    ids=["no file", "two files", "another field"],
)
def test_a_form_without_exactly_one_file_is_refused_with_400(parts: Any, words: str) -> None:
    fake = FakeEvoLink()
    answer = upload(fake, *parts)
    assert answer.status_code == 400
    assert words in answer.json()["msg"]
    assert fake.file_host.uploads == 0


def test_a_body_that_is_not_a_form_is_refused_with_400() -> None:
    fake = FakeEvoLink()
    assert (
        send(fake, "POST", "/api/v1/files/upload/stream", b"{}", **{"content-type": "application/json"}).status_code
        == 400
    )


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"GIF89a" + b"\0" * 10, None), (b"<svg/>", 40002), (b"\x89PNG-ish but not", 40002)],
    ids=["gif", "svg", "a png prefix that is not one"],
)
def test_the_type_is_read_from_the_content_not_from_the_name(data: bytes, code: int | None) -> None:
    fake = FakeEvoLink()
    body = upload(fake, ("file", "photo.png", data)).json()
    assert body["success"] is (code is None)
    assert body.get("code") == (200 if code is None else code)


def test_the_quota_refuses_an_upload_once_full_in_the_envelope() -> None:
    fake = FakeEvoLink()
    fake.file_host.max_files = 1
    assert upload(fake, ("file", "a.png", png())).json()["success"] is True
    refused = upload(fake, ("file", "b.png", png()))
    assert refused.status_code == 200
    assert refused.json()["code"] == 40003
    quota = send(fake, "GET", "/api/v1/files/quota").json()["data"]
    assert (quota["used_files"], quota["remain_files"]) == (1, 0)


def test_base64_and_url_uploads_store_what_they_name() -> None:
    fake = FakeEvoLink()
    data_url = "data:image/png;base64," + base64.b64encode(png()).decode()
    stored = send(fake, "POST", "/api/v1/files/upload/base64", json.dumps({"base64_data": data_url}).encode())
    url = stored.json()["data"]["file_url"]
    copied = send(fake, "POST", "/api/v1/files/upload/url", json.dumps({"file_url": url}).encode()).json()
    assert copied["success"] is True
    assert copied["data"]["file_url"] != url
    outside = json.dumps({"file_url": "https://example.com/a.png"}).encode()
    assert send(fake, "POST", "/api/v1/files/upload/url", outside).json()["code"] == 40004
    assert fake.file_host.uploads == 2


def test_the_file_host_wants_the_key_and_lives_on_its_own_origin() -> None:
    fake = FakeEvoLink()
    answer = fake.handle("GET", f"{FILES_API}/api/v1/files/quota", {}, b"")
    assert answer.status == 401
    schema_validator("FileErrorBody").validate(json.loads(answer.content))
    on_the_api = fake.handle("GET", "https://api.evolink.ai/api/v1/files/quota", {"authorization": "x"}, b"")
    assert on_the_api.status == 404  # the API's origin does not serve the file host's paths


@pytest.mark.parametrize(("after_create", "stored"), [(True, 1), (False, 0)])
def test_an_upload_fault_stores_the_file_or_not_as_asked(after_create: bool, stored: int) -> None:
    fake = FakeEvoLink()
    fake.inject("server_error", target="upload", after_create=after_create)
    assert upload(fake, ("file", "a.png", png())).status_code == 500
    assert fake.file_host.uploads == stored


def test_the_loopback_face_serves_the_file_host_and_the_edit_renders_the_upload(tmp_path: Any) -> None:
    with (
        FakeServer(FakeEvoLink(clock=FakeClock(), plan=TaskPlan(duration=0))) as server,
        Client(server.fake.api_key, base_url=server.base_url) as client,
    ):
        task = client.run(WanImageToImage("sepia", [png()]), timeout=10)
        [path] = client.download(task, tmp_path)
        quota = client.file_quota()
    assert quota.used_files == 1
    with Image.open(path) as result:
        assert result.size == (400, 400)
