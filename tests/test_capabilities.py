"""The capability registry: every view reads it, and a name it does not declare fails loudly."""

from __future__ import annotations

import pytest

from llmprobe.battery import BatteryError, load_battery
from llmprobe.capabilities import CAPABILITIES, FAULTS, NAMES, REFERENCE_NAMES, Decided, UnknownCapability, capability
from llmprobe.render import cells, legend
from llmprobe.render.cells import Line
from llmprobe.render.evidence import _verdict_probes, layout_columns
from llmprobe.render.html import CAPABILITY_LABELS
from llmprobe.render.tables import LAYOUTS
from llmprobe.results import Verdict


def test_the_results_read_the_registry() -> None:
    assert NAMES == tuple(c.name for c in CAPABILITIES)
    # The reference's names only are compared with it: llmprobe's own questions come after them.
    assert REFERENCE_NAMES == tuple(c.name for c in CAPABILITIES if c.reference) == NAMES[: len(REFERENCE_NAMES)]
    assert FAULTS == {"toolsBiased", "toolsIndecisive"}
    assert Verdict.TRUE.goodness("toolsBiased") == 0 and Verdict.TRUE.goodness("tools") == 2


@pytest.mark.parametrize("misspelt", ["Seed", "jsonschema", "toolsBias", ""])
def test_a_misspelt_capability_fails_loudly_instead_of_rendering_a_cross(misspelt: str) -> None:
    with pytest.raises(UnknownCapability, match="unknown capability"):
        capability(misspelt)
    with pytest.raises(UnknownCapability):
        cells.verdict(misspelt)
    line = Line(modes=("sync",), verdicts={"seed": Verdict.TRUE})
    with pytest.raises(UnknownCapability):
        line.verdict(misspelt)
    assert line.verdict("seed") is Verdict.TRUE and line.verdict("json") is Verdict.FALSE


def test_the_html_filter_and_the_detailed_columns_follow_the_registry() -> None:
    assert CAPABILITY_LABELS == {c.name: c.label for c in CAPABILITIES}
    columns = {column.title: column.verdicts for column in layout_columns("detailed")}
    for c in CAPABILITIES:
        assert c.name in columns[c.column], c.name


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_legend_says_what_each_shown_capability_means(layout: str) -> None:
    texts = [text for entry in legend.entries(layout) for text in (entry.text, *entry.children)]
    shown = {name for column in layout_columns(layout) for name in column.verdicts}
    # The compact layout's JSON column merges two capabilities, and explains the merge itself.
    merged = {"json", "jsonSchema"} if layout == "compact" else set()
    for c in CAPABILITIES:
        if c.name in shown - merged:
            assert any(c.legend in text for text in texts), c.name


def test_the_cells_mark_a_capability_with_its_registered_symbol() -> None:
    line = Line(modes=("sync",), verdicts={"seed": Verdict.TRUE, "stopSequence": Verdict.TRUE})
    assert cells.text(line) == capability("seed").symbol + capability("stopSequence").symbol


def test_deciding_probes_follow_what_the_registry_says_decides_them() -> None:
    battery = load_battery()
    decided = _verdict_probes(battery)
    assert decided["reportRateLimits"] == ("Text",)
    assert decided["seed"] == ("Seed",)
    assert all(decided[c.name] for c in CAPABILITIES)
    assert {c.decided_by for c in CAPABILITIES} == set(Decided)


def test_a_capability_of_its_own_probes_that_no_probe_decides_is_refused() -> None:
    battery = load_battery()
    probes = {name: p for name, p in battery.probes.items() if p.verdict != "seed"}
    with pytest.raises(BatteryError, match="verdict: seed"):
        _verdict_probes(type(battery)(probes, battery.media))
