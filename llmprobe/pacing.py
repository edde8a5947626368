"""Slowing a provider down before it says 429.

Providers announce how much is left of their limits (each dialect reads its own headers) and
when the window resets. When a run is about to exhaust a window, every request of
that provider waits for the reset instead of collecting 429s; and a 429 that does
happen pauses the whole provider for as long as it asked, not only the request
that got it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, Iterable

from llmprobe.neutral import RateLimit

#: Below this share of its token budget, a provider is left alone until the window resets.
TOKEN_RESERVE = 0.05
#: The longest pause we accept from announced limits; a daily window must not freeze a run.
MAX_PAUSE = 60.0


class Pacer:
    def __init__(
        self,
        *,
        reserve_requests: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        #: Requests that may already be in flight when we read `remaining`: keep that many in hand.
        self.reserve_requests = reserve_requests
        self._clock = clock
        self._sleep = sleep
        self._resume_at = 0.0

    async def wait(self) -> float:
        """Wait until the provider may be asked again; returns the seconds waited."""
        delay = self._resume_at - self._clock()
        if delay <= 0:
            return 0.0
        await self._sleep(delay)
        return delay

    def pause(self, seconds: float) -> None:
        """Hold every request of this provider for `seconds` (capped at MAX_PAUSE) from now."""
        if seconds > 0:
            self._resume_at = max(self._resume_at, self._clock() + min(seconds, MAX_PAUSE))

    def observe(self, limits: Iterable[RateLimit]) -> None:
        """Take the limits announced on any response, success or failure (as its dialect reads them)."""
        for limit in limits:
            if limit.remaining is None or not limit.reset_seconds:
                continue
            if limit.kind == "requests":
                exhausted = limit.remaining <= self.reserve_requests
            else:
                exhausted = limit.remaining < limit.limit * TOKEN_RESERVE
            if exhausted:
                self.pause(limit.reset_seconds)
