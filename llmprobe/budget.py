"""What a run may spend, in tokens or dollars, and the price of what it did spend.

Providers report usage only after answering, so a budget can only be kept by estimating
each request before it goes out: its input from the largest input this provider has
reported so far in the run (or, before any, a quarter of its text's characters), its
output from the largest output so far (capped by the request's own max_tokens). A request
goes out only while what was spent, plus the estimates of the requests in flight, plus
its own estimate fits the budget; one that does not fit waits for the requests in flight
to come back (their estimates are maxima, their usage is often less) and is refused only
when it still does not fit with nothing in flight. A reply far longer than any before it
can still pass the budget by that much; nothing else can.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from llmprobe.errors import LlmprobeError
from llmprobe.neutral import Request, TextPart, Usage


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens (providers.yaml `price: {input, output}`)."""

    input: float
    output: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input + tokens_out * self.output) / 1_000_000


@dataclass(frozen=True)
class Cost:
    """Tokens a model (or a whole run) used as the provider reported them, and their price."""

    tokens_in: int = 0
    tokens_out: int = 0
    #: None when no price is configured.
    usd: float | None = None

    @classmethod
    def of(cls, tokens_in: int, tokens_out: int, price: Price | None) -> Cost:
        return cls(tokens_in, tokens_out, None if price is None else round(price.cost(tokens_in, tokens_out), 6))

    @classmethod
    def total(cls, costs: Iterable[Cost]) -> Cost:
        listed = list(costs)
        usd = None if any(c.usd is None for c in listed) or not listed else round(sum(c.usd or 0 for c in listed), 6)
        return cls(sum(c.tokens_in for c in listed), sum(c.tokens_out for c in listed), usd)

    def __str__(self) -> str:
        text = f"{self.tokens_in} tokens in, {self.tokens_out} out"
        return text if self.usd is None else f"{text}, ${self.usd:.4f}"


class BudgetExhausted(LlmprobeError):
    """The request was not sent: it would have passed the run's budget."""


@dataclass
class _Seen:
    largest_in: int = 0
    largest_out: int = 0


@dataclass
class Budget:
    """The run's budget, shared by every provider; either limit may be None."""

    tokens: int | None = None
    usd: float | None = None
    spent_tokens: int = 0
    spent_usd: float = 0.0
    #: Requests not sent for want of budget.
    refused: int = 0
    _reserved: dict[int, tuple[int, float]] = field(default_factory=dict)
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _next: int = 0
    _settled: asyncio.Event = field(default_factory=asyncio.Event)

    def estimate(self, key: str, request: Request) -> tuple[int, int]:
        """(input, output) tokens `request` is expected to use, from what `key` (a provider) used so far."""
        seen = self._seen.get(key, _Seen())
        text = sum(len(part.text) for m in request.messages for part in m.parts if isinstance(part, TextPart))
        tokens_in = max(seen.largest_in, math.ceil(text / 4))
        tokens_out = seen.largest_out
        if request.max_tokens is not None:
            tokens_out = min(seen.largest_out or request.max_tokens, request.max_tokens)
        return tokens_in, tokens_out

    async def reserve(self, key: str, request: Request, price: Price | None) -> int:
        """A ticket for sending `request`; raises BudgetExhausted when it will not fit."""
        while True:
            tokens_in, tokens_out = self.estimate(key, request)
            tokens = tokens_in + tokens_out
            usd = price.cost(tokens_in, tokens_out) if price is not None else 0.0
            problem = self._passed(tokens, usd)
            if problem is None:
                self._next += 1
                self._reserved[self._next] = (tokens, usd)
                return self._next
            if not self._reserved:
                self.refused += 1
                raise BudgetExhausted(f"budget: not sent, {problem}")
            self._settled.clear()
            await self._settled.wait()

    def _passed(self, tokens: int, usd: float) -> str | None:
        """What the request would pass, with the requests in flight; None when it fits."""
        in_flight = list(self._reserved.values())
        if self.tokens is not None and self.spent_tokens + sum(t for t, _ in in_flight) + tokens > self.tokens:
            return f"about {tokens} more tokens would pass --budget-tokens {self.tokens}"
        if self.usd is not None and self.spent_usd + sum(u for _, u in in_flight) + usd > self.usd:
            return f"about ${usd:.6f} more would pass --budget-usd {self.usd}"
        return None

    def settle(self, ticket: int, key: str, usage: Usage | None, price: Price | None) -> None:
        """The request came back: its estimate gives way to what the provider reported, and stays
        spent when a reply reported no usage (none, or none believable): a reply was made, and
        a provider that hides its counts must not make the budget endless."""
        estimate = self._reserved.pop(ticket, None)
        self._settled.set()
        if usage is None:
            return
        if usage.is_zero() and estimate is not None:
            tokens, usd = estimate
            self.spent_tokens += tokens
            self.spent_usd += usd
            return
        self.spent_tokens += usage.input_tokens + usage.output_tokens
        if price is not None:
            self.spent_usd += price.cost(usage.input_tokens, usage.output_tokens)
        seen = self._seen.setdefault(key, _Seen())
        seen.largest_in = max(seen.largest_in, usage.input_tokens)
        seen.largest_out = max(seen.largest_out, usage.output_tokens)
