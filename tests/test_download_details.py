"""Downloads in detail: the size cap to the byte, each redirect hop and the hop limit, names, messages.

The size cap and the redirects go through a real loopback server with both clients (the "public"
host ``files.example`` is routed to 127.0.0.1 by ``ToLoopback``); the pure parts (the redirect flow,
the host rule, the sink, the names) are called directly.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from evolink_images import AsyncClient, Client, DownloadError, Task
from evolink_images._download import (
    DownloadPlan,
    ImageSink,
    download_errors,
    file_stem,
    folder_problem,
    image_extension,
    image_kind,
    plan_download,
    result_host_rule,
)
from evolink_images._fetch import FetchRefused, HostRule, fetch_flow, parse_url
from evolink_images._wire import DeadlineExceeded
from evolink_images._wire.guard import PUBLIC_ONLY
from evolink_images._wire.reach import InternalAddress
from evolink_images.testing.payloads import task_json

from .conftest import CANARY_KEY
from .loopback import Answer, LoopbackServer, ToLoopback

PUBLIC = "https://files.example"
HINT = " (download(..., allow_internal_hosts=True) allows hosts that are not public)"


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    return buffer.getvalue()


PNG = png()

Download = Callable[..., list[Path]]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.fixture(params=["sync", "async"])
def download(request: pytest.FixtureRequest, server: LoopbackServer) -> Download:
    """``download(task, dest, **options)`` through a real socket, with the client of the param."""

    def run(task: Task, dest: Path, **options: Any) -> list[Path]:
        if request.param == "sync":
            with Client(CANARY_KEY, transport=ToLoopback(server)) as client:
                return client.download(task, dest, **options)

        async def go() -> list[Path]:
            async with AsyncClient(CANARY_KEY, transport=ToLoopback(server)) as client:
                return await client.download(task, dest, **options)

        return asyncio.run(go())

    return run


def completed(*urls: str, task_id: str = "task-1") -> Task:
    return Task.from_dict(task_json("completed", id=task_id, results=list(urls)))


class TestSizeCap:
    def test_an_image_of_exactly_max_bytes_is_saved(
        self, download: Download, server: LoopbackServer, tmp_path: Path
    ) -> None:
        server.routes["/r/0"] = Answer(200, {"content-type": "image/png"}, PNG)
        [path] = download(completed(f"{PUBLIC}/r/0"), tmp_path, max_bytes=len(PNG))
        assert path.read_bytes() == PNG

    def test_an_image_one_byte_over_max_bytes_is_refused_and_nothing_is_left(
        self, download: Download, server: LoopbackServer, tmp_path: Path
    ) -> None:
        server.routes["/r/0"] = Answer(200, {"content-type": "image/png"}, PNG)
        limit = len(PNG) - 1
        with pytest.raises(DownloadError) as caught:
            download(completed(f"{PUBLIC}/r/0"), tmp_path, max_bytes=limit)
        assert str(caught.value) == f"result 0 of task task-1 is over {limit} bytes (the max_bytes limit)"
        assert caught.value.task_id == "task-1"
        assert list(tmp_path.iterdir()) == []

    def test_the_default_budget_is_300_seconds_for_the_whole_call(self, tmp_path: Path) -> None:
        left: list[float] = []

        def answer(request: httpx.Request) -> httpx.Response:
            left.append(request.extensions["evolink_deadline"] - time.monotonic())
            return httpx.Response(200, content=PNG)

        with Client(CANARY_KEY, transport=httpx.MockTransport(answer)) as client:
            client.download(completed(f"{PUBLIC}/r/0"), tmp_path)
        assert 299 < left[0] <= 300

    def test_the_default_cap_is_64_mib(self, tmp_path: Path) -> None:
        declared = {"content-length": str(64 * 1024 * 1024 + 1)}

        def answer(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, headers=declared, content=PNG)

        with (
            Client(CANARY_KEY, transport=httpx.MockTransport(answer)) as client,
            pytest.raises(DownloadError) as caught,
        ):
            client.download(completed(f"{PUBLIC}/r/0"), tmp_path)
        assert str(caught.value) == "result 0 of task task-1 is over 67108864 bytes (the max_bytes limit)"


def plan_for(folder: Path, *urls: str, task_id: str = "task-1") -> DownloadPlan:
    return plan_download(completed(*urls, task_id=task_id), folder, HostRule())


def response(status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers or {}, request=httpx.Request("GET", f"{PUBLIC}/r/0"))


def save(sink: ImageSink, body: bytes, chunk: int, then: Exception | None = None) -> None:
    """Stream ``body`` into ``sink`` in chunks of ``chunk`` bytes, then raise ``then`` (if any) before it closes."""
    with sink:
        for start in range(0, len(body), chunk):
            sink.write(body[start : start + chunk])
        if then is not None:
            raise then


class TestSink:
    def test_a_body_streamed_without_a_length_may_reach_max_bytes_exactly(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0")
        with ImageSink(plan, 0, response(), len(PNG)) as sink:
            for start in range(0, len(PNG), 7):
                sink.write(PNG[start : start + 7])
        assert sink.path == tmp_path / "task-1-0.png"
        assert sink.path.read_bytes() == PNG

    def test_a_body_streamed_without_a_length_is_cut_off_one_byte_past_max_bytes(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0")
        body = PNG + b"\0"
        with pytest.raises(DownloadError) as caught:
            save(ImageSink(plan, 0, response(), len(PNG)), body, 7)
        assert str(caught.value) == f"result 0 of task task-1 is over {len(PNG)} bytes (the max_bytes limit)"
        assert list(tmp_path.iterdir()) == []

    def test_a_declared_length_of_exactly_max_bytes_is_accepted_and_one_more_refused(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0")
        with ImageSink(plan, 0, response(headers={"content-length": "40"}), 40) as sink:
            sink.write(PNG[:40])
        with pytest.raises(DownloadError) as caught:
            ImageSink(plan, 0, response(headers={"content-length": "41"}), 40)
        assert str(caught.value) == "result 0 of task task-1 is over 40 bytes (the max_bytes limit)"

    def test_a_declared_length_that_is_not_a_number_is_ignored(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0")
        for declared in ("-99999", "lots"):
            with ImageSink(plan, 0, response(headers={"content-length": declared}), len(PNG)) as sink:
                sink.write(PNG)
            assert sink.path is not None

    def test_a_status_other_than_200_is_refused_before_anything_is_written(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0", f"{PUBLIC}/r/1")
        for status in (201, 206, 404):
            with pytest.raises(DownloadError) as caught:
                ImageSink(plan, 1, response(status), 1000)
            assert str(caught.value) == (
                f"result 1 of task task-1 could not be fetched: HTTP {status} (result URLs expire after 24 h)"
            )
        assert list(tmp_path.iterdir()) == []

    def test_the_image_is_written_to_a_hidden_temporary_file_then_renamed(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0", f"{PUBLIC}/r/1")
        with ImageSink(plan, 1, response(), 1000) as sink:
            sink.write(PNG[:10])
            [temporary] = tmp_path.iterdir()
            assert temporary.name.startswith(".task-1-1.")
            assert temporary.name.endswith(".part")
            assert len(temporary.name) == len(".task-1-1.") + 12 + len(".part")
            assert sink.path is None
            sink.write(PNG[10:])
        assert [p.name for p in tmp_path.iterdir()] == ["task-1-1.png"]
        assert sink.path == tmp_path / "task-1-1.png"

    def test_a_body_shorter_than_the_sniff_window_is_still_typed_and_saved(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0")
        short = b"GIF89a" + bytes(10)
        with ImageSink(plan, 0, response(), 1000) as sink:
            sink.write(short[:3])
            sink.write(short[3:])
        assert sink.path is not None
        assert sink.path.name == "task-1-0.gif"
        assert sink.path.read_bytes() == short

    def test_bytes_after_the_sniff_window_are_written_once_in_order(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0")
        body = b"\xff\xd8\xff" + bytes(range(200))
        with ImageSink(plan, 0, response(), 1000) as sink:
            for byte in range(len(body)):
                sink.write(body[byte : byte + 1])
        assert sink.path is not None
        assert sink.path.read_bytes() == body

    def test_a_failure_in_the_body_leaves_no_file(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0")
        sink = ImageSink(plan, 0, response(), 1000)
        with pytest.raises(RuntimeError, match="the connection dropped"):
            save(sink, PNG, len(PNG), then=RuntimeError("the connection dropped"))
        assert sink.path is None
        assert sink._file.closed
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize(
        ("label", "shown"),
        [
            ("text/html; charset=utf-8", "'text/html'"),
            ("", "no content type"),
            ("x/" + "y" * 58, "'x/" + "y" * 58 + "'"),
            ("x/" + "y" * 59, "'x/" + "y" * 55 + "...'"),
        ],
    )
    def test_a_body_that_is_no_image_names_its_label_cut_to_sixty_characters(
        self, tmp_path: Path, label: str, shown: str
    ) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0")
        headers = {"content-type": label} if label else {}
        with pytest.raises(DownloadError) as caught, ImageSink(plan, 0, response(headers=headers), 1000) as sink:
            sink.write(b"<html>" + bytes(40))
        assert str(caught.value) == (
            f"result 0 of task task-1 is not an image (PNG, JPEG, WEBP, GIF, BMP or TIFF); labelled {shown}"
        )
        assert list(tmp_path.iterdir()) == []

    def test_a_folder_that_vanished_is_named_when_the_file_cannot_be_created(self, tmp_path: Path) -> None:
        folder = tmp_path / "out"
        plan = plan_for(folder, f"{PUBLIC}/r/0")
        folder.rmdir()
        with pytest.raises(DownloadError) as caught:
            ImageSink(plan, 0, response(), 1000)
        assert (
            str(caught.value)
            == f"result 0 of task task-1 cannot be written into {str(folder)!r}: No such file or directory"
        )


class TestSniffWindow:
    def test_the_type_is_decided_once_32_bytes_arrived(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0")
        sink = ImageSink(plan, 0, response(headers={"content-type": "text/html"}), 1000)
        sink.write(b"<" * 31)  # not yet decided: 31 bytes say nothing
        with pytest.raises(DownloadError) as caught:
            sink.write(b"<")
        sink.__exit__(DownloadError, caught.value, None)
        assert list(tmp_path.iterdir()) == []
        assert str(caught.value) == (
            "result 0 of task task-1 is not an image (PNG, JPEG, WEBP, GIF, BMP or TIFF); labelled 'text/html'"
        )


class TestMagicNumbers:
    @pytest.mark.parametrize(
        ("head", "kind"),
        [
            (b"\x89PNG\r\n\x1a\n", "PNG"),
            (b"\x89PNG\r\n\x1a", None),
            (b"\xff\xd8\xff\xe0", "JPEG"),
            (b"\xff\xd8\xfe", None),
            (b"RIFF\0\0\0\0WEBP", "WEBP"),
            (b"RIFX\0\0\0\0WEBP", None),
            (b"GIF87a", "GIF"),
            (b"GIF89a", "GIF"),
            *((b"BM" + bytes(12) + size.to_bytes(4, "little"), "BMP") for size in (12, 16, 40, 52, 56, 64, 108, 124)),
            (b"BM" + bytes(12) + (40).to_bytes(4, "little") + b"\xff" * 8, "BMP"),
            (b"BM" + bytes(12) + (41).to_bytes(4, "little"), None),
            (b"BM" + bytes(12) + (40 + (1 << 24)).to_bytes(4, "little"), None),
            (b"BM" + bytes(12) + (40).to_bytes(3, "little"), None),
            (b"GIF87a" + bytes(10), "GIF"),
            (b"GIF89a" + bytes(10), "GIF"),
            (b"RIFF\0\0\0\0WEBPVP8 ", "WEBP"),
            (b"II*\x00\x08\x00", "TIFF"),
            (b"MM\x00*\x00\x08", "TIFF"),
            (b"II\x00*", None),
            (b"", None),
        ],
    )
    def test_each_format_is_known_by_its_magic_number(self, head: bytes, kind: str | None) -> None:
        assert image_kind(head) == kind

    def test_each_format_has_its_usual_extension(self) -> None:
        assert [
            image_extension(head)
            for head in (
                b"\x89PNG\r\n\x1a\n",
                b"\xff\xd8\xff",
                b"RIFF\0\0\0\0WEBP",
                b"GIF87a",
                b"BM" + bytes(12) + (40).to_bytes(4, "little"),
                b"II*\x00",
                b"<html>",
            )
        ] == [".png", ".jpg", ".webp", ".gif", ".bmp", ".tiff", None]


def hashed(task_id: str) -> str:
    return hashlib.sha256(task_id.encode()).hexdigest()[:12]


class TestNames:
    @pytest.mark.parametrize("task_id", ["a", "0", "a" * 100, "a.b-c", "task-1"])
    def test_a_plainly_safe_id_of_up_to_a_hundred_characters_is_the_stem(self, task_id: str) -> None:
        assert file_stem(task_id) == task_id

    @pytest.mark.parametrize(
        ("task_id", "readable"),
        [
            ("a" * 101, "a" * 60),
            ("Task-A", "Task-A"),
            ("task/a", "task_a"),
            ("-task-", "task"),
            ("..", "task"),
            ("a/", "a"),
            ("_" * 5, "task"),
            ("a" * 59 + "/b", "a" * 59),
        ],
    )
    def test_any_other_id_is_escaped_cut_to_sixty_characters_and_hashed(self, task_id: str, readable: str) -> None:
        assert file_stem(task_id) == f"{readable}_{hashed(task_id)}"

    def test_an_id_with_a_lone_surrogate_is_hashed_as_written(self) -> None:
        task_id = "a\ud800b"  # what JSON's "\\ud800" escape decodes to
        digest = hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        assert file_stem(task_id) == f"a_b_{digest}"

    def test_results_are_named_by_the_task_and_their_index(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0", f"{PUBLIC}/r/1", task_id="Task/X")
        assert plan.path(1, ".png") == tmp_path / f"Task_X_{hashed('Task/X')}-1.png"
        assert plan.error(1, "broke").task_id == "Task/X"
        assert str(plan.error(1, "broke")) == "result 1 of task Task/X broke"


class TestPlan:
    def test_a_task_not_completed_is_refused(self, tmp_path: Path) -> None:
        running = Task.from_dict(task_json("processing", id="task-1"))
        with pytest.raises(DownloadError) as caught:
            plan_download(running, tmp_path, HostRule())
        assert str(caught.value) == "task task-1 is processing, not completed: nothing to download"
        assert caught.value.task_id == "task-1"

    def test_a_completed_task_without_results_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(DownloadError) as caught:
            plan_download(completed(), tmp_path, HostRule())
        assert str(caught.value) == "task task-1 completed without result URLs"

    def test_a_bad_result_url_is_named_by_its_index(self, tmp_path: Path) -> None:
        with pytest.raises(DownloadError) as caught:
            plan_for(tmp_path, f"{PUBLIC}/r/0", "ftp://files.example/x.png")
        assert str(caught.value) == f"result 1 of task task-1 is a ftp: URL, not http(s); nothing was fetched{HINT}"
        with pytest.raises(DownloadError) as caught:
            plan_for(tmp_path, "http://[::1")
        assert str(caught.value) == (
            f"result 0 of task task-1 is not a URL that can be fetched (InvalidURL); nothing was fetched{HINT}"
        )

    def test_the_plan_keeps_the_urls_the_rule_and_the_stem(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path / "new" / "deeper", f"{PUBLIC}/r/0", f"{PUBLIC}/r/1")
        assert plan.urls == (httpx.URL(f"{PUBLIC}/r/0"), httpx.URL(f"{PUBLIC}/r/1"))
        assert plan.stem == "task-1"
        assert plan.folder == tmp_path / "new" / "deeper"
        assert plan.folder.is_dir()
        assert list(plan.folder.iterdir()) == []  # the trial file is gone

    def test_a_file_where_the_folder_goes_is_named(self, tmp_path: Path) -> None:
        blocker = tmp_path / "out"
        blocker.write_text("x")
        with pytest.raises(DownloadError) as caught:
            plan_for(blocker, f"{PUBLIC}/r/0")
        assert (
            str(caught.value)
            == f"cannot save the results of task task-1 into {str(blocker)!r}: it is a file, not a folder"
        )
        assert folder_problem(blocker) == "it is a file, not a folder"

    def test_a_writable_folder_has_no_problem_and_keeps_no_probe(self, tmp_path: Path) -> None:
        assert folder_problem(tmp_path / "a") is None
        assert folder_problem(tmp_path / "a", "probe.part") is None
        assert list((tmp_path / "a").iterdir()) == []

    def test_a_name_too_long_is_said_so(self, tmp_path: Path) -> None:
        assert folder_problem(tmp_path, "p" * 300) == "a path is too long for the file system"

    def test_result_hosts_may_be_internal_when_allowed_or_when_the_api_is_on_loopback(self) -> None:
        assert result_host_rule(httpx.URL("https://api.evolink.ai"), False) == HostRule(allow_internal=False)
        assert result_host_rule(httpx.URL("https://api.evolink.ai"), True) == HostRule(allow_internal=True)
        assert result_host_rule(httpx.URL("http://127.0.0.1:8000"), False) == HostRule(allow_internal=True)


PATH_MAX = 4096
"""Linux's longest path, its final NUL included: a path of 4,095 characters is the longest that opens."""


def folder_leaving(tmp_path: Path, name_length: int, spare: int = 0) -> Path:
    """A new folder whose path leaves room for a name of ``name_length`` characters and ``spare`` more (or less)."""
    length = PATH_MAX - 1 - 1 - name_length - spare  # the separator before the name
    folder = str(tmp_path)
    while len(folder) < length:
        left = length - len(folder)
        part = min(200, left - 1)
        if left - 1 - part == 1:  # never leave room for a separator alone
            part -= 1
        folder += "/" + "d" * part
    assert len(folder) == length
    Path(folder).mkdir(parents=True)
    return Path(folder)


def download_all(folder: Path, count: int) -> list[str]:
    """Download ``count`` PNG results of task ``task-1`` into ``folder``; return the names, or the error."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=PNG)

    task = completed(*(f"{PUBLIC}/r/{index}" for index in range(count)))
    try:
        with Client(CANARY_KEY, transport=httpx.MockTransport(answer)) as client:
            return [path.name for path in client.download(task, folder)]
    except DownloadError as error:
        return [str(error).replace(str(folder), "<folder>")]


class TestTrialFile:
    def test_a_folder_that_takes_the_longest_temporary_name_exactly_takes_all_results(self, tmp_path: Path) -> None:
        # Ten results: the longest temporary name is ".task-1-9.<12 hex digits>.part", 27 characters.
        folder = folder_leaving(tmp_path, 27)
        assert download_all(folder, 10) == [f"task-1-{index}.png" for index in range(10)]

    def test_a_folder_one_character_short_of_the_longest_temporary_name_is_refused_before_fetching(
        self, tmp_path: Path
    ) -> None:
        # Eleven results: the longest temporary name is ".task-1-10.<12 hex digits>.part", 28 characters.
        folder = folder_leaving(tmp_path, 28, spare=-1)
        assert download_all(folder, 11) == [
            "cannot save the results of task task-1 into '<folder>': a path is too long for the file system"
        ]
        assert list(folder.iterdir()) == []

    def test_the_default_trial_name_has_39_characters(self, tmp_path: Path) -> None:
        # ".evolink-images-probe.<12 hex digits>.part"
        assert folder_problem(folder_leaving(tmp_path / "fits", 39)) is None
        assert (
            folder_problem(folder_leaving(tmp_path / "short", 39, spare=-1)) == "a path is too long for the file system"
        )


class TestErrorsWhileSaving:
    @pytest.mark.parametrize(
        ("raised", "problem"),
        [
            (
                FetchRefused("was redirected more than 5 times"),
                f"was redirected more than 5 times; not followed, not retried{HINT}",
            ),
            (
                InternalAddress("files.example resolves to 10.0.0.1"),
                f"was not fetched: files.example resolves to 10.0.0.1, not a public host; not contacted{HINT}",
            ),
            (DeadlineExceeded("late"), "could not be fetched: the download's total time budget ran out"),
            (httpx.ReadTimeout("slow"), "could not be fetched: ReadTimeout"),
            (httpx.InvalidURL("bad"), "could not be fetched: InvalidURL"),
            (httpx.StreamClosed(), "could not be fetched: StreamClosed"),
        ],
    )
    def test_each_failure_becomes_a_download_error_naming_the_result(
        self, tmp_path: Path, raised: Exception, problem: str
    ) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0", f"{PUBLIC}/r/1")
        with pytest.raises(DownloadError) as caught, download_errors(plan, 1):
            raise raised
        assert str(caught.value) == f"result 1 of task task-1 {problem}"
        assert caught.value.task_id == "task-1"
        assert caught.value.__suppress_context__

    def test_a_disk_error_names_the_folder_and_the_reason(self, tmp_path: Path) -> None:
        plan = plan_for(tmp_path, f"{PUBLIC}/r/0")
        with pytest.raises(DownloadError) as caught, download_errors(plan, 0):
            raise OSError(errno.ENOSPC, "No space left on device")
        assert (
            str(caught.value)
            == f"result 0 of task task-1 cannot be written into {str(tmp_path)!r}: No space left on device"
        )
        with pytest.raises(DownloadError) as caught, download_errors(plan, 0):
            raise OSError("no errno")
        assert str(caught.value) == f"result 0 of task task-1 cannot be written into {str(tmp_path)!r}: OSError"


class TestParseUrl:
    def test_a_value_that_is_not_a_string_is_refused_by_its_type(self) -> None:
        with pytest.raises(FetchRefused) as caught:
            parse_url(42)
        assert str(caught.value) == "is not a URL but int"

    @pytest.mark.parametrize(
        ("text", "kind"),
        [("http://[::1", "InvalidURL"), ("https://a..b/x", "UnicodeError"), ("https://exa mple.com/x", "ValueError")],
    )
    def test_a_url_that_cannot_be_sent_is_refused(self, text: str, kind: str) -> None:
        with pytest.raises(FetchRefused) as caught:
            parse_url(text)
        assert str(caught.value) == f"is not a URL that can be fetched ({kind})"

    def test_a_good_url_is_returned_as_httpx_reads_it(self) -> None:
        assert parse_url("https://Files.Example/r/0?x=1") == httpx.URL("https://files.example/r/0?x=1")
        assert parse_url("/relative") == httpx.URL("/relative")


class TestHostRule:
    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("ftp://files.example/x", "is a ftp: URL, not http(s)"),
            ("file:///etc/passwd", "is a file: URL, not http(s)"),
            ("/x.png", "is not an absolute URL"),
            ("http://10.0.0.1/x", "points at the non-public address 10.0.0.1 (written '10.0.0.1'), not a public host"),
            ("https://files.example/x", None),
            ("http://files.example/x", None),
        ],
    )
    def test_only_public_http_urls_pass_by_default(self, url: str, problem: str | None) -> None:
        assert HostRule().problem(httpx.URL(url)) == problem

    def test_allowing_internal_hosts_still_requires_http(self) -> None:
        rule = HostRule(allow_internal=True)
        assert rule.problem(httpx.URL("http://10.0.0.1/x")) is None
        assert rule.problem(httpx.URL("ftp://10.0.0.1/x")) == "is a ftp: URL, not http(s)"

    def test_the_wire_is_told_to_reach_public_addresses_only_unless_internal_hosts_are_allowed(self) -> None:
        assert HostRule().extensions == {PUBLIC_ONLY: True}
        assert HostRule(allow_internal=True).extensions == {}


def redirect(location: str) -> httpx.Response:
    return httpx.Response(302, headers={"location": location}, request=httpx.Request("GET", PUBLIC))


def run_flow(
    start: str, answers: list[httpx.Response], rule: HostRule | None = None
) -> tuple[list[str], httpx.Response]:
    """Drive ``fetch_flow``: return every URL it asked for and the response it returned."""
    flow = fetch_flow(httpx.URL(start), rule or HostRule())
    asked = [str(next(flow))]
    for answer in answers:
        try:
            asked.append(str(flow.send(answer)))
        except StopIteration as stop:
            final: httpx.Response = stop.value
            return asked, final
    raise AssertionError(f"the flow asked for more: {asked}")


class TestRedirectFlow:
    def test_five_redirects_are_followed_each_joined_to_the_url_before(self) -> None:
        done = httpx.Response(200, request=httpx.Request("GET", PUBLIC))
        hops = [redirect(f"/hop/{n}") for n in range(1, 5)] + [redirect("https://cdn.example/final")]
        asked, final = run_flow(f"{PUBLIC}/hop/0", [*hops, done])
        assert asked == [*(f"{PUBLIC}/hop/{n}" for n in range(5)), "https://cdn.example/final"]
        assert final is done

    def test_a_sixth_redirect_is_refused_without_being_followed(self) -> None:
        flow = fetch_flow(httpx.URL(f"{PUBLIC}/hop/0"), HostRule())
        asked = [next(flow)]
        for n in range(1, 6):
            asked.append(flow.send(redirect(f"/hop/{n}")))
        with pytest.raises(FetchRefused) as caught:
            flow.send(redirect("/hop/6"))
        assert str(caught.value) == "was redirected more than 5 times"
        assert len(asked) == 6

    @pytest.mark.parametrize("hop", [1, 5])
    def test_every_hop_is_checked_the_last_allowed_one_too(self, hop: int) -> None:
        flow = fetch_flow(httpx.URL(f"{PUBLIC}/hop/0"), HostRule())
        next(flow)
        for n in range(1, hop):
            flow.send(redirect(f"/hop/{n}"))
        with pytest.raises(FetchRefused) as caught:
            flow.send(redirect("http://169.254.169.254/latest/meta-data/"))
        assert str(caught.value) == (
            "was redirected to a URL that points at the non-public address 169.254.169.254"
            " (written '169.254.169.254'), not a public host"
        )

    def test_the_first_url_is_checked_and_refused_in_its_own_words(self) -> None:
        flow = fetch_flow(httpx.URL("ftp://files.example/x"), HostRule())
        with pytest.raises(FetchRefused) as caught:
            next(flow)
        assert str(caught.value) == "is a ftp: URL, not http(s)"

    @pytest.mark.parametrize("location", ["https://a..b/x", "https://exa mple.com/x", "http://[::1"])
    def test_a_location_that_is_no_url_is_refused(self, location: str) -> None:
        flow = fetch_flow(httpx.URL(f"{PUBLIC}/r/0"), HostRule())
        next(flow)
        with pytest.raises(FetchRefused) as caught:
            flow.send(redirect(location))
        assert str(caught.value) == "was redirected to a Location that is not a URL"

    def test_a_redirect_status_without_a_location_is_the_final_response(self) -> None:
        bare = httpx.Response(302, request=httpx.Request("GET", PUBLIC))
        asked, final = run_flow(f"{PUBLIC}/r/0", [bare])
        assert asked == [f"{PUBLIC}/r/0"]
        assert final is bare

    def test_internal_hops_are_followed_when_allowed(self) -> None:
        done = httpx.Response(200, request=httpx.Request("GET", PUBLIC))
        asked, _ = run_flow(f"{PUBLIC}/r/0", [redirect("http://10.0.0.1/x"), done], HostRule(allow_internal=True))
        assert asked == [f"{PUBLIC}/r/0", "http://10.0.0.1/x"]


class TestRedirectsOverTheWire:
    def test_exactly_five_redirects_are_followed_to_the_image(
        self, download: Download, server: LoopbackServer, tmp_path: Path
    ) -> None:
        for hop in range(5):
            server.routes[f"/hop/{hop}"] = Answer(302, {"location": f"/hop/{hop + 1}"})
        server.routes["/hop/5"] = Answer(200, {"content-type": "image/png"}, PNG)
        [path] = download(completed(f"{PUBLIC}/hop/0"), tmp_path)
        assert path.read_bytes() == PNG
        assert [seen.path for seen in server.seen] == [f"/hop/{hop}" for hop in range(6)]

    def test_a_sixth_redirect_is_refused_and_its_target_never_requested(
        self, download: Download, server: LoopbackServer, tmp_path: Path
    ) -> None:
        for hop in range(6):
            server.routes[f"/hop/{hop}"] = Answer(302, {"location": f"/hop/{hop + 1}"})
        server.routes["/hop/6"] = Answer(200, {"content-type": "image/png"}, PNG)
        with pytest.raises(DownloadError) as caught:
            download(completed(f"{PUBLIC}/hop/0"), tmp_path)
        assert (
            str(caught.value)
            == f"result 0 of task task-1 was redirected more than 5 times; not followed, not retried{HINT}"
        )
        assert [seen.path for seen in server.seen] == [f"/hop/{hop}" for hop in range(6)]
        assert list(tmp_path.iterdir()) == []

    def test_the_fifth_hop_to_an_internal_host_is_refused(
        self, download: Download, server: LoopbackServer, tmp_path: Path
    ) -> None:
        for hop in range(4):
            server.routes[f"/hop/{hop}"] = Answer(302, {"location": f"/hop/{hop + 1}"})
        server.routes["/hop/4"] = Answer(302, {"location": "http://10.0.0.1/x.png"})
        with pytest.raises(DownloadError) as caught:
            download(completed(f"{PUBLIC}/hop/0"), tmp_path)
        assert str(caught.value) == (
            "result 0 of task task-1 was redirected to a URL that points at the non-public address 10.0.0.1"
            f" (written '10.0.0.1'), not a public host; not followed, not retried{HINT}"
        )
        assert len(server.seen) == 5

    def test_every_result_of_a_task_is_saved_under_its_index(
        self, download: Download, server: LoopbackServer, tmp_path: Path
    ) -> None:
        server.routes["/r/0"] = Answer(200, {}, PNG)
        server.routes["/r/1"] = Answer(302, {"location": "/r/2"})
        server.routes["/r/2"] = Answer(200, {}, b"\xff\xd8\xff" + bytes(40))
        paths = download(completed(f"{PUBLIC}/r/0", f"{PUBLIC}/r/1"), tmp_path)
        assert [path.name for path in paths] == ["task-1-0.png", "task-1-1.jpg"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["task-1-0.png", "task-1-1.jpg"]


class Tracked(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that notes how much of it was read and whether it was closed."""

    def __init__(self, name: str, body: bytes, log: list[str]) -> None:
        self._name = name
        self._body = body
        self._log = log

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self._body), 16):
            self._log.append(f"read {self._name}")
            yield self._body[start : start + 16]

    async def __aiter__(self) -> Any:
        for chunk in self:
            yield chunk

    def close(self) -> None:
        self._log.append(f"closed {self._name}")

    async def aclose(self) -> None:
        self.close()


def tracked_download(
    kind: str, routes: dict[str, tuple[int, dict[str, str], bytes]], tmp_path: Path, **options: Any
) -> list[str]:
    """Download result ``/r/0`` of ``files.example`` from ``routes`` (path -> status, headers, body); return the log."""
    log: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        status, headers, body = routes[request.url.path]
        log.append(f"GET {request.url.path}")
        return httpx.Response(status, headers=headers, stream=Tracked(request.url.path, body, log))

    task = completed(f"{PUBLIC}/r/0")
    try:
        if kind == "sync":
            with Client(CANARY_KEY, transport=httpx.MockTransport(answer)) as client:
                client.download(task, tmp_path, **options)
        else:

            async def go() -> None:
                async with AsyncClient(CANARY_KEY, transport=httpx.MockTransport(answer)) as client:
                    await client.download(task, tmp_path, **options)

            asyncio.run(go())
    except DownloadError as error:
        log.append(f"error: {error}")
    return log


@pytest.mark.parametrize("kind", ["sync", "async"])
class TestResponsesAreClosed:
    def test_each_redirect_is_closed_unread_before_the_next_hop_and_the_image_after_it_is_saved(
        self, kind: str, tmp_path: Path
    ) -> None:
        routes = {"/r/0": (302, {"location": "/r/1"}, b"moved" * 10), "/r/1": (200, {}, PNG[:32])}
        assert tracked_download(kind, routes, tmp_path) == [
            "GET /r/0",
            "closed /r/0",
            "GET /r/1",
            "read /r/1",
            "read /r/1",
            "closed /r/1",
        ]
        assert (tmp_path / "task-1-0.png").read_bytes() == PNG[:32]

    def test_a_refused_redirect_is_closed_unread(self, kind: str, tmp_path: Path) -> None:
        routes = {"/r/0": (302, {"location": "http://10.0.0.1/x"}, b"moved")}
        log = tracked_download(kind, routes, tmp_path)
        assert log[:2] == ["GET /r/0", "closed /r/0"]
        assert log[2].startswith("error: result 0 of task task-1 was redirected to a URL that points at the non-public")
        assert len(log) == 3

    def test_an_image_declared_over_the_cap_is_refused_before_its_body_is_read(self, kind: str, tmp_path: Path) -> None:
        routes = {"/r/0": (200, {"content-length": "64"}, PNG[:32] + bytes(32))}
        assert tracked_download(kind, routes, tmp_path, max_bytes=63) == [
            "GET /r/0",
            "closed /r/0",
            "error: result 0 of task task-1 is over 63 bytes (the max_bytes limit)",
        ]
