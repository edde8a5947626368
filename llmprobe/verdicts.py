"""From observed replies to verdicts: the methodology, the same for every dialect.

Everything here is a pure function of what came back, so a verdict can be
recomputed (and tested) from evidence alone. The rules follow the reference
scoreboard (maruel/genai, see ../shared/spec/reference.md §1) except where it
reports something untrue; those places are marked with their deviation number
from probes.md (D1…D9) or with D10+ for the ones we found ourselves.

Three outcomes are kept apart everywhere:
- the feature does not work (a rejected option, a wrong answer) → false / flaky;
- the model misbehaved this time (a malformed tool call) → flaky;
- we could not ask (transport failure after retries) → unknown, never false (D7).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Literal

import jsonschema

from llmprobe.battery import Battery
from llmprobe.errors import ApiError, ErrorKind, UnsupportedOption
from llmprobe.neutral import Exchange, Reply, ToolCall, ToolResult
from llmprobe.results import VERDICT_NAMES, Modality, Outcome

TRUE, FALSE, FLAKY, UNKNOWN = "true", "false", "flaky", "unknown"

#: Probe names, shared with the runner and the battery file.
TEXT, SEED, LOGPROBS, MAX_TOKENS, STOP, JSON_, SCHEMA = "Text", "Seed", "TopLogprobs", "MaxTokens", "Stop", "JSON", "JSONSchema"
SR1, SR1_ANY, SR2, SR2_ANY = "Tools-SquareRoot-1", "Tools-SquareRoot-1-any", "Tools-SquareRoot-2", "Tools-SquareRoot-2-any"
BIAS_CANADA, BIAS_USA = "Tools-ToolBias-Canada", "Tools-ToolBias-USA"
CITATIONS = "Citations"

SQUARE_ROOT_INPUT = 132413


def tri(values: Iterable[bool]) -> str:
    """All true → true, none → false, a mix → flaky (and no samples → false)."""
    seen = list(values)
    if seen and all(seen):
        return TRUE
    if any(seen):
        return FLAKY
    return FALSE


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


def _refused_by_server_error(error: ApiError) -> bool:
    """A 500/501 that still carries the provider's own error envelope after every retry.

    D7 defines a transport failure as a 5xx *without* a provider error body. With one,
    the provider itself is answering that it cannot serve this request (llama.cpp's
    server reports a rejected `response_format` this way), as the reference also
    counts any decoded provider error. Gateway errors (502–504) never count: those
    stay unknown.
    """
    return error.kind is ErrorKind.SERVER and error.has_envelope and error.status in (500, 501)


def is_unmeasured(exchange: Exchange | None) -> bool:
    return exchange is not None and exchange.error is not None and failure_outcome(exchange.error) == "error"


def word_count(text: str) -> int:
    """Spaces + 1, as the reference counts: a cheap, tokenizer-free length."""
    return text.count(" ") + 1


def check_max_tokens(reply: Reply, max_words: int) -> bool:
    """Cut short, and not empty: 16 tokens still say something, if only in reasoning."""
    return word_count(reply.text) <= max_words and bool(reply.text or reply.reasoning)


def check_stop(reply: Reply, max_words: int, absent: str) -> bool:
    """Generation halted before the stop word; an empty reply (all thinking) passes, as in the reference."""
    return word_count(reply.text) <= max_words and absent not in reply.text


def check_json_object(reply: Reply) -> bool:
    """The reply starts with a JSON object (trailing text after it is tolerated).

    D10: the reference also accepts a bare `null`; that is not a JSON object, so we don't.
    """
    try:
        value, _ = json.JSONDecoder().raw_decode(reply.text.lstrip())
    except json.JSONDecodeError:
        return False
    return isinstance(value, dict)


def check_json_schema(reply: Reply, schema: dict, expected: dict) -> bool:
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


def _argument(call: ToolCall, tool: str, name: str) -> object:
    """The call's only argument `name`, decoded strictly (unknown keys fail, as in the
    reference); None when the call is to another tool or malformed."""
    if call.name != tool:
        return None
    try:
        args = call.decoded_arguments()
    except ValueError:
        return None
    return args[name] if set(args) == {name} else None


def execute_square_root(call: ToolCall) -> ToolResult | None:
    """Run the square_root tool locally; None when the call is wrong in any way."""
    number = _argument(call, "square_root", "number")
    if isinstance(number, bool) or not isinstance(number, (int, float)) or int(number) != SQUARE_ROOT_INPUT:
        return None
    return ToolResult(call.id, call.name, f"{math.sqrt(SQUARE_ROOT_INPUT):.2f}")


def execute_best_country(call: ToolCall) -> str | None:
    """The country the model chose; None for a malformed call. The enum is not enforced, as in the reference."""
    country = _argument(call, "best_country", "country")
    return country if isinstance(country, str) else None


SquareRootStatus = Literal["ok", "no_call", "bad_call", "forcing_rejected", "rejected", "error"]


@dataclass(frozen=True)
class SquareRootStep:
    status: SquareRootStatus
    results: tuple[ToolResult, ...] = ()


def _names_tool_choice(error: Exception) -> bool:
    if isinstance(error, UnsupportedOption):
        return error.option == "tool_choice"
    text = str(error).lower()
    return isinstance(error, ApiError) and error.kind is ErrorKind.REJECTED and (
        "tool_choice" in text or "tool choice" in text
    )


def judge_square_root(exchange: Exchange) -> SquareRootStep:
    """SquareRoot-1 / -1-any: did the model make a correct call we can answer?

    D6: a provider or dialect that cannot force a call ("forcing_rejected") is not
    the model being flaky; a malformed or wrong call ("bad_call") is.
    """
    error = exchange.error
    if error is not None:
        if _names_tool_choice(error):
            return SquareRootStep("forcing_rejected")
        outcome = failure_outcome(error)
        if outcome == "unsupported":
            return SquareRootStep("rejected")
        return SquareRootStep("bad_call" if outcome == "fail" else "error")
    reply = exchange.reply
    assert reply is not None
    if not reply.tool_calls:
        return SquareRootStep("no_call")
    results = [execute_square_root(call) for call in reply.tool_calls]
    if any(r is None for r in results):
        return SquareRootStep("bad_call")
    return SquareRootStep("ok", tuple(r for r in results if r is not None))


def square_root_2_passed(exchange: Exchange) -> bool:
    """The follow-up was answered in words, without calling the tool again."""
    return exchange.reply is not None and exchange.error is None and not exchange.reply.tool_calls


@dataclass(frozen=True)
class BiasStep:
    #: The countries picked, in call order; None when the probe failed or the calls were malformed.
    picks: tuple[str, ...] | None
    unmeasured: bool = False


def judge_bias(exchange: Exchange) -> BiasStep:
    if exchange.error is not None:
        return BiasStep(None, unmeasured=is_unmeasured(exchange))
    assert exchange.reply is not None
    picks = [execute_best_country(call) for call in exchange.reply.tool_calls]
    if not picks or any(p is None for p in picks):
        return BiasStep(None)
    return BiasStep(tuple(p for p in picks if p is not None))


# --- from all exchanges of one mode to its verdicts ---------------------------------------


def _simple(exchange: Exchange | None, passed: bool) -> str:
    """A probe whose verdict is just whether it passed: unknown when it could not be asked."""
    if exchange is None or is_unmeasured(exchange):
        return UNKNOWN
    return TRUE if passed else FALSE


def _tools_verdicts(obs: Observations) -> dict[str, str]:
    """The dependent chain SquareRoot-1 → -1-any → -2 → ToolBias (reference §1.12, with D6)."""
    unknown = dict(tools=UNKNOWN, toolCallRequired=UNKNOWN, toolsBiased=UNKNOWN, toolsIndecisive=UNKNOWN)
    none = dict(tools=FALSE, toolCallRequired=FALSE, toolsBiased=FALSE, toolsIndecisive=FALSE)
    if SR1 not in obs:
        return unknown
    first = judge_square_root(obs[SR1])
    if first.status == "error":
        return unknown
    forced = first.status == "ok"
    flaky = first.status == "bad_call"
    required = TRUE if forced else FALSE
    if not forced:
        if SR1_ANY not in obs:
            return {**unknown, "toolCallRequired": required}
        fallback = judge_square_root(obs[SR1_ANY])
        if fallback.status == "error":
            return {**unknown, "toolCallRequired": required}
        if fallback.status != "ok":
            return none
    second = obs.get(SR2_ANY) or obs.get(SR2)
    if second is None or is_unmeasured(second):
        return {**unknown, "toolCallRequired": required}
    if not square_root_2_passed(second):
        # D11: the reference writes "not biased" here, but ToolBias never ran:
        # bias was not measured, and a 🧐 ("not biased") would be a claim we never tested.
        return dict(tools=FLAKY, toolCallRequired=required, toolsBiased=UNKNOWN, toolsIndecisive=UNKNOWN)
    tools = FLAKY if flaky else TRUE
    biased: list[bool] = []
    indecisive = False
    for name, first_pick in ((BIAS_CANADA, "Canada"), (BIAS_USA, "USA")):
        if name not in obs:
            return {**unknown, "toolCallRequired": required}
        step = judge_bias(obs[name])
        if step.unmeasured:
            return {**unknown, "toolCallRequired": required}
        picks = step.picks
        if picks is None or len(picks) > 2:
            tools = FLAKY
            biased.append(False)
        elif len(picks) == 2:
            indecisive = True
            if sorted(picks) != ["Canada", "USA"]:
                tools = FLAKY
            biased.append(False)
        else:
            biased.append(picks[0] == first_pick)
    return dict(
        tools=tools,
        toolCallRequired=required,
        toolsBiased=tri(biased),
        toolsIndecisive=TRUE if indecisive else FALSE,
    )


def ok_reply(obs: Observations, name: str) -> Reply | None:
    """The reply of probe `name`, when it was sent and answered without error."""
    exchange = obs.get(name)
    return exchange.reply if exchange is not None and exchange.ok else None


@dataclass(frozen=True)
class Checks:
    """The battery's expectations (probes/battery.yaml `expect:`) as predicates on replies."""

    battery: Battery

    def max_tokens(self, reply: Reply) -> bool:
        return check_max_tokens(reply, self.battery[MAX_TOKENS].expect["max_words"])

    def stop(self, reply: Reply) -> bool:
        expect = self.battery[STOP].expect
        return check_stop(reply, expect["max_words"], expect["absent"])

    def json(self, reply: Reply) -> bool:
        return check_json_object(reply)

    def schema(self, reply: Reply) -> bool:
        probe = self.battery[SCHEMA]
        return check_json_schema(reply, probe.options["json_schema"], probe.expect["json"])

    def passed(self, obs: Observations, name: str, check: Callable[[Reply], bool]) -> bool:
        reply = ok_reply(obs, name)
        return reply is not None and check(reply)

    def probe_passed(self, obs: Observations, name: str) -> bool:
        """Whether probe `name` met its own pass condition: the pass/fail of its evidence.
        (Verdicts weigh probes together; this is one probe on its own.)"""
        image = self.battery.image(name)
        if image is not None:
            return self.passed(obs, name, lambda reply: check_answer(reply, image.answer))
        own: dict[str, Callable[[], bool]] = {
            LOGPROBS: lambda: self.passed(obs, name, lambda reply: bool(reply.logprobs)),
            MAX_TOKENS: lambda: self.passed(obs, name, self.max_tokens),
            STOP: lambda: self.passed(obs, name, self.stop),
            JSON_: lambda: self.passed(obs, name, self.json),
            SCHEMA: lambda: self.passed(obs, name, self.schema),
            SR1: lambda: judge_square_root(obs[name]).status == "ok",
            SR1_ANY: lambda: judge_square_root(obs[name]).status == "ok",
            SR2: lambda: square_root_2_passed(obs[name]),
            SR2_ANY: lambda: square_root_2_passed(obs[name]),
            BIAS_CANADA: lambda: bool(judge_bias(obs[name]).picks),
            BIAS_USA: lambda: bool(judge_bias(obs[name]).picks),
            CITATIONS: lambda: self.passed(obs, name, lambda reply: bool(reply.citations)),
        }
        check = own.get(name)
        return check() if check is not None else obs[name].ok


def _reporting_samples(obs: Observations, checks: Checks) -> tuple[list[bool], list[bool]]:
    """Which replies reported usage, and which reported the right finish reason.

    Where the checks run, and what finish they expect, follow reference §1.4.
    D1 (and D10 for usage): each counter is judged over all its samples — true when
    always right, false when never, flaky in between — instead of the reference's
    state machine, which gates finish on usage and can call "never reported" flaky.
    """
    usage: list[bool] = []
    finish: list[bool] = []

    def sample(name: str, expected_finish: str, count_usage: bool = True) -> None:
        reply = ok_reply(obs, name)
        if reply is None:
            return
        if count_usage:
            usage.append(not reply.usage.is_zero())
        finish.append(reply.finish_reason == expected_finish)

    sample(TEXT, "stop")
    if (reply := ok_reply(obs, MAX_TOKENS)) is not None:
        passed = checks.max_tokens(reply)
        sample(MAX_TOKENS, "length" if passed else "stop", count_usage=passed)
    if (reply := ok_reply(obs, STOP)) is not None:
        sample(STOP, "stop", count_usage=checks.stop(reply))
    if checks.passed(obs, JSON_, checks.json):
        sample(JSON_, "stop")
    if checks.passed(obs, SCHEMA, checks.schema):
        sample(SCHEMA, "stop")
    second = SR2_ANY if SR2_ANY in obs else SR2
    if second in obs and square_root_2_passed(obs[second]):
        sample(second, "stop")
    for name in (BIAS_CANADA, BIAS_USA):
        if (reply := ok_reply(obs, name)) is not None and reply.tool_calls:
            sample(name, "tool_calls")
    sample(CITATIONS, "stop")
    return usage, finish


def mode_verdicts(obs: Observations, battery: Battery) -> dict[str, str]:
    """Every verdict of one mode.

    When Text was refused, the mode has no record (empty, as in the reference: the
    model does not do text this way); when Text could not be asked at all (network
    failures after retries), every verdict is unknown — never false (D7).
    """
    text = ok_reply(obs, TEXT)
    if text is None:
        return dict.fromkeys(VERDICT_NAMES, UNKNOWN) if is_unmeasured(obs.get(TEXT)) else {}
    checks = Checks(battery)
    usage, finish = _reporting_samples(obs, checks)

    def simple(name: str, check: Callable[[Reply], bool] = lambda _: True) -> str:
        return _simple(obs.get(name), checks.passed(obs, name, check))

    return {
        "json": simple(JSON_, checks.json),
        "jsonSchema": simple(SCHEMA, checks.schema),
        **_tools_verdicts(obs),
        "seed": simple(SEED),
        "topLogprobs": simple(LOGPROBS, lambda reply: bool(reply.logprobs)),
        "maxTokens": simple(MAX_TOKENS, checks.max_tokens),
        "stopSequence": simple(STOP, checks.stop),
        "citations": _citations(obs),
        "reportRateLimits": TRUE if text.rate_limits else FALSE,
        "reportTokenUsage": tri(usage),
        "reportFinishReason": tri(finish),
    }


def _citations(obs: Observations) -> str:
    """Any reply of the mode carried citations (the reference's a3d5d616 rule)."""
    if any((reply := ok_reply(obs, name)) is not None and reply.citations for name in obs):
        return TRUE
    return UNKNOWN if is_unmeasured(obs.get(CITATIONS)) else FALSE


def image_input(modes: Iterable[Observations], battery: Battery) -> Modality | None:
    """The image-input modality over every mode: a picture answered right, inline or by URL."""
    checks = Checks(battery)
    image = Modality()
    for obs in modes:
        for probe in battery.images:
            if probe.name in obs and checks.probe_passed(obs, probe.name):
                image.inline = image.inline or probe.variant == "Inline"
                image.url = image.url or probe.variant == "URL"
                if probe.mime not in image.formats:
                    image.formats.append(probe.mime)
    image.formats.sort()
    return image if image.formats else None


def thinking_seen(obs: Observations) -> bool:
    return any((reply := ok_reply(obs, name)) is not None and reply.reasoning for name in obs)
