"""probes/battery.yaml is the one source of a probe's facts: every key is read, and an unknown one is refused."""

from __future__ import annotations

import copy
import re
from importlib import resources
from typing import Any

import pytest
import yaml

from llmprobe import judging
from llmprobe.battery import EXPECT_KEYS, BatteryError, Role, parse_battery

RAW: dict[str, Any] = yaml.safe_load((resources.files("llmprobe.probes") / "battery.yaml").read_text(encoding="utf-8"))


def changed(edit) -> dict[str, Any]:
    data = copy.deepcopy(RAW)
    edit(data)
    return data


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(probe={}), "the top level: unknown keys ['probe']"),
        (lambda d: d["probes"]["Seed"].update(expects={}), "probe Seed: unknown keys ['expects']"),
        (lambda d: d["probes"]["MaxTokens"]["expect"].update(min_words=2), "probe MaxTokens expect: unknown keys ['min_words']"),
        (lambda d: d["probes"]["Text"]["report"].update(latency="answered"), "probe Text report: unknown keys ['latency']"),
        (lambda d: d["probes"]["Text"]["report"].update(usage="always"), "probe Text report: use one of"),
        (lambda d: d["tools"]["square_root"].update(strict=True), "tool square_root: unknown keys ['strict']"),
        (lambda d: d["probes"]["Seed"]["options"].update(temperature=0), "probe Seed: unknown options ['temperature']"),
        (lambda d: d["probes"]["Seed"].update(role="warmup"), "probe Seed: unknown role 'warmup'"),
        (lambda d: d["probes"]["Seed"].update(verdict="sead"), "probe Seed: unknown verdict 'sead'"),
        (lambda d: d["probes"]["Seed"].update(role="gate"), "exactly one probe must have role gate"),
        (lambda d: d["probes"]["Tools-SquareRoot-2"].update(same_as="Nope"), "probe Tools-SquareRoot-2: same_as 'Nope' is not another probe"),
        # A probe's own pass cannot be weighed against another's: only any_reply verdicts may share.
        (lambda d: d["probes"]["Seed"].update(verdict="json"), "verdict json is decided by ['Seed', 'JSON']: all of them must say verdict_from: any_reply"),
        (lambda d: d["probes"]["Seed"].update(verdict="citations"), "verdict citations is decided by ['Seed', 'Citations', 'Citations-text-markdown']: all of them must say verdict_from: any_reply"),
    ],
)
def test_a_key_the_code_would_not_read_is_refused(edit, message) -> None:
    with pytest.raises(BatteryError, match="^" + re.escape(f"battery.yaml: {message}")):
        parse_battery(changed(edit))


def test_citations_is_decided_by_the_plain_and_the_markdown_document() -> None:
    battery = parse_battery(RAW)
    plain, markdown = battery.deciding()["citations"]
    assert (plain.name, markdown.name) == ("Citations", "Citations-text-markdown")
    assert plain.verdict_from_any_reply and markdown.verdict_from_any_reply
    assert plain.document is not None and markdown.document is not None
    assert (plain.document.name, plain.document.mime) == ("capital_info.txt", "text/plain")
    assert (markdown.document.name, markdown.document.mime) == ("capital_info.md", "text/markdown")
    assert markdown.document.text == "# Quackiland\n\n" + plain.document.text
    # Everything else is the plain probe's: the question, the checks, the usage and finish samples.
    assert (markdown.prompt, markdown.expect, markdown.report_usage, markdown.report_finish) == (
        plain.prompt, plain.expect, plain.report_usage, plain.report_finish
    )


def test_every_expect_key_is_a_check_or_read_by_one() -> None:
    assert set(judging._CHECKS) | judging._NOT_CHECKS == EXPECT_KEYS
    assert not set(judging._CHECKS) & judging._NOT_CHECKS


def test_the_roles_and_priorities_the_runner_relies_on() -> None:
    battery = parse_battery(RAW)
    assert [p.role.priority for p in battery.probes.values() if p.role is not Role.INDEPENDENT] == [4, 3, 2, 1, 1, 0, 0]
    assert [p.enum[0] for p in battery.with_role(Role.BIAS)] == ["Canada", "USA"]
    # same_as chains: -2-any is -2 (itself SquareRoot-1's request) asked with tool_choice auto.
    follow_up, fallback = battery.one(Role.FOLLOW_UP), battery.one(Role.FOLLOW_UP_FALLBACK)
    assert (fallback.prompt, fallback.tools, fallback.expect) == (follow_up.prompt, follow_up.tools, follow_up.expect)
    assert fallback.options == {"tool_choice": "auto"}
