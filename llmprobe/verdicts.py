"""From all the answers of one mode to its verdicts: the methodology, the same for every dialect.

What one answer means is judged in `judging` (and the tool chain's steps in `toolchain`).
Everything here is a pure function of what came back, so a verdict can be
recomputed (and tested) from evidence alone. The rules follow the reference
scoreboard (maruel/genai) except where it reports something untrue; those places
are marked with their deviation number (D1, D2, …), each written out with its
reason and its tests in docs/methodology.md.

Three outcomes are kept apart everywhere:
- the feature does not work (a rejected option, a wrong answer) → false / flaky;
- the model misbehaved this time (a malformed tool call) → flaky;
- we could not ask (transport failure after retries) → unknown, never false (D7).
A fourth stands apart from them: the dialect's wire format has no way to ask (no such
field) → inexpressible, which says nothing about the model either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from llmprobe import shares
from llmprobe.battery import Battery, Probe, Role
from llmprobe.capabilities import Combined, capability
from llmprobe.judging import Observations, cannot_express, gate_unmeasured, is_unmeasured, ok_reply, passed, reply_passes
from llmprobe.neutral import Exchange
from llmprobe.results import VERDICT_NAMES, Evidence, Modality, ModeResult, Verdict
from llmprobe.toolchain import tools_verdicts


def _simple(exchange: Exchange | None, passed: bool) -> Verdict:
    """A probe whose verdict is just whether it passed: unknown when it could not be asked,
    inexpressible when the wire format cannot ask it."""
    if exchange is None or is_unmeasured(exchange):
        return Verdict.UNKNOWN
    if cannot_express(exchange.error):
        return Verdict.INEXPRESSIBLE
    return Verdict.of(passed)


def _reporting_samples(obs: Observations, battery: Battery) -> tuple[list[bool], list[bool]]:
    """Which replies reported usage, and which reported the right finish reason.

    Where the checks run (each probe's `report:`) and what finish they expect follow
    the reference (methodology: "Token usage and finish reason"): a passing reply the probe's
    `expect: finish`; a failing one ends
    naturally, with its tool calls if it made some (ToolBias), else "stop" (a MaxTokens
    reply that was not cut short).
    D1 (and D10 for usage): each counter is judged over all its samples — true when
    always right, false when never, flaky in between — instead of the reference's
    state machine, which gates finish on usage and can call "never reported" flaky.
    """
    usage: list[bool] = []
    finish: list[bool] = []
    for probe in battery.probes.values():
        reply = ok_reply(obs, probe.name)
        if reply is None:
            continue
        ok = reply_passes(probe, reply)
        reached = {"answered": True, "passed": ok, "called": bool(reply.tool_calls)}
        if reached.get(probe.report_usage, False):
            usage.append(not reply.usage.is_zero())
        if reached.get(probe.report_finish, False):
            # A reply with nothing in it may have spent its tokens where we cannot see them
            # (gpt-5's hidden reasoning): then the probe's own finish reason ("length") is as
            # true as a plain stop.
            empty = not (reply.text.strip() or reply.reasoning)
            plain = "tool_calls" if reply.tool_calls else "stop"
            expected = {probe.expect["finish"]} if ok else {plain, probe.expect["finish"]} if empty else {plain}
            finish.append(reply.finish_reason in expected)
    return usage, finish


def mode_verdicts(obs: Observations, battery: Battery) -> dict[str, Verdict]:
    """Every verdict of one mode.

    When the gate (Text) was refused, the mode has no record (empty, as in the reference:
    the model does not do text this way); when it could not be asked at all (network
    failures after retries), every verdict is unknown — never false (D7).
    """
    gate = battery.one(Role.GATE)
    text = ok_reply(obs, gate.name)
    if text is None:
        return dict.fromkeys(VERDICT_NAMES, Verdict.UNKNOWN) if gate_unmeasured(obs.get(gate.name)) else {}
    usage, finish = _reporting_samples(obs, battery)
    own = battery.deciding().items()
    verdicts = {
        **{verdict: _JUDGED[capability(verdict).combined](obs, probes, battery) for verdict, probes in own},
        **tools_verdicts(obs, battery),
        "reportRateLimits": Verdict.of(bool(text.rate_limits)),
        "reportTokenUsage": Verdict.over(usage),
        "reportFinishReason": Verdict.over(finish),
    }
    return {name: verdicts[name] for name in VERDICT_NAMES}


@dataclass(frozen=True)
class GateFailure:
    """Why a mode has no verdict of its own: its gate (Text) was never answered, in any trial.

    Read back from a mode's results (`gate_failure`), so every output (the scoreboards, the
    run's summary) says the same thing the same way."""

    #: True when the provider refused it (❌: the model does not answer this way; nothing else was
    #: asked), False when it could not be measured (❔: a server error, a timeout, a rate limit, a refused key).
    refused: bool
    #: The gate's evidence (of the last trial): the HTTP status and the provider's message.
    evidence: Evidence

    def __str__(self) -> str:
        how = "❌ Text refused" if self.refused else "❔ Text not measured"
        return f"{how}: {self.evidence.reason}"


def gate_failure(mode: ModeResult, battery: Battery) -> GateFailure | None:
    """The mode's gate failure, when nothing in it was measured because its gate was never answered:
    no verdicts (refused, as `mode_verdicts` leaves them) or only unknown ones (not measured)."""
    if any(verdict is not Verdict.UNKNOWN for verdict in mode.verdicts.values()):
        return None
    gate = battery.one(Role.GATE).name
    tried = [e for e in mode.probes if e.probe == gate]
    if not tried or any(e.outcome == "pass" for e in tried):
        return None
    return GateFailure(refused=not mode.verdicts, evidence=tried[-1])


def _own_verdict(obs: Observations, probes: tuple[Probe, ...], battery: Battery) -> Verdict:
    """The capability its own probes decide: one probe's pass, unknown when it could not be asked.

    `verdict_from: any_reply` (Citations, asked with a plain and a Markdown document): any reply
    of the mode that passes one of the probes' checks shows it (the reference's a3d5d616 rule).
    Without one it is false as soon as one of the probes was answered: the second document is a
    second chance to cite, not a second question, so one answer without citations is a
    measurement. Unknown only when none of them could be asked (D7); inexpressible when the
    wire format can carry none of them. A reply to a probe that let the model search the web
    (WebSearch) is not one of them: what it cites is the web it searched, not a document it was given.
    """
    if probes[0].verdict_from_any_reply:  # then all of them are (checked when the battery is loaded)
        searched = {p.name for p in battery.probes.values() if p.options.get("web_search")}
        replies = [reply for name in obs if name not in searched and (reply := ok_reply(obs, name)) is not None]
        if any(reply_passes(probe, reply) for probe in probes for reply in replies):
            return Verdict.TRUE
        asked = [obs.get(probe.name) for probe in probes]
        if all(e is not None and cannot_express(e.error) for e in asked):
            return Verdict.INEXPRESSIBLE
        unasked = all(is_unmeasured(e) or (e is not None and cannot_express(e.error)) for e in asked)
        return Verdict.UNKNOWN if unasked else Verdict.FALSE
    (probe,) = probes
    return _simple(obs.get(probe.name), passed(probe, obs.get(probe.name)))


#: How each way of combining a capability's own probes (`capabilities.Combined`) makes its verdict.
_JUDGED: dict[Combined, Callable[[Observations, tuple[Probe, ...], Battery], Verdict]] = {
    Combined.PASS: _own_verdict,
    Combined.EACH_CALL: shares.each_call,
    Combined.EACH_REPLY: shares.each_reply,
}


def media_input(modes: Iterable[Observations], battery: Battery) -> dict[str, Modality]:
    """Each modality read over every mode: an attachment of it answered right, inline or by URL,
    and the formats (MIME types) answered right, as the reference's `in` reports them. A modality
    no attachment of which was recognised is absent, as in the reference."""
    found: dict[str, Modality] = {}
    for obs in modes:
        for probe in battery.media:
            if passed(probe, obs.get(probe.name)):
                modality = found.setdefault(probe.attachment.modality, Modality())
                modality.inline = modality.inline or probe.way == "Inline"
                modality.url = modality.url or probe.way == "URL"
                if probe.attachment.mime not in modality.formats:
                    modality.formats.append(probe.attachment.mime)
    for modality in found.values():
        modality.formats.sort()
    return found


def thinking_seen(obs: Observations) -> bool:
    return any((reply := ok_reply(obs, name)) is not None and reply.reasoning for name in obs)
