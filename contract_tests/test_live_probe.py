"""The live probe's logic, proved offline: against the loopback fake, and against a lax imitation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from evolink_images.testing.fake import FakeEvoLink, TaskPlan
from evolink_images.testing.payloads import task_json
from evolink_images.testing.server import FakeServer

from .live_probe import PLAN, main, run


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
