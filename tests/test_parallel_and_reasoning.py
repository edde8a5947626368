"""Parallel tool calls and reasoning accounting (issue 30, items 3 and 4): llmprobe's own questions.

Two independent lookups in one turn (`Tools-Parallel`), the same with parallel calls switched off
where the API has the option (`Tools-Parallel-Off`), how a reasoning reply counts its reasoning
tokens (absent, 0, within or beyond the output), and reasoning switched off (`Reasoning-Off`):
each dialect's encoding, the readers' usage, the verdicts, a full run against a fake provider that
does it right and one that does it wrong, and every output.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmprobe import verdicts as v
from llmprobe.battery import load_battery
from llmprobe.capabilities import BEYOND_NAMES, NAMES, REFERENCE_NAMES, capability
from llmprobe.cli import app
from llmprobe.dialects import get_dialect
from llmprobe.dialects.wire import reported_usage
from llmprobe.errors import UnsupportedOption
from llmprobe.neutral import Exchange, Message, Reply, Request, Tool, ToolCall, Usage
from llmprobe.questions import difference, question
from llmprobe.render import cells, legend
from llmprobe.render.cells import Line
from llmprobe.render.evidence import layout_columns
from llmprobe.results import Verdict
from llmprobe.results_file import load
from llmprobe.trials import rate
from support.configs import write_providers
from support.fake_openai import Canned, FakeOpenAI, RecordedRequest, Scripted
from support.passing_provider import Answer, wire_answer

BATTERY = load_battery()
MODEL = "fake/model"
WEATHER = Tool("get_weather", "Gets the current weather of one city", {"type": "object", "properties": {"city": {"type": "string"}}})
ASK = Request(messages=(Message.user("Weather in Paris and Tokyo?"),), tools=(WEATHER,))
PARALLEL_OFF = dataclasses.replace(ASK, parallel_tool_calls=False)
OFF = Request(messages=(Message.user("17 x 23?"),), reasoning_off=True)


def body(api: str, request: Request) -> dict[str, Any]:
    found: dict[str, Any] = get_dialect(api, "https://api.example").build("m", request).json
    return found


# --- each dialect's encoding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "off", "default"),
    [
        ("openai", lambda b: b["parallel_tool_calls"] is False, lambda b: "parallel_tool_calls" not in b),
        ("openai-responses", lambda b: b["parallel_tool_calls"] is False, lambda b: b["parallel_tool_calls"] is True),
        (
            "anthropic",
            lambda b: b["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True},
            lambda b: "tool_choice" not in b,
        ),
    ],
)
def test_parallel_calls_off_is_sent_where_the_wire_has_the_option(api, off, default) -> None:
    assert off(body(api, PARALLEL_OFF)) and default(body(api, ASK))


def test_anthropic_keeps_the_forced_choice_beside_the_parallel_switch() -> None:
    forced = dataclasses.replace(PARALLEL_OFF, tool_choice="required")
    assert body("anthropic", forced)["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


@pytest.mark.parametrize("api", ["gemini", "ollama", "cohere", "cloudflare"])
def test_build_refuses_parallel_calls_off_where_the_wire_has_no_field(api: str) -> None:
    with pytest.raises(UnsupportedOption) as raised:
        body(api, PARALLEL_OFF)
    assert raised.value.option == "parallel_tool_calls"
    body(api, ASK)


@pytest.mark.parametrize(
    ("api", "off"),
    [
        ("openai", lambda b: b["reasoning_effort"] == "none"),
        ("openai-responses", lambda b: b["reasoning"] == {"effort": "none"}),
        ("anthropic", lambda b: b["thinking"] == {"type": "disabled"}),
        ("gemini", lambda b: b["generationConfig"]["thinkingConfig"] == {"includeThoughts": False, "thinkingBudget": 0}),
        ("ollama", lambda b: b["think"] is False),
        ("cohere", lambda b: b["thinking"] == {"type": "disabled"}),
    ],
)
def test_reasoning_off_is_sent_and_outranks_a_thinking_row(api, off) -> None:
    assert off(body(api, OFF))
    # A `reason: true` row sets thinking on every request: off still wins.
    assert off(body(api, dataclasses.replace(OFF, thinking=True)))
    plain = json.dumps(body(api, dataclasses.replace(OFF, reasoning_off=False)))
    assert '"effort": "none"' not in plain and '"reasoning_effort"' not in plain and '"think"' not in plain


def test_cloudflare_refuses_reasoning_off() -> None:
    with pytest.raises(UnsupportedOption) as raised:
        body("cloudflare", OFF)
    assert raised.value.option == "reasoning_off"


@pytest.mark.parametrize(
    ("api", "request_"),
    [
        ("openai", PARALLEL_OFF),
        ("openai-responses", PARALLEL_OFF),
        ("anthropic", PARALLEL_OFF),
        ("openai", OFF),
        ("openai-responses", OFF),
        ("ollama", OFF),
        ("cohere", OFF),
    ],
)
def test_each_switch_is_a_question_of_its_own(api: str, request_: Request) -> None:
    """A recording of the request without the switch never answers the request with it."""
    plain = dataclasses.replace(request_, parallel_tool_calls=None, reasoning_off=False)
    asked = question(api, body(api, request_), model="m", stream=False)
    assert difference(asked, question(api, body(api, plain), model="m", stream=False)) is not None


def test_anthropic_thinking_disabled_asks_what_the_references_recordings_ask() -> None:
    """The reference sent `thinking: disabled` on every row without thinking: off is the API's default."""
    plain = dataclasses.replace(OFF, reasoning_off=False)
    asked = question("anthropic", body("anthropic", OFF), model="m", stream=False)
    assert difference(asked, question("anthropic", body("anthropic", plain), model="m", stream=False)) is None


# --- usage: not reported is not 0 ----------------------------------------------------------------

SYNC_USAGE = {
    "openai": lambda details: {
        "choices": [{"message": {"content": "391"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16, **details},
    },
    "openai-responses": lambda details: {
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "391"}]}],
        "status": "completed",
        "usage": {"input_tokens": 9, "output_tokens": 7, "total_tokens": 16, **details},
    },
    "gemini": lambda details: {
        "candidates": [{"content": {"parts": [{"text": "391"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 7, "totalTokenCount": 16, **details},
    },
}
DETAILS = {
    "openai": lambda n: {"completion_tokens_details": {"reasoning_tokens": n}},
    "openai-responses": lambda n: {"output_tokens_details": {"reasoning_tokens": n}},
    "gemini": lambda n: {"thoughtsTokenCount": n},
}


@pytest.mark.parametrize("api", sorted(SYNC_USAGE))
def test_reasoning_tokens_absent_zero_and_counted_are_three_answers(api: str) -> None:
    dialect = get_dialect(api, "https://api.example")

    def counted(details: dict[str, Any]) -> int | None:
        return dialect.parse(200, {}, json.dumps(SYNC_USAGE[api](details)).encode()).usage.reasoning_tokens

    assert counted({}) is None
    assert counted(DETAILS[api](0)) == 0
    assert counted(DETAILS[api](5)) == 5


@pytest.mark.parametrize(
    ("api", "answer"),
    [
        ("anthropic", {"type": "message", "content": [], "stop_reason": "end_turn", "usage": {"input_tokens": 9, "output_tokens": 7}}),
        ("ollama", {"message": {"content": "391"}, "done": True, "done_reason": "stop", "prompt_eval_count": 9, "eval_count": 7}),
        ("cohere", {"message": {"content": [{"type": "text", "text": "391"}]}, "finish_reason": "COMPLETE",
                    "usage": {"tokens": {"input_tokens": 9, "output_tokens": 7}}}),
        ("cloudflare", {"result": {"response": "391", "usage": {"prompt_tokens": 9, "completion_tokens": 7}}, "success": True}),
    ],
)  # fmt: skip
def test_wires_without_a_reasoning_count_report_none(api: str, answer: dict[str, Any]) -> None:
    usage = get_dialect(api, "https://api.example").parse(200, {}, json.dumps(answer).encode()).usage
    assert usage.output_tokens == 7 and usage.reasoning_tokens is None


def test_reported_usage_keeps_an_absent_reasoning_count_apart_from_zero() -> None:
    assert reported_usage(1, 2).reasoning_tokens is None
    assert reported_usage(1, 2, reasoning_tokens=0).reasoning_tokens == 0
    # A broken counter is no usage at all, reasoning included.
    assert reported_usage(1, 2, reasoning_tokens=-1) == Usage()


# --- the verdicts ---------------------------------------------------------------------------------


def weather(*cities: str) -> Exchange:
    calls = [ToolCall(f"c{i}", "get_weather", json.dumps({"city": city, "unit": "celsius"})) for i, city in enumerate(cities)]
    return Exchange(reply=Reply(tool_calls=calls, finish_reason="tool_calls"), status=200, attempts=1)


def said(reasoning: str = "", tokens: int | None = None, output: int = 7) -> Exchange:
    usage = Usage(input_tokens=9, output_tokens=output, total_tokens=9 + output, reasoning_tokens=tokens)
    return Exchange(reply=Reply(text="391", reasoning=reasoning, usage=usage, finish_reason="stop"), status=200, attempts=1)


@pytest.mark.parametrize(
    ("exchange", "parallel", "one_call"),
    [
        (weather("Paris", "Tokyo"), True, False),
        (weather("Paris, France", "tokyo"), True, False),
        (weather("Paris"), False, True),
        (weather("Paris", "Paris"), False, False),
        (weather(), False, False),
    ],
)
def test_parallel_and_one_call_checks(exchange: Exchange, parallel: bool, one_call: bool) -> None:
    assert v.passed(BATTERY["Tools-Parallel"], exchange) is parallel
    assert v.passed(BATTERY["Tools-Parallel-Off"], exchange) is one_call


@pytest.mark.parametrize(
    ("exchange", "accounted"),
    [
        (said("Let me think.", 3), True),
        (said("", 3), True),  # hidden reasoning, counted
        (said("Let me think.", None), False),  # not reported
        (said("Let me think.", 0), False),  # 0 for reasoning that shows
        (said("Let me think.", 9), False),  # more than the output tokens
        (said("", None), None),  # nothing reasoned: nothing to account for
        (said("", 0), None),
    ],
)
def test_a_reasoning_reply_accounts_for_its_reasoning(exchange: Exchange, accounted: bool | None) -> None:
    assert exchange.reply is not None
    assert v.reasoning_accounted(exchange.reply) is accounted


def mode(**overrides: Exchange) -> dict[str, Verdict]:
    obs: v.Observations = {"Text": said(), **overrides}
    return v.mode_verdicts(obs, BATTERY)


def test_reasoning_tokens_verdict_over_the_mode() -> None:
    assert mode()["reportReasoningTokens"] is Verdict.UNKNOWN
    assert mode(Text=said("Hm.", 3), JSON=said("Hm.", 2))["reportReasoningTokens"] is Verdict.TRUE
    assert mode(Text=said("Hm.", 3), JSON=said("Hm.", None))["reportReasoningTokens"] is Verdict.FLAKY
    assert mode(Text=said("Hm.", 0), JSON=said("Hm.", None))["reportReasoningTokens"] is Verdict.FALSE
    # The reply asked not to reason is not a sample: it is the other question's.
    off = mode(Text=said("Hm.", 3), **{"Reasoning-Off": said("Hm.", None)})
    assert off["reportReasoningTokens"] is Verdict.TRUE and off["reasoningOff"] is Verdict.FALSE


def test_reasoning_off_verdict() -> None:
    assert mode(**{"Reasoning-Off": said()})["reasoningOff"] is Verdict.TRUE
    assert mode(**{"Reasoning-Off": said("", 12)})["reasoningOff"] is Verdict.FALSE
    assert mode(**{"Reasoning-Off": Exchange(error=UnsupportedOption("reasoning_off"))})["reasoningOff"] is Verdict.INEXPRESSIBLE
    assert mode()["reasoningOff"] is Verdict.UNKNOWN


def test_parallel_verdicts_are_inexpressible_where_the_wire_has_no_field() -> None:
    refused = Exchange(error=UnsupportedOption("parallel_tool_calls"))
    found = mode(**{"Tools-Parallel": weather("Paris"), "Tools-Parallel-Off": refused})
    assert found["toolsParallel"] is Verdict.FALSE and found["parallelCallsOff"] is Verdict.INEXPRESSIBLE


def test_the_new_capabilities_are_never_compared_with_the_reference() -> None:
    assert {"toolsParallel", "parallelCallsOff", "reportReasoningTokens", "reasoningOff"} <= BEYOND_NAMES
    assert not BEYOND_NAMES & set(REFERENCE_NAMES) and BEYOND_NAMES <= set(NAMES)


# --- a full run against a fake provider: the good one and the bad one -------------------------------


@dataclasses.dataclass(frozen=True)
class Behaviour:
    """How the fake provider answers: every probe right (`passing_provider`), but for these."""

    #: Cities called when parallel calls are allowed, and when they are switched off.
    parallel: tuple[str, ...] = ("Paris", "Tokyo")
    serial: tuple[str, ...] = ("Paris",)
    #: Every reply reasons ("Let me think.") and counts it so; None: the field is absent.
    reasoning_tokens: int | None = None
    reasons: bool = False
    #: The reply to reasoning off still reasons.
    off_ignored: bool = False


def _with_reasoning(canned: Canned, behaviour: Behaviour, off: bool) -> Canned:
    """The passing provider's reply, with reasoning text and its count (OpenAI's fields)."""
    reasons = behaviour.reasons and (behaviour.off_ignored or not off)
    if not reasons:
        return canned
    details = {} if behaviour.reasoning_tokens is None else {"completion_tokens_details": {"reasoning_tokens": behaviour.reasoning_tokens}}

    def edited(payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("usage"):
            payload["usage"] = {**payload["usage"], **details}
        for choice in payload.get("choices") or []:
            if "message" in choice:
                choice["message"]["reasoning_content"] = "Let me think."
            elif choice.get("delta", {}).get("role"):
                choice["delta"]["reasoning_content"] = "Let me think."
        return payload

    if isinstance(canned.body, bytes):
        return dataclasses.replace(canned, body=json.dumps(edited(json.loads(canned.body))).encode())
    steps = []
    for step in canned.body:
        if isinstance(step, str) and step.startswith("data: {"):
            step = f"data: {json.dumps(edited(json.loads(step[len('data: '):])))}\n\n"
        steps.append(step)
    return dataclasses.replace(canned, body=tuple(steps))


def fake(behaviour: Behaviour):
    def answer(request: RecordedRequest) -> Scripted:
        sent = request.json
        tools = [t["function"]["name"] for t in sent.get("tools", [])]
        if "get_weather" in tools:
            cities = behaviour.serial if sent.get("parallel_tool_calls") is False else behaviour.parallel
            calls = tuple(("get_weather", {"city": city, "unit": "celsius"}) for city in cities)
            return wire_answer(sent, 0, Answer(finish_reason="tool_calls", tool_calls=calls))
        return _with_reasoning(wire_answer(sent, 0), behaviour, sent.get("reasoning_effort") == "none")

    return answer


def run(tmp: Path, behaviour: Behaviour, *args: str, reason: bool = False) -> dict[str, dict[str, Verdict]]:
    """`llmprobe run` against the fake, both modes; each mode's verdicts."""
    with FakeOpenAI(fake(behaviour)) as server:
        model = {"id": MODEL, "reason": True} if reason else MODEL
        cfg = write_providers(tmp, {"fake": {"api": "openai", "base_url": server.base_url, "max_retries": 0, "models": [model]}})
        result = CliRunner().invoke(app, ["run", "-p", "fake", "--config", str(cfg), "--out", str(tmp / "out"), *args])
        assert result.exit_code == 0, result.output
    found = load(tmp / "out" / "fake.json").model(MODEL)
    assert found is not None and set(found.modes) == {"sync", "stream"}
    return {name: mode.verdicts for name, mode in found.modes.items()}


def verdicts_of(found: dict[str, dict[str, Verdict]], *names: str) -> set[tuple[str, ...]]:
    """The named verdicts, one tuple per mode: a single tuple when both modes agree."""
    return {tuple(str(verdicts[name]) for name in names) for verdicts in found.values()}


PARALLEL = ("toolsParallel", "parallelCallsOff")


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (Behaviour(), ("true", "true")),
        # Never two calls at once.
        (Behaviour(parallel=("Paris",)), ("false", "true")),
        # parallel_tool_calls false ignored.
        (Behaviour(serial=("Paris", "Tokyo")), ("true", "false")),
    ],
)
def test_parallel_calls_of_a_good_and_a_bad_provider(tmp_path: Path, behaviour: Behaviour, expected: tuple[str, str]) -> None:
    assert verdicts_of(run(tmp_path, behaviour), *PARALLEL) == {expected}


REASONING = ("reportReasoningTokens", "reasoningOff")


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (Behaviour(reasons=True, reasoning_tokens=2), ("true", "true")),
        # Absent, 0 and more than the completion tokens (4) are each no account of the reasoning.
        (Behaviour(reasons=True), ("false", "true")),
        (Behaviour(reasons=True, reasoning_tokens=0), ("false", "true")),
        (Behaviour(reasons=True, reasoning_tokens=9), ("false", "true")),
        # Reasoning off ignored.
        (Behaviour(reasons=True, reasoning_tokens=2, off_ignored=True), ("true", "false")),
        # A model that does not reason: nothing to account for, and off is honoured.
        (Behaviour(), ("unknown", "true")),
    ],
)
def test_reasoning_accounting_of_a_good_and_a_bad_provider(
    tmp_path: Path, behaviour: Behaviour, expected: tuple[str, str]
) -> None:
    assert verdicts_of(run(tmp_path, behaviour, reason=True), *REASONING) == {expected}


def test_repeated_trials_give_each_new_capability_its_rate(tmp_path: Path) -> None:
    run(tmp_path, Behaviour(serial=("Paris", "Tokyo"), reasons=True, reasoning_tokens=2), "--repeat", "2", reason=True)
    found = load(tmp_path / "out" / "fake.json").model(MODEL)
    assert found is not None
    rates = found.modes["stream"].rates
    assert (str(rates["toolsParallel"]), str(rates["parallelCallsOff"]), str(rates["reportReasoningTokens"])) == ("2/2", "0/2", "2/2")
    page = CliRunner().invoke(app, ["show", "-p", "fake", "--out", str(tmp_path / "out"), "--config", str(tmp_path / "providers.yaml")])
    assert page.exit_code == 0, page.output
    assert "🔀 2/2 ☝️ 0/2" in page.stdout and "🧮 2/2 📴 2/2" in page.stdout


def test_a_reply_that_cannot_be_read_is_unknown_with_its_reason(tmp_path: Path) -> None:
    def broken(request: RecordedRequest) -> Scripted:
        sent = request.json
        if "get_weather" in json.dumps(sent.get("tools", [])) or sent.get("reasoning_effort") == "none":
            if sent.get("stream"):
                return Canned(200, {"Content-Type": "text/event-stream"}, ("data: <html>oops</html>\n\n",))
            return Canned(200, {"Content-Type": "application/json"}, b"<html>oops</html>")
        return wire_answer(sent, 0)

    with FakeOpenAI(broken) as server:
        cfg = write_providers(tmp_path, {"fake": {"api": "openai", "base_url": server.base_url, "max_retries": 0, "models": [MODEL]}})
        result = CliRunner().invoke(app, ["run", "-p", "fake", "--config", str(cfg), "--out", str(tmp_path / "out")])
    assert "Traceback" not in result.output
    found = load(tmp_path / "out" / "fake.json").model(MODEL)
    assert found is not None
    for mode in found.modes.values():
        assert {name: str(mode.verdicts[name]) for name in ("toolsParallel", "parallelCallsOff", "reasoningOff")} == dict.fromkeys(
            ("toolsParallel", "parallelCallsOff", "reasoningOff"), "unknown"
        )
        reasons = {e.probe: e.reason for e in mode.probes}
        assert "not JSON" in reasons["Tools-Parallel"] and "not JSON" in reasons["Reasoning-Off"]


def test_the_requests_say_what_each_probe_asks(tmp_path: Path) -> None:
    with FakeOpenAI(fake(Behaviour())) as server:
        cfg = write_providers(tmp_path, {"fake": {"api": "openai", "base_url": server.base_url, "max_retries": 0, "models": [MODEL]}})
        CliRunner().invoke(app, ["run", "-p", "fake", "--mode", "sync", "--config", str(cfg), "--out", str(tmp_path / "out")])
        sent = [r.json for r in server.requests]
    weather = [b for b in sent if [t["function"]["name"] for t in b.get("tools", [])] == ["get_weather"]]
    assert sorted(b.get("parallel_tool_calls") for b in weather if "parallel_tool_calls" in b) == [False]
    assert len(weather) == 2 and all("tool_choice" not in b for b in weather)
    assert [b for b in sent if b.get("reasoning_effort") == "none"] and all(
        "reasoning_effort" not in b for b in sent if "17 multiplied by 23" not in json.dumps(b)
    )


# --- the outputs ------------------------------------------------------------------------------------


def line(reason: bool = True, **verdicts: str) -> Line:
    return Line(modes=("sync",), reason=reason, verdicts={k: Verdict(x) for k, x in verdicts.items()})


def test_the_cells() -> None:
    assert cells.parallel(line(toolsParallel="true", parallelCallsOff="true")) == "🔀☝️"
    assert cells.parallel(line(toolsParallel="true", parallelCallsOff="inexpressible")) == "🔀➖"
    assert cells.parallel(line(toolsParallel="false", parallelCallsOff="false")) == "❌"
    assert cells.thinking(line(reportReasoningTokens="true", reasoningOff="flaky")) == "🧮💨"
    assert cells.thinking(line(False, reportReasoningTokens="unknown", reasoningOff="true")) == ""
    # Hidden reasoning, counted: no 🧠, yet there is reasoning to account for.
    assert cells.thinking(line(False, reportReasoningTokens="true", reasoningOff="unknown")) == "🧮❔"
    rated = dataclasses.replace(line(toolsParallel="flaky", parallelCallsOff="unknown"), rates={"toolsParallel": rate(3, 5)})
    assert cells.parallel(rated) == "🔀 3/5 ☝️ ❔"


def test_a_results_file_from_before_reads_them_as_never_asked() -> None:
    """An old file has none of the new verdicts: ❔ (not asked), not ❌; a refused gate's row stays ❌."""
    old = line(json="true", tools="true")
    assert old.verdict("toolsParallel") is Verdict.UNKNOWN and cells.parallel(old) == "❔"


def test_every_committed_results_file_still_loads_and_renders() -> None:
    results = Path(__file__).resolve().parents[1] / "results"
    page = CliRunner().invoke(app, ["render", "--out", str(results)])
    assert page.exit_code == 0 and "| Parallel | Think |" in page.stdout
    assert "Traceback" not in page.output


@pytest.mark.parametrize("layout", ["detailed", "compact"])
def test_the_legend_and_the_html_columns_explain_them(layout: str) -> None:
    texts = " ".join(t for entry in legend.entries(layout) for t in (entry.text, *entry.children))
    for name in BEYOND_NAMES:
        c = capability(name)
        assert f"{c.symbol} {c.legend}" in texts
    columns = {column.title: column for column in layout_columns(layout)}
    assert columns["Parallel"].probes == ("Tools-Parallel", "Tools-Parallel-Off")
    assert columns["Think"].verdicts == ("reportReasoningTokens", "reasoningOff")
    # Every reply but the one asked not to reason shows how reasoning is counted.
    assert "Reasoning-Off" in columns["Think"].probes and "Text" in columns["Think"].probes

