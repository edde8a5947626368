"""A clock the tests drive: the pacer and the client take `clock` and `sleep`, so waits asked of
them (a 429's pause, backoff, a refill) pass in no real time and can be read back exactly."""

from __future__ import annotations

import asyncio

from llmprobe.pacing import Pacer


class FakeClock:
    """Monotonic seconds that move only when someone sleeps on them."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        # Others run meanwhile, as on the real clock: a wait that lasts until an answer arrives
        # must let that answer in.
        await asyncio.sleep(0)


def send(pacer: Pacer, key: str, priority: tuple[int, ...] = ()) -> int:
    """What the client does: wait for the key's budget, then send (the request stays in flight)."""

    async def going() -> int:
        ticket = await pacer.acquire(key, priority)
        pacer.sending(key, ticket)
        return ticket

    return asyncio.run(going())
