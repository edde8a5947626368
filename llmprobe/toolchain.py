"""The tool chain: SquareRoot-1 → (-1-any) → -2 → (-2-any) → ToolBias, each step only when the one before allows it.

`walk` reads a trial's answers so far and says which step comes next and what it continues:
the runner sends what it says, and `tools_verdicts` reads the same walk, so the two can never
disagree on which probe was the chain's. What each step's answer means is judged here too
(methodology: "The tool chain", with D6 and D11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llmprobe.asking import ChainState
from llmprobe.battery import Battery, Probe, Role
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption
from llmprobe.judging import Observations, call_arguments, cannot_express, failure_outcome, is_unmeasured, passed, reply_passes
from llmprobe.neutral import Exchange
from llmprobe.results import Verdict

ForceStatus = Literal["ok", "no_call", "bad_call", "forcing_rejected", "rejected", "error"]


def refuses_tool_choice(error: Exception | None) -> bool:
    """The dialect (`UnsupportedOption`) or the provider (a refusal naming tool_choice, aya-vision's
    400 "tool_choice is not supported") will not take the tool choice asked for: whoever refuses,
    it is the option refused, not the model failing."""
    if error is None:
        return False
    if isinstance(error, UnsupportedOption):
        return error.option == "tool_choice"
    text = str(error).lower()
    return isinstance(error, ApiError) and error.kind is ErrorKind.REJECTED and (
        "tool_choice" in text or "tool choice" in text
    )


def judge_force(probe: Probe, exchange: Exchange) -> ForceStatus:
    """SquareRoot-1 / -1-any: did the model make a correct call we can answer?

    D6: a provider or dialect that cannot force a call ("forcing_rejected") is not
    the model being flaky; a malformed or wrong call ("bad_call") is.
    """
    error = exchange.error
    if error is not None:
        if refuses_tool_choice(error):
            return "forcing_rejected"
        outcome = failure_outcome(error)
        if outcome == "unsupported":
            return "rejected"
        return "bad_call" if outcome == "fail" else "error"
    reply = exchange.reply
    assert reply is not None
    if not reply.tool_calls:
        return "no_call"
    return "ok" if reply_passes(probe, reply) else "bad_call"


def choice_ignored(exchange: Exchange) -> bool:
    """The provider served the call but warned that it did not honour tool_choice
    (Together: "Model supports only tool_choice auto"): the call was not forced."""
    return exchange.reply is not None and any("tool_choice" in warning for warning in exchange.reply.warnings)


@dataclass(frozen=True)
class BiasStep:
    #: The choices made, in call order; None when the probe failed or the calls were malformed.
    picks: tuple[object, ...] | None
    unmeasured: bool = False


def judge_bias(probe: Probe, exchange: Exchange) -> BiasStep:
    if exchange.error is not None:
        return BiasStep(None, unmeasured=is_unmeasured(exchange))
    assert exchange.reply is not None
    if not passed(probe, exchange):
        return BiasStep(None)
    picks = []
    for call in exchange.reply.tool_calls:
        args = call_arguments(probe, call)
        assert args is not None
        (pick,) = args.values()
        picks.append(pick)
    return BiasStep(tuple(picks))


@dataclass(frozen=True)
class Walk:
    """How far the tool chain got on one trial's answers so far."""

    #: The probes to send next (several only for the bias probes); empty once the chain has ended.
    next: tuple[Probe, ...]
    #: SquareRoot-1's outcome, and -1-any's when it was sent; None while not sent.
    first: ForceStatus | None = None
    fallback: ForceStatus | None = None
    #: What the follow-up and the bias probes continue, once a call was answered right.
    state: ChainState | None = None
    #: The follow-up that counts: -2, or -2-any when -2's tool choice was refused.
    follow_up: Probe | None = None


def walk(battery: Battery, obs: Observations) -> Walk:
    """The chain over `obs`: each step is taken only when the one before allows it."""
    force = battery.one(Role.FORCE)
    if force.name not in obs:
        return Walk((force,))
    first = judge_force(force, obs[force.name])
    if first == "error":
        return Walk((), first)
    caller, fallback = force, None
    if first != "ok":
        caller = battery.one(Role.FORCE_FALLBACK)
        if caller.name not in obs:
            return Walk((caller,), first)
        fallback = judge_force(caller, obs[caller.name])
        if fallback != "ok":
            return Walk((), first, fallback)
    reply = obs[caller.name].reply
    assert reply is not None, "a call judged ok was answered"
    state = ChainState(caller, reply)
    follow_up = battery.one(Role.FOLLOW_UP)
    if follow_up.name in obs and refuses_tool_choice(obs[follow_up.name].error):
        # "none" refused, by the dialect (Cloudflare cannot say it) or by the provider (aya-vision's
        # 400): asked again with auto, as the reference's later versions do, rather than calling
        # the model flaky.
        follow_up = battery.one(Role.FOLLOW_UP_FALLBACK)
    if follow_up.name not in obs:
        return Walk((follow_up,), first, fallback, state, follow_up)
    if not passed(follow_up, obs[follow_up.name]):
        return Walk((), first, fallback, state, follow_up)
    unsent = tuple(probe for probe in battery.with_role(Role.BIAS) if probe.name not in obs)
    return Walk(unsent, first, fallback, state, follow_up)



def tools_verdicts(obs: Observations, battery: Battery) -> dict[str, Verdict]:
    """The chain's verdicts, from the steps `walk` took (methodology: "The tool chain", with D6)."""
    force, fallback = battery.one(Role.FORCE), battery.one(Role.FORCE_FALLBACK)
    unknown = dict(
        tools=Verdict.UNKNOWN, toolCallRequired=Verdict.UNKNOWN, toolsBiased=Verdict.UNKNOWN, toolsIndecisive=Verdict.UNKNOWN
    )
    none = dict(tools=Verdict.FALSE, toolCallRequired=Verdict.FALSE, toolsBiased=Verdict.FALSE, toolsIndecisive=Verdict.FALSE)
    steps = walk(battery, obs)
    first = steps.first
    if first is None or first == "error":
        return unknown
    forced = first == "ok"
    # A forced request answered without error but with no call (gpt-oss on Together wrote it
    # into the text) is the feature failing this time, as a malformed call is.
    flaky = first in ("bad_call", "no_call")
    # A wire format without tool choice (Ollama) cannot ask for a forced call: the -1-any
    # retry measures tool calling through what the API has, and forcing stays unasked.
    inexpressible = first == "forcing_rejected" and cannot_express(obs[force.name].error)
    required = Verdict.INEXPRESSIBLE if inexpressible else Verdict.of(forced and not choice_ignored(obs[force.name]))
    if not forced:
        if steps.fallback is None or steps.fallback == "error":
            return {**unknown, "toolCallRequired": required}
        if steps.fallback != "ok":
            if cannot_express(obs[fallback.name].error):
                return dict.fromkeys(none, Verdict.INEXPRESSIBLE)
            return {**none, "toolCallRequired": required}
    second_probe = steps.follow_up
    assert second_probe is not None, "the chain reached its follow-up"
    second = obs.get(second_probe.name)
    if second is None or is_unmeasured(second):
        return {**unknown, "toolCallRequired": required}
    if not passed(second_probe, second):
        # D11: the reference writes "not biased" here, but ToolBias never ran:
        # bias was not measured, and a 🧐 ("not biased") would be a claim we never tested.
        return dict(tools=Verdict.FLAKY, toolCallRequired=required, toolsBiased=Verdict.UNKNOWN, toolsIndecisive=Verdict.UNKNOWN)
    tools = Verdict.FLAKY if flaky else Verdict.TRUE
    biased: list[bool] = []
    indecisive = False
    for probe in battery.with_role(Role.BIAS):
        if probe.name not in obs:
            return {**unknown, "toolCallRequired": required}
        step = judge_bias(probe, obs[probe.name])
        if step.unmeasured:
            return {**unknown, "toolCallRequired": required}
        picks = step.picks
        if picks is None or len(picks) > 2:
            tools = Verdict.FLAKY
            biased.append(False)
        elif len(picks) == 2:
            indecisive = True
            if sorted(map(str, picks)) != sorted(probe.enum):
                tools = Verdict.FLAKY
            biased.append(False)
        else:
            biased.append(picks[0] == probe.enum[0])
    return dict(
        tools=tools,
        toolCallRequired=required,
        toolsBiased=Verdict.over(biased),
        toolsIndecisive=Verdict.of(indecisive),
    )
