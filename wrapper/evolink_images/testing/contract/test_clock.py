"""The fake's clock: blocking sleeps move time at once; awaited sleeps run side by side, as real ones do."""

from __future__ import annotations

import asyncio

import pytest

from evolink_images.testing.clock import FakeClock


def test_a_blocking_sleep_returns_at_once_and_moves_time_on() -> None:
    clock = FakeClock(now=100.0)
    clock.sleep(2.5)
    clock.sleep(0)
    assert clock() == 102.5
    assert clock.sleeps == [2.5, 0]
    with pytest.raises(ValueError, match="negative sleep"):
        clock.sleep(-1)


def test_concurrent_awaited_sleeps_overlap_and_wake_in_time_order() -> None:
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.async_sleep(seconds)
        woke.append((name, clock()))

    async def main() -> None:
        await asyncio.gather(*(sleeper(f"s{i}", 60) for i in range(8)), sleeper("short", 5))

    asyncio.run(main())
    assert woke == [("short", 5.0)] + [(f"s{i}", 60.0) for i in range(8)]  # in time order, then start order
    assert clock() == 60  # eight 60 s sleeps side by side: 60 s, not 480


def test_time_does_not_jump_while_another_coroutine_can_still_run() -> None:
    clock = FakeClock()
    seen: list[float] = []

    async def busy() -> None:
        for _ in range(50):
            seen.append(clock())
            await asyncio.sleep(0)  # runnable all along: the sleeper must not wake yet

    async def main() -> None:
        await asyncio.gather(clock.async_sleep(30), busy())

    asyncio.run(main())
    assert seen == [0.0] * 50
    assert clock() == 30


def test_a_cancelled_sleeper_does_not_hold_time_back_and_the_clock_serves_a_second_loop() -> None:
    clock = FakeClock()

    async def main() -> float:
        forgotten = asyncio.ensure_future(clock.async_sleep(1000))
        await asyncio.sleep(0)
        forgotten.cancel()
        await clock.async_sleep(10)
        return clock()

    assert asyncio.run(main()) == 10
    assert asyncio.run(main()) == 20  # a new event loop: sleeps still wake


def test_advancing_by_hand_wakes_the_sleepers_that_are_due() -> None:
    clock = FakeClock()

    async def main() -> float:
        sleeper = asyncio.ensure_future(clock.async_sleep(5))
        await asyncio.sleep(0)
        clock.advance(7)
        await sleeper
        return clock()

    assert asyncio.run(main()) == 7
