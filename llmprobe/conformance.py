"""Each tool call and each structured reply checked on its own, and what was wrong with it.

Tool-call accuracy and schema strictness are shares of such checks (`verdicts`), not one probe's
pass: a model that makes nine good calls and one bad one differs from one that makes none. Every
failed check is named in the evidence, so `explain` says which call failed which check. Replies
are untrusted: arguments and replies are decoded within `safejson`'s limits, and whatever they
hold becomes a failed check with its reason, never an exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llmprobe import safejson
from llmprobe.battery import Probe
from llmprobe.neutral import Reply, ToolCall

#: How much of a name or a validation message the evidence quotes.
_SHOWN = 120


@dataclass(frozen=True)
class Check:
    """One call (or the absence of one) and the first check it failed."""

    #: What was checked: the tool a call named, or "no call".
    subject: str
    #: The check it failed, "" when it passed every one.
    failed: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed


def call_checks(probe: Probe, reply: Reply) -> list[Check]:
    """Every call of the reply, checked in order: valid JSON arguments, a tool that was offered,
    arguments valid against that tool's schema, the tool the probe wants (`expect: valid_call`).

    Where a call is wanted and none came, the reply is one failed check; where none is wanted
    (`expect: no_call`), no call is one passed check and every call a failed one. Empty for a
    probe that asks neither."""
    wanted = probe.expect.get("valid_call")
    if wanted is None and not probe.expect.get("no_call"):
        return []
    if not reply.tool_calls:
        return [Check("no call", "" if wanted is None else f"{wanted} wanted")]
    if wanted is None:
        return [Check(_name(call), "a call where none is wanted") for call in reply.tool_calls]
    return [Check(_name(call), _call_problem(probe, call, wanted)) for call in reply.tool_calls]


def _name(call: ToolCall) -> str:
    return _shorter(call.name) or "a call without a name"


def _call_problem(probe: Probe, call: ToolCall, wanted: str) -> str:
    try:
        arguments = safejson.loads(call.arguments)
    except ValueError:
        return "arguments are not valid JSON"
    tool = probe.tool(call.name)
    if tool is None:
        return "not a tool offered"
    problem = schema_problem(tool.parameters, arguments)
    if problem:
        return f"arguments invalid against its schema: {problem}"
    return "" if tool.name == wanted else f"wrong tool, {wanted} wanted"


def reply_problem(schema: dict, reply: Reply) -> str:
    """Why the whole reply is not one JSON value valid against `schema`; "" when it is."""
    try:
        value = safejson.loads(reply.text)
    except ValueError:
        return "the reply is not JSON"
    return schema_problem(schema, value)


def schema_problem(schema: dict, value: Any) -> str:
    """The most relevant way `value` breaks `schema` (jsonschema's own words, shortened); "" when valid."""
    import jsonschema.exceptions

    error = jsonschema.exceptions.best_match(schema_validator(json.dumps(schema, sort_keys=True)).iter_errors(value))
    return "" if error is None else _shorter(error.message)


@lru_cache(maxsize=16)
def schema_validator(schema_json: str) -> Any:
    """A validator for the schema, built once per schema (a schema is a dict, so it is keyed by its JSON).

    `jsonschema.validate` checks the schema against its meta-schema on every call, which costs
    far more than checking the reply (benchmarks/README.md has the figure). Imported
    here, by what checks replies: rendering reads verdicts and never loads the validator.
    """
    import jsonschema.validators

    schema = json.loads(schema_json)
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


def findings(checks: list[Check]) -> str:
    """The failed checks, for the evidence: `get_time: wrong tool, get_weather wanted; …`."""
    return "; ".join(f"{check.subject}: {check.failed}" for check in checks if not check.ok)


def _shorter(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
