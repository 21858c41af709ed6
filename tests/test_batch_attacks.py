"""The crash campaign's attacks, small and bounded: real processes, real SIGKILLs, a loopback server.

``scripts/crash-campaign`` runs the same attacks with 20 kills per runner; these keep each one to a
few seconds (the ``RUN_LIMIT`` of the campaign bounds every run, so a hang fails rather than waits).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.crash_campaign import (
    Campaign,
    CampaignReport,
    edited_input,
    full_disk,
    kill_campaign,
    torn_and_damaged,
    two_processes,
)


@pytest.fixture
def campaign(tmp_path: Path) -> Iterator[Campaign]:
    campaign = Campaign(tmp_path, seed=3, duration=0.1)
    yield campaign
    campaign.close()


def check(report: CampaignReport, started: float, budget: float) -> None:
    assert report.passed, report.line()
    assert report.most_posts == 1, report.line()
    assert report.lost == [], report.line()
    assert report.unjournaled_posts == [], report.line()
    assert time.monotonic() - started < budget + 2


@pytest.mark.parametrize("runner", ["sync", "async", "cli"])
def test_random_sigkills_never_pay_twice_nor_lose_a_result(campaign: Campaign, runner: str) -> None:
    started = time.monotonic()
    report = kill_campaign(campaign, runner, kills=2, items=6)
    assert report.kills == 2
    check(report, started, budget=25)


def test_a_second_process_on_a_journal_in_use_is_refused_at_once(campaign: Campaign) -> None:
    started = time.monotonic()
    check(two_processes(campaign, items=9), started, budget=15)


def test_a_file_size_limit_stops_the_batch_with_an_error_and_a_rerun_finishes(campaign: Campaign) -> None:
    started = time.monotonic()
    check(full_disk(campaign, items=8), started, budget=15)


def test_a_torn_last_line_is_dropped_and_a_damaged_line_refused_by_the_command(campaign: Campaign) -> None:
    started = time.monotonic()
    check(torn_and_damaged(campaign), started, budget=20)


def test_an_edited_input_file_pays_only_for_the_new_lines(campaign: Campaign) -> None:
    started = time.monotonic()
    check(edited_input(campaign), started, budget=20)
