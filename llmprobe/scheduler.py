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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

#: Compared as tuples, higher first: the runner's is (−model order, dependent requests still to follow).
Priority = tuple[int, ...]


def rank(priority: Priority) -> Priority:
    """The heap key that pops the highest priority first (heapq pops the smallest)."""
    return tuple(-p for p in priority)


class Slots:
    """At most `capacity` holders at once; waiters are served highest priority first, FIFO among equals.

    A released slot is not handed over at once but two turns of the event loop
    later, to the best of the waiters by then. The request that released it is
    usually a step of a chain: its next step asks for a slot in the same turn (the
    same task, no await between them) or in the next (tasks it has just started), and
    must compete for the slot, not find it already given to a request that could have
    waited. Measured on the Groq recordings at 200 ms a request, each tool-chain step
    waited about 130 ms for a slot before this. A waiter cancelled while queued just
    leaves; one cancelled after it was handed a slot but before it resumed passes the
    slot on. Either way no slot is lost or leaked.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self._free = capacity
        #: (rank(priority), arrival number, future): heapq pops the highest priority, then the earliest.
        #: Cancelled waiters stay here until popped; `_hand_over` skips them. Invariant: waiters only
        #: exist while every free slot is due to be handed over.
        self._waiters: list[tuple[Priority, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        #: Free slots still due to be handed over, one per release (never more than `_free`).
        self._due = 0

    @asynccontextmanager
    async def hold(self, priority: Priority = ()) -> AsyncIterator[None]:
        """Hold one slot for the body of the `async with`; higher `priority` gets a slot sooner."""
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: Priority) -> None:
        if self._free > self._due:
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
        self._due += 1
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.call_soon, self._hand_over)

    def _hand_over(self) -> None:
        """Give one released slot to the best waiter, now that the releaser's next steps are among them."""
        self._due -= 1
        while self._waiters:
            _, _, granted = heapq.heappop(self._waiters)
            if not granted.done():
                self._free -= 1
                granted.set_result(None)
                return
