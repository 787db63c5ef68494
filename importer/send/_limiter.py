"""The rate limiter of the sender's worker pool: when each request may start.

One ``Limiter`` per ``send_rows`` call spaces starts evenly at the configured rate, halves
the rate after a 429 and climbs back after successes, and holds every start while a
Retry-After runs. It sends nothing itself; ``importer.send._pool`` asks it before each attempt.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

# After 429s the rate never drops below this (requests/s), nor above the configured rate.
_MIN_RATE = 1.0
# Recovery after 429s: the rate climbs back by this share of its target per second of
# successful sending, so from half the rate to all of it takes about 5 s.
_RECOVERY_PER_S = 0.1


class Limiter:
    """When requests may start: one every 1/rate s, slower after 429s, none during a hold.

    Waiting starts queue up (first come, first served) and one timer releases them one at
    a time, each at least 1/rate after the previous release, so over any 1-s window at most
    rate + 1 requests start, with no initial burst, even when the event loop was busy
    elsewhere (a late timer releases one start and re-spaces from then). Hand-written
    rather than aiolimiter's AsyncLimiter(1, 1/rate), which spaces starts the same way but
    cannot change its rate while tasks wait on it and has no "no starts until T" for
    Retry-After; both are a few lines here.
    """

    def __init__(self, rate: float | None, clock: Callable[[], float]) -> None:
        self.ceiling = rate or None  # the configured rate
        self.rate = self.ceiling  # the current rate; None = unlimited
        self.active = self.rate is not None  # False: starts need not call acquire()
        self.recovering = False  # below the target after 429s: succeeded() raises the rate
        self.now = clock  # the event loop's clock, so timers and times agree
        self._floor = min(_MIN_RATE, rate) if rate else _MIN_RATE
        self._target = self.ceiling
        self._last = -math.inf  # when the previous start was let go
        self._hold = -math.inf  # no start before this (Retry-After)
        self._waiters: deque[asyncio.Future[bool]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._cut_at = -math.inf
        self._grown_at = 0.0

    def _due(self) -> float:
        return max(self._last + (1.0 / self.rate if self.rate else 0.0), self._hold)

    async def acquire(self) -> bool:
        """Wait for this start's turn; False if the limiter was closed (sending stopped)."""
        if self._closed:
            return False
        now = self.now()
        if not self._waiters and now >= self._due():
            self._last = now
            if self.rate is None:
                self.active = False  # a hold in unlimited mode is over
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._timer is None:
            self._arm()
        return await waiter

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiters and not self._closed:
            self._timer = asyncio.get_running_loop().call_at(self._due(), self._release)

    def _release(self) -> None:
        # The due time is checked again here, so a cut or a hold that came after the timer
        # was set takes effect without touching it.
        self._timer = None
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()  # its task was cancelled
        now = self.now()
        if self._waiters and now >= self._due() - 1e-6:
            self._last = now
            self._waiters.popleft().set_result(True)
            if self.rate is None:  # unlimited, after a hold: everyone may go
                while self._waiters:
                    waiter = self._waiters.popleft()
                    if not waiter.done():
                        waiter.set_result(True)
        self._arm()

    def close(self) -> None:
        """Let every waiting start know that sending stopped; later ones too."""
        self._closed = True
        self._arm()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(False)

    def hold(self, until: float) -> None:
        """No start before ``until`` (on ``now()``'s clock)."""
        if until > self._hold:
            self._hold = until
            self.active = True

    def throttled(self, started_at: float, observed_rate: float) -> None:
        """Slow down after a 429 to a request that started at ``started_at``.

        Halve the rate once per round: a 429 to a request that started before the last cut
        was caused by the old rate, which that cut already answered. Unlimited sending
        starts from the throughput observed so far, and returns to unlimited once it has
        recovered to it.
        """
        if started_at < self._cut_at:
            return
        now = self.now()
        if self.rate is None:
            self._target = max(observed_rate, self._floor)
            current = self._target
            self._last = now  # unlimited starts are not tracked; they were continuous
        else:
            current = self.rate
        self.rate = max(self._floor, current / 2)
        self.active = self.recovering = True
        self._cut_at = self._grown_at = now
        log.debug("throttled by the endpoint: rate lowered to %.2f/s", self.rate)

    def succeeded(self) -> None:
        """Raise the rate toward its target after a success (only called while recovering)."""
        now = self.now()
        elapsed = min(now - self._grown_at, 1.0)
        self._grown_at = now
        target = self._target or self._floor
        rate = min(target, (self.rate or target) + target * _RECOVERY_PER_S * elapsed)
        self.rate = rate
        if rate >= target:
            self.recovering = False
            if self.ceiling is None:
                self.rate = None
                self.active = self._hold > now or bool(self._waiters)
