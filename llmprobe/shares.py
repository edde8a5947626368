"""The capabilities judged check by check (`capabilities.Combined`): tool-call accuracy and schema strictness.

One probe's pass says too little here: a model that makes nine good calls and one bad one differs
from one that makes none, and a schema that holds under a prompt asking to break it differs from one
the prompt talks the model out of. Each call and each structured reply is checked on its own
(`conformance`); this module makes a mode's verdict of those checks, the share of valid calls over
every trial (`trials.rate`, with its Wilson interval), and the evidence's account of what failed.
"""

from __future__ import annotations

from collections.abc import Iterable

from llmprobe import trials
from llmprobe.battery import Battery, Probe
from llmprobe.capabilities import RATED, Combined, capability
from llmprobe.conformance import call_checks, findings, reply_problem
from llmprobe.judging import Observations, cannot_express, failure_outcome, is_unmeasured
from llmprobe.neutral import Exchange
from llmprobe.results import Rate, Verdict


def _call_samples(probe: Probe, exchange: Exchange | None) -> list[bool] | None:
    """Each checked call of one reply (`conformance.call_checks`); None when the probe says nothing
    (not sent, not measured, or the wire format cannot ask it). A refusal, or the provider's own
    "tool call failed", is the tool definition failing: one wrong call."""
    if exchange is None or is_unmeasured(exchange) or cannot_express(exchange.error):
        return None
    if exchange.reply is None or exchange.error is not None:
        return [False]
    return [check.ok for check in call_checks(probe, exchange.reply)]


def each_call(obs: Observations, probes: tuple[Probe, ...], battery: Battery) -> Verdict:
    """Tool-call accuracy in one trial: true when every checked call was valid, false when none was,
    flaky between; unknown when no probe could be asked, inexpressible when the wire format cannot."""
    samples = [_call_samples(probe, obs.get(probe.name)) for probe in probes]
    measured = [ok for found in samples if found is not None for ok in found]
    if not measured:
        return _unmeasured(obs, probes)
    return Verdict.over(measured)


def each_reply(obs: Observations, probes: tuple[Probe, ...], battery: Battery) -> Verdict:
    """Schema strictness in one trial: false (refused) when the provider refused the schema, else
    true (enforced) when every reply was valid against it, flaky (prompted) when one was not."""
    valid: list[bool] = []
    for probe in probes:
        exchange = obs.get(probe.name)
        if exchange is None or is_unmeasured(exchange) or cannot_express(exchange.error):
            continue
        if exchange.error is not None and failure_outcome(exchange.error) == "unsupported":
            return Verdict.FALSE
        reply = exchange.reply if exchange.error is None else None
        valid.append(reply is not None and not reply_problem(probe.options["json_schema"], reply))
    if not valid:
        return _unmeasured(obs, probes)
    return Verdict.TRUE if all(valid) else Verdict.FLAKY


def _unmeasured(obs: Observations, probes: tuple[Probe, ...]) -> Verdict:
    asked = [obs.get(probe.name) for probe in probes]
    return Verdict.INEXPRESSIBLE if all(e is not None and cannot_express(e.error) for e in asked) else Verdict.UNKNOWN


def sampled_rates(runs: Iterable[Observations], battery: Battery) -> dict[str, Rate]:
    """The rate of each capability that checks each call (`RATED`) over every call of a mode's
    trials together, with its Wilson interval: 47 valid calls of 50 is 47/50 whatever the trials.
    None when no request was answered: a provider that refused every one made no call to count
    (its verdict says false)."""
    deciding = battery.deciding()
    rates: dict[str, Rate] = {}
    observed = list(runs)
    for name in sorted(RATED & deciding.keys()):
        asked = [(probe, obs.get(probe.name)) for obs in observed for probe in deciding[name]]
        if not any(exchange is not None and exchange.ok for _, exchange in asked):
            continue
        samples = [ok for probe, exchange in asked for ok in (_call_samples(probe, exchange) or [])]
        rates[name] = trials.rate(sum(samples), len(samples))
    return rates


def problems(probe: Probe, exchange: Exchange) -> str:
    """What was wrong with each call or with the structured reply, for the evidence; "" when nothing
    was checked one by one, or nothing was wrong."""
    reply = exchange.reply
    if reply is None or exchange.error is not None or not probe.verdict:
        return ""
    combined = capability(probe.verdict).combined
    if combined is Combined.EACH_CALL:
        return findings(call_checks(probe, reply))
    if combined is Combined.EACH_REPLY:
        return reply_problem(probe.options["json_schema"], reply)
    return ""
