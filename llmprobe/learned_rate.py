"""A request rate learned from 429s, for the limit that binds where no header announces it.

Groq's request headers carry the daily quota while a per-minute bucket refuses, and OpenAI
announces a per-minute figure while enforcing it per second. A key's 429s therefore teach
it a rate: each wait bounds the refill from above (at most one request per wait), the first
sets the rate there (a flooded bucket is empty, so its wait is one refill), each later one
lowers it by DECREASE (not far below an announced refill, which also caps it), and each
answer let through after the lowering raises it by 1 + INCREASE. Sending faster than the
bucket refills empties it and meets a 429; sending slower never does: the rate settles in a
band a few percent wide around the refill, with one 429 per climb (docs/methodology.md,
"Rate limits"). The pacer (`llmprobe.pacing`) keeps one per key and shares the newest.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A learned rate's factor on a 429, and its growth on each success after it (before the key's own first 429).
DECREASE, INCREASE = 0.85, 0.01
#: The factor on a 429 for a key paced at about its announced refill.
NEAR_REFILL = 0.95
#: A 429 asking for less (or nothing) still says no faster than this.
_SHORTEST_WAIT = 0.1


@dataclass
class LearnedRate:
    """The rate of one key; `refill` below is the key's announced refill (0: none announced)."""

    #: Requests a second.
    rate: float
    #: No request before this time: the one before went 1 ÷ rate earlier.
    next_at: float
    #: Tickets issued when the rate was last lowered: a 429 to one of them is old news, and their
    #: answers say nothing of the lowered rate.
    horizon: int
    #: The key has had a 429 of its own (until then its rate is a sibling's, and grows fast).
    own: bool = True

    @classmethod
    def first(cls, seconds: float, issued: int) -> LearnedRate:
        """The key's first 429, asking to wait `seconds`: one request per wait."""
        return cls(_bound(seconds), 0.0, issued)

    def issue(self, now: float) -> None:
        """A ticket was handed out: the next waits one interval after it."""
        self.next_at = max(now, self.next_at) + 1 / self.rate

    def admitted(self, ticket: int, refill: float) -> None:
        """The request of `ticket` got through the provider's limits."""
        if ticket > self.horizon:
            self.rate *= 1 + INCREASE
            if refill > 0:
                # Sending faster than the announced refill cannot last: it only borrows from the burst.
                self.rate = min(self.rate, refill)

    def lower(self, ticket: int, seconds: float, issued: int, refill: float) -> None:
        """A 429 to the request of `ticket`, asking to wait `seconds`; `issued`: the key's tickets so far.

        Every 429's wait bounds the refill from above (the bucket held at least nothing, and
        needs `seconds` to hold one request): the rate never stays above the tightest bound.
        A 429 to a request issued at the rate now learned lowers it by DECREASE.
        """
        bound = _bound(seconds)
        if self.own and ticket <= self.horizon:
            # Issued before the rate was lowered: the same burst's news.
            self.rate = min(self.rate, bound)
            return
        lowered = self.rate * DECREASE
        if refill > 0:
            # Paced near an announced refill, a 429 says the burst is smaller than announced, not the
            # refill: a step just under it, not a fall far below.
            lowered = min(max(lowered, NEAR_REFILL * min(self.rate, refill)), refill)
        self.rate, self.horizon, self.own = min(lowered, bound), issued, True


def _bound(seconds: float) -> float:
    return 1 / max(seconds, _SHORTEST_WAIT)
