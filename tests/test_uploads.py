"""Local images: checked whole before anything is uploaded, uploaded once, typed failures, the key's two origins."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from evolink_images import (
    APIStatusError,
    Client,
    FileHostError,
    ImageEditRequest,
    QwenImageEdit,
    RequestValidationError,
    UploadedFile,
    UploadError,
    WanImageToImage,
)
from evolink_images._file_host import LIFETIME, REUSE_MARGIN, parse_time
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan

from .conftest import CANARY_KEY, Face

UPLOAD_PATH = "/api/v1/files/upload/stream"


def image(width: int = 400, height: int = 400, kind: str = "PNG", colour: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, kind)
    return buffer.getvalue()


@pytest.fixture
def fake() -> FakeEvoLink:
    return FakeEvoLink(api_key=CANARY_KEY, clock=FakeClock(now=1000.0), plan=TaskPlan(duration=0))


@pytest.fixture(params=["sync", "async"])
def face(request: pytest.FixtureRequest, fake: FakeEvoLink) -> Iterator[Face]:
    if request.param == "sync":
        client = fake.client(max_retries=2)
        yield Face(client, None)
        client.close()
        return
    loop = asyncio.new_event_loop()
    aclient = fake.async_client(max_retries=2)
    yield Face(aclient, loop)
    loop.run_until_complete(aclient.close())
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def uploads(fake: FakeEvoLink) -> list[Any]:
    return [seen for seen in fake.recorded if seen.path == UPLOAD_PATH]


def test_a_local_path_is_uploaded_and_its_file_url_is_what_the_task_gets(
    face: Face, fake: FakeEvoLink, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(image())
    task = face.submit(WanImageToImage("Make it night", [photo, "https://example.com/b.png"]))
    [sent] = [seen for seen in fake.recorded if seen.path == "/v1/images/generations"]
    [stored] = fake.file_host.files.values()
    assert sent.json["image_urls"][0] == f"{fake.files_url}/uploads/{stored.file_id}/{stored.file_name}"
    assert sent.json["image_urls"][1] == "https://example.com/b.png"
    assert stored.data == photo.read_bytes()
    assert stored.original_name == "photo.png"
    assert task.status == "pending"


@pytest.mark.parametrize("shape", ["path", "bytes", "bytearray", "file object"])
def test_every_kind_of_local_image_is_uploaded_by_its_content(
    face: Face, fake: FakeEvoLink, tmp_path: Path, shape: str
) -> None:
    data = image(kind="JPEG")
    path = tmp_path / "in.jpg"
    path.write_bytes(data)
    source: Any = {"path": path, "bytes": data, "bytearray": bytearray(data), "file object": io.BytesIO(data)}[shape]
    face.submit(QwenImageEdit("Add a hat", [source]))
    [stored] = fake.file_host.files.values()
    assert stored.data == data
    assert stored.mime_type == "image/jpeg"


def test_the_same_bytes_are_uploaded_once_however_often_and_however_given(
    face: Face, fake: FakeEvoLink, tmp_path: Path
) -> None:
    data = image()
    (tmp_path / "a.png").write_bytes(data)
    face.submit(QwenImageEdit("one", [tmp_path / "a.png", data, io.BytesIO(data)]))
    face.submit(WanImageToImage("two", [data]))
    uploaded = face.upload(tmp_path / "a.png")
    assert len(uploads(fake)) == 1
    assert fake.file_host.uploads == 1
    assert uploaded.sha256 is not None
    assert uploaded.file_url.startswith(fake.files_url)
    face.upload(image(colour=(200, 0, 0)))  # other bytes: a second upload
    assert fake.file_host.uploads == 2


def test_an_upload_near_its_expiry_is_not_reused_and_the_bytes_go_again(face: Face, fake: FakeEvoLink) -> None:
    data = image()
    first = face.upload(data)
    assert first.expires_at - datetime.datetime.now(datetime.UTC) > LIFETIME - datetime.timedelta(minutes=5)
    cache = face.client._uploads
    assert first.sha256 is not None
    assert cache.get(first.sha256) == first
    soon = first.expires_at - (LIFETIME - REUSE_MARGIN) - datetime.timedelta(hours=71)
    cache.put(UploadedFile(first.file_url, soon, sha256=first.sha256))  # under 2 hours left
    second = face.upload(data)
    assert fake.file_host.uploads == 2
    assert second.file_id != first.file_id


def test_nothing_is_uploaded_when_any_check_of_the_request_fails(face: Face, fake: FakeEvoLink, tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(image())
    requests: list[Any] = [
        WanImageToImage("", [good]),  # the prompt
        WanImageToImage("x", [good], n=9),  # n
        WanImageToImage("x", [good, image(100, 100)]),  # the second image is too small for wan
        WanImageToImage("x", [good, "ftp://example.com/a.png"]),  # a URL
        WanImageToImage("x", [good], callback_url="https://127.0.0.1/hook"),
    ]
    for request in requests:
        with pytest.raises(RequestValidationError):
            face.submit(request)
    with pytest.raises(RequestValidationError, match="idempotency_key"):
        face.submit(WanImageToImage("x", [good]), idempotency_key="short")
    with pytest.raises(RequestValidationError, match="timeout"):
        face.submit(WanImageToImage("x", [good]), timeout=-1)
    assert fake.recorded == []


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (image(kind="BMP"), "is BMP (convert it"),  # the model takes BMP, the file host does not
        (image(kind="GIF"), "is GIF (convert it"),  # the file host takes GIF, wan does not
        (image(kind="TIFF"), "is TIFF"),
        (b"%PDF-1.7 not an image", "is not a JPEG, PNG, GIF, WEBP, BMP or TIFF image"),
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "is not an image that can be decoded"),
        (image(359, 400), "is 359x400 px"),
        (image(400, 5001), "is 400x5001 px"),
    ],
    ids=["bmp", "gif", "tiff", "pdf", "empty", "broken png", "too narrow", "too tall"],
)
def test_a_local_image_outside_the_models_or_the_hosts_rules_is_refused_naming_it(
    face: Face, fake: FakeEvoLink, source: bytes, problem: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        face.submit(WanImageToImage("x", [source]))
    [violation] = caught.value.violations
    assert violation.field == "image_urls[0]"
    assert problem in violation.problem
    assert fake.recorded == []


def test_a_local_file_over_the_models_size_limit_is_refused_without_being_read(
    face: Face, fake: FakeEvoLink, tmp_path: Path
) -> None:
    big = tmp_path / "big.png"
    with big.open("wb") as file:
        file.write(image())
        file.truncate(10 * 1000 * 1000 + 1)  # sparse: 10 MB + 1 byte, never written
    with pytest.raises(RequestValidationError, match="is 10000001 bytes"):
        face.submit(WanImageToImage("x", [big]))
    assert fake.recorded == []


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (Path("/no/such/photo.png"), "does not exist"),
        (Path("/"), "is not a regular file"),
        (io.StringIO("text"), "is a text file object"),
        (Path("bad\x00name.png"), r"'bad\\x00name.png' does not exist"),
    ],
    ids=["missing", "folder", "text file", "nul in the path"],
)
def test_a_local_source_that_cannot_be_read_is_refused_naming_it(face: Face, source: Any, problem: str) -> None:
    with pytest.raises(RequestValidationError, match=problem):
        face.submit(QwenImageEdit("x", [source]))


def test_upload_takes_a_str_path_and_refuses_what_is_not_a_local_image(face: Face, tmp_path: Path) -> None:
    path = tmp_path / "in.webp"
    path.write_bytes(image(kind="WEBP"))
    assert face.upload(str(path)).mime_type == "image/webp"
    with pytest.raises(RequestValidationError, match="source: is int"):
        face.upload(42)
    with pytest.raises(RequestValidationError, match="is not a JPEG"):
        face.upload(b"plain text")


def test_success_false_in_a_200_is_an_upload_error_with_its_code_message_and_file_and_no_task(
    face: Face, fake: FakeEvoLink, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(image())
    fake.file_host.refuse_next_upload(40003, "file quota exceeded")
    with pytest.raises(UploadError) as caught:
        face.submit(WanImageToImage("x", [photo]))
    error = caught.value
    assert (error.code, error.message, error.file_name) == (40003, "file quota exceeded", str(photo))
    assert error.may_be_stored is False
    assert error.task_may_exist is False
    assert isinstance(error, FileHostError)
    assert str(photo) in str(error)
    assert fake.created == 0
    assert fake.file_host.uploads == 0


def test_a_full_quota_refuses_the_upload_and_the_quota_read_says_so(face: Face, fake: FakeEvoLink) -> None:
    fake.file_host.max_files = 1
    face.upload(image())
    quota = face.file_quota()
    assert (quota.used_files, quota.max_files, quota.remain_files) == (1, 1, 0)
    assert quota.user_group == "default"
    assert quota.is_custom is False
    assert quota.quota_reason is None
    with pytest.raises(UploadError) as caught:
        face.upload(image(colour=(1, 2, 3)))
    assert caught.value.code == 40003


@pytest.mark.parametrize(
    ("fault", "stored", "attempts"),
    [
        ("rate_limit", 1, 2),  # refused before storing: sent again, stored once
        ("unavailable", 1, 2),
        ("connect_error", 1, 2),  # never reached the host
        ("server_error", 1, 1),  # may be stored: never sent again
        ("bad_gateway_html", 1, 1),
        ("read_timeout", 1, 1),
        ("dropped", 1, 1),
        ("truncated_json", 1, 1),
    ],
)
def test_an_upload_is_sent_again_only_when_it_cannot_have_been_stored(
    face: Face, fake: FakeEvoLink, fault: Any, stored: int, attempts: int
) -> None:
    fake.inject(fault, target="upload", retry_after="0")
    if attempts == 2:
        assert face.upload(image()).file_url
    else:
        with pytest.raises(UploadError) as caught:
            face.upload(image())
        assert caught.value.may_be_stored
        assert "may have been stored" in str(caught.value)
        assert caught.value.task_may_exist is False
    assert len(uploads(fake)) == attempts
    assert fake.file_host.uploads == stored


def test_an_upload_error_keeps_the_typed_http_error_as_its_cause(face: Face, fake: FakeEvoLink) -> None:
    fake.inject("rate_limit", target="upload", times=3, retry_after="0")
    with pytest.raises(UploadError) as caught:
        face.upload(image())
    assert caught.value.status_code == 429
    assert caught.value.may_be_stored is False
    assert isinstance(caught.value.__cause__, APIStatusError)


def test_a_bad_key_is_refused_by_the_file_host_and_the_quota_read_fails_typed(fake: FakeEvoLink) -> None:
    transport = httpx.MockTransport(fake.handler)
    with Client("sk-evo-wrong-0000", transport=transport, files_base_url=fake.files_api_url) as client:
        with pytest.raises(UploadError) as caught:
            client.upload(image())
        assert caught.value.status_code == 401
        with pytest.raises(APIStatusError) as quota:
            client.file_quota()
        assert quota.value.status_code == 401


def test_a_quota_answer_with_success_false_is_a_file_host_error(face: Face, fake: FakeEvoLink) -> None:
    fake.inject("extra_fields", target="quota")  # a fault that keeps the envelope: still success
    assert face.file_quota().max_files == 100
    fake.inject("not_json", target="quota")
    with pytest.raises(FileHostError, match="is not JSON"):
        face.file_quota()


def test_a_file_edited_between_its_check_and_its_upload_is_not_stored(fake: FakeEvoLink, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(image())

    class Editing(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == UPLOAD_PATH:  # after the check, before the body is read
                photo.write_bytes(image(colour=(255, 255, 255)))
            return httpx.MockTransport(fake.handler).handle_request(request)

    with (
        Client(CANARY_KEY, transport=Editing(), files_base_url=fake.files_api_url) as client,
        pytest.raises(UploadError, match="changed between its check and its upload") as caught,
    ):
        client.submit(WanImageToImage("x", [photo]))
    assert caught.value.may_be_stored is False
    assert fake.file_host.uploads == 0
    assert fake.created == 0


def test_the_edit_renders_from_the_uploaded_image(face: Face, fake: FakeEvoLink, tmp_path: Path) -> None:
    red = image(colour=(250, 0, 0))
    task = face.run(WanImageToImage("sepia", [red]), timeout=30)
    [path] = face.download(task, tmp_path)
    with Image.open(path) as result:
        assert result.size == (400, 400)  # the input's own size: not a generated gradient


def test_run_many_uploads_an_image_shared_by_many_items_once(fake: FakeEvoLink) -> None:
    data = image()
    requests = [WanImageToImage(f"edit {i}", [data]) for i in range(6)]
    with fake.client() as client:
        # Simulated seconds: four threads sleeping on one fake clock move it for each other, so a task
        # may see far more than its own time pass; a long budget costs nothing and keeps this exact.
        results = client.run_many(requests, concurrency=4, timeout=3600)
    assert [result.outcome for result in results] == ["done"] * 6
    assert fake.file_host.uploads == 1
    assert fake.created == 6


def test_async_run_many_uploads_an_image_shared_by_many_items_once(fake: FakeEvoLink) -> None:
    data = image()

    async def go() -> list[Any]:
        async with fake.async_client() as client:
            return await client.run_many([QwenImageEdit(f"e{i}", [data]) for i in range(5)], concurrency=5)

    assert [result.outcome for result in asyncio.run(go())] == ["done"] * 5
    assert fake.file_host.uploads == 1


def test_a_with_options_client_shares_the_uploads_unless_its_key_or_file_host_differs(fake: FakeEvoLink) -> None:
    with fake.client() as client:
        client.upload(image())
        client.with_options(timeout=5).upload(image())
        assert fake.file_host.uploads == 1
        other = client.with_options(files_base_url="http://127.0.0.1:9")
        assert other._uploads is not client._uploads
        client.with_options(api_key=fake.api_key).upload(image())  # the key given again: a new cache
    assert fake.file_host.uploads == 2


def test_the_preflight_fetches_only_the_urls_a_local_image_is_checked_by_its_bytes(
    face: Face, fake: FakeEvoLink, tmp_path: Path
) -> None:
    hosted = fake.host_input("hosted.png", image(500, 500))
    face.submit(WanImageToImage("x", [image(), hosted]), preflight=True)
    fetched = [seen.url for seen in fake.recorded if seen.method == "GET"]
    assert fetched == [hosted]
    assert fake.file_host.uploads == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-05T10:00:00Z", datetime.datetime(2026, 12, 5, 10, tzinfo=datetime.UTC)),
        ("2026-12-05 10:00:00", datetime.datetime(2026, 12, 5, 10, tzinfo=datetime.UTC)),
        ("2026-12-05T12:00:00+02:00", datetime.datetime(2026, 12, 5, 10, tzinfo=datetime.UTC)),
        ("soon", None),
        (1767000000, None),
        ("9" * 100, None),
    ],
)
def test_expiry_times_are_read_leniently_and_only_as_dates(text: Any, expected: datetime.datetime | None) -> None:
    assert parse_time(text) == expected


def test_an_expiry_later_than_72_hours_is_not_believed(fake: FakeEvoLink) -> None:
    far = {"file_url": "https://files.evolink.ai/u/a.png", "expires_at": "2999-01-01T00:00:00Z"}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"success": True, "code": 200, "msg": "ok", "data": far})

    with Client(CANARY_KEY, transport=httpx.MockTransport(answer)) as client:
        uploaded = client.upload(image())
    assert uploaded.expires_at <= datetime.datetime.now(datetime.UTC) + LIFETIME
    assert uploaded.file_id is None
    assert uploaded.raw == far


@pytest.mark.parametrize(
    "body",
    [
        {"success": True, "code": 200, "data": {"file_url": "not a url"}},
        {"success": True, "code": 200, "data": None},
        {"success": "true", "data": {"file_url": "https://files.evolink.ai/a.png"}},
        ["not", "an", "envelope"],
    ],
    ids=["junk url", "no data", "success not a bool", "a list"],
)
def test_a_200_that_is_not_a_usable_envelope_is_an_upload_error_that_may_have_stored(body: Any) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=body))
    with Client(CANARY_KEY, transport=transport) as client, pytest.raises(UploadError) as caught:
        client.upload(image())
    assert caught.value.may_be_stored


def test_a_journaled_batch_records_each_upload_and_a_rerun_does_not_upload_again(
    fake: FakeEvoLink, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(image())
    journal = tmp_path / "batch.jsonl"
    requests: list[ImageEditRequest] = [
        WanImageToImage("night", [photo]),
        QwenImageEdit("sepia", [photo, image(colour=(9, 9, 9))]),
    ]
    with fake.client() as client:
        assert [r.outcome for r in client.run_many(requests, journal=journal, timeout=30)] == ["done", "done"]
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    recorded = {line["upload"]: line for line in lines if "upload" in line}
    assert len(recorded) == 2
    assert fake.file_host.uploads == 2
    assert all(parse_time(line["expires_at"]) is not None for line in recorded.values())
    # A new client (a new process, say) with the same journal: more items, the same pictures.
    more: list[ImageEditRequest] = [*requests, WanImageToImage("snow", [photo])]
    with fake.client() as client:
        assert [r.outcome for r in client.run_many(more, journal=journal, timeout=30)] == ["done"] * 3
    assert fake.file_host.uploads == 2
    assert fake.created == 3


@pytest.mark.filterwarnings("ignore::evolink_images.JournalWarning")  # item "a" is not in the second input
def test_a_journaled_upload_close_to_its_expiry_is_uploaded_again(fake: FakeEvoLink, tmp_path: Path) -> None:
    data = image()
    journal = tmp_path / "batch.jsonl"
    with fake.client() as client:
        client.run_many([WanImageToImage("a", [data])], journal=journal, timeout=30)
    lines = journal.read_text().splitlines()
    soon = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=30)).isoformat()
    aged = [re.sub(r'"expires_at":"[^"]*"', f'"expires_at":"{soon}"', line) for line in lines]
    journal.write_text("".join(line + "\n" for line in aged))
    with fake.client() as client:
        client.run_many([WanImageToImage("b", [data])], journal=journal, timeout=30)
    assert fake.file_host.uploads == 2


def test_a_version_2_journal_is_still_read(fake: FakeEvoLink, tmp_path: Path) -> None:
    journal = tmp_path / "old.jsonl"
    journal.write_text(json.dumps({"journal": "evolink-images batch journal", "version": 2}) + "\n")
    with fake.client() as client:
        [result] = client.run_many([WanImageToImage("a", [image()])], journal=journal, timeout=30)
    assert result.outcome == "done"


def test_an_item_is_named_by_its_pictures_bytes_not_by_where_the_file_lies(tmp_path: Path) -> None:
    from evolink_images._batch_feed import item_identity

    data = image()
    (tmp_path / "a.png").write_bytes(data)
    (tmp_path / "b.png").write_bytes(data)
    same = {
        item_identity(WanImageToImage("x", [source]), 1)
        for source in (tmp_path / "a.png", tmp_path / "b.png", data, io.BytesIO(data))
    }
    assert len(same) == 1
    assert item_identity(WanImageToImage("x", [image(colour=(1, 1, 1))]), 1) not in same


def test_an_upload_that_fails_leaves_the_item_pending_with_no_task(fake: FakeEvoLink, tmp_path: Path) -> None:
    fake.file_host.refuse_next_upload(50001, "storage error")
    with fake.client() as client:
        [result] = client.run_many([WanImageToImage("a", [image()])], journal=tmp_path / "j.jsonl", timeout=30)
    assert result.state == "pending"
    assert isinstance(result.error, UploadError)
    assert fake.created == 0


def test_a_file_deleted_between_its_check_and_its_upload_is_not_stored(fake: FakeEvoLink, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(image())

    class Deleting(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == UPLOAD_PATH:
                photo.unlink()
            return httpx.MockTransport(fake.handler).handle_request(request)

    with (
        Client(CANARY_KEY, transport=Deleting(), files_base_url=fake.files_api_url) as client,
        pytest.raises(UploadError, match="could not be read again"),
    ):
        client.upload(photo)
    assert fake.file_host.uploads == 0


class Unreadable(io.RawIOBase):
    def read(self, size: int = -1) -> Any:
        return [1, 2, 3]


@pytest.mark.parametrize(
    ("source", "problem"),
    [(io.BytesIO(b"x"), "cannot be read (ValueError"), (Unreadable(), "whose read() gives list, not bytes")],
    ids=["closed", "read() gives a list"],
)
def test_a_file_object_that_cannot_be_read_as_bytes_is_refused_naming_why(
    face: Face, source: Any, problem: str
) -> None:
    if isinstance(source, io.BytesIO):
        source.close()
    with pytest.raises(RequestValidationError) as caught:
        face.upload(source)
    assert problem in str(caught.value)


def test_a_journal_upload_line_that_is_not_an_upload_is_ignored_and_the_picture_uploaded(
    fake: FakeEvoLink, tmp_path: Path
) -> None:
    data = image()
    journal = tmp_path / "batch.jsonl"
    header = {"journal": "evolink-images batch journal", "version": 3}
    broken = {"upload": "0" * 64, "file_url": 42}
    journal.write_text(json.dumps(header) + "\n" + json.dumps(broken) + "\n")
    with fake.client() as client:
        [result] = client.run_many([WanImageToImage("a", [data])], journal=journal, timeout=30)
    assert result.outcome == "done"
    assert fake.file_host.uploads == 1


def test_an_upload_cache_knows_what_it_is_given_and_ignores_uploads_without_a_digest() -> None:
    from evolink_images._upload_cache import UploadCache

    later = datetime.datetime.now(datetime.UTC) + LIFETIME
    known = UploadedFile("https://files.evolink.ai/u/a.png", later, sha256="a" * 64)
    cache = UploadCache(known=[known, UploadedFile("https://files.evolink.ai/u/b.png", later)])
    assert cache.get("a" * 64) == known
    cache.put(UploadedFile("https://files.evolink.ai/u/c.png", later))  # no digest: nothing to find it by
    assert cache.layer().get("a" * 64) == known


def test_an_upload_made_in_a_layer_is_known_below_it_and_reported_once() -> None:
    from evolink_images._upload_cache import UploadCache

    later = datetime.datetime.now(datetime.UTC) + LIFETIME
    reported: list[UploadedFile] = []
    client_cache = UploadCache()
    batch_cache = client_cache.layer(on_upload=reported.append)
    made = UploadedFile("https://files.evolink.ai/u/d.png", later, sha256="d" * 64)
    batch_cache.put(made)
    assert client_cache.get("d" * 64) == made  # the client reuses what its batch uploaded
    assert batch_cache.get("d" * 64) == made
    assert reported == [made]


@pytest.mark.filterwarnings("ignore::evolink_images.JournalWarning")  # item "b" is not in the second input
def test_an_async_journaled_batch_records_its_uploads_for_the_next_run(fake: FakeEvoLink, tmp_path: Path) -> None:
    data = image()
    journal = tmp_path / "batch.jsonl"

    async def go() -> list[Any]:
        async with fake.async_client() as client:
            return await client.run_many([QwenImageEdit("a", [data]), QwenImageEdit("b", [data])], journal=journal)

    assert [result.outcome for result in asyncio.run(go())] == ["done", "done"]
    with fake.client() as client:
        [again] = client.run_many([QwenImageEdit("a", [data]), QwenImageEdit("c", [data])], journal=journal)[1:]
    assert again.outcome == "done"
    assert fake.file_host.uploads == 1


def test_the_async_client_uploads_under_trio_too(fake: FakeEvoLink) -> None:
    import anyio

    data = image()

    async def go() -> str:
        async with fake.async_client() as client:
            first = await client.upload(data)
            task = await client.submit(WanImageToImage("x", [data, data]))
            assert task.status == "pending"
            return first.file_url

    assert anyio.run(go, backend="trio").startswith(fake.files_url)
    assert fake.file_host.uploads == 1
