"""Every fault crossed with every operation, for both clients: success or a documented error, no second task."""

from __future__ import annotations

import pytest

from .fault_matrix import FAULTS, OPERATIONS, Cell, check, run

CELLS = run()


@pytest.mark.parametrize("cell", CELLS, ids=[f"{c.client}-{c.fault}-{c.operation}" for c in CELLS])
def test_every_fault_meets_every_operation_with_success_or_a_documented_error(cell: Cell) -> None:
    assert check(cell) == []


def test_the_matrix_is_whole() -> None:
    assert len(CELLS) == 2 * len(FAULTS) * len(OPERATIONS)
    assert sum(1 for cell in CELLS if cell.applies) == 2 * (len(FAULTS) * len(OPERATIONS) - 2 * 3)


def test_a_submit_that_met_a_fault_after_the_task_existed_was_sent_once() -> None:
    after = [c for c in CELLS if c.operation == "submit" and c.fault in {"read timeout", "500", "502 HTML page"}]
    assert after
    assert all(cell.posts == 1 and cell.created == 1 for cell in after)
