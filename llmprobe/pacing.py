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
second included), not the whole provider. Windows longer than QUOTA_WINDOW (a daily
quota) are not paced: what remains is spent, and the 429 at its end says how long to
wait.

The limit that binds is often announced nowhere: a key's 429s also teach it a rate
(`llmprobe.learned_rate`), and a key not refused yet starts at the rate another key learned.
Tickets issued before a 429 and not sent yet are taken back.

Tokens per minute are a bucket of their own, from `x-ratelimit-*-tokens`: a request
goes when the estimate holds its expected cost (`llmprobe.token_guess`), and a 429 that
names tokens empties it without lowering the rate.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from llmprobe.learned_rate import LearnedRate
from llmprobe.neutral import RateLimit
from llmprobe.scheduler import Priority, rank

#: Below this share of a long window's token budget, a key is left alone until the window resets.
TOKEN_RESERVE = 0.05
#: The longest wait we accept from announced limits; a daily window must not freeze a run.
MAX_PAUSE = 60.0
#: A window longer than this is a quota to spend, not a rate to keep: a minute's, with room for rounding.
QUOTA_WINDOW = 90.0
_EPSILON = 1e-6


class RateLimitWait(Exception):
    """The key is held longer than the wait allowed (`Pacer.acquire`'s `since`): nothing was sent."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"rate limited for {seconds:.0f} s")


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

    def level(self, now: float) -> float:
        """What the bucket holds at `now`, refilled since the answer but never past its limit."""
        return min(self.limit, self.remaining + self.refill * (now - self.observed_at))


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
        #: The token budget of a window of at most MAX_PAUSE, as of the newest answer that announced it.
        self.tokens: _Bucket | None = None
        #: Expected token cost of each ticket not back yet (the token estimate takes the unseen ones off).
        self.costs: dict[int, float] = {}
        self.learned: LearnedRate | None = None
        #: Tickets up to this one, issued before the key's latest 429 (or rate) and not sent yet, are
        #: taken back (see `sending`).
        self.recalled = 0
        #: When the key's current run of 429s began (None once a request succeeds again).
        self.limited_since: float | None = None
        #: (rank(priority), arrival, cost, since, deadline, future of the ticket): requests waiting for the budget,
        #: best first (see `Pacer.acquire` for since and deadline).
        self.waiting: list[tuple[Priority, int, float, float, float, asyncio.Future[int]]] = []
        #: The one task that waits for the budget on behalf of all of `waiting`.
        self.dispatcher: asyncio.Task[None] | None = None


class Pacer:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        max_wait: float = math.inf,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        #: Seconds a request may be held by 429s (`rate_limit_wait`), counted from its own first one.
        self._max_wait = max_wait
        self._keys: dict[str, _Key] = {}
        self._arrivals = itertools.count()
        #: The rate a key learned last (see `_key`).
        self._shared: float | None = None

    def _key(self, key: str) -> _Key:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key()
        if state.learned is None and self._shared is not None:
            # A provider's models mostly share their tier's limits: a key not refused yet takes the
            # rate another has just learned, rather than finding its limit by a burst of 429s.
            state.learned = LearnedRate(self._shared, 0.0, state.issued, own=False)
            state.recalled = state.issued
        return state

    async def acquire(self, key: str, priority: Priority = (), cost: float = 0.0, since: float | None = None) -> int:
        """Wait until `key` may send one more request; returns the request's ticket, for `observe`.

        `cost`: the tokens the request is expected to use. `since`: when the request met its first
        429; raises RateLimitWait when the key is held past `max_wait` from then, now or while
        waiting. A request that met none waits out another's hold for up to `max_wait` or
        MAX_PAUSE, whichever is longer: a short wait asked of one request is pacing, not a reason
        for the others to give up; a daily quota spent is.

        Waiting requests of a key go out highest `priority` first (as the slots serve them),
        and only one task sleeps for the key's budget: hundreds of waiters each waking to
        find the budget taken would cost more CPU than the requests themselves.
        """
        state = self._key(key)
        allowed = self._max_wait if since is not None else max(self._max_wait, MAX_PAUSE)
        since = self._clock() if since is None else since
        if state.resume_at - since > allowed:
            raise RateLimitWait(state.resume_at - since)
        if not state.waiting and self._delay(state, cost) <= 0:
            return self._issue(state, cost)
        ticket: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        heapq.heappush(state.waiting, (rank(priority), next(self._arrivals), cost, since, since + allowed, ticket))
        if state.dispatcher is None:
            state.dispatcher = asyncio.ensure_future(self._dispatch(state))
        try:
            return await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled() and ticket.exception() is None:
                # Issued just as we were cancelled: the request never goes out.
                self.release(key, ticket.result())
            raise

    async def _dispatch(self, state: _Key) -> None:
        """Hand out tickets to the waiters of `state`, best first, as the budget allows."""
        try:
            while state.waiting:
                delay = self._delay(state, state.waiting[0][2])
                if delay > 0:
                    await self._sleep(delay)
                    continue
                _, _, cost, _, _, ticket = heapq.heappop(state.waiting)
                if not ticket.done():
                    ticket.set_result(self._issue(state, cost))
        finally:
            state.dispatcher = None

    def _issue(self, state: _Key, cost: float) -> int:
        state.issued += 1
        state.in_flight[state.issued] = None
        if cost:
            state.costs[state.issued] = cost
        if state.learned is not None:
            state.learned.issue(self._clock())
        return state.issued

    def sending(self, key: str, ticket: int) -> bool:
        """The request of `ticket` goes out now, unless the ticket was taken back: False then, and the
        request asks for a new one (`release` this one).

        A ticket is issued before its request waits for a slot; a 429 or a learned rate that
        arrives meanwhile says the budget it was issued from is not there, and every request
        still waiting would otherwise go out to meet its own 429. Likewise a request whose tokens
        the requests sent meanwhile have taken.
        """
        state = self._key(key)
        if ticket <= state.recalled or self._token_wait(state, state.costs.get(ticket, 0.0), self._clock()) > 0:
            return False
        state.sent += 1
        state.in_flight[ticket] = state.sent
        return True

    def release(self, key: str, ticket: int, *, admitted: bool = False) -> None:
        """The request of `ticket` is over, answered or not (call it whatever happened); `admitted`:
        the provider's limits let it through (any answer but a 429), which raises a learned rate."""
        state = self._key(key)
        state.in_flight.pop(ticket, None)
        state.costs.pop(ticket, None)
        if not admitted:
            return
        state.limited_since = None
        if state.learned is not None:
            state.learned.admitted(ticket, _announced_refill(state))

    def _delay(self, state: _Key, cost: float) -> float:
        """Seconds until the key may send a request of `cost` tokens (0 or less: now)."""
        now = self._clock()
        delay = state.resume_at - now
        if state.learned is not None:
            delay = max(delay, state.learned.next_at - now)
        bucket = state.bucket
        if bucket is not None:
            # Requests sent after the answered one, or not sent yet (and not taken back), and not
            # back: not in its `remaining`. (Ones back without news are not counted: a provider that
            # stopped announcing must not stall us.)
            unseen = sum(
                1
                for ticket, sent in state.in_flight.items()
                if (sent is None and ticket > state.recalled) or (sent is not None and sent > bucket.sent)
            )
            delay = max(delay, self._refill_wait(bucket, 1, unseen, now))
        return max(delay, self._token_wait(state, cost, now))

    def _token_wait(self, state: _Key, cost: float, now: float) -> float:
        """Seconds until the key's token budget holds `cost` beyond the requests sent since its news.

        Only those sent: tickets still waiting for a slot would hold the budget for requests that
        may wait long (each costing up to thousands of tokens); `sending` checks again instead.
        """
        tokens = state.tokens
        if tokens is None or cost <= 0:
            return 0.0
        unseen = sum(
            state.costs.get(ticket, 0.0) for ticket, sent in state.in_flight.items() if sent is not None and sent > tokens.sent
        )
        return self._refill_wait(tokens, cost, unseen, now)

    @staticmethod
    def _refill_wait(bucket: _Bucket, need: float, unseen: float, now: float) -> float:
        """Seconds until `bucket` holds `need` (at most all of it) beyond what `unseen` requests took."""
        need = min(need, bucket.limit)
        available = bucket.level(now) - unseen
        # A hair under what is needed is enough: rounding must not keep a waiter waking forever.
        if available >= need - _EPSILON:
            return 0.0
        if bucket.refill <= 0:
            # Spent, with no word on when it comes back: the answers in flight will say.
            return 0.05 if unseen else 0.0
        return max(min((need - available) / bucket.refill, MAX_PAUSE), _EPSILON)

    def observe(self, key: str, ticket: int, limits: Iterable[RateLimit]) -> None:
        """Take the limits announced on the answer to `ticket` (success or failure).

        Answers do not come back in the order the provider counted their requests: of four
        sent together, the one counted first (3 left) may arrive before the one counted last
        (0 left), and another (1 left) after both. The answer to a request sent before the
        estimate's own answer came may therefore be older news: it can only lower the
        estimate. The answer to one sent later is newer, and replaces it.

        A window is the time the bucket takes to fill from empty: limit ÷ refill, where the
        reset is the time to refill what was used (Groq, OpenAI) or to the window's end. Groq's
        request headers count a day (14400 requests, a reset of 6 s after one): longer than
        QUOTA_WINDOW, that is a quota to spend, not a rate to keep.
        """
        state = self._key(key)
        now = self._clock()
        for limit in limits:
            if limit.remaining is None:
                continue
            reset = limit.reset_seconds or 0.0
            used = limit.limit - limit.remaining
            window = reset * limit.limit / used if used > 0 else reset
            if reset > MAX_PAUSE or window > QUOTA_WINDOW:
                if limit.kind == "tokens" and limit.remaining < limit.limit * TOKEN_RESERVE and reset:
                    # A long token window nearly spent: better to wait (a minute at most) than meet its 429s.
                    self.pause(key, reset)
                continue
            refill = used / reset if reset > 0 else 0.0
            remaining, sent = float(limit.remaining), state.in_flight.get(ticket) or 0
            old = state.bucket if limit.kind == "requests" else state.tokens
            if old is not None and sent <= old.horizon:
                if remaining >= old.level(now):
                    continue  # older news that more was left: nothing learned
            new = _Bucket(limit.limit, remaining, refill, now, sent, state.sent)
            if limit.kind == "requests":
                state.bucket = new
            else:
                state.tokens = new

    def pause(self, key: str, seconds: float) -> None:
        """Hold every request of `key` for `seconds` (capped at MAX_PAUSE) from now."""
        if seconds > 0:
            state = self._key(key)
            state.resume_at = max(state.resume_at, self._clock() + min(seconds, MAX_PAUSE))

    def throttled(self, key: str, ticket: int, seconds: float, *, tokens: bool = False) -> None:
        """A 429 for the request of `ticket` (call it before `release`): nothing is left of the key's
        budget now, and the provider asked for `seconds`; `tokens`: it named a token limit.

        Emptying the estimate matters as much as the wait: otherwise every request held
        back would go out together when the wait ends, and meet the next 429. The wait
        itself says one request may go when it ends, whatever rate earlier answers implied:
        that one brings fresh news (answers to requests already in flight are older). The
        requests after it go at the learned rate, lowered by this 429 unless the request was
        sent before the last lowering (a 429 of the same burst), or a token limit refused it.
        """
        state = self._key(key)
        now = self._clock()
        if state.limited_since is None:
            state.limited_since = now
        if not tokens:
            self._lower(state, ticket, seconds)
        bucket = state.tokens if tokens else state.bucket
        if bucket is not None:
            bucket.remaining, bucket.observed_at = 0.0, now
            bucket.sent = bucket.horizon = state.sent
            if seconds > 0 and not tokens:
                bucket.refill = max(bucket.refill, 1 / seconds)
        state.resume_at = max(state.resume_at, now + seconds)
        if ticket > state.recalled:
            # A 429 to a ticket taken back already is the same burst's: the tickets issued since were
            # issued knowing it, at the rate it taught.
            state.recalled = state.issued
        self._expire(state)

    def _lower(self, state: _Key, ticket: int, seconds: float) -> None:
        """A 429 lowers the key's learned rate (`LearnedRate.lower`), the newest word on the tier's limit."""
        if state.learned is None:
            state.learned = LearnedRate.first(seconds, state.issued)
        else:
            state.learned.lower(ticket, seconds, state.issued, _announced_refill(state))
        self._share(state.learned.rate)

    def _share(self, rate: float) -> None:
        """`rate` is the newest learned: keys not refused yet take it (see `_key`), and so do those
        that took an older one, since it is the newest word on the tier's limit."""
        self._shared = rate
        for state in self._keys.values():
            if state.learned is not None and not state.learned.own:
                state.learned.rate = min(state.learned.rate, rate)

    def _expire(self, state: _Key) -> None:
        """Waiters held past their own `max_wait` by the key's newest wait give up now, not when it ends."""
        if not any(state.resume_at > deadline for _, _, _, _, deadline, _ in state.waiting):
            return
        keep = []
        for entry in state.waiting:
            since, deadline, ticket = entry[3:]
            if ticket.done():
                continue
            if state.resume_at > deadline:
                ticket.set_exception(RateLimitWait(state.resume_at - since))
            else:
                keep.append(entry)
        heapq.heapify(keep)
        state.waiting = keep

    def now(self) -> float:
        return self._clock()

    def limited_for(self) -> float:
        """Seconds since the oldest run of 429s not yet followed by a success began (0: none)."""
        since = [state.limited_since for state in self._keys.values() if state.limited_since is not None]
        return self._clock() - min(since) if since else 0.0


def _announced_refill(state: _Key) -> float:
    """The refill the key's request headers announce; 0 where none do."""
    return state.bucket.refill if state.bucket is not None else 0.0
