"""Sending no faster than the provider allows, per key its limits are counted on.

Providers announce their limits on every answer (each dialect reads its own headers):
how many requests a window allows, how many remain, and when the window is full
again. Groq and OpenAI count them per model, so one model running out must not stop
the others; a dialect says which (`RATE_LIMIT_SCOPE`), and the client keys the
pacer by model or by provider accordingly.

Per key, the request limit is treated as the token bucket it is: `remaining` at the
moment the answer was produced, refilling at (limit − remaining) ÷ reset. Requests
sent after the answered one are not in `remaining` yet, so they are taken off; a
request goes out as soon as the estimate has a whole request to spare. A 429 empties
the bucket and holds the key for as long as the provider asked (fractions of a
second included), not the whole provider. Windows longer than MAX_PAUSE (a daily
quota) are not paced: what remains is spent, and the 429 at its end says how long to
wait. Token limits are not knowable per request in advance; a key whose token budget
is nearly spent waits for the reset instead.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from llmprobe.neutral import RateLimit
from llmprobe.scheduler import Priority, rank

#: Below this share of its token budget, a key is left alone until the window resets.
TOKEN_RESERVE = 0.05
#: The longest wait we accept from announced limits; a daily window must not freeze a run.
MAX_PAUSE = 60.0
_EPSILON = 1e-6


@dataclass
class _Bucket:
    """The request budget of one key, as of the newest answer that announced it."""

    limit: int
    #: Requests left when the answer to ticket `ticket` was produced.
    remaining: float
    #: Requests per second coming back; 0 when the provider gave no reset time.
    refill: float
    observed_at: float
    #: The answered request's place in the order requests went out (`Pacer.sending`).
    sent: int
    #: Requests sent when that answer came: news of any of them may be older than this.
    horizon: int


class _Key:
    def __init__(self) -> None:
        #: Tickets handed out so far: ticket n is the n-th request of this key to go out.
        self.issued = 0
        #: Requests sent so far.
        self.sent = 0
        #: Ticket of each request still waiting for its answer → its place in the order requests
        #: went out (None until it goes). Tickets are handed out before a slot is taken, and the
        #: slots serve the best request first, so a ticket may go out after a later one: only
        #: the send order says what an answer has counted.
        self.in_flight: dict[int, int | None] = {}
        self.bucket: _Bucket | None = None
        #: No request of this key before this time (a 429's wait, a spent token budget).
        self.resume_at = 0.0
        #: (rank(priority), arrival, future of the ticket): requests waiting for the budget, best first.
        self.waiting: list[tuple[Priority, int, asyncio.Future[int]]] = []
        #: The one task that waits for the budget on behalf of all of `waiting`.
        self.dispatcher: asyncio.Task[None] | None = None


class Pacer:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._keys: dict[str, _Key] = {}
        self._arrivals = itertools.count()

    def _key(self, key: str) -> _Key:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key()
        return state

    async def acquire(self, key: str, priority: Priority = ()) -> int:
        """Wait until `key` may send one more request; returns the request's ticket, for `observe`.

        Waiting requests of a key go out highest `priority` first (as the slots serve them),
        and only one task sleeps for the key's budget: hundreds of waiters each waking to
        find the budget taken would cost more CPU than the requests themselves.
        """
        state = self._key(key)
        if not state.waiting and self._delay(state) <= 0:
            return self._issue(state)
        ticket: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        heapq.heappush(state.waiting, (rank(priority), next(self._arrivals), ticket))
        if state.dispatcher is None:
            state.dispatcher = asyncio.ensure_future(self._dispatch(state))
        try:
            return await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                # Issued just as we were cancelled: the request never goes out.
                state.in_flight.pop(ticket.result(), None)
            raise

    async def _dispatch(self, state: _Key) -> None:
        """Hand out tickets to the waiters of `state`, best first, as the budget allows."""
        try:
            while state.waiting:
                delay = self._delay(state)
                if delay > 0:
                    await self._sleep(delay)
                    continue
                _, _, ticket = heapq.heappop(state.waiting)
                if not ticket.done():
                    ticket.set_result(self._issue(state))
        finally:
            state.dispatcher = None

    @staticmethod
    def _issue(state: _Key) -> int:
        state.issued += 1
        state.in_flight[state.issued] = None
        return state.issued

    def sending(self, key: str, ticket: int) -> None:
        """The request of `ticket` goes out now."""
        state = self._key(key)
        state.sent += 1
        state.in_flight[ticket] = state.sent

    def release(self, key: str, ticket: int) -> None:
        """The request of `ticket` is over, answered or not (call it whatever happened)."""
        self._key(key).in_flight.pop(ticket, None)

    def _delay(self, state: _Key) -> float:
        """Seconds until the key may send again (0 or less: now)."""
        now = self._clock()
        delay = state.resume_at - now
        bucket = state.bucket
        if bucket is None:
            return delay
        # Requests sent after the answered one, or not sent yet, and not back: not in its
        # `remaining`. (Ones back without news are not counted: a provider that stopped
        # announcing must not stall us.)
        unseen = sum(1 for sent in state.in_flight.values() if sent is None or sent > bucket.sent)
        available = min(bucket.limit, bucket.remaining + bucket.refill * (now - bucket.observed_at)) - unseen
        # A hair under one request is one request: rounding must not keep a waiter waking forever.
        if available >= 1 - _EPSILON:
            return delay
        if bucket.refill <= 0:
            # Spent, with no word on when it comes back: the answers in flight will say.
            return max(delay, 0.05) if unseen else delay
        return max(delay, min((1 - available) / bucket.refill, MAX_PAUSE), _EPSILON)

    def observe(self, key: str, ticket: int, limits: Iterable[RateLimit]) -> None:
        """Take the limits announced on the answer to `ticket` (success or failure).

        Answers do not come back in the order the provider counted their requests: of four
        sent together, the one counted first (3 left) may arrive before the one counted last
        (0 left), and another (1 left) after both. The answer to a request sent before the
        estimate's own answer came may therefore be older news: it can only lower the
        estimate. The answer to one sent later is newer, and replaces it.
        """
        state = self._key(key)
        now = self._clock()
        for limit in limits:
            if limit.remaining is None:
                continue
            if limit.kind == "requests":
                reset = limit.reset_seconds or 0.0
                if reset > MAX_PAUSE:
                    # A daily quota is no bucket to pace by: what remains is spent, and its 429 says when.
                    continue
                refill = (limit.limit - limit.remaining) / reset if reset > 0 else 0.0
                remaining, sent = float(limit.remaining), state.in_flight.get(ticket) or 0
                old = state.bucket
                if old is not None and sent <= old.horizon:
                    projected = min(old.limit, old.remaining + old.refill * (now - old.observed_at))
                    if remaining >= projected:
                        continue  # older news that more was left: nothing learned
                state.bucket = _Bucket(limit.limit, remaining, refill, now, sent, state.sent)
            elif limit.remaining < limit.limit * TOKEN_RESERVE and limit.reset_seconds:
                self.pause(key, limit.reset_seconds)

    def pause(self, key: str, seconds: float) -> None:
        """Hold every request of `key` for `seconds` (capped at MAX_PAUSE) from now."""
        if seconds > 0:
            state = self._key(key)
            state.resume_at = max(state.resume_at, self._clock() + min(seconds, MAX_PAUSE))

    def throttled(self, key: str, seconds: float) -> None:
        """A 429 for `key`: nothing is left of its budget now, and the provider asked for `seconds`.

        Emptying the estimate matters as much as the wait: otherwise every request held
        back would go out together when the wait ends, and meet the next 429. The wait
        itself says one request may go when it ends, whatever rate earlier answers implied:
        that one brings fresh news (answers to requests already in flight are older).
        """
        state = self._key(key)
        bucket = state.bucket
        if bucket is not None:
            bucket.remaining, bucket.observed_at = 0.0, self._clock()
            bucket.sent = bucket.horizon = state.sent
            if seconds > 0:
                bucket.refill = max(bucket.refill, 1 / seconds)
        self.pause(key, seconds)
