"""Client-side request pacing, so Kite's own limits (and their 429s) are never reached.

Kite counts requests per second per account and answers the excess with HTTP 429; a refused
order is a failed order, so the client waits instead. The limiter is a sliding window: at most
``requests`` starts in any ``per_s`` seconds. A token bucket with a full burst would allow twice
the rate across a window boundary, which is exactly what a strict counter at the server refuses.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.broker import RateLimit

Sleep = Callable[[float], Awaitable[None]]

# Kite's documented limits besides the configurable ones.
ORDERS_PER_MINUTE = RateLimit(400, 60.0)
OTHER_REQUESTS = RateLimit(10, 1.0)


class RateLimiter:
    """Waits in ``acquire`` until one more request fits every one of its limits; FIFO."""

    def __init__(
        self,
        *limits: RateLimit,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not limits:
            raise ValueError("a rate limiter needs at least one limit")
        for limit in limits:
            if limit.requests < 1 or not limit.per_s > 0:
                raise ValueError(f"{limit} is not a usable rate limit")
        self._windows = [(limit, deque[float](maxlen=limit.requests)) for limit in limits]
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Return once a request may start; the start counts against every window."""
        async with self._lock:
            while (wait := self._wait(self._clock())) > 0:
                await self._sleep(wait)
            now = self._clock()
            for _, starts in self._windows:
                starts.append(now)

    def _wait(self, now: float) -> float:
        """Seconds until the oldest start in each full window has left it."""
        wait = 0.0
        for limit, starts in self._windows:
            if len(starts) == limit.requests:
                wait = max(wait, starts[0] + limit.per_s - now)
        return wait


@dataclass(frozen=True, slots=True)
class KiteLimits:
    """One account's limiters: orders (place, modify, cancel), quotes, and everything else."""

    orders: RateLimiter
    quotes: RateLimiter
    other: RateLimiter

    @classmethod
    def per_account(
        cls,
        order_rate_per_s: int,
        quote_rate_per_s: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> KiteLimits:
        """The limiters for one account at the configured rates."""
        return cls(
            orders=RateLimiter(
                RateLimit(order_rate_per_s, 1.0), ORDERS_PER_MINUTE, clock=clock, sleep=sleep
            ),
            quotes=RateLimiter(RateLimit(quote_rate_per_s, 1.0), clock=clock, sleep=sleep),
            other=RateLimiter(OTHER_REQUESTS, clock=clock, sleep=sleep),
        )
