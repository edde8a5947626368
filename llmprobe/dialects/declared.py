"""What a provider's own model listing declares about a model, as neutral claims.

Several APIs say in their model listing what each model supports: OpenRouter-style
`supported_parameters`, Ollama's `/api/show` `capabilities`, Gemini's generation methods and
token limits, Anthropic's `capabilities` object. A dialect names where its listing says what
(`Declarations`, written once per dialect) and this module reads it into `Claim`s, each naming
what llmprobe measures it by, so `llmprobe models --claims` can hold the catalog against the
verdicts. Pure reading: the client fetches, as for the model list itself.

A listing is untrusted input: a declaration of the wrong type (a list where an object should
be, a limit as text) is MALFORMED with the field named, never a guess; values llmprobe does not
measure (`temperature`, `embedding`) are passed over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmprobe.capabilities import FAULTS, MODALITIES, NAMES
from llmprobe.dialects.wire import malformed

#: What a limit claim is measured by: the largest input or output token count a reply reported.
LIMITS: tuple[str, ...] = ("tokens_in", "tokens_out")
#: The prefix of a claim measured by an input modality ("in:image"): the ➛In column.
INPUT = "in:"


def measures(measured_by: str) -> bool:
    """True when `measured_by` names something llmprobe measures that a listing can claim: a
    capability (not a fault: no listing declares its models biased), an input medium, a limit."""
    medium = measured_by.removeprefix(INPUT)
    if medium != measured_by:
        return medium in {m.name for m in MODALITIES}
    return (measured_by in NAMES and measured_by not in FAULTS) or measured_by in LIMITS


@dataclass(frozen=True)
class Claim:
    """One thing a listing declares about one model, and what measures it.

    `name` is the listing's own wording ("supported_parameters: tools"), so a reader can find it
    in the provider's answer. `supported` is False when a complete list leaves the value out:
    that is a declaration too ("this model takes no tools"). A limit claim carries its `limit`.
    """

    name: str
    measured_by: str
    supported: bool = True
    limit: int | None = None


@dataclass(frozen=True)
class Declarations:
    """Where one wire format's listing entry declares what, each value mapped to what measures it.

    - `lists`: a field holding the complete list of what the model supports (a value left out
      is declared unsupported), each known value → what measures it;
    - `flags`: an object of named booleans (`true`, or `{"supported": true}`), each known key →
      what measures it;
    - `limits`: a field holding a token limit → "tokens_in" or "tokens_out".

    A field is a key of the entry, or a dotted path into it ("architecture.input_modalities").
    """

    lists: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    flags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """A misspelt target fails when the dialect is imported, not as a claim nothing measures."""
        targets = [*(t for m in (*self.lists.values(), *self.flags.values()) for t in m.values()), *self.limits.values()]
        unknown = [t for t in targets if not measures(t)]
        if unknown:
            raise ValueError(f"declarations measured by unknown {unknown[0]!r}")
        if any(t not in LIMITS for t in self.limits.values()):
            raise ValueError("a limit is measured by tokens_in or tokens_out")

    def claims(self, entry: Mapping[str, Any]) -> list[Claim]:
        """The claims of one listing entry, in the order the declarations name them."""
        found: list[Claim] = []
        for path, known in self.lists.items():
            listed = _at(entry, path)
            if listed is None:
                continue
            if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
                raise malformed(f"model list: {path} is not a list of strings", listed)
            found += [Claim(f"{path}: {value}", target, value in listed) for value, target in known.items()]
        for path, known in self.flags.items():
            flags = _at(entry, path)
            if flags is None:
                continue
            if not isinstance(flags, dict):
                raise malformed(f"model list: {path} is not an object", flags)
            for key, target in known.items():
                if key in flags:
                    found.append(Claim(f"{path}.{key}", target, _flag(flags[key], f"{path}.{key}")))
        for path, target in self.limits.items():
            limit = _at(entry, path)
            if limit is None:
                continue
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                raise malformed(f"model list: {path} is not a token count", limit)
            found.append(Claim(path, target, True, limit))
        return found


    def listed(self, data: Any, entries: str, key: str, value: str) -> list[Claim] | None:
        """The claims of the entry whose `key` is `value`, in the list `data[entries]` of a listing
        page; None when the page does not list it.

        The page's shape was checked by the dialect's `parse_models`; entries of other models are
        not read, so a broken entry elsewhere in a catalog of thousands does not hide this one."""
        listed = data.get(entries) if isinstance(data, dict) else None
        if not isinstance(listed, list):
            return None
        entry = next((e for e in listed if isinstance(e, dict) and e.get(key) == value), None)
        return None if entry is None else self.claims(entry)


def _at(entry: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path; None when any step is absent or not an object."""
    value: Any = entry
    for step in path.split("."):
        value = value.get(step) if isinstance(value, dict) else None
    return value


def _flag(value: Any, where: str) -> bool:
    """`true` / `false`, or Anthropic's `{"supported": true}`."""
    if isinstance(value, dict):
        value = value.get("supported")
    if not isinstance(value, bool):
        raise malformed(f"model list: {where} is neither a boolean nor {{supported: boolean}}", value)
    return value
