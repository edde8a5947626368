"""The one rule that says whether a recording answers a request (`llmprobe.questions`)."""

from __future__ import annotations

import pytest

from llmprobe.questions import difference, question

SQUARE_ROOT = {
    "type": "function",
    "function": {
        "name": "square_root",
        "description": "Calculates the square root",
        "parameters": {"type": "object", "properties": {"number": {"type": "number"}}, "required": ["number"]},
    },
}
BASE = {"model": "m", "stream": False, "messages": [{"role": "user", "content": "Say hello."}]}


def differs(sent: dict, recorded: dict, dialect: str = "openai") -> str | None:
    return difference(question(dialect, sent), question(dialect, recorded))


def test_wording_key_order_ids_and_explicit_defaults_do_not_change_the_question() -> None:
    recorded = {**BASE, "tools": [SQUARE_ROOT]}
    reworded = {
        "tool_choice": "auto",
        "messages": [{"role": "user", "content": "Please say  hello!"}],
        "tools": [{"function": {**SQUARE_ROOT["function"], "description": "other words"}, "type": "function"}],
        "stream": False,
        "model": "m",
    }
    assert differs(reworded, recorded) is None


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("tool_choice", "required", "tool_choice"),
        ("logprobs", True, "logprobs"),
        ("seed", 42, "seed"),
        ("stop", ["is"], "stop"),
        ("max_tokens", 16, "max_tokens"),
        ("stream", True, "stream"),
        ("model", "other", "model"),
        ("response_format", {"type": "json_object"}, "response_format"),
    ],
)
def test_each_question_defining_field_makes_another_question(field: str, value: object, named: str) -> None:
    recorded = {**BASE, "tools": [SQUARE_ROOT]}
    found = differs({**recorded, field: value}, recorded)
    assert found is not None and found.startswith(named)


def test_an_ample_cap_asks_what_no_cap_asks() -> None:
    assert differs({**BASE, "max_tokens": 4096}, {**BASE, "max_tokens": 32000}, "anthropic") is None
    assert differs({**BASE, "max_tokens": 16}, {**BASE, "max_tokens": 32000}, "anthropic") is not None


def test_media_and_documents_are_part_of_the_question() -> None:
    def image(url: str) -> dict:
        return {**BASE, "messages": [{"role": "user", "content": [{"type": "text", "text": "?"}, {"type": "image_url", "image_url": {"url": url}}]}]}

    assert differs(image("data:image/png;base64,AAAA"), image("data:image/png;base64,BBBB")) is None
    assert differs(image("data:image/png;base64,AAAA"), image("data:image/jpeg;base64,AAAA")) is not None
    assert differs(image("https://x/banana.png"), image("data:image/png;base64,AAAA")) is not None

    def document(text: str) -> dict:
        return {**BASE, "messages": [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "text", "text": "Q?"}]}]}

    assert differs(document("# Quackiland\n\nQuack."), document("The capital is Quack.")) is not None
    assert differs(document("The capital  is\nQuack."), document("The capital is Quack.")) is None


def test_thinking_on_or_off_is_part_of_the_question() -> None:
    on = {**BASE, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert (differs(BASE, on, "anthropic") or "").startswith("thinking")
    gemini = {"contents": [{"parts": [{"text": "hi"}]}]}
    thinking = {**gemini, "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    assert difference(question("gemini", gemini, model="g", stream=False), question("gemini", thinking, model="g", stream=False))


def test_the_references_harness_shapes_ask_the_same_question() -> None:
    """What the reference's clients wrote differently without changing the question."""
    # Qwen3's "/think" asks for the hybrid models' default, as a message or a text part.
    think_message = {**BASE, "messages": [*BASE["messages"], {"role": "user", "content": "/think"}]}
    think_part = {**BASE, "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello."}, {"type": "text", "text": "\n\n/think"}]}]}
    assert differs(BASE, think_message) is None and differs(BASE, think_part) is None
    no_think = {**BASE, "messages": [*BASE["messages"], {"role": "user", "content": "/no_think"}]}
    assert differs({**BASE, "think": True}, no_think, "ollama") is not None
    # The schema written straight into `json_schema`, beside its name.
    schema = {"type": "object", "properties": {"is_fruit": {"type": "boolean"}}}
    ours = {**BASE, "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema, "strict": True}}}
    theirs = {**BASE, "response_format": {"type": "json_schema", "json_schema": {**schema, "name": "response"}}}
    assert differs(ours, theirs) is None
    # Together counts the alternatives in `logprobs`.
    assert differs({**BASE, "logprobs": True, "top_logprobs": 2}, {**BASE, "logprobs": 2}) is None
    assert differs({**BASE, "logprobs": True, "top_logprobs": 2}, {**BASE, "logprobs": 1}) is not None


def test_a_forced_call_is_not_answered_by_an_unforced_recording() -> None:
    """D18: deepseek-reasoner's SquareRoot-1 was recorded with tool_choice auto."""
    recorded = {**BASE, "tools": [SQUARE_ROOT], "tool_choice": "auto"}
    assert differs({**recorded, "tool_choice": "required"}, recorded) == 'tool_choice is "required", recorded "auto"'
    anthropic = {**BASE, "tools": [{"name": "square_root", "input_schema": {"type": "object"}}]}
    assert differs({**anthropic, "tool_choice": {"type": "any"}}, {**anthropic, "tool_choice": {"type": "auto"}}, "anthropic")


def test_a_schema_under_arguments_is_a_tool_without_parameters() -> None:
    """D16: the reference declared Hugging Face's tool schema under `function.arguments`, which the
    server does not read: that model was offered a tool without parameters, another question."""
    function = dict(SQUARE_ROOT["function"])
    schema = function.pop("parameters")
    theirs = {**BASE, "tools": [{"type": "function", "function": {**function, "arguments": schema}}]}
    assert (differs({**BASE, "tools": [SQUARE_ROOT]}, theirs) or "").startswith("tools")
