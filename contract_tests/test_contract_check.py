"""``evolink-images contract-check``: the suite shipped in the package, run as another team's CI runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evolink_images.cli import main

COMMAND = shutil.which("evolink-images", path=os.path.dirname(sys.executable)) or "evolink-images"


def test_live_without_a_key_exits_2_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    monkeypatch.setenv("EVOLINK_BASE_URL", "http://127.0.0.1:9")  # nothing listens: a send would fail, not pass
    assert main(["contract-check", "--live"]) == 2
    assert main(["contract-check", "--task-id", "task-unified-1"]) == 2  # --task-id is part of the live probe
    err = capsys.readouterr().err
    assert "Not sent: the live probe needs EVOLINK_API_KEY" in err
    assert "Not sent: the live probe needs --live and EVOLINK_API_KEY" in err


def test_the_offline_suite_runs_from_any_folder_and_writes_a_junit_report(tmp_path: Path) -> None:
    # A team's own pytest settings must not reach the shipped suite.
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "--no-such-option"\n')
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - the project's own console script
        [COMMAND, "contract-check", "--junit", "out/report.xml", "--", "-q", "-k", "test_fake and spec"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert time.monotonic() - started < 60
    suite = ET.parse(tmp_path / "out" / "report.xml").getroot().find("testsuite")  # noqa: S314 - our own report
    assert suite is not None
    assert int(suite.get("tests", "0")) > 0
    assert (suite.get("failures"), suite.get("errors")) == ("0", "0")
    assert "Hypothesis profile ci" in result.stderr


def test_a_failing_contract_fails_the_command(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - the project's own console script
        [COMMAND, "contract-check", "--", "-q", "-k", "no_test_has_this_name"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 5  # pytest's "no tests collected": never a silent pass


def test_the_command_has_help_with_an_example_and_its_own_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["contract-check", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "example:\n  evolink-images contract-check" in out
    assert "2 not sent (no key)" in out


def test_the_live_probe_goes_to_evolink_base_url_when_no_base_url_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from evolink_images.testing.contract import live_probe

    seen: list[tuple[bool, str, str | None]] = []

    def probe(*, live: bool, base_url: str, task_id: str | None) -> int:
        seen.append((live, base_url, task_id))
        return 0

    monkeypatch.setattr(live_probe, "probe", probe)
    monkeypatch.setenv("EVOLINK_BASE_URL", "http://127.0.0.1:9/from-env")
    assert main(["contract-check", "--live"]) == 0
    assert main(["--base-url", "http://127.0.0.1:9/given", "contract-check", "--task-id", "task-unified-1"]) == 0
    monkeypatch.delenv("EVOLINK_BASE_URL")
    assert main(["contract-check", "--live"]) == 0
    assert seen == [
        (True, "http://127.0.0.1:9/from-env", None),
        (False, "http://127.0.0.1:9/given", "task-unified-1"),
        (True, "https://api.evolink.ai", None),
    ]


def test_without_the_testing_extra_it_names_what_is_missing_and_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "evolink_images.testing.contract", None)  # as if not installed
    assert main(["contract-check"]) == 2
    assert capsys.readouterr().err == (
        "error: contract-check needs the testing extra (evolink_images.testing.contract is missing):"
        " pip install 'evolink-images[testing]'\n"
    )
