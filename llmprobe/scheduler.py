"""A request-slot limiter that serves the critical path first.

With a FIFO semaphore, each step of the tool chain (SquareRoot-1, -2, ToolBias)
queues behind every independent probe issued before it, so when the queue runs
dry the chain still has steps to go and they run with slots idle. Serving the
waiter with the most dependent work still ahead of it first (list scheduling,
"highest level first") keeps the chain moving while independent probes fill the
other slots, which brings a run close to max(longest chain, requests ÷ slots) ×
latency. Where the slots are never short of work the order changes nothing.
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
    waited; otherwise every step of the tool chain queues for a slot it just gave up. A
    waiter cancelled while queued just
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
        #: Free slots still due to be handed over (released or parked; never more than `_free`).
        self._due = 0
        #: Slots held back for an opener's requests (see `hold`), among `_due`.
        self._parked = 0
        #: The holders in flight whose answer lets more requests go: holder → (rank(opens), when it got its slot).
        self._openers: dict[object, tuple[Priority, float]] = {}

    #: How long a released slot may wait for an opener's answer, as a share of the time the releasing
    #: request took; and how nearly due the opener must be (in flight that share less than the releaser).
    PARK_SHARE = 0.1

    @asynccontextmanager
    async def hold(self, priority: Priority = (), opens: Priority | None = None) -> AsyncIterator[None]:
        """Hold one slot for the body of the `async with`; higher `priority` gets a slot sooner.

        `opens`: the priority of the requests this one's answer will let go (a gate's). A slot
        released while such an opener is due (in flight about as long as the request that just
        came back took) is not given at once to a waiter ranked below `opens`: requests sent
        together come back together, so the opener's answer is due any moment, and the requests
        it lets go should have the slot, not a later model's. The slot waits for the opener's
        answer, or at most `PARK_SHARE` of the releasing request's time. Otherwise a gate that
        comes back a moment after the other answers of its round finds its round's slots taken
        by later models' requests, and its model finishes a round later.
        """
        await self._acquire(priority)
        loop = asyncio.get_running_loop()
        started = loop.time()
        holder = object()
        if opens is not None:
            self._openers[holder] = (rank(opens), started)
        try:
            yield
        finally:
            opener = self._openers.pop(holder, None) is not None
            self._release(loop.time() - started, opener)

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
                # The slot arrived just as we were cancelled: it is ours to pass on, at once.
                self._release(0.0, opener=False)
            raise

    def _release(self, took: float, opener: bool) -> None:
        self._free += 1
        self._due += 1
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.call_soon, self._hand_over, took, opener)

    def _hand_over(self, took: float, opener: bool) -> None:
        """Give one released slot to the best waiter, now that the releaser's next steps are among
        them, or park it for a due opener (see `hold`). An opener's own release hands over every
        parked slot too, now that the requests it lets go are waiting."""
        if opener:
            while self._parked:
                self._parked -= 1
                self._grant()
        best = self._best()
        if best is not None and took > 0:
            loop = asyncio.get_running_loop()
            due_since = loop.time() - (1 - self.PARK_SHARE) * took
            if any(opens < best and started <= due_since for opens, started in self._openers.values()):
                self._parked += 1
                loop.call_later(self.PARK_SHARE * took, self._unpark)
                return
        self._grant()

    def _unpark(self) -> None:
        """A parked slot's time is up. Its own slot may have gone with the opener's answer already;
        the timer then ends another parked slot's wait early, which only shortens a wait."""
        if self._parked:
            self._parked -= 1
            self._grant()

    def _best(self) -> Priority | None:
        """The best live waiter's rank; cancelled waiters on top of the heap are dropped."""
        while self._waiters and self._waiters[0][2].done():
            heapq.heappop(self._waiters)
        return self._waiters[0][0] if self._waiters else None

    def _grant(self) -> None:
        """One due slot to the best live waiter, or back to the free ones when nobody waits."""
        self._due -= 1
        if self._best() is not None:
            _, _, granted = heapq.heappop(self._waiters)
            self._free -= 1
            granted.set_result(None)
