"""Tests for importer.send's Limiter, on an event loop whose clock is a fake one.

The loop below never sleeps: when nothing is ready it moves its clock to the next timer,
so start times are exact and a test of several virtual seconds takes milliseconds. The
limiter is given the same clock, as the sender gives it the loop's.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from importer.send._limiter import Limiter

T = TypeVar("T")


class FakeClock:
    """Virtual seconds; ``advance`` is time passing while the loop is busy elsewhere."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without waiting; a wait for a timer becomes a jump of the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[Any]:
        events = super().select(0)
        if not events and timeout:
            self.clock.advance(timeout)
        elif not events and timeout is None:
            raise RuntimeError("nothing scheduled and nothing ready: the test would hang")
        return events


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(selector=_JumpingSelector(clock))
        self.clock = clock

    def time(self) -> float:
        return self.clock.now


Run = Callable[[Callable[[], Coroutine[Any, Any, T]]], T]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def run(clock: FakeClock) -> Iterator[Run[Any]]:
    """Run a coroutine function to completion on a loop driven by ``clock``."""
    with asyncio.Runner(loop_factory=lambda: VirtualLoop(clock)) as runner:
        yield lambda main: runner.run(main())


async def start_times(
    limiter: Limiter, clock: FakeClock, workers: int, each: int, *, on_start: Any = None
) -> list[float]:
    """Let ``workers`` tasks each take ``each`` starts; the clock at every start, in order."""
    starts: list[float] = []

    async def worker() -> None:
        for _ in range(each):
            assert await limiter.acquire() is True
            starts.append(clock.now)
            if on_start is not None:
                on_start()

    await asyncio.gather(*(worker() for _ in range(workers)))
    return starts


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 9) for a, b in zip(times, times[1:], strict=False)]


# -- the pace ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "workers", "starts"),
    [
        (10.0, 8, 80),  # the default-ish: more workers than the rate allows at once
        (1.0, 3, 6),
        (2.5, 4, 12),  # a rate that is not a whole number
        (0.5, 2, 4),  # below the 1/s floor of throttling: the configured rate still holds
        (50.0, 16, 160),
    ],
)
def test_no_one_second_window_holds_more_than_rate_plus_one_starts(
    run: Run[list[float]], clock: FakeClock, rate: float, workers: int, starts: int
) -> None:
    limiter = Limiter(rate, clock)
    times = run(lambda: start_times(limiter, clock, workers, starts // workers))
    assert len(times) == starts
    assert times[0] == 0.0  # the first start goes at once
    # Evenly spaced from the very first start: no burst, and no time lost either.
    assert gaps(times) == [round(1 / rate, 9)] * (starts - 1)
    busiest = max(sum(1 for t in times if start <= t <= start + 1.0 + 1e-9) for start in times)
    assert busiest <= rate + 1
    assert busiest >= int(rate)  # the limiter keeps the pace it was given


def test_waiting_starts_go_first_come_first_served(run: Run[list[int]], clock: FakeClock) -> None:
    limiter = Limiter(10.0, clock)

    async def main() -> list[int]:
        order: list[int] = []

        async def start(n: int) -> None:
            assert await limiter.acquire()
            order.append(n)

        tasks = []
        for n in range(6):
            tasks.append(asyncio.create_task(start(n)))
            await asyncio.sleep(0.01)  # each asks a little after the previous one
        # The loop was busy past the next start's time: a newcomer that asks before the
        # late timer fires still queues behind those who were waiting.
        clock.advance(0.5)
        late = asyncio.create_task(start(99))
        await asyncio.sleep(0)
        await asyncio.gather(*tasks, late)
        return order

    assert run(main) == [0, 1, 2, 3, 4, 5, 99]


def test_a_start_that_arrives_after_a_quiet_spell_goes_at_once(
    run: Run[list[float]], clock: FakeClock
) -> None:
    limiter = Limiter(4.0, clock)

    async def main() -> list[float]:
        times = []
        for pause in (0.0, 0.0, 1.0, 0.1):
            await asyncio.sleep(pause)
            assert await limiter.acquire()
            times.append(clock.now)
        return times

    # 0.25 s apart while busy; after a second of nothing the next start need not wait, and
    # the one after it is spaced from that start, not from the quiet spell.
    assert run(main) == [0.0, 0.25, 1.25, 1.5]


def test_a_stalled_loop_releases_one_late_start_and_spaces_the_rest_from_it(
    run: Run[list[float]], clock: FakeClock
) -> None:
    limiter = Limiter(10.0, clock)

    async def main() -> list[float]:
        async def stall() -> None:
            await asyncio.sleep(0.25)
            clock.advance(0.5)  # the loop is blocked, e.g. reading the next chunk of rows

        times, _ = await asyncio.gather(start_times(limiter, clock, 4, 2), stall())
        return times

    times = run(main)
    assert [round(t, 9) for t in times] == [0.0, 0.1, 0.2, 0.75, 0.85, 0.95, 1.05, 1.15]


def test_a_cancelled_waiter_gives_its_turn_to_the_next(
    run: Run[list[Any]], clock: FakeClock
) -> None:
    limiter = Limiter(2.0, clock)

    async def main() -> list[Any]:
        assert await limiter.acquire()  # t=0
        first = asyncio.create_task(limiter.acquire())
        second = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0.1)
        first.cancel()
        assert await second is True
        return [first.cancelled(), clock.now]

    assert run(main) == [True, 0.5]


# -- unlimited ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [None, 0, 0.0])
def test_no_rate_means_unlimited_and_acquire_never_waits(
    run: Run[list[float]], clock: FakeClock, rate: float | None
) -> None:
    limiter = Limiter(rate, clock)
    assert (limiter.ceiling, limiter.rate, limiter.active, limiter.recovering) == (
        None,
        None,
        False,
        False,
    )
    times = run(lambda: start_times(limiter, clock, 20, 50))
    assert times == [0.0] * 1000


def test_unlimited_sending_after_a_429_is_spaced_at_half_the_observed_rate(
    run: Run[list[float]], clock: FakeClock
) -> None:
    limiter = Limiter(None, clock)
    clock.advance(5.0)
    limiter.throttled(started_at=4.9, observed_rate=40.0)
    assert (limiter.rate, limiter.active, limiter.recovering) == (20.0, True, True)
    times = run(lambda: start_times(limiter, clock, 4, 2))
    # Unlimited starts were continuous until the 429, so even the first one waits a gap.
    assert [round(t, 9) for t in times] == [5.05, 5.1, 5.15, 5.2, 5.25, 5.3, 5.35, 5.4]


def test_unlimited_sending_throttled_with_no_throughput_yet_uses_the_floor(
    clock: FakeClock,
) -> None:
    limiter = Limiter(None, clock)
    limiter.throttled(started_at=0.0, observed_rate=0.0)
    assert (limiter.rate, limiter.active, limiter.recovering) == (1.0, True, True)
    clock.advance(0.5)
    limiter.succeeded()  # already at its target: back to unlimited
    assert (limiter.rate, limiter.active, limiter.recovering) == (None, False, False)


# -- Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "hold_at", "expected"),
    [
        (10.0, 0.15, [0.0, 0.1, 2.0, 2.1, 2.2, 2.3]),  # after the hold, the usual spacing
        (1.0, 0.5, [0.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    ],
)
def test_a_hold_stops_every_start_until_it_ends(
    run: Run[list[float]], clock: FakeClock, rate: float, hold_at: float, expected: list[float]
) -> None:
    limiter = Limiter(rate, clock)

    async def main() -> list[float]:
        async def retry_after() -> None:
            await asyncio.sleep(hold_at)
            limiter.hold(2.0)
            limiter.hold(1.0)  # an earlier end never shortens the hold

        times, _ = await asyncio.gather(start_times(limiter, clock, 2, 3), retry_after())
        return times

    assert [round(t, 9) for t in run(main)] == expected


def test_a_hold_while_unlimited_makes_starts_ask_then_lets_them_all_go(
    run: Run[list[float]], clock: FakeClock
) -> None:
    limiter = Limiter(None, clock)
    clock.advance(0.15)
    limiter.hold(2.0)
    limiter.hold(1.0)
    # Unlimited starts do not ask the limiter, except while it is active.
    assert limiter.active is True
    assert run(lambda: start_times(limiter, clock, 4, 1)) == [2.0, 2.0, 2.0, 2.0]
    assert run(lambda: start_times(limiter, clock, 1, 1)) == [2.0]
    assert limiter.active is False  # the hold is over: starts stop asking


def test_a_hold_in_the_past_changes_nothing(run: Run[list[float]], clock: FakeClock) -> None:
    limiter = Limiter(5.0, clock)
    clock.advance(10.0)
    limiter.hold(3.0)
    times = run(lambda: start_times(limiter, clock, 1, 3))
    assert [round(t, 9) for t in times] == [10.0, 10.2, 10.4]


# -- 429: slow down, then climb back -----------------------------------------------------------


def test_a_429_halves_the_pace_of_starts_already_waiting(
    run: Run[list[float]], clock: FakeClock
) -> None:
    limiter = Limiter(10.0, clock)

    async def main() -> list[float]:
        async def too_many_requests() -> None:
            await asyncio.sleep(0.15)  # the timer for the next start (t=0.2) is already set
            limiter.throttled(started_at=0.0, observed_rate=10.0)

        times, _ = await asyncio.gather(start_times(limiter, clock, 3, 3), too_many_requests())
        return times

    times = run(main)
    assert limiter.rate == 5.0
    assert [round(t, 9) for t in times] == [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5]


@pytest.mark.parametrize(
    ("rate", "after_one_429"),
    [
        (40.0, 20.0),
        (3.0, 1.5),
        (1.5, 1.0),  # never below 1/s ...
        (1.0, 1.0),
        (0.5, 0.5),  # ... nor below a configured rate that is slower than that
    ],
)
def test_a_429_halves_the_rate_down_to_the_floor(
    clock: FakeClock, rate: float, after_one_429: float
) -> None:
    limiter = Limiter(rate, clock)
    limiter.throttled(started_at=0.0, observed_rate=123.0)  # observed: only when unlimited
    assert (limiter.rate, limiter.ceiling, limiter.active, limiter.recovering) == (
        after_one_429,
        rate,
        True,
        True,
    )


def test_the_rate_climbs_back_to_the_configured_rate_in_about_five_seconds(
    clock: FakeClock,
) -> None:
    limiter = Limiter(40.0, clock)
    limiter.throttled(started_at=0.0, observed_rate=0.0)
    rates: list[float] = []
    for _ in range(51):
        clock.advance(0.1)
        limiter.succeeded()
        assert limiter.rate is not None
        rates.append(limiter.rate)
    assert rates[0] == pytest.approx(20.4)  # a tenth of the target per second of successes
    assert rates[24] == pytest.approx(30.0)
    assert rates[48] == pytest.approx(39.6) and rates[48] < 40.0
    assert all(a < b for a, b in zip(rates[:49], rates[1:50], strict=True))  # steadily
    assert (rates[-1], limiter.rate, limiter.recovering) == (40.0, 40.0, False)  # not above


@pytest.mark.parametrize(
    ("pause", "rate_after"),
    [
        (0.5, 6.0),
        (1.0, 7.0),
        (10.0, 7.0),  # a long pause between successes counts as one second, not ten
    ],
)
def test_one_success_after_a_pause_climbs_at_most_one_seconds_worth(
    clock: FakeClock, pause: float, rate_after: float
) -> None:
    limiter = Limiter(20.0, clock)
    clock.advance(1.0)
    limiter.throttled(started_at=0.9, observed_rate=0.0)
    limiter.throttled(started_at=0.95, observed_rate=0.0)  # same round: still 10/s
    assert limiter.rate == 10.0
    clock.advance(0.1)
    limiter.throttled(started_at=1.05, observed_rate=0.0)  # a new round: 5/s
    assert limiter.rate == 5.0
    clock.advance(pause)
    limiter.succeeded()
    assert limiter.rate == pytest.approx(rate_after)
    assert limiter.recovering is True


def test_starts_speed_up_again_as_successes_come_in(
    run: Run[list[float]], clock: FakeClock
) -> None:
    limiter = Limiter(10.0, clock)
    limiter.throttled(started_at=0.0, observed_rate=0.0)

    def success() -> None:
        if limiter.recovering:  # as the sender does after each 2xx
            limiter.succeeded()

    times = run(lambda: start_times(limiter, clock, 4, 20, on_start=success))
    spacing = gaps(times)
    assert spacing[0] == 0.2  # half the rate at first
    assert all(a >= b for a, b in zip(spacing, spacing[1:], strict=False))  # never slower
    assert min(spacing) == 0.1  # back to the configured rate, never faster
    assert limiter.recovering is False
    # ~5 s of successes to climb from 5/s to 10/s.
    back = times[spacing.index(0.1)]
    assert 4.0 <= back <= 6.0


# -- closing -----------------------------------------------------------------------------------


def test_closing_during_a_hold_releases_the_waiters_at_once(
    run: Run[list[Any]], clock: FakeClock
) -> None:
    limiter = Limiter(10.0, clock)

    async def main() -> list[Any]:
        limiter.hold(60.0)
        waiting = [asyncio.create_task(limiter.acquire()) for _ in range(3)]
        await asyncio.sleep(1.0)
        limiter.close()
        return [*await asyncio.gather(*waiting), clock.now]

    assert run(main) == [False, False, False, 1.0]  # not a minute later
