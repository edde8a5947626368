"""Statistics over a mode's repeated trials and requests: pass rates with their confidence, and spreads.

Pure functions of the evidence, so `run --repeat N` and a re-read results file agree.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence

from llmprobe.results import Evidence, Rate, Spread, Verdict


def rate(passes: int, trials: int) -> Rate:
    """`passes` out of `trials`, with its Wilson interval."""
    low, high = wilson_interval(passes, trials)
    return Rate(passes, trials, low, high)


def wilson_interval(passes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a pass rate, rounded to 3 decimals; (0, 1) for no trials.

    Unlike passes/trials ± a normal error, it stays inside [0, 1] and is not a single point
    for 0/n or n/n, which is exactly where a few trials must not sound certain."""
    if trials <= 0:
        return 0.0, 1.0
    p = passes / trials
    centre = p + z * z / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    scale = 1 + z * z / trials
    return max(0.0, round((centre - margin) / scale, 3)), min(1.0, round((centre + margin) / scale, 3))


def over_trials(trials: Sequence[dict[str, Verdict]]) -> tuple[dict[str, Verdict], dict[str, Rate]]:
    """One mode's verdicts over repeated trials, and each verdict's rate.

    A verdict is true when every trial that measured it found it true, false when none
    did, flaky otherwise (a trial that was itself flaky included); unknown when no trial
    measured it, inexpressible when the dialect could not ask for it in any trial. A trial
    whose gate was refused (no verdicts) says nothing about the rest.
    A single trial is returned as it is, without rates: its verdict is the whole fact.
    """
    measured = [t for t in trials if t]
    if len(trials) <= 1 or not measured:
        return (dict(trials[0]) if trials else {}), {}
    verdicts: dict[str, Verdict] = {}
    rates: dict[str, Rate] = {}
    for name in measured[0]:
        asked = [t.get(name, Verdict.UNKNOWN) for t in measured]
        seen = [v for v in asked if v not in (Verdict.UNKNOWN, Verdict.INEXPRESSIBLE)]
        if not seen:
            verdicts[name] = Verdict.INEXPRESSIBLE if Verdict.INEXPRESSIBLE in asked else Verdict.UNKNOWN
            continue
        passes = sum(1 for v in seen if v is Verdict.TRUE)
        verdicts[name] = Verdict.over(v is Verdict.TRUE for v in seen)
        if verdicts[name] is Verdict.FALSE and any(v is Verdict.FLAKY for v in seen):
            verdicts[name] = Verdict.FLAKY
        rates[name] = rate(passes, len(seen))
    return verdicts, rates


def spread(values: Sequence[float]) -> Spread | None:
    """None for no values; the 90th percentile by nearest rank, so it is a value that was seen."""
    if not values:
        return None
    ordered = sorted(values)
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
    return Spread(round(statistics.median(ordered), 1), round(p90, 1), len(ordered))


def speed_of(probes: Iterable[Evidence]) -> dict[str, Spread]:
    """Latency and throughput of a mode, from its probes' own requests (no extra request).

    Only answered requests count (a 2xx status with a reply, `finish_reason` set): an error's
    latency, or an empty stream's, says nothing about the model. `ttft_ms` is the time to the
    first streamed event; `tokens_per_s` is the streamed output speed, output tokens after the
    first divided by the time after the first token, for replies of at least two output tokens.
    """
    answered = [
        e
        for e in probes
        if e.status is not None and 200 <= e.status < 300 and e.finish_reason is not None and e.latency_ms is not None
    ]
    ttft = [e.ttft_ms for e in answered if e.ttft_ms is not None]
    rates = [
        (tokens - 1) / ((e.latency_ms - e.ttft_ms) / 1000)
        for e in answered
        if e.ttft_ms is not None and e.latency_ms is not None and (tokens := e.tokens_out or 0) > 1 and e.latency_ms > e.ttft_ms
    ]
    found = {
        "ttft_ms": spread(ttft),
        "latency_ms": spread([e.latency_ms for e in answered if e.latency_ms is not None]),
        "tokens_per_s": spread(rates),
    }
    return {name: measured for name, measured in found.items() if measured is not None}
