"""What one exchange means: a probe's reply, or its failure, judged on its own.

Pure functions of one probe and what came back to it, used by the tool chain (`toolchain`),
the mode's verdicts (`verdicts`) and the run's evidence alike. The rules follow the reference
scoreboard (maruel/genai) except where marked with a deviation number (D1, D2, …), each written
out with its reason and its tests in docs/methodology.md.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable

from llmprobe import safejson
from llmprobe.battery import Probe
from llmprobe.conformance import call_checks, schema_validator
from llmprobe.errors import ApiError, DeclaredUnsupported, ErrorKind, UnsupportedOption
from llmprobe.neutral import Exchange, Reply, ToolCall
from llmprobe.results import Outcome

#: What came back to each probe of one trial of a mode, by probe name.
Observations = dict[str, Exchange]


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
    except (json.JSONDecodeError, RecursionError):  # nested thousands deep: not an answer to judge
        return False
    return isinstance(value, dict)


def _json_values(reply: Reply, schema: dict, expected: dict) -> bool:
    """The whole reply is one JSON value valid against the schema, with the expected values."""
    import jsonschema  # as in `conformance.schema_validator`: only what judges replies loads it

    try:
        # Within safejson's limits: a reply nested thousands deep is not JSON, not a RecursionError.
        value = safejson.loads(reply.text)
        schema_validator(json.dumps(schema, sort_keys=True)).validate(value)
    except (ValueError, jsonschema.ValidationError, jsonschema.SchemaError):
        return False
    return all(value.get(k) == v for k, v in expected.items())


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
    # Tool-call accuracy: every call valid JSON, to a tool offered, valid against its schema, to this tool.
    "valid_call": lambda reply, probe: all(check.ok for check in call_checks(probe, reply)),
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


def ok_reply(obs: Observations, name: str) -> Reply | None:
    """The reply of probe `name`, when it was sent and answered without error."""
    exchange = obs.get(name)
    return exchange.reply if exchange is not None and exchange.ok else None

