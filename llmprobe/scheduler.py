"""A request-slot limiter that serves the critical path first.

With a FIFO semaphore, each step of the tool chain (SquareRoot-1, -2, ToolBias)
queues behind every independent probe issued before it, so when the queue runs
dry the chain still has steps to go and they run with slots idle. Serving the
waiter with the most dependent work still ahead of it first (list scheduling,
"highest level first") keeps the chain moving while independent probes fill the
other slots, which brings a run close to max(longest chain, requests ÷ slots) ×
latency. Measured against a FIFO semaphore (benchmarks/probe_bench.py's fake
provider, 200 ms per request): one model at 8 slots 1.52 → 1.34 s, ten models at
32 slots 3.61 → 3.37 s; no change where the slots are never short of work.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from contextlib import asynccontextmanager
from typing import AsyncIterator

#: Compared as tuples, higher first: the runner's is (−model order, dependent requests still to follow).
Priority = tuple[int, ...]


def rank(priority: Priority) -> Priority:
    """The heap key that pops the highest priority first (heapq pops the smallest)."""
    return tuple(-p for p in priority)


class Slots:
    """At most `capacity` holders at once; waiters are served highest priority first, FIFO among equals.

    A released slot goes to the waiters at the end of the event loop's turn, not at
    once: the request that released it is usually a step of a chain whose next step
    asks for a slot in that same turn (no await lies between them), and taking over
    its predecessor's slot keeps the chain from queueing behind requests that can wait.
    Measured on the Groq recordings at 200 ms a request, each tool-chain step waited
    about 130 ms for a slot before this, and the first model finished 0.3 s later.
    Otherwise waiters are served strictly by priority, and a newcomer overtakes
    nobody once the turn is over. A waiter cancelled while queued just leaves; one
    cancelled after it was handed a slot but before it resumed passes the slot on.
    Either way no slot is lost or leaked.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self._free = capacity
        #: (rank(priority), arrival number, future): heapq pops the highest priority, then the earliest.
        #: Cancelled waiters stay here until popped; `_hand_over` skips them. Invariant: waiters only
        #: exist while no slot is free, except until a hand-over scheduled by `_release` has run.
        self._waiters: list[tuple[Priority, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        self._handing_over = False

    @asynccontextmanager
    async def hold(self, priority: Priority = ()) -> AsyncIterator[None]:
        """Hold one slot for the body of the `async with`; higher `priority` gets a slot sooner."""
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: Priority) -> None:
        if self._free > 0:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (rank(priority), next(self._arrivals), granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                # The slot arrived just as we were cancelled: it is ours to pass on.
                self._release()
            raise

    def _release(self) -> None:
        self._free += 1
        if self._waiters and not self._handing_over:
            self._handing_over = True
            asyncio.get_running_loop().call_soon(self._hand_over)

    def _hand_over(self) -> None:
        """Give the slots still free after the turn that freed them to the best waiters."""
        self._handing_over = False
        while self._free > 0 and self._waiters:
            _, _, granted = heapq.heappop(self._waiters)
            if not granted.done():
                self._free -= 1
                granted.set_result(None)
