"""The neutral request and reply every dialect translates to and from.

Probes speak only these types; a dialect turns a `Request` into its provider's HTTP
call and the provider's answer back into a `Reply`, so verdict logic never learns
which wire format it is looking at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from llmprobe.capabilities import MODALITIES
from llmprobe.errors import LlmprobeError

Role = Literal["user", "assistant", "tool"]
ToolChoice = Literal["auto", "required", "none"]

#: Normalised finish reasons. Anything a provider sends that is not one of these is
#: kept verbatim in `Reply.raw_finish_reason` and normalised to "other".
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "other", "")


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class AttachmentPart:
    """A medium the model is to read (a picture, a recording, a video, a PDF), given either
    inline (`data`) or by `url`; exactly one is set. `modality` is one of `capabilities.MODALITIES`:
    a dialect carries each modality its wire format has, and refuses the others (UnsupportedOption)."""

    modality: str
    mime: str
    data: bytes | None = None
    url: str | None = None
    #: The file's name, for the wires that carry one beside the data (OpenAI's `file` parts).
    name: str = ""


@dataclass(frozen=True)
class DocumentPart:
    """A small text document to ground an answer on (the Citations probe)."""

    name: str
    mime: str
    text: str


Part = TextPart | AttachmentPart | DocumentPart


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for. `arguments` is the raw JSON text, as sent."""

    id: str
    name: str
    arguments: str

    def decoded_arguments(self) -> dict:
        """The arguments as a JSON object; raises ValueError when they are not one."""
        value = json.loads(self.arguments or "null")
        if not isinstance(value, dict):
            raise ValueError(f"tool call arguments are not a JSON object: {self.arguments!r}")
        return value


@dataclass(frozen=True)
class Thought:
    """A reasoning block as the provider returned it, to be handed back verbatim.

    Some APIs insist on seeing their own reasoning again when a conversation continues
    after a tool call (Anthropic, with thinking on, refuses a tool continuation without
    its signed thinking block), so a reply keeps its blocks whole, not just their text.
    """

    text: str
    #: The provider's seal over the block (Anthropic's `signature`), sent back unchanged.
    signature: str = ""
    #: A block whose text the provider withheld (Anthropic's `redacted_thinking`): only the seal is kept.
    redacted: bool = False


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    name: str
    content: str


@dataclass(frozen=True)
class Message:
    role: Role
    parts: tuple[Part, ...] = ()
    #: On an assistant turn that called tools (SquareRoot-2 replays it).
    tool_calls: tuple[ToolCall, ...] = ()
    #: On a tool turn.
    tool_result: ToolResult | None = None
    #: On an assistant turn: its reasoning blocks, for the dialects that must send them back.
    thoughts: tuple[Thought, ...] = ()

    @staticmethod
    def user(*parts: Part | str) -> Message:
        return Message("user", tuple(TextPart(p) if isinstance(p, str) else p for p in parts))


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    #: JSON schema of the arguments object.
    parameters: dict


@dataclass(frozen=True)
class Request:
    """One generation request, with every option the battery can ask for.

    A field left at its default is an option not asked for; a dialect that cannot
    express an option that *is* asked for raises `UnsupportedOption` instead of
    dropping it, because a silently dropped option would pass or fail for the
    wrong reason.
    """

    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    #: Free-form JSON object output.
    json_mode: bool = False
    #: Schema-constrained JSON output; `json_schema_name` names it where the wire needs a name.
    json_schema: dict | None = None
    json_schema_name: str = "response"
    seed: int | None = None
    stop: tuple[str, ...] = ()
    max_tokens: int | None = None
    top_logprobs: int | None = None
    stream: bool = False
    #: Switch the model's reasoning on, where the API has such a switch (Anthropic `thinking`,
    #: Gemini `thinkingConfig`, Responses `reasoning`); set for every request of a model
    #: listed with `reason: true`. Dialects without a switch ignore it: there the model decides.
    thinking: bool = False
    #: Let the model search the web with the provider's own search tool (the WebSearch probe).
    web_search: bool = False
    #: False asks for at most one tool call per reply (`parallel_tool_calls: false` and its
    #: spellings); None leaves it to the provider.
    parallel_tool_calls: bool | None = None
    #: Switch the model's reasoning off explicitly (the Reasoning-Off probe). It outranks `thinking`,
    #: which a `reason: true` row sets on every request, so each dialect sends off when both are set.
    reasoning_off: bool = False

    def asks(self, option: str) -> bool:
        """Whether this request asks for `option` (one of DECLARABLE_OPTIONS): a medium asks when
        the request carries an attachment of it."""
        if option in DECLARABLE_MEDIA:
            return any(isinstance(p, AttachmentPart) and p.modality == option for m in self.messages for p in m.parts)
        return {
            "seed": self.seed is not None,
            "top_logprobs": self.top_logprobs is not None,
            "stop": bool(self.stop),
            "json_mode": self.json_mode,
            "json_schema": self.json_schema is not None,
            "tools": bool(self.tools),
            "web_search": self.web_search,
            "parallel_tool_calls": self.parallel_tool_calls is not None,
            "reasoning_off": self.reasoning_off,
        }[option]


#: The media a provider can switch off where its documentation says it reads none (every one but text).
DECLARABLE_MEDIA = tuple(m.name for m in MODALITIES if m.name != "text")
#: Request options a provider can declare its API does not have (providers.yaml `unsupported`).
DECLARABLE_OPTIONS = (
    "seed", "top_logprobs", "stop", "json_mode", "json_schema", "tools", "web_search",
    "parallel_tool_calls", "reasoning_off", *DECLARABLE_MEDIA,
)  # fmt: skip


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    #: None when the provider did not report it: a reported 0 is a count, an absent field is none.
    reasoning_tokens: int | None = None

    def is_zero(self) -> bool:
        """No counter at all was reported (the reference's later, fairer rule, D5)."""
        return not (
            self.input_tokens
            or self.output_tokens
            or self.total_tokens
            or self.cached_tokens
            or self.reasoning_tokens
        )


@dataclass(frozen=True)
class RateLimit:
    """A limit the provider announced in its response headers."""

    kind: Literal["requests", "tokens"]
    limit: int
    remaining: int | None = None
    #: Seconds until the window resets, as announced.
    reset_seconds: float | None = None


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass
class Reply:
    """A provider's answer, whatever the dialect and whether it was streamed."""

    text: str = ""
    #: Chain-of-thought, from a separate field or split out of inline <think> tags.
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    #: One of FINISH_REASONS; "" when the provider gave none.
    finish_reason: str = ""
    raw_finish_reason: str = ""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    #: What shows the provider searched the web for this answer: the sources it found (URLs), or the
    #: queries it ran when it names no source. Empty when nothing shows a search.
    web_search: list[str] = field(default_factory=list)
    rate_limits: list[RateLimit] = field(default_factory=list)
    #: Notices the provider sent with a successful answer, e.g. Together's "Model supports only
    #: tool_choice auto": the request was served, but that option was not honoured.
    warnings: list[str] = field(default_factory=list)
    #: The reasoning blocks whole, where the API wants them back on a tool continuation.
    thoughts: list[Thought] = field(default_factory=list)


def normalise_finish_reason(raw: str | None) -> str:
    """Map a provider's finish reason onto FINISH_REASONS.

    "stop_sequence"-like values map to "stop" on purpose: the reference does the
    same, so a stop-sequence finish satisfies a check that expects "stop".
    """
    if not raw:
        return ""
    value = raw.lower()
    aliases = {
        "stop": "stop",
        "complete": "stop",
        "end_turn": "stop",
        "stop_sequence": "stop",
        "completed": "stop",
        "eos": "stop",
        "length": "length",
        "max_tokens": "length",
        "max_output_tokens": "length",
        "tool_calls": "tool_calls",
        "tool_use": "tool_calls",
        "tool_call": "tool_calls",
        "function_call": "tool_calls",
        "content_filter": "content_filter",
        "refusal": "content_filter",
        # Gemini's content-policy stops.
        "safety": "content_filter",
        "recitation": "content_filter",
        "blocklist": "content_filter",
        "prohibited_content": "content_filter",
        "spii": "content_filter",
        "image_safety": "content_filter",
    }
    return aliases.get(value, "other")


THINK_START = "<think>"
THINK_END = "</think>"


def split_inline_thinking(text: str) -> tuple[str, str]:
    """Split inline `<think>…</think>` out of reply text: returns (reasoning, text).

    Models such as DeepSeek-R1 and Qwen3 put their chain of thought inline. An
    unterminated block (the reply was cut, e.g. by max tokens) is all reasoning,
    so thinking never counts as reply text. Some servers strip the opening tag
    (Cerebras' qwen-3-235b-a22b-thinking): a closing tag alone still ends the reasoning.
    """
    stripped = text.lstrip()
    if not stripped.startswith(THINK_START):
        before, found, after = text.partition(THINK_END)
        return (before.strip(), after.lstrip()) if found else ("", text)
    body = stripped[len(THINK_START):]
    end = body.find(THINK_END)
    if end < 0:
        return body.strip(), ""
    return body[:end].strip(), body[end + len(THINK_END):].lstrip()


@dataclass
class Exchange:
    """What came of one probe request, retries included."""

    reply: Reply | None = None
    error: LlmprobeError | None = None
    status: int | None = None
    latency_ms: float | None = None
    ttfb_ms: float | None = None
    #: Streams only: until the first streamed event (the first token, or the first sign of one).
    ttft_ms: float | None = None
    attempts: int = 0
    cassette: str | None = None
    #: One line per failed attempt that was retried, for the evidence.
    retries: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reply is not None and self.error is None
