"""When a failed request is sent again, and after how long.

Apart from the client (`client.ProviderClient.generate` applies it) because it is the one piece of
the request's life a run configures (`max_retries` and `rate_limit_wait` in providers.yaml, no
waiting at all on replay) and tests script.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Like the OpenAI and Groq SDKs: a couple of retries, exponential backoff with jitter.

    A 429 is no error to spend retries on: it is waited out (see `ProviderClient.generate`),
    for at most `rate_limit_wait` seconds.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    #: The longest Retry-After we are willing to honour on an error; longer waits are capped here.
    max_retry_after: float = 60.0
    #: Seconds a request may be held by 429s, from its first, before it is given up as rate limited.
    rate_limit_wait: float = 600.0
    #: False when replaying: recorded retries are served again at once, there is no one to wait for,
    #: and a recorded 429 counts as an error (the recording holds as many as the recorded run met).
    wait: bool = True

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        if not self.wait:
            return 0.0
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        return self.backoff(attempt)

    def backoff(self, attempt: int) -> float:
        """The jittered exponential wait before retry number `attempt` when nobody said how long."""
        base = min(self.initial_delay * 2 ** (attempt - 1), self.max_delay)
        return base * (1 - 0.25 * random.random())
