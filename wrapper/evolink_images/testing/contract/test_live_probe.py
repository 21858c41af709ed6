"""The live probe's logic, proved offline: against the loopback fake, and against a lax imitation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from evolink_images import Client, QwenImageEdit, WanImageToImage
from evolink_images.testing.fake import FakeEvoLink, TaskPlan
from evolink_images.testing.payloads import catalog_models, task_json
from evolink_images.testing.server import FakeServer

from .catalog import CATALOG_PATH, check_catalog, judge_catalog
from .file_host_probe import QUOTA_PATH, UPLOAD_PATH, check_file_host
from .live_probe import PLAN, check_task, main, probe, run


def test_the_probe_refuses_to_send_without_the_flag_and_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    assert main(["--live"]) == 2
    monkeypatch.setenv("EVOLINK_API_KEY", "sk-evo-secret-probe")
    assert main([]) == 2
    out = capsys.readouterr()
    assert f"sends {len(PLAN)} requests" in out.out
    assert "needs --live" in out.err
    assert "sk-evo-secret-probe" not in out.out + out.err


def test_the_probe_passes_against_an_api_that_keeps_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeServer(FakeEvoLink(plan=TaskPlan(duration=0))) as server:
        assert run(PLAN, server.base_url, server.fake.api_key) == []
        assert server.fake.created == 0
    assert capsys.readouterr().out.count("ok  ") == len(PLAN)


def test_the_probe_fails_and_stops_on_an_api_that_accepts_a_bad_request() -> None:
    sent: list[str] = []

    def lax(method: str, path: str, **kwargs: Any) -> httpx.Response:
        sent.append(path)
        if "authorization" not in {key.lower() for key in kwargs["headers"]}:
            return httpx.Response(401, json={"error": {"code": "unauthorized", "message": "no key"}})
        return httpx.Response(200, json=task_json())

    failures = run(PLAN, "https://api.example.invalid", "sk-evo-x", send=lax)
    assert len(failures) == 1
    assert "was created" in failures[0]
    assert len(sent) < len(PLAN)


def test_the_catalog_check_passes_when_both_models_are_active() -> None:
    with FakeServer(FakeEvoLink()) as server:
        findings = check_catalog(server.base_url)
        assert not any(request.has_authorization for request in server.fake.recorded)  # keyless
    assert [(finding.model, finding.level) for finding in findings] == [
        ("wan2.5-image-to-image", "ok"),
        ("qwen-image-edit", "ok"),
    ]


@pytest.mark.parametrize(
    ("lifecycle", "level", "words"),
    [
        ("deprecated", "warning", "deprecates_at 2027-01-31"),
        ("preview", "warning", "preview"),
        ("retired", "failure", "retired"),
        ("sunset", "failure", "unknown lifecycle 'sunset'"),
    ],
)
def test_the_catalog_check_warns_on_a_deprecated_model_and_fails_on_a_retired_one(
    lifecycle: str, level: str, words: str
) -> None:
    fake = FakeEvoLink(catalog=catalog_models(qwen_image_edit=lifecycle))
    with FakeServer(fake) as server:
        qwen = check_catalog(server.base_url)[1]
    assert (qwen.model, qwen.level) == ("qwen-image-edit", level)
    assert words in qwen.message


def test_the_catalog_check_fails_when_a_model_is_absent_or_the_catalog_is_unreadable() -> None:
    fake = FakeEvoLink(catalog=catalog_models()[:1])
    with FakeServer(fake) as server:
        findings = check_catalog(server.base_url)
    assert [finding.level for finding in findings] == ["ok", "failure"]
    assert "absent from the catalog" in findings[1].message
    assert judge_catalog({"meta": {}})[0].level == "failure"
    unreadable = check_catalog("https://api.example.invalid", send=lambda *a, **k: httpx.Response(200, text="<html>"))
    assert unreadable[0].message == f"GET {CATALOG_PATH} did not answer JSON"
    missing = check_catalog("https://api.example.invalid", send=lambda *a, **k: httpx.Response(404))
    assert "HTTP 404" in missing[0].message


def test_an_existing_task_is_read_and_checked_against_the_spec() -> None:
    with FakeServer(FakeEvoLink(plan=TaskPlan(duration=0))) as server:
        client = Client(server.fake.api_key, base_url=server.base_url)
        task = client.submit(WanImageToImage("Night", ["https://example.com/a.png"]))
        assert check_task(server.base_url, server.fake.api_key, task.id) == []
        created = server.fake.created
        unknown = check_task(server.base_url, server.fake.api_key, "task-unified-0-nothing")
        assert server.fake.created == created  # reading costs nothing and creates nothing
        client.close()
    assert unknown == ["reading task task-unified-0-nothing: expected HTTP 200, got 404"]


def test_a_task_body_that_breaks_the_spec_is_a_failure() -> None:
    def broken(method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.Response(200, json=task_json(status=7, id="task-1"))

    failures = check_task("https://api.example.invalid", "sk-evo-x", "task-1", send=broken)
    assert len(failures) == 1
    assert failures[0].startswith("task task-1 breaks the spec: 7 is not valid")


def test_the_whole_live_probe_passes_against_a_loopback_api_and_warns_on_deprecation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=0), catalog=catalog_models(wan2_5_image_to_image="deprecated"))
    with FakeServer(fake) as server:
        with Client(fake.api_key, base_url=server.base_url) as client:
            task_id = client.submit(QwenImageEdit("Hat", ["https://e.com/a.png"])).id
        monkeypatch.setenv("EVOLINK_API_KEY", fake.api_key)
        assert probe(live=True, base_url=server.base_url, task_id=task_id) == 0
        fake.catalog = catalog_models(qwen_image_edit="retired")
        assert probe(live=True, base_url=server.base_url, task_id=None) == 1
    out = capsys.readouterr().out
    assert "WARN catalog: wan2.5-image-to-image: deprecated" in out
    assert "FAIL catalog: qwen-image-edit: retired" in out
    assert f"ok   task {task_id} read and checked against the spec" in out
    assert "ok   file host: a text file refused: HTTP 200" in out
    assert fake.api_key not in out
    assert fake.file_host.uploads == 0  # the text file was refused before it was stored


def test_the_file_host_probe_reads_the_quota_with_the_key_and_sees_a_text_file_refused() -> None:
    fake = FakeEvoLink()
    with FakeServer(fake) as server:
        lines, failures = check_file_host(server.base_url, fake.api_key)
    assert failures == []
    assert lines == ["ok   file host: quota read (used 0)", "ok   file host: a text file refused: HTTP 200"]
    quota_reads = [seen for seen in fake.recorded if seen.path == QUOTA_PATH]
    assert len(quota_reads) == 2
    assert all(seen.authorized for seen in quota_reads)
    [upload] = [seen for seen in fake.recorded if seen.path == UPLOAD_PATH]
    assert upload.authorized
    assert fake.file_host.refused == 1
    assert fake.file_host.uploads == 0


def _host(stores: bool, quota_status: int = 200) -> Any:
    used = [0]

    def send(method: str, path: str, **kwargs: Any) -> httpx.Response:
        if path == QUOTA_PATH:
            body = {"success": True, "code": 200, "msg": "ok", "data": {"used_files": used[0], "max_files": 100}}
            return httpx.Response(quota_status, json=body)
        if stores:
            used[0] += 1
            data = {"file_id": "file_1", "file_url": "https://files.evolink.ai/u/probe.txt"}
            return httpx.Response(200, json={"success": True, "code": 200, "msg": "ok", "data": data})
        return httpx.Response(200, json={"success": False, "code": 40002, "msg": "file type not allowed"})

    return send


def test_a_file_host_that_stores_a_text_file_is_a_failure_naming_the_file() -> None:
    _, failures = check_file_host("https://files.example.invalid", "sk-evo-x", send=_host(stores=True))
    assert len(failures) == 1
    assert "stored a text file (file_id 'file_1'" in failures[0]


def test_a_quota_read_that_fails_or_breaks_the_spec_is_a_failure() -> None:
    _, failures = check_file_host("https://files.example.invalid", "sk-evo-x", send=_host(False, quota_status=401))
    assert failures == ["the quota read: expected HTTP 200, got 401"]

    def junk(method: str, path: str, **kwargs: Any) -> httpx.Response:
        if path == QUOTA_PATH:
            return httpx.Response(200, json={"data": {"used_files": 1}})
        return httpx.Response(401, json={"success": False, "code": 401, "msg": "bad key"})

    _, failures = check_file_host("https://files.example.invalid", "sk-evo-x", send=junk)
    assert failures[0].startswith("the quota read breaks the spec: 'success' is a required property")
    assert "refused the key (HTTP 401)" in failures[1]
