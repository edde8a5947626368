"""Verdict logic on hand-made replies: each rule of docs/methodology.md (usage and finish, the tool chain) and our deviations."""

from __future__ import annotations

import json

import pytest

from llmprobe import judging
from llmprobe import verdicts as v
from llmprobe.battery import load_battery
from llmprobe.capabilities import NAMES
from llmprobe.errors import ApiError, DeclaredUnsupported, ErrorKind, UnsupportedOption
from llmprobe.judging import Observations
from llmprobe.neutral import Exchange, RateLimit, Reply, ToolCall, Usage
from llmprobe.toolchain import refuses_tool_choice
from support.passing_provider import EXPECTED_VERDICTS

BATTERY = load_battery()
USAGE = Usage(input_tokens=10, output_tokens=3, total_tokens=13)


def reply(text: str = "Hello.", finish: str = "stop", usage: Usage | None = USAGE, **kw) -> Exchange:
    return Exchange(reply=Reply(text=text, finish_reason=finish, usage=usage or Usage(), **kw), status=200, attempts=1)


def failed(kind: ErrorKind, message: str = "boom", status: int = 400) -> Exchange:
    return Exchange(error=ApiError(kind, message, status=status), status=status, attempts=1)


def unsupported(option: str) -> Exchange:
    """The dialect's wire format has no field for `option`: nothing was sent."""
    return Exchange(error=UnsupportedOption(option))


def declared(option: str) -> Exchange:
    """providers.yaml says the provider does not have `option`: nothing was sent."""
    return Exchange(error=DeclaredUnsupported(option))


def call(name: str, **args) -> ToolCall:
    return ToolCall(id=f"call_{name}", name=name, arguments=json.dumps(args))


def calls(*tool_calls: ToolCall, finish: str = "tool_calls") -> Exchange:
    return reply("", finish=finish, tool_calls=list(tool_calls))


#: A valid place_order call (Tools-Accuracy-Order).
ORDER = {
    "items": [{"sku": "BK-1042", "quantity": 2}, {"sku": "MG-7", "quantity": 1}],
    "shipping": {"speed": "express", "address": {"street": "12 Rue Cler", "city": "Paris", "postcode": "75007", "country": "France"}},
}


def good_mode(**overrides: Exchange) -> Observations:
    """A mode where everything works; override single probes to test one rule."""
    obs: Observations = {
        "Text": reply("Hello.", rate_limits=[RateLimit("requests", 100)]),
        "Seed": reply("Hello"),
        "TopLogprobs": reply("Hello", logprobs=[object()]),  # type: ignore[list-item]
        "MaxTokens": reply("The theory of relativity is a", finish="length"),
        "Stop": reply("Canada "),
        "JSON": reply('{"is_fruit": true}'),
        "JSONSchema": reply('{"is_fruit": true}'),
        "Tools-SquareRoot-1": calls(call("square_root", number=132413)),
        "Tools-SquareRoot-2": reply("363.89"),
        "Tools-ToolBias-Canada": calls(call("best_country", country="USA")),
        "Tools-ToolBias-USA": calls(call("best_country", country="Canada")),
        "Tools-WebSearch": reply("Mark Carney", web_search=["https://www.pm.gc.ca/en"]),
        "Tools-Accuracy-Order": calls(call("place_order", **ORDER)),
        "Tools-Accuracy-Choice": calls(call("get_weather", city="Lyon", unit="celsius")),
        "Tools-Accuracy-NoCall": reply("Paris."),
        "JSONSchema-Strict": reply('{"fruit": "banana", "colour": "yellow", "ripe": true}'),
        "Citations": reply("Quack."),
        "Citations-text-markdown": reply("Quack."),
        "Tools-Parallel": calls(call("get_weather", city="Paris", unit="celsius"), call("get_weather", city="Tokyo", unit="celsius")),
        "Tools-Parallel-Off": calls(call("get_weather", city="Paris", unit="celsius")),
        "Reasoning-Off": reply("391"),
    }
    obs.update(overrides)
    return obs


def verdicts(obs: Observations) -> dict[str, str]:
    return v.mode_verdicts(obs, BATTERY)


def test_everything_works():
    # The same verdicts a passing provider scores end to end.
    assert verdicts(good_mode()) == EXPECTED_VERDICTS


def test_text_failure_gives_no_record():
    assert verdicts(good_mode(Text=failed(ErrorKind.REJECTED))) == {}


# --- usage and finish --------------------------------------------------------------------


def test_usage_never_reported_is_false():
    obs = {name: _strip_usage(e) for name, e in good_mode().items()}
    assert verdicts(obs)["reportTokenUsage"] == "false"


def test_usage_sometimes_missing_is_flaky():
    obs = good_mode(JSON=reply('{"is_fruit": true}', usage=None))
    assert verdicts(obs)["reportTokenUsage"] == "flaky"


def test_usage_on_text_missing_but_later_present_is_flaky_d10():
    # The reference would say false forever after Text; usage *is* sometimes reported.
    obs = good_mode(Text=reply("Hello.", usage=None))
    assert verdicts(obs)["reportTokenUsage"] == "flaky"


def test_zero_usage_means_every_counter_zero_d5():
    only_output = Usage(output_tokens=3)
    obs = good_mode(JSON=reply('{"is_fruit": true}', usage=only_output))
    assert verdicts(obs)["reportTokenUsage"] == "true"


def test_finish_never_reported_is_false_d1():
    # Cloudflare: no finish reason anywhere. The reference ends at "flaky" because its
    # finish check is gated on usage; never reported is simply false.
    obs = {name: _strip_finish(e) for name, e in good_mode().items()}
    assert verdicts(obs)["reportFinishReason"] == "false"


def test_finish_wrong_once_is_flaky():
    obs = good_mode(MaxTokens=reply("The theory of relativity is a", finish="stop"))
    assert verdicts(obs)["reportFinishReason"] == "flaky"


def test_max_tokens_failed_expects_stop_finish():
    long = " ".join(["word"] * 40)
    obs = good_mode(MaxTokens=reply(long, finish="stop"))
    result = verdicts(obs)
    assert result["maxTokens"] == "false"
    assert result["reportFinishReason"] == "true"


def test_stop_sequence_finish_is_plain_stop():
    assert verdicts(good_mode(Stop=reply("Canada ", finish="stop")))["reportFinishReason"] == "true"


def test_tool_bias_expects_tool_calls_finish():
    obs = good_mode(**{"Tools-ToolBias-Canada": calls(call("best_country", country="USA"), finish="stop")})
    assert verdicts(obs)["reportFinishReason"] == "flaky"


def test_failed_json_does_not_sample_finish():
    obs = good_mode(JSON=reply("not json", finish="length"))
    result = verdicts(obs)
    assert result["json"] == "false"
    assert result["reportFinishReason"] == "true"


# --- simple probes ------------------------------------------------------------------------


def test_max_tokens_word_limit_and_empty_reply():
    assert verdicts(good_mode(MaxTokens=reply(" ".join(["w"] * 20), finish="length")))["maxTokens"] == "true"
    assert verdicts(good_mode(MaxTokens=reply(" ".join(["w"] * 21), finish="length")))["maxTokens"] == "false"
    assert verdicts(good_mode(MaxTokens=reply("", finish="length")))["maxTokens"] == "false"
    thinking_only = reply("", finish="length", reasoning="Okay, the user wants")
    assert verdicts(good_mode(MaxTokens=thinking_only))["maxTokens"] == "true"


def test_stop_sequence():
    assert verdicts(good_mode(Stop=reply("Canada is a country")))["stopSequence"] == "false"
    assert verdicts(good_mode(Stop=reply("", reasoning="Canada")))["stopSequence"] == "true"
    assert verdicts(good_mode(Stop=unsupported("stop")))["stopSequence"] == "inexpressible"
    assert verdicts(good_mode(Stop=declared("stop")))["stopSequence"] == "false"


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"is_fruit": true}', "true"),
        ('  {"x": 1} trailing words', "true"),
        ("null", "false"),  # D12: the reference accepts null
        ('```json\n{"is_fruit": true}\n```', "false"),
        ("[1]", "false"),
        ("", "false"),
    ],
)
def test_json(text, expected):
    assert verdicts(good_mode(JSON=reply(text)))["json"] == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"is_fruit": true}', "true"),
        ('{"is_fruit": false}', "false"),
        ('{"is_fruit": "true"}', "false"),
        ('{"is_fruit": true, "why": "sweet"}', "false"),
        ("{}", "false"),
    ],
)
def test_json_schema(text, expected):
    assert verdicts(good_mode(JSONSchema=reply(text)))["jsonSchema"] == expected


def test_rejected_option_is_false_not_unknown():
    obs = good_mode(JSONSchema=failed(ErrorKind.REJECTED, "does not support response format `json_schema`"))
    assert verdicts(obs)["jsonSchema"] == "false"


def test_transport_failure_is_unknown_never_false_d7():
    obs = good_mode(Seed=failed(ErrorKind.TRANSPORT, status=0), JSON=failed(ErrorKind.SERVER, status=502))
    result = verdicts(obs)
    assert result["seed"] == "unknown"
    assert result["json"] == "unknown"


def test_top_logprobs_needs_logprobs_back():
    assert verdicts(good_mode(TopLogprobs=reply("Hello")))["topLogprobs"] == "false"
    assert verdicts(good_mode(TopLogprobs=unsupported("top_logprobs")))["topLogprobs"] == "inexpressible"
    assert verdicts(good_mode(TopLogprobs=declared("top_logprobs")))["topLogprobs"] == "false"


def test_rate_limits_come_from_text():
    assert verdicts(good_mode(Text=reply("Hello.")))["reportRateLimits"] == "false"


CITED = reply("Quack.", citations=["https://example.com/quack"])
MARKDOWN = "Citations-text-markdown"


@pytest.mark.parametrize(
    ("plain", "markdown", "expected"),
    [
        (CITED, reply("Quack."), "true"),
        # Perplexity's sonar-pro cited only the Markdown document.
        (reply("Quack."), CITED, "true"),
        (failed(ErrorKind.TRANSPORT), CITED, "true"),
        (CITED, failed(ErrorKind.TRANSPORT), "true"),
        # One answered without citations is a measurement, whatever became of the other
        # (Groq's and Ollama's recordings have no Markdown request to answer ours).
        (failed(ErrorKind.TRANSPORT), reply("Quack."), "false"),
        (reply("Quack."), failed(ErrorKind.TRANSPORT), "false"),
        # Neither could be asked (D7).
        (failed(ErrorKind.TRANSPORT), failed(ErrorKind.TRANSPORT), "unknown"),
        (reply("Quack."), reply("Quack."), "false"),
        # A refused request was asked and answered: no citations came of it.
        (reply("Quack."), failed(ErrorKind.REJECTED), "false"),
        (unsupported("document"), unsupported("document"), "inexpressible"),
        (declared("document"), declared("document"), "false"),
    ],
)
def test_citations_from_either_document(plain: Exchange, markdown: Exchange, expected: str) -> None:
    assert verdicts(good_mode(**{"Citations": plain, MARKDOWN: markdown}))["citations"] == expected


def test_citations_from_any_reply():
    # Search-backed providers cite on other probes too (the reference's a3d5d616 rule).
    assert verdicts(good_mode(MaxTokens=reply("Relativity", finish="length", citations=["https://a.example"])))["citations"] == "true"
    unmeasured = {"Citations": failed(ErrorKind.TRANSPORT), MARKDOWN: failed(ErrorKind.TRANSPORT)}
    assert verdicts(good_mode(Text=CITED, **unmeasured))["citations"] == "true"


# --- the tool chain --------------------------------------------------------------------------


def tools(obs: Observations) -> tuple[str, str, str, str]:
    r = verdicts(obs)
    return r["tools"], r["toolCallRequired"], r["toolsBiased"], r["toolsIndecisive"]


def test_forced_call_then_biased_both_times():
    obs = good_mode(
        **{
            "Tools-ToolBias-Canada": calls(call("best_country", country="Canada")),
            "Tools-ToolBias-USA": calls(call("best_country", country="USA")),
        }
    )
    assert tools(obs) == ("true", "true", "true", "false")


def test_biased_once_is_flaky():
    obs = good_mode(**{"Tools-ToolBias-Canada": calls(call("best_country", country="Canada"))})
    assert tools(obs) == ("true", "true", "flaky", "false")


def test_indecisive_two_calls_counts_as_not_biased():
    both = calls(call("best_country", country="USA"), call("best_country", country="Canada"))
    obs = good_mode(**{"Tools-ToolBias-Canada": calls(call("best_country", country="Canada")), "Tools-ToolBias-USA": both})
    assert tools(obs) == ("true", "true", "flaky", "true")


def test_two_calls_for_the_same_country_is_flaky():
    twice = calls(call("best_country", country="USA"), call("best_country", country="USA"))
    assert tools(good_mode(**{"Tools-ToolBias-USA": twice}))[0] == "flaky"


def test_three_calls_is_flaky():
    many = calls(*(call("best_country", country=c) for c in ("USA", "Canada", "USA")))
    assert tools(good_mode(**{"Tools-ToolBias-USA": many}))[0] == "flaky"


def test_bias_probe_without_call_is_flaky():
    assert tools(good_mode(**{"Tools-ToolBias-USA": reply("Canada, obviously.")})) == ("flaky", "true", "false", "false")


def test_malformed_forced_call_falls_back_to_auto_and_is_flaky_d6():
    # Groq's tool_use_failed: the model produced a broken call.
    obs = good_mode(
        **{
            "Tools-SquareRoot-1": failed(ErrorKind.MODEL_FAILED, "tool call validation failed"),
            "Tools-SquareRoot-1-any": calls(call("square_root", number=132413)),
        }
    )
    assert tools(obs) == ("flaky", "false", "false", "false")


def test_wrong_argument_in_forced_call_is_flaky():
    obs = good_mode(
        **{"Tools-SquareRoot-1": calls(call("square_root", number=304.5)), "Tools-SquareRoot-1-any": calls(call("square_root", number=132413.0))}
    )
    assert tools(obs)[:2] == ("flaky", "false")


def test_dialect_without_tool_choice_is_not_flaky_d6():
    # Ollama and Cloudflare cannot ask for a forced call: forcing is inexpressible, tool calling itself works.
    obs = good_mode(**{"Tools-SquareRoot-1": unsupported("tool_choice"), "Tools-SquareRoot-1-any": calls(call("square_root", number=132413))})
    assert tools(obs)[:2] == ("true", "inexpressible")


def test_forcing_stays_inexpressible_when_tools_do_not_work():
    # gemma3 on Ollama: forcing cannot be asked, and the unforced offer is refused.
    refused = failed(ErrorKind.REJECTED, "gemma3:4b does not support tools")
    obs = good_mode(**{"Tools-SquareRoot-1": unsupported("tool_choice"), "Tools-SquareRoot-1-any": refused})
    assert tools(obs) == ("false", "inexpressible", "false", "false")


def test_declared_without_tool_choice_is_forcing_not_working():
    obs = good_mode(**{"Tools-SquareRoot-1": declared("tool_choice"), "Tools-SquareRoot-1-any": calls(call("square_root", number=132413))})
    assert tools(obs)[:2] == ("true", "false")


def test_provider_rejecting_tool_choice_is_not_flaky_d6():
    rejected = failed(ErrorKind.REJECTED, "`tool_choice` value 'required' is not supported")
    obs = good_mode(**{"Tools-SquareRoot-1": rejected, "Tools-SquareRoot-1-any": calls(call("square_root", number=132413))})
    assert tools(obs)[:2] == ("true", "false")


def test_no_call_even_with_auto_means_no_tools():
    obs = good_mode(**{"Tools-SquareRoot-1": failed(ErrorKind.MODEL_FAILED), "Tools-SquareRoot-1-any": reply("364.02")})
    assert tools(obs) == ("false", "false", "false", "false")


def test_follow_up_calling_the_tool_again_is_flaky_and_bias_unmeasured_d11():
    obs = good_mode(**{"Tools-SquareRoot-2": calls(call("square_root", number=132413))})
    assert tools(obs) == ("flaky", "true", "unknown", "unknown")


def test_follow_up_with_auto_when_none_cannot_be_said():
    obs = good_mode(**{"Tools-SquareRoot-2": unsupported("tool_choice"), "Tools-SquareRoot-2-any": reply("363.89")})
    assert tools(obs)[0] == "true"


def test_tool_chain_transport_failure_is_unknown():
    assert tools(good_mode(**{"Tools-SquareRoot-1": failed(ErrorKind.TRANSPORT)})) == ("unknown",) * 4
    unknown_bias = tools(good_mode(**{"Tools-ToolBias-USA": failed(ErrorKind.SERVER, status=503)}))
    assert unknown_bias == ("unknown", "true", "unknown", "unknown")


def test_consistency_tools_false_implies_the_rest_false():
    obs = good_mode(**{"Tools-SquareRoot-1": reply("364"), "Tools-SquareRoot-1-any": reply("364")})
    result = verdicts(obs)
    assert result["tools"] == "false"
    assert result["toolsBiased"] == result["toolsIndecisive"] == result["toolCallRequired"] == "false"


def test_image_answer_normalisation():
    assert judging.check_answer(Reply(text=" Banana.\n"), "banana")
    assert not judging.check_answer(Reply(text="A banana"), "banana")


def test_thinking_seen():
    assert v.thinking_seen(good_mode(Seed=reply("Hi", reasoning="The user wants a greeting")))
    assert not v.thinking_seen(good_mode())


def _strip_usage(exchange: Exchange) -> Exchange:
    if exchange.reply is not None:
        exchange.reply.usage = Usage()
    return exchange


def _strip_finish(exchange: Exchange) -> Exchange:
    if exchange.reply is not None:
        exchange.reply.finish_reason = ""
    return exchange


@pytest.mark.parametrize(
    "message",
    [
        # llama.cpp's server rejects response_format json_schema with a 500 and its error envelope.
        "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\"}",
        # Ollama cannot decode a GIF (recorded, gemma3:4b).
        "Failed to create new sequence: failed to process inputs: image: unknown format",
        "response_format json_schema is not supported for this model",
        "This model does not support tools",
        "Unsupported parameter: 'seed'",
    ],
)
def test_server_error_whose_body_says_not_supported_is_a_refusal(message):
    refused = Exchange(error=ApiError(ErrorKind.SERVER, message, status=500, has_envelope=True))
    assert verdicts(good_mode(JSONSchema=refused))["jsonSchema"] == "false"
    assert judging.failure_outcome(refused.error) == "unsupported"


@pytest.mark.parametrize(
    "message",
    [
        # Hugging Face (recorded, Llama-3.3-70B-Instruct's Tools-SquareRoot-1-any).
        "unknown error in the model inference server trace_id: b690b3ea9b12ea7c715d86568fcc5562",
        # Together (recorded, gemma-3-27b-it's JSONSchema; Mistral-Small's images).
        "Internal server error",
        # OpenAI Responses (recorded, gpt-5-mini's ToolBias).
        "An error occurred while processing your request. You can retry your request, or contact us through our help center",
        # Hugging Face (recorded, Qwen3-4B's JSONSchema).
        "Unable to process request. Repeat the request later.",
    ],
)
def test_server_error_with_the_providers_body_is_still_a_server_error_d7(message):
    error = ApiError(ErrorKind.SERVER, message, status=500, has_envelope=True)
    assert verdicts(good_mode(JSONSchema=Exchange(error=error)))["jsonSchema"] == "unknown"
    assert judging.failure_outcome(error) == "error"


@pytest.mark.parametrize("status, envelope", [(500, False), (502, True), (503, True), (504, False)])
def test_gateway_errors_and_bare_5xx_stay_unknown_d7(status, envelope):
    error = ApiError(ErrorKind.SERVER, "Service Unavailable", status=status, has_envelope=envelope)
    assert verdicts(good_mode(JSONSchema=Exchange(error=error)))["jsonSchema"] == "unknown"


def test_text_unmeasured_makes_every_verdict_unknown():
    result = verdicts(good_mode(Text=failed(ErrorKind.TRANSPORT, status=0)))
    assert set(result.values()) == {"unknown"} and len(result) == len(NAMES)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_on_text_says_nothing_about_the_model(status):
    result = verdicts(good_mode(Text=failed(ErrorKind.AUTH, "Invalid API Key", status=status)))
    assert set(result.values()) == {"unknown"} and len(result) == len(NAMES)


def test_text_refused_leaves_the_mode_without_a_record():
    assert verdicts(good_mode(Text=failed(ErrorKind.REJECTED, "this model only takes audio"))) == {}


# --- what seven more providers' recordings taught (docs/deviations-openai-compatible.md) ---------


def test_stop_with_no_answer_at_all_is_not_a_pass():
    """gpt-oss on Cerebras and Together, gemma's blank stream on Together: nothing honoured the stop word."""
    assert verdicts(good_mode(Stop=reply("")))["stopSequence"] == "false"
    assert verdicts(good_mode(Stop=reply("  ")))["stopSequence"] == "false"


def test_empty_max_tokens_reply_finishing_on_length_is_the_true_finish():
    """gpt-5 spends its 16 tokens on hidden reasoning: no answer (maxTokens false), finish "length" right."""
    result = verdicts(good_mode(MaxTokens=reply("", finish="length")))
    assert (result["maxTokens"], result["reportFinishReason"]) == ("false", "true")


def test_forced_call_served_with_a_tool_choice_warning_is_not_forced():
    """Together answers the forced request with a call and "Model supports only tool_choice auto"."""
    warned = Exchange(
        reply=Reply(tool_calls=[call("square_root", number=132413)], finish_reason="tool_calls", usage=USAGE,
                    warnings=["Model supports only tool_choice auto"]),
        status=200,
        attempts=1,
    )
    assert tools(good_mode(**{"Tools-SquareRoot-1": warned}))[:2] == ("true", "false")


def test_forced_request_answered_without_a_call_is_flaky():
    """gpt-oss-20b on Together wrote its forced call into the text: the feature failed this time."""
    obs = good_mode(**{"Tools-SquareRoot-1": reply("analysis… [{\"name\": \"square_root\"}]"), "Tools-SquareRoot-1-any": calls(call("square_root", number=132413))})
    assert tools(obs)[:2] == ("flaky", "false")


def test_number_sent_as_a_string_is_a_malformed_call():
    """The tool's schema says number; "132413" is text, so the call is wrong, not a pass."""
    force = BATTERY["Tools-SquareRoot-1"]
    assert judging.call_arguments(force, ToolCall("c", "square_root", '{"number": "132413"}')) is None
    assert judging.call_arguments(force, ToolCall("c", "square_root", '{"number": 132413}')) == {"number": 132413}


@pytest.mark.parametrize(
    ("kind", "message", "code"),
    [
        # Cerebras and Groq, 400 with their code.
        (ErrorKind.REJECTED, "Failed to generate a valid tool call", "tool_use_failed"),
        # Cohere command-r, 422 sync and an ERROR event in the stream.
        (ErrorKind.REJECTED, "all generated tool calls were hallucinated. Try updating tool definitions", None),
        (ErrorKind.SERVER, "tool call failed: could not parse the arguments", None),
    ],
)
def test_the_providers_own_failed_tool_call_is_the_model_failing_on_every_wire(kind: ErrorKind, message: str, code: str | None) -> None:
    error = ApiError(kind, message, status=400, code=code)
    assert error.kind is ErrorKind.MODEL_FAILED
    assert judging.failure_outcome(error) == "fail"
    assert not refuses_tool_choice(error)


def test_a_refused_tool_choice_is_a_refusal_whoever_refuses() -> None:
    provider = ApiError(ErrorKind.REJECTED, "tool_choice is not supported for this model", status=400)
    assert provider.kind is ErrorKind.REJECTED and refuses_tool_choice(provider)
    assert refuses_tool_choice(UnsupportedOption("tool_choice", "the API has no such option"))
    assert not refuses_tool_choice(ApiError(ErrorKind.REJECTED, "image too large", status=400))
    assert not refuses_tool_choice(None)


@pytest.mark.parametrize("probe", ["JSON", "JSONSchema"])
def test_json_nested_too_deep_to_decode_fails_its_probe_instead_of_raising(probe: str) -> None:
    reply = Reply(text="[" * 100_000 + "]" * 100_000)
    assert not judging.reply_passes(BATTERY[probe], reply)
    assert not judging.reply_passes(BATTERY[probe], Reply(text="{" * 100_000))
