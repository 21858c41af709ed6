"""What a batch hands back when built by hand: the defaults of its result and progress records."""

from __future__ import annotations

from evolink_images import BatchProgress, BatchResult, WanImageToImage

REQUEST = WanImageToImage("Make it night", ["https://example.com/a.png"])


def test_a_result_built_with_only_its_index_and_request_is_a_fresh_finished_success() -> None:
    result = BatchResult(0, REQUEST)
    assert (result.task, result.error, result.resumed) == (None, None, False)
    assert (result.outcome, result.state, result.files, result.idempotency_key) == ("done", "finished", (), None)
    assert result.ok


def test_a_result_is_ok_only_when_done() -> None:
    assert not BatchResult(0, REQUEST, outcome="failed").ok
    assert not BatchResult(0, REQUEST, outcome="uncertain").ok
    assert not BatchResult(0, REQUEST, outcome="unfinished").ok


def test_progress_counts_no_uncertain_nor_unfinished_items_unless_told() -> None:
    progress = BatchProgress(total=3, done=1, failed=1, in_flight=1, concurrency=2)
    assert (progress.uncertain, progress.unfinished) == (0, 0)
