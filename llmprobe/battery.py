"""The probe battery: `probes/battery.yaml` turned into neutral requests.

Prompts, options and expected answers are data so they can be read, reviewed
and changed without touching the verdict logic.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Sequence

import yaml

from llmprobe.neutral import DocumentPart, ImagePart, Message, Part, Request, TextPart, Thought, Tool, ToolCall, ToolResult

#: Request fields a probe's `options:` may set.
_OPTION_FIELDS = {"seed", "top_logprobs", "max_tokens", "stop", "json_mode", "json_schema", "tool_choice"}


@dataclass(frozen=True)
class Probe:
    name: str
    prompt: str
    options: dict[str, Any] = field(default_factory=dict)
    tools: tuple[Tool, ...] = ()
    expect: dict[str, Any] = field(default_factory=dict)
    document: DocumentPart | None = None
    #: ToolBias: the enum of best_country, in the order offered; the first is the "biased pick".
    enum: tuple[str, ...] = ()

    def request(self, *, stream: bool, parts: tuple[Part, ...] = (), history: tuple[Message, ...] = ()) -> Request:
        """The request for this probe; `parts` follow the prompt, `history` continues a conversation."""
        content: tuple[Part, ...] = ((self.document,) if self.document else ()) + (TextPart(self.prompt),) + parts
        messages = (Message("user", content),) + history
        options = dict(self.options)
        if "stop" in options:
            options["stop"] = tuple(options["stop"])
        return Request(messages=messages, tools=self.tools, stream=stream, **options)


def continuation(
    reply_calls: list[ToolCall], results: list[ToolResult], thoughts: Sequence[Thought] = ()
) -> tuple[Message, ...]:
    """The assistant turn that called tools (with its reasoning blocks, for the APIs that
    want them back), then one tool turn per result (SquareRoot-2)."""
    return (Message("assistant", tool_calls=tuple(reply_calls), thoughts=tuple(thoughts)),) + tuple(
        Message("tool", tool_result=result) for result in results
    )


@dataclass(frozen=True)
class ImageProbe:
    name: str
    ext: str
    mime: str
    #: "Inline" or "URL".
    variant: str
    prompt: str
    answer: str

    def request(self, *, stream: bool, data: bytes | None = None, url: str | None = None) -> Request:
        image = ImagePart(self.mime, data=data, url=url)
        return Request(messages=(Message("user", (TextPart(self.prompt), image)),), stream=stream)


@dataclass(frozen=True)
class Battery:
    probes: dict[str, Probe]
    images: tuple[ImageProbe, ...]

    def __getitem__(self, name: str) -> Probe:
        return self.probes[name]

    def image(self, name: str) -> ImageProbe | None:
        return next((image for image in self.images if image.name == name), None)

    def image_bytes(self, ext: str) -> bytes:
        return (resources.files("llmprobe.probes") / f"banana.{ext}").read_bytes()


def _tool(name: str, spec: dict[str, Any], enum: tuple[str, ...]) -> Tool:
    parameters = copy.deepcopy(spec["parameters"])
    if enum:
        parameters["properties"]["country"]["enum"] = list(enum)
    return Tool(name=name, description=spec["description"], parameters=parameters)


def parse_battery(data: dict[str, Any]) -> Battery:
    tools = data["tools"]
    raw = data["probes"]
    probes: dict[str, Probe] = {}
    images: list[ImageProbe] = []
    for name, spec in raw.items():
        if name == "Image":
            for ext, mime in spec["images"].items():
                for variant in ("Inline", "URL"):
                    images.append(
                        ImageProbe(f"Image-{ext}-{variant}", ext, mime, variant, spec["prompt"], spec["expect"]["answer"])
                    )
            continue
        base = raw[spec["same_as"]] if "same_as" in spec else {}
        merged = {**base, **spec}
        options = {**base.get("options", {}), **spec.get("options", {})}
        unknown = set(options) - _OPTION_FIELDS
        if unknown:
            raise ValueError(f"probe {name}: unknown options {sorted(unknown)}")
        enum = tuple(merged.get("enum", ()))
        document = merged.get("document")
        probes[name] = Probe(
            name=name,
            prompt=merged["prompt"],
            options=options,
            tools=tuple(_tool(t, tools[t], enum) for t in merged.get("tools", ())),
            expect=dict(merged.get("expect", {})),
            document=DocumentPart(document["name"], document["mime"], document["text"]) if document else None,
            enum=enum,
        )
    return Battery(probes, tuple(images))


@lru_cache(maxsize=1)
def load_battery() -> Battery:
    text = (resources.files("llmprobe.probes") / "battery.yaml").read_text(encoding="utf-8")
    return parse_battery(yaml.safe_load(text))
