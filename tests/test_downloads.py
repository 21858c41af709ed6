"""Downloads against a real loopback server that lies: labels, redirects, hosts, destinations, names, modes.

Every test runs with both clients. The "public" result host ``files.example`` is routed to the
loopback server by the transport (``ToLoopback``), so the client's host checks see a public name
while the bytes come from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import io
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from evolink_images import AsyncClient, Client, DownloadError, EvoLinkError, RequestValidationError, Task
from evolink_images._download import file_stem, image_extension
from evolink_images.testing.payloads import task_json

from .conftest import CANARY_KEY
from .loopback import Answer, LoopbackServer, ToLoopback

PUBLIC = "https://files.example"


def image(kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, kind)
    return buffer.getvalue()


PNG = image("PNG")
JPEG = image("JPEG")

Download = Callable[..., list[Path]]


@pytest.fixture(params=["sync", "async"])
def download(request: pytest.FixtureRequest, server: LoopbackServer) -> Download:
    """``download(task, dest, base_url=..., **options)`` through a real socket, with the client of the param."""

    def run(task: Task, dest: Path | str, *, base_url: str = "https://api.evolink.ai", **options: Any) -> list[Path]:
        if request.param == "sync":
            with Client(CANARY_KEY, base_url=base_url, transport=ToLoopback(server)) as client:
                return client.download(task, dest, **options)

        async def go() -> list[Path]:
            async with AsyncClient(CANARY_KEY, base_url=base_url, transport=ToLoopback(server)) as client:
                return await client.download(task, dest, **options)

        return asyncio.run(go())

    return run


@pytest.fixture
def server() -> Any:
    with LoopbackServer() as running:
        yield running


def completed(*urls: str, task_id: str = "task-1") -> Task:
    return Task.from_dict(task_json("completed", id=task_id, results=list(urls)))


@pytest.mark.parametrize(
    ("body", "label", "name"),
    [
        (PNG, "image/jpeg", "task-1-0.png"),
        (JPEG, "image/png", "task-1-0.jpg"),
        (JPEG, "image/jpg", "task-1-0.jpg"),
        (PNG, "application/octet-stream", "task-1-0.png"),
        (PNG, "binary/octet-stream", "task-1-0.png"),
        (image("WEBP"), "", "task-1-0.webp"),
        (image("GIF"), "text/plain", "task-1-0.gif"),
        (image("BMP"), "image/x-ms-bmp", "task-1-0.bmp"),
        (image("TIFF"), "image/tiff", "task-1-0.tiff"),
    ],
)
def test_a_real_image_is_saved_by_its_bytes_whatever_its_label(
    download: Download, server: LoopbackServer, tmp_path: Path, body: bytes, label: str, name: str
) -> None:
    server.routes["/r/0"] = Answer(200, {"content-type": label} if label else {}, body)
    [path] = download(completed(f"{PUBLIC}/r/0"), tmp_path)
    assert path.name == name
    assert path.read_bytes() == body


@pytest.mark.parametrize(
    "body",
    [b"<!doctype html><title>Sign in</title>" * 3, b"", b"\x89PN", b'{"error": "expired"}', b"BM" + bytes(40)],
    ids=["html", "empty", "truncated signature", "json", "BM without a DIB header"],
)
def test_a_body_that_is_not_an_image_is_refused_whatever_its_label(
    download: Download, server: LoopbackServer, tmp_path: Path, body: bytes
) -> None:
    server.routes["/r/0"] = Answer(200, {"content-type": "image/png"}, body)
    with pytest.raises(DownloadError, match=r"is not an image.*labelled 'image/png'") as caught:
        download(completed(f"{PUBLIC}/r/0"), tmp_path)
    assert caught.value.task_id == "task-1"
    assert list(tmp_path.iterdir()) == []


def test_the_magic_numbers_are_read_as_the_formats_define_them() -> None:
    assert image_extension(PNG) == ".png"
    assert image_extension(b"RIFF\0\0\0\0WEBPVP8 ") == ".webp"
    assert image_extension(b"RIFF\0\0\0\0WAVEfmt ") is None
    assert image_extension(b"MM\0*") == ".tiff"
    assert image_extension(b"GIF88a") is None


def test_files_get_the_mode_open_would_give_under_the_umask(
    download: Download, server: LoopbackServer, tmp_path: Path
) -> None:
    server.routes["/r/0"] = Answer(200, {"content-type": "image/png"}, PNG)
    old = os.umask(0o022)
    try:
        [path] = download(completed(f"{PUBLIC}/r/0"), tmp_path)
        reference = tmp_path / "reference"
        reference.write_bytes(b"")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode) == 0o644


@pytest.mark.parametrize("ids", [("task-unified-1/a", "task-unified-1?a"), ("Task-A", "task-a"), ("a_b", "a/b")])
def test_task_ids_that_must_be_escaped_never_share_a_file(ids: tuple[str, str]) -> None:
    first, second = (file_stem(task_id) for task_id in ids)
    assert first != second
    assert first.lower() != second.lower()  # not on a case-insensitive file system either
    assert "/" not in first + second


def test_two_escaped_ids_download_side_by_side(download: Download, server: LoopbackServer, tmp_path: Path) -> None:
    server.routes["/r/0"] = Answer(200, {"content-type": "image/png"}, PNG)
    server.routes["/r/1"] = Answer(200, {"content-type": "image/jpeg"}, JPEG)
    [first] = download(completed(f"{PUBLIC}/r/0", task_id="task-unified-1/a"), tmp_path)
    [second] = download(completed(f"{PUBLIC}/r/1", task_id="task-unified-1?a"), tmp_path)
    assert first.with_suffix("") != second.with_suffix("")
    assert first.read_bytes() == PNG
    assert second.read_bytes() == JPEG


def test_a_plain_task_id_is_the_file_name_unchanged() -> None:
    assert file_stem("task-unified-1757156493-imcg5zqt") == "task-unified-1757156493-imcg5zqt"


def test_a_250_character_task_id_downloads_under_a_short_name(
    download: Download, server: LoopbackServer, tmp_path: Path
) -> None:
    server.routes["/r/0"] = Answer(200, {"content-type": "image/png"}, PNG)
    [path] = download(completed(f"{PUBLIC}/r/0", task_id="t" * 250), tmp_path)
    assert path.parent == tmp_path
    assert len(path.name) < 100


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/x.png",
        "http://10.0.0.1/x.png",
        "http://0x7f.1/x.png",
        "http://127.0.0.1/x.png",
        "http://%31%32%37.0.0.1/x.png",
        "http://[::ffff:169.254.169.254]/x.png",
        "file:///etc/passwd",
        "ftp://files.example/x.png",
        "gopher://files.example/x",
    ],
)
def test_a_redirect_to_an_internal_host_or_a_non_http_url_fails_at_once_and_is_not_retried(
    download: Download, server: LoopbackServer, tmp_path: Path, target: str
) -> None:
    server.routes["/r/0"] = Answer(302, {"location": target})
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"redirected to a URL that .*not followed, not retried") as caught:
        download(completed(f"{PUBLIC}/r/0"), tmp_path)
    assert time.monotonic() - started < 2  # no back-off: nothing was retried
    assert server.hits("/r/0") == 1
    assert len(server.seen) == 1  # the redirect target was never requested
    assert caught.value.task_id == "task-1"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/x.png", "https://[fd00::1]/x.png", "https://10.0.0.1/x.png", "https://0x7f.1/x.png"],
)
def test_an_internal_result_host_is_never_fetched(
    download: Download, server: LoopbackServer, tmp_path: Path, url: str
) -> None:
    with pytest.raises(
        DownloadError, match=r"not a public host; nothing was fetched \(download\(\.\.\., allow_internal_hosts=True\)"
    ):
        download(completed(url), tmp_path)
    assert server.seen == []


def test_internal_result_hosts_are_allowed_when_the_caller_opts_in_or_the_api_is_on_loopback(
    download: Download, server: LoopbackServer, tmp_path: Path
) -> None:
    server.routes["/r/0"] = Answer(200, {"content-type": "image/png"}, PNG)
    assert download(completed(f"{server.url}/r/0"), tmp_path / "a", allow_internal_hosts=True)
    assert download(completed(f"{server.url}/r/0"), tmp_path / "b", base_url=server.url)
    with pytest.raises(RequestValidationError, match="allow_internal_hosts"):
        download(completed(f"{server.url}/r/0"), tmp_path / "c", allow_internal_hosts="yes")


def test_a_few_checked_redirects_are_followed_and_too_many_are_refused(
    download: Download, server: LoopbackServer, tmp_path: Path
) -> None:
    for hop in range(7):
        server.routes[f"/hop/{hop}"] = Answer(302, {"location": f"/hop/{hop + 1}"})
    server.routes["/hop/2"] = Answer(302, {"location": f"{PUBLIC}/final"})
    server.routes["/final"] = Answer(200, {}, PNG)
    [path] = download(completed(f"{PUBLIC}/hop/0"), tmp_path)
    assert path.read_bytes() == PNG
    server.routes["/hop/2"] = Answer(302, {"location": "/hop/3"})
    server.seen.clear()
    with pytest.raises(DownloadError, match="redirected more than 5 times"):
        download(completed(f"{PUBLIC}/hop/0"), tmp_path)
    assert len(server.seen) == 6


def test_a_result_host_that_echoes_the_key_never_received_it(
    download: Download, server: LoopbackServer, tmp_path: Path
) -> None:
    server.routes["/r/0"] = Answer(200, {"content-type": "image/png"}, PNG)
    download(completed(f"{PUBLIC}/r/0"), tmp_path)
    assert "authorization" not in server.seen[0].headers
    assert all(CANARY_KEY not in value for value in server.seen[0].headers.values())


@pytest.mark.parametrize("url", ["http://[::1", "https://xn--/x", "https://exa mple.com/x", "//files.example/x"])
def test_a_junk_result_url_is_a_download_error_and_nothing_is_fetched(
    download: Download, server: LoopbackServer, tmp_path: Path, url: str
) -> None:
    with pytest.raises(DownloadError, match=r"result 0 of task task-1 .*nothing was fetched"):
        download(completed(url), tmp_path)
    assert server.seen == []


def test_an_existing_file_where_the_folder_should_be_is_named_before_anything_is_fetched(
    download: Download, server: LoopbackServer, tmp_path: Path
) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    for dest in (blocker, blocker / "deeper"):
        with pytest.raises(DownloadError, match=f"into '{dest}'") as caught:
            download(completed(f"{PUBLIC}/r/0"), dest)
        assert caught.value.task_id == "task-1"
    assert server.seen == []


def test_an_unwritable_folder_is_named_before_anything_is_fetched(
    download: Download, server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    if os.geteuid() == 0:  # root ignores the mode: refuse the way the kernel would for anyone else
        real_open = os.open

        def refusing(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
            if Path(path).parent == folder:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, flags, mode, **kwargs)

        monkeypatch.setattr(os, "open", refusing)
    try:
        with pytest.raises(DownloadError, match=f"into '{folder}': Permission denied"):
            download(completed(f"{PUBLIC}/r/0"), folder)
    finally:
        folder.chmod(0o700)
    assert server.seen == []


def test_a_path_too_long_for_the_file_system_is_a_download_error_naming_it(
    download: Download, server: LoopbackServer, tmp_path: Path
) -> None:
    dest = tmp_path / ("d" * 300)
    with pytest.raises(DownloadError, match="too long") as caught:
        download(completed(f"{PUBLIC}/r/0"), dest)
    assert str(dest)[:40] in str(caught.value)
    assert server.seen == []


def test_a_result_that_cannot_be_renamed_into_place_is_a_download_error(
    download: Download, server: LoopbackServer, tmp_path: Path
) -> None:
    server.routes["/r/0"] = Answer(200, {}, PNG)
    (tmp_path / "task-1-0.png").mkdir()  # a folder where the file goes
    with pytest.raises(DownloadError, match="cannot be saved as"):
        download(completed(f"{PUBLIC}/r/0"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["task-1-0.png"]


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "5", True])
def test_the_download_timeout_must_be_a_positive_number(download: Download, tmp_path: Path, timeout: Any) -> None:
    with pytest.raises(RequestValidationError, match="timeout"):
        download(completed(f"{PUBLIC}/r/0"), tmp_path, timeout=timeout)


def test_only_the_documented_errors_come_out_of_download(
    download: Download, server: LoopbackServer, tmp_path: Path
) -> None:
    server.routes["/r/0"] = Answer(302, {"location": "http://[::1"})
    with pytest.raises(EvoLinkError):
        download(completed(f"{PUBLIC}/r/0"), tmp_path)


def test_a_callers_http_client_auth_and_redirects_are_never_used(tmp_path: Path) -> None:
    with LoopbackServer() as api, LoopbackServer() as elsewhere:
        elsewhere.routes["/v1/images/generations"] = Answer(200, {"content-type": "application/json"}, b"{}")
        api.routes["/v1/images/generations"] = Answer(307, {"location": f"{elsewhere.url}/v1/images/generations"})
        api.routes["/v1/tasks/task-1"] = Answer(
            200,
            {"content-type": "application/json"},
            httpx.Response(200, json=task_json("completed", id="task-1", results=[f"{api.url}/r/0"])).content,
        )
        api.routes["/r/0"] = Answer(200, {}, PNG)
        from evolink_images import APIStatusError, WanImageToImage

        with (
            httpx.Client(auth=httpx.BasicAuth("caller", "secret"), follow_redirects=True) as http,
            Client(CANARY_KEY, base_url=api.url, http_client=http) as client,
        ):
            with pytest.raises(APIStatusError, match="307"):
                client.submit(WanImageToImage("x", ["https://example.com/a.png"]))
            client.download(client.get_task("task-1"), tmp_path)
    assert elsewhere.seen == []  # the 307 was not followed: no second task
    by_path = {seen.path: seen.headers for seen in api.seen}
    assert by_path["/v1/images/generations"]["authorization"] == f"Bearer {CANARY_KEY}"
    assert by_path["/v1/tasks/task-1"]["authorization"] == f"Bearer {CANARY_KEY}"
    assert "authorization" not in by_path["/r/0"]


def test_a_callers_async_http_client_auth_and_redirects_are_never_used() -> None:
    with LoopbackServer() as api, LoopbackServer() as elsewhere:
        api.routes["/v1/images/generations"] = Answer(307, {"location": f"{elsewhere.url}/v1/images/generations"})
        from evolink_images import APIStatusError, WanImageToImage

        async def go() -> None:
            async with (
                httpx.AsyncClient(auth=httpx.BasicAuth("caller", "secret"), follow_redirects=True) as http,
                AsyncClient(CANARY_KEY, base_url=api.url, http_client=http) as client,
            ):
                with pytest.raises(APIStatusError, match="307"):
                    await client.submit(WanImageToImage("x", ["https://example.com/a.png"]))

        asyncio.run(go())
    assert elsewhere.seen == []
    assert api.seen[0].headers["authorization"] == f"Bearer {CANARY_KEY}"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_preflight_never_fetches_an_internal_host_nor_follows_a_redirect_to_one(
    server: LoopbackServer, kind: str
) -> None:
    from evolink_images import WanImageToImage

    server.routes["/in/0"] = Answer(302, {"location": "http://169.254.169.254/latest/meta-data/"})
    request = WanImageToImage("x", [f"{PUBLIC}/in/0", "http://10.0.0.1/in/1.png"])

    async def submit_async() -> None:
        async with AsyncClient(CANARY_KEY, transport=ToLoopback(server)) as client:
            await client.submit(request, preflight=True)

    def submit() -> None:
        if kind == "async":
            asyncio.run(submit_async())
            return
        with Client(CANARY_KEY, transport=ToLoopback(server)) as client:
            client.submit(request, preflight=True)

    with pytest.raises(RequestValidationError) as caught:
        submit()
    problems = [violation.problem for violation in caught.value.violations]
    assert "was redirected to a URL that points at the non-public address 169.254.169.254" in problems[0]
    assert "non-public address 10.0.0.1" in problems[1]
    assert [seen.path for seen in server.seen] == ["/in/0"]  # no POST, no second hop, no internal host


def test_download_has_one_budget_for_the_whole_call(download: Download, server: LoopbackServer, tmp_path: Path) -> None:
    server.routes["/r/0"] = Answer(200, {}, PNG, delay=3.0)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="could not be fetched: ReadTimeout"):
        download(completed(f"{PUBLIC}/r/0"), tmp_path, timeout=0.5)
    assert time.monotonic() - started < 0.5 + 2  # the budget, plus a couple of seconds
    assert server.hits("/r/0") == 1  # no retry past the budget


JUNK_URLS = st.sampled_from(
    [
        "http://[::1",
        "https://xn--/x",
        "https://[fd00::1",
        "https://exa mple.com/x",
        "https://example.com:99999999/x",
        "javascript:alert(1)",
        "https://example.com/\x00",
        "//example.com/a.png",
        "https://%zz/x",
        "https://%ff/x",
        "https://\u0663\u0663/x",
        "https://\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com/a.png",  # full-width letters
        "https://xn--80ak6aa92e.com/a.png",
        "http://0x7f.1/x",
        "",
    ]
) | st.text(max_size=40).map(lambda tail: f"https://{tail}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(url=JUNK_URLS)
def test_any_result_url_is_downloaded_or_a_download_error_never_a_raw_exception(url: str, tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=PNG)

    with Client(CANARY_KEY, transport=httpx.MockTransport(answer)) as client:
        outcome: object = None
        try:
            outcome = client.download(completed(url), tmp_path / "out")
        except DownloadError as error:
            outcome = error
    assert isinstance(outcome, list) or getattr(outcome, "task_id", None) == "task-1"
