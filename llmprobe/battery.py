"""The probe battery: `probes/battery.yaml` turned into neutral requests.

Prompts, options, expected answers and each probe's place in a run are data, so
they can be read, reviewed and changed without touching the verdict logic; the
code finds a probe by its role, never by its name.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml

from llmprobe.capabilities import NAMES, Combined, capability, medium
from llmprobe.errors import LlmprobeError
from llmprobe.neutral import AttachmentPart, DocumentPart, Message, Part, Request, TextPart, Thought, Tool, ToolCall, ToolResult


class BatteryError(LlmprobeError):
    """probes/battery.yaml says something the code does not understand."""


class Role(str, Enum):
    """Where a probe stands in a mode's run (see the top of probes/battery.yaml)."""

    GATE = "gate"
    INDEPENDENT = "independent"
    FORCE = "force"
    FORCE_FALLBACK = "force_fallback"
    FOLLOW_UP = "follow_up"
    FOLLOW_UP_FALLBACK = "follow_up_fallback"
    BIAS = "bias"

    @property
    def priority(self) -> int:
        """How many dependent requests may still follow a request of this role.

        Waiting requests go out highest first, so the tool chain never queues behind
        the independent probes (see `scheduler`).
        """
        return _PRIORITY.get(self, 0)


_PRIORITY = {Role.GATE: 4, Role.FORCE: 3, Role.FORCE_FALLBACK: 2, Role.FOLLOW_UP: 1, Role.FOLLOW_UP_FALLBACK: 1}
#: Roles held by exactly one probe; the others (independent, bias) by any number.
_SINGLE_ROLES = (Role.GATE, Role.FORCE, Role.FORCE_FALLBACK, Role.FOLLOW_UP, Role.FOLLOW_UP_FALLBACK)
#: When a reply counts for the usage and finish-reason verdicts.
REPORT_WHEN = ("answered", "passed", "called")

#: Request fields a probe's `options:` may set.
_OPTION_FIELDS = {"seed", "top_logprobs", "max_tokens", "stop", "json_mode", "json_schema", "tool_choice", "web_search"}
_PROBE_KEYS = {
    "prompt", "options", "tools", "document", "enum", "media", "same_as",
    "role", "verdict", "verdict_from", "expect", "report",
}  # fmt: skip
#: The checks a probe's `expect:` may ask for (each one is implemented in `verdicts`).
EXPECT_KEYS = {
    "max_words", "says_something", "not_blank", "absent", "json_object", "json", "logprobs", "citations",
    "call", "arguments", "result", "no_call", "valid_call", "answer", "names", "sees", "searched", "finish",
}  # fmt: skip
_TOP_KEYS = {"tools", "probes"}
_MEDIA_KEYS = {"file", "mime", "modality", "ways"}
#: How a medium can be sent: its bytes in the request, or a URL the provider fetches.
WAYS = ("Inline", "URL")
_TOOL_KEYS = {"description", "parameters"}


@dataclass(frozen=True)
class Probe:
    name: str
    prompt: str
    options: dict[str, Any] = field(default_factory=dict)
    tools: tuple[Tool, ...] = ()
    expect: dict[str, Any] = field(default_factory=dict)
    document: DocumentPart | None = None
    #: The enum of the tool's parameter, in the order offered; the first is the "biased pick".
    enum: tuple[str, ...] = ()
    role: Role = Role.INDEPENDENT
    #: The capability this probe decides on its own, if any.
    verdict: str = ""
    #: True when any reply of the mode that passes this probe's checks shows the capability.
    verdict_from_any_reply: bool = False
    #: When the reply counts for the usage / finish-reason verdicts ("" for never).
    report_usage: str = ""
    report_finish: str = ""

    def request(self, *, stream: bool, parts: tuple[Part, ...] = (), history: tuple[Message, ...] = ()) -> Request:
        """The request for this probe; `parts` follow the prompt, `history` continues a conversation."""
        content: tuple[Part, ...] = ((self.document,) if self.document else ()) + (TextPart(self.prompt),) + parts
        messages = (Message("user", content),) + history
        options = dict(self.options)
        if "stop" in options:
            options["stop"] = tuple(options["stop"])
        return Request(messages=messages, tools=self.tools, stream=stream, **options)

    def tool(self, name: str) -> Tool | None:
        return next((tool for tool in self.tools if tool.name == name), None)


def continuation(
    reply_calls: list[ToolCall], results: list[ToolResult], thoughts: Sequence[Thought] = ()
) -> tuple[Message, ...]:
    """The assistant turn that called tools (with its reasoning blocks, for the APIs that
    want them back), then one tool turn per result (SquareRoot-2)."""
    return (Message("assistant", tool_calls=tuple(reply_calls), thoughts=tuple(thoughts)),) + tuple(
        Message("tool", tool_result=result) for result in results
    )


@dataclass(frozen=True)
class Attachment:
    """A file the battery sends for the model to read: its name under probes/, type and modality."""

    file: str
    mime: str
    modality: str

    @property
    def ext(self) -> str:
        return self.file.rpartition(".")[2]


@dataclass(frozen=True, kw_only=True)
class MediaProbe(Probe):
    """The prompt followed by one attachment, sent one way (`WAYS`): named `<entry>-<ext>-<way>`."""

    attachment: Attachment
    way: str

    def part(self, *, data: bytes | None = None, url: str | None = None) -> AttachmentPart:
        return AttachmentPart(self.attachment.modality, self.attachment.mime, data=data, url=url, name=self.attachment.file)

    def sent_part(self, base_url: str) -> AttachmentPart | None:
        """The part as a run sends it: the file's bytes, or `<base_url>/<file>`; None by URL
        without a base URL to point at (the probe is then not sent)."""
        if self.way == "Inline":
            return self.part(data=media_bytes(self.attachment.file))
        return self.part(url=f"{base_url.rstrip('/')}/{self.attachment.file}") if base_url else None

    def media_request(self, *, stream: bool, base_url: str) -> Request | None:
        part = self.sent_part(base_url)
        return None if part is None else self.request(stream=stream, parts=(part,))


@dataclass(frozen=True)
class Battery:
    #: Every probe but the media probes, in the file's order (the order evidence is listed in).
    probes: dict[str, Probe]
    media: tuple[MediaProbe, ...]

    def __getitem__(self, name: str) -> Probe:
        return self.probes[name]

    def with_role(self, role: Role) -> tuple[Probe, ...]:
        """The probes of `role`, in the file's order (media probes are independent too, but listed apart)."""
        return tuple(probe for probe in self.probes.values() if probe.role is role)

    def one(self, role: Role) -> Probe:
        """The probe of a role only one probe holds (checked at load)."""
        return self.with_role(role)[0]

    def deciding(self) -> dict[str, tuple[Probe, ...]]:
        """Verdict name → the probes that decide it on their own (`verdict:`), in the file's order.

        Several only when all of them say `verdict_from: any_reply`, or the capability checks
        each call or reply on its own (`capabilities.Combined`; checked at load): a probe's pass
        alone cannot be combined with another's.
        """
        decided: dict[str, tuple[Probe, ...]] = {}
        for probe in self.probes.values():
            if probe.verdict:
                decided[probe.verdict] = decided.get(probe.verdict, ()) + (probe,)
        return decided


@cache
def media_bytes(file: str) -> bytes:
    """Read once per run, not for every media probe of every model and mode."""
    return (resources.files("llmprobe.probes") / file).read_bytes()


def _check_keys(where: str, given: Any, allowed: set[str]) -> None:
    if not isinstance(given, dict):
        raise BatteryError(f"battery.yaml: {where} must be a mapping")
    unknown = set(given) - allowed
    if unknown:
        raise BatteryError(f"battery.yaml: {where}: unknown keys {sorted(unknown)}; known: {sorted(allowed)}")


def _tool(name: str, spec: dict[str, Any], enum: tuple[str, ...]) -> Tool:
    """The tool as offered; a probe's `enum` becomes the enum of the tool's one required parameter."""
    parameters = copy.deepcopy(spec["parameters"])
    if enum:
        (parameter,) = parameters["required"]
        parameters["properties"][parameter]["enum"] = list(enum)
    return Tool(name=name, description=spec["description"], parameters=parameters)


def _merged(raw: dict[str, Any], name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The probe's keys over those of its `same_as` (itself resolved the same way)."""
    spec = raw[name]
    _check_keys(f"probe {name}", spec, _PROBE_KEYS)
    base_name = spec.get("same_as")
    if base_name is None:
        return dict(spec)
    if base_name not in raw or base_name in seen:
        raise BatteryError(f"battery.yaml: probe {name}: same_as {base_name!r} is not another probe")
    base = _merged(raw, base_name, seen + (name,))
    return {**base, **spec, "options": {**base.get("options", {}), **spec.get("options", {})}}


def _probe_fields(name: str, merged: dict[str, Any]) -> dict[str, Any]:
    options = merged.get("options", {})
    unknown = set(options) - _OPTION_FIELDS
    if unknown:
        raise BatteryError(f"battery.yaml: probe {name}: unknown options {sorted(unknown)}")
    expect = dict(merged.get("expect", {}))
    _check_keys(f"probe {name} expect", expect, EXPECT_KEYS)
    report = merged.get("report", {})
    _check_keys(f"probe {name} report", report, {"usage", "finish"})
    if not set(report.values()) <= set(REPORT_WHEN):
        raise BatteryError(f"battery.yaml: probe {name} report: use one of {list(REPORT_WHEN)}")
    verdict = merged.get("verdict", "")
    if verdict and verdict not in NAMES:
        raise BatteryError(f"battery.yaml: probe {name}: unknown verdict {verdict!r}")
    if merged.get("verdict_from", "any_reply") != "any_reply":
        raise BatteryError(f"battery.yaml: probe {name}: verdict_from can only be any_reply")
    try:
        role = Role(merged.get("role", Role.INDEPENDENT))
    except ValueError:
        raise BatteryError(f"battery.yaml: probe {name}: unknown role {merged['role']!r}") from None
    document = merged.get("document")
    return {
        "name": name,
        "prompt": merged["prompt"],
        "options": options,
        "expect": expect,
        "document": DocumentPart(document["name"], document["mime"], document["text"]) if document else None,
        "role": role,
        "verdict": verdict,
        "verdict_from_any_reply": "verdict_from" in merged,
        "report_usage": report.get("usage", ""),
        "report_finish": report.get("finish", ""),
    }


def _media_probes(name: str, listed: Any, fields: dict[str, Any]) -> list[MediaProbe]:
    """One probe per attachment and way, in the file's order."""
    if not isinstance(listed, list) or not listed:
        raise BatteryError(f"battery.yaml: probe {name}: media must be a list of {sorted(_MEDIA_KEYS)}")
    probes = []
    for item in listed:
        _check_keys(f"probe {name} media", item, _MEDIA_KEYS)
        attachment = Attachment(item["file"], item["mime"], item["modality"])
        try:
            medium(attachment.modality)
        except LlmprobeError as exc:
            raise BatteryError(f"battery.yaml: probe {name}: {exc}") from None
        ways = item.get("ways", list(WAYS))
        if not isinstance(ways, list) or not set(ways) <= set(WAYS):
            raise BatteryError(f"battery.yaml: probe {name} media {attachment.file}: ways are some of {list(WAYS)}")
        for way in ways:
            probe_name = f"{name}-{attachment.ext}-{way}"
            probes.append(MediaProbe(**{**fields, "name": probe_name}, attachment=attachment, way=way))
    return probes


def parse_battery(data: Any) -> Battery:
    """Raises BatteryError on any key the code would not read, so no fact is written in vain."""
    _check_keys("the top level", data, _TOP_KEYS)
    tools = data["tools"]
    for tool_name, tool_spec in tools.items():
        _check_keys(f"tool {tool_name}", tool_spec, _TOOL_KEYS)
    raw = data["probes"]
    probes: dict[str, Probe] = {}
    media: list[MediaProbe] = []
    try:
        for name in raw:
            merged = _merged(raw, name)
            fields = _probe_fields(name, merged)
            if "media" in merged:
                media += _media_probes(name, merged["media"], fields)
                continue
            enum = tuple(merged.get("enum", ()))
            tools_offered = tuple(_tool(t, tools[t], enum) for t in merged.get("tools", ()))
            probes[name] = Probe(**fields, tools=tools_offered, enum=enum)
            wanted = probes[name].expect.get("valid_call")
            if wanted is not None and probes[name].tool(wanted) is None:
                raise BatteryError(f"battery.yaml: probe {name}: valid_call {wanted!r} is not one of its tools")
    except KeyError as exc:
        raise BatteryError(f"battery.yaml: missing or unknown {exc}") from None
    for role in _SINGLE_ROLES:
        holders = [p.name for p in probes.values() if p.role is role]
        if len(holders) != 1:
            raise BatteryError(f"battery.yaml: exactly one probe must have role {role.value} (found {holders})")
    battery = Battery(probes, tuple(media))
    for verdict, deciding in battery.deciding().items():
        combined = capability(verdict).combined is not Combined.PASS
        if len(deciding) > 1 and not combined and not all(probe.verdict_from_any_reply for probe in deciding):
            names = [probe.name for probe in deciding]
            raise BatteryError(
                f"battery.yaml: verdict {verdict} is decided by {names}: all of them must say verdict_from: any_reply"
            )
    return battery


@lru_cache(maxsize=1)
def load_battery() -> Battery:
    text = (resources.files("llmprobe.probes") / "battery.yaml").read_text(encoding="utf-8")
    return parse_battery(yaml.safe_load(text))
