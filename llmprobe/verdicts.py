"""From observed replies to verdicts: the methodology, the same for every dialect.

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

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import jsonschema

from llmprobe.battery import Battery, Probe, Role
from llmprobe.capabilities import NAMES
from llmprobe.errors import ApiError, DeclaredUnsupported, ErrorKind, UnsupportedOption
from llmprobe.neutral import Exchange, Reply, ToolCall, ToolResult
from llmprobe.results import Evidence, Modality, ModeResult, Outcome, Verdict

Observations = dict[str, Exchange]

# --- what one exchange means -------------------------------------------------------------


def failure_outcome(error: Exception) -> Outcome:
    """How a failed request counts as evidence.

    A rejected option is the provider saying "I don't support this" (unsupported),
    a model failure is the feature not working this time (fail), and everything
    else is the absence of an answer (error → unknown).
    """
    if isinstance(error, UnsupportedOption):
        return "unsupported"
    if isinstance(error, ApiError):
        # AUTH and NOT_FOUND on a probe after Text (which stops the run when it gets them):
        # the key and the model work, so it is this request's feature that is refused.
        refused = (ErrorKind.REJECTED, ErrorKind.AUTH, ErrorKind.NOT_FOUND)
        if error.kind in refused or _refused_by_server_error(error):
            return "unsupported"
        if error.kind in (ErrorKind.MODEL_FAILED, ErrorKind.MALFORMED):
            return "fail"
    return "error"


#: What a provider's 500 says when it refuses the request rather than fails at it: llama.cpp's
#: server answers a picture sent to a model without vision with "image input is not supported",
#: Ollama a GIF it cannot decode with "image: unknown format".
_SAYS_UNSUPPORTED = re.compile(
    r"not supported|unsupported|(does|do|is) not support|doesn't support|not implemented|validation error|unknown format",
    re.IGNORECASE,
)


def _refused_by_server_error(error: ApiError) -> bool:
    """A 500/501 whose body, the provider's own error envelope, says that what was asked is not supported.

    D7: a server error is a failure to ask, unknown. Only the provider itself answering, in its
    own words, that it does not do this makes a 5xx a refusal; "unknown error in the model
    inference server" (Hugging Face), "Internal server error" (Together) or OpenAI's "An error
    occurred while processing your request" are the server failing, whatever body they come in.
    Gateway errors (502–504) never count.
    """
    return (
        error.kind is ErrorKind.SERVER
        and error.has_envelope
        and error.status in (500, 501)
        and _SAYS_UNSUPPORTED.search(error.message) is not None
    )


def is_unmeasured(exchange: Exchange | None) -> bool:
    return exchange is not None and exchange.error is not None and failure_outcome(exchange.error) == "error"


def cannot_express(error: Exception | None) -> bool:
    """The dialect's wire format has no field for the option, so nothing was sent (a providers.yaml
    declaration is a statement about the provider instead, and counts as the feature not working)."""
    return isinstance(error, UnsupportedOption) and not isinstance(error, DeclaredUnsupported)


def gate_unmeasured(exchange: Exchange | None) -> bool:
    """The gate could not be asked: no answer (D7), or a refused key (401, 403), which says
    nothing about the model (and stops its provider: `runner`)."""
    error = exchange.error if exchange is not None else None
    return is_unmeasured(exchange) or (isinstance(error, ApiError) and error.kind is ErrorKind.AUTH)


def word_count(text: str) -> int:
    """Spaces + 1, as the reference counts: a cheap, tokenizer-free length."""
    return text.count(" ") + 1


def _json_object(reply: Reply) -> bool:
    """The reply starts with a JSON object (trailing text after it is tolerated).

    D12: the reference also accepts a bare `null`; that is not a JSON object, so we don't.
    """
    try:
        value, _ = json.JSONDecoder().raw_decode(reply.text.lstrip())
    except json.JSONDecodeError:
        return False
    return isinstance(value, dict)


def _json_values(reply: Reply, schema: dict, expected: dict) -> bool:
    """The whole reply is one JSON value valid against the schema, with the expected values."""
    try:
        value = json.loads(reply.text)
        _schema_validator(json.dumps(schema, sort_keys=True)).validate(value)
    except (json.JSONDecodeError, jsonschema.ValidationError, jsonschema.SchemaError):
        return False
    return all(value.get(k) == v for k, v in expected.items())


@lru_cache(maxsize=16)
def _schema_validator(schema_json: str) -> Any:
    """A validator for the schema, built once per schema (a schema is a dict, so it is keyed by its JSON).

    `jsonschema.validate` checks the schema against its meta-schema on every call:
    2 ms, which made the JSONSchema checks a tenth of llmprobe's CPU time per request.
    """
    schema = json.loads(schema_json)
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


def check_answer(reply: Reply, expected: str) -> bool:
    """Trimmed, lower-cased, trailing period dropped: "Banana." is banana."""
    return reply.text.strip().rstrip(".").strip().lower() == expected


def names_word(reply: Reply, word: str) -> bool:
    """The answer says `word` as a word of its own ("Orange.", "The word is BANANA"), not inside another."""
    return re.search(rf"\b{re.escape(word)}\b", reply.text, re.IGNORECASE) is not None


#: A reply saying it cannot see or hear the medium it was sent ("I can't see the image", "I'm unable
#: to listen to audio", "without seeing the picture"): whatever it then names is a guess, not a recognition.
_MEDIA = r"(?:image|picture|photo|file|attachment|audio|recording|sound|video|clip|document|pdf)s?"
_DENIES_SEEING = re.compile(
    r"\b(?:can ?not|can'?t|can’t|could ?n[o']t|unable to|not able to|do ?n[o']t|does ?n[o']t|am not able to)\s+"
    r"(?:see|view|access|look at|open|process|perceive|read|hear|listen to|play|watch)\s+(?:\w+\s+){0,3}?" + _MEDIA + r"\b"
    r"|\bwithout (?:seeing|viewing|hearing|listening to|being able to (?:see|hear)) (?:\w+\s+){0,2}?" + _MEDIA + r"\b"
    r"|\bno " + _MEDIA + r" (?:is |was )?(?:attached|provided|included|shown)",
    re.IGNORECASE,
)


def sees_medium(reply: Reply) -> bool:
    """Neither the answer nor the reasoning says the model cannot see or hear what it was sent."""
    return not _DENIES_SEEING.search(reply.text) and not _DENIES_SEEING.search(reply.reasoning)


def _argument_ok(value: object, declared: dict, expected: object) -> bool:
    """A number is compared by its whole part, as the reference does (2.0 is 2)."""
    if declared.get("type") == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        return expected is None or int(value) == expected
    if declared.get("type") == "string":
        return isinstance(value, str) and (expected is None or value == expected)
    return expected is None or value == expected


def call_arguments(probe: Probe, call: ToolCall) -> dict | None:
    """The call's arguments when it is the call `probe` expects: its tool, with exactly the
    tool's parameters (unknown keys fail, as in the reference), of the declared types and
    with the expected values. None for any other call. An enum is not enforced, as in the reference."""
    tool = probe.tool(probe.expect["call"])
    if tool is None or call.name != tool.name:
        return None
    try:
        args = call.decoded_arguments()
    except ValueError:
        return None
    declared = tool.parameters["properties"]
    expected = probe.expect.get("arguments", {})
    if set(args) != set(declared):
        return None
    return args if all(_argument_ok(v, declared[k], expected.get(k)) for k, v in args.items()) else None


def _calls_right(reply: Reply, probe: Probe) -> bool:
    return bool(reply.tool_calls) and all(call_arguments(probe, call) is not None for call in reply.tool_calls)


def _in_parallel(reply: Reply, probe: Probe) -> bool:
    """One call per lookup, all in this reply: each value the probe names ("Paris") is in the
    arguments of a call of its own ("Paris, France" counts), compared without regard to case."""
    wanted = [str(value).lower() for value in probe.expect["parallel"]]
    arguments = [call.arguments.lower() for call in reply.tool_calls]
    return len(arguments) >= len(wanted) and all(any(value in called for called in arguments) for value in wanted)


def shows_reasoning(reply: Reply) -> bool:
    """Reasoning text, or a count of reasoning tokens above 0 (a model whose reasoning is hidden)."""
    return bool(reply.reasoning) or bool(reply.usage.reasoning_tokens)


#: Each `expect:` key of the battery as a check on a reply (`finish` is not a check: see `_reporting_samples`;
#: `arguments` and `result` belong to `call`).
_CHECKS: dict[str, Callable[[Reply, Probe], bool]] = {
    "max_words": lambda reply, probe: word_count(reply.text) <= probe.expect["max_words"],
    # MaxTokens: cut short, and not empty: 16 tokens still say something, if only in reasoning.
    "says_something": lambda reply, probe: bool(reply.text or reply.reasoning),
    # Stop: a blank reply (gpt-oss on Cerebras and Together, gemma's blank stream on Together)
    # shows nothing of where generation stopped.
    "not_blank": lambda reply, probe: bool(reply.text.strip() or reply.reasoning),
    # Stop: generation halted before the stop word (a reply that is all thinking passes, as in the
    # reference; a blank one is no answer: see `not_blank`).
    "absent": lambda reply, probe: probe.expect["absent"] not in reply.text,
    "json_object": lambda reply, probe: _json_object(reply),
    "json": lambda reply, probe: _json_values(reply, probe.options["json_schema"], probe.expect["json"]),
    "logprobs": lambda reply, probe: bool(reply.logprobs),
    "citations": lambda reply, probe: bool(reply.citations),
    "call": _calls_right,
    "no_call": lambda reply, probe: not reply.tool_calls,
    "answer": lambda reply, probe: check_answer(reply, probe.expect["answer"]),
    "names": lambda reply, probe: names_word(reply, probe.expect["names"]),
    "sees": lambda reply, probe: sees_medium(reply) == probe.expect["sees"],
    # WebSearch: the reply carries the search itself (its sources or queries), not just an answer
    # that a model could give from memory.
    "searched": lambda reply, probe: bool(reply.web_search) == probe.expect["searched"],
    # Tools-Parallel: both lookups called at once; Tools-Parallel-Off: no more calls than allowed.
    "parallel": _in_parallel,
    "max_calls": lambda reply, probe: len(reply.tool_calls) <= probe.expect["max_calls"],
    # Reasoning-Off: asked not to reason, it shows none.
    "no_reasoning": lambda reply, probe: (not shows_reasoning(reply)) == probe.expect["no_reasoning"],
}
_NOT_CHECKS = {"finish", "arguments", "result"}


def reply_passes(probe: Probe, reply: Reply) -> bool:
    """Whether a reply meets every expectation of the probe: the one pass condition of each probe."""
    return all(_CHECKS[key](reply, probe) for key in probe.expect if key not in _NOT_CHECKS)


def passed(probe: Probe, exchange: Exchange | None) -> bool:
    """The probe was answered, and the answer meets its expectations (the pass/fail of its evidence;
    verdicts weigh probes together, this is one probe on its own)."""
    return exchange is not None and exchange.reply is not None and exchange.ok and reply_passes(probe, exchange.reply)


def tool_results(probe: Probe, reply: Reply) -> tuple[ToolResult, ...]:
    """The tool's answer to each of the reply's calls, as `expect: result` gives it."""
    return tuple(ToolResult(call.id, call.name, probe.expect["result"]) for call in reply.tool_calls)


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


# --- from all exchanges of one mode to its verdicts ---------------------------------------


def _simple(exchange: Exchange | None, passed: bool) -> Verdict:
    """A probe whose verdict is just whether it passed: unknown when it could not be asked,
    inexpressible when the wire format cannot ask it."""
    if exchange is None or is_unmeasured(exchange):
        return Verdict.UNKNOWN
    if cannot_express(exchange.error):
        return Verdict.INEXPRESSIBLE
    return Verdict.of(passed)


def _tools_verdicts(obs: Observations, battery: Battery) -> dict[str, Verdict]:
    """The dependent chain SquareRoot-1 → -1-any → -2 → ToolBias (methodology: "The tool chain", with D6)."""
    force, fallback = battery.one(Role.FORCE), battery.one(Role.FORCE_FALLBACK)
    follow_up, follow_up_fallback = battery.one(Role.FOLLOW_UP), battery.one(Role.FOLLOW_UP_FALLBACK)
    unknown = dict(
        tools=Verdict.UNKNOWN, toolCallRequired=Verdict.UNKNOWN, toolsBiased=Verdict.UNKNOWN, toolsIndecisive=Verdict.UNKNOWN
    )
    none = dict(tools=Verdict.FALSE, toolCallRequired=Verdict.FALSE, toolsBiased=Verdict.FALSE, toolsIndecisive=Verdict.FALSE)
    if force.name not in obs:
        return unknown
    first = judge_force(force, obs[force.name])
    if first == "error":
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
        if fallback.name not in obs:
            return {**unknown, "toolCallRequired": required}
        status = judge_force(fallback, obs[fallback.name])
        if status == "error":
            return {**unknown, "toolCallRequired": required}
        if status != "ok":
            if cannot_express(obs[fallback.name].error):
                return dict.fromkeys(none, Verdict.INEXPRESSIBLE)
            return {**none, "toolCallRequired": required}
    second_probe = follow_up_fallback if follow_up_fallback.name in obs else follow_up
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


def ok_reply(obs: Observations, name: str) -> Reply | None:
    """The reply of probe `name`, when it was sent and answered without error."""
    exchange = obs.get(name)
    return exchange.reply if exchange is not None and exchange.ok else None


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


def reasoning_accounted(reply: Reply) -> bool | None:
    """Whether a reply that reasons reports its reasoning tokens right: reported (an absent count is
    not a 0), above 0 when reasoning text came back, and no more than the output tokens, which
    include them. None for a reply that shows no reasoning: there is nothing to account for, and a
    reported 0 is then as true as no count."""
    if not shows_reasoning(reply):
        return None
    tokens = reply.usage.reasoning_tokens
    return tokens is not None and 0 < tokens <= reply.usage.output_tokens


def _reasoning_accounted(obs: Observations, battery: Battery) -> Verdict:
    """Over every reply that reasons (`Battery.reasoning_probes`): true when each one accounts for its
    reasoning, false when none does, flaky in between; unknown when no reply reasoned at all."""
    replies = (ok_reply(obs, probe.name) for probe in battery.reasoning_probes())
    samples = [found for reply in replies if reply is not None and (found := reasoning_accounted(reply)) is not None]
    return Verdict.over(samples) if samples else Verdict.UNKNOWN


def mode_verdicts(obs: Observations, battery: Battery) -> dict[str, Verdict]:
    """Every verdict of one mode.

    When the gate (Text) was refused, the mode has no record (empty, as in the reference:
    the model does not do text this way); when it could not be asked at all (network
    failures after retries), every verdict is unknown — never false (D7).
    """
    gate = battery.one(Role.GATE)
    text = ok_reply(obs, gate.name)
    if text is None:
        return dict.fromkeys(NAMES, Verdict.UNKNOWN) if gate_unmeasured(obs.get(gate.name)) else {}
    usage, finish = _reporting_samples(obs, battery)
    verdicts = {
        **{verdict: _own_verdict(obs, probes, battery) for verdict, probes in battery.deciding().items()},
        **_tools_verdicts(obs, battery),
        "reportRateLimits": Verdict.of(bool(text.rate_limits)),
        "reportTokenUsage": Verdict.over(usage),
        "reportFinishReason": Verdict.over(finish),
        "reportReasoningTokens": _reasoning_accounted(obs, battery),
    }
    return {name: verdicts[name] for name in NAMES}


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
