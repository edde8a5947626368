"""Which probes decide each verdict and each scoreboard column, and the evidence behind one cell.

Written once here so every view that explains a cell (the HTML page and `llmprobe explain`)
points at the same probes. The verdict → probe table follows `capabilities`;
the column → verdict table is read off the cell functions themselves, so a column that starts
reading another verdict is explained by it without anyone updating a list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from llmprobe.battery import Battery, BatteryError, Role, load_battery
from llmprobe.capabilities import CAPABILITIES, Decided
from llmprobe.render import cells
from llmprobe.render.cells import Cell, Line
from llmprobe.render.tables import columns
from llmprobe.results import Evidence, Modality, ModeResult, Verdict
from llmprobe.verdicts import gate_failure

#: The tool chain's roles: each step only runs when the one before went well, so all of them decide.
_CHAIN_ROLES = (Role.FORCE, Role.FORCE_FALLBACK, Role.FOLLOW_UP, Role.FOLLOW_UP_FALLBACK, Role.BIAS)


def _verdict_probes(battery: Battery) -> dict[str, tuple[str, ...]]:
    """Verdict name → the probes whose replies it is computed from, by what `capabilities` says
    decides it. Raises BatteryError for a capability of its own probes that no probe decides."""
    probes = list(battery.probes.values())
    own = battery.deciding()
    by_kind = {
        Decided.TOOL_CHAIN: tuple(p.name for p in probes if p.role in _CHAIN_ROLES),
        Decided.GATE: (battery.one(Role.GATE).name,),
        Decided.REPORTING: tuple(p.name for p in probes if p.report_usage or p.report_finish),
        Decided.REASONING: tuple(p.name for p in battery.reasoning_probes()),
    }
    decided: dict[str, tuple[str, ...]] = {}
    for c in CAPABILITIES:
        if c.decided_by is Decided.OWN:
            if c.name not in own:
                raise BatteryError(f"battery.yaml: no probe says verdict: {c.name}")
            decided[c.name] = tuple(p.name for p in own[c.name])
        else:
            decided[c.name] = by_kind[c.decided_by]
    return decided


#: Verdict name → the probes whose replies it is computed from.
VERDICT_PROBES: dict[str, tuple[str, ...]] = _verdict_probes(load_battery())

#: Columns drawn from the line's modes rather than from verdicts: a mode has a row when its
#: Text probe was answered.
_MODE_CELLS: tuple[Cell, ...] = (cells.mode_emoji, cells.mode_word)

_T = TypeVar("_T")


class _Reads(Mapping[str, _T]):
    """An empty mapping that remembers which keys were asked for."""

    def __init__(self) -> None:
        self.keys_read: list[str] = []
        self.iterated = False

    def __getitem__(self, key: str) -> _T:
        if key not in self.keys_read:
            self.keys_read.append(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        self.iterated = True
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass(frozen=True)
class Column:
    """One scoreboard column and what decides it."""

    title: str
    #: The verdict names the column's cell reads, in the order it reads them.
    verdicts: tuple[str, ...]
    #: The probes that decide it, in the order the verdict logic asks them; empty for a
    #: column nothing measures.
    probes: tuple[str, ...]


def _column(title: str, cell: Cell) -> Column:
    verdict_reads: _Reads[Verdict] = _Reads()
    inputs: _Reads[Modality] = _Reads()
    outputs: _Reads[Modality] = _Reads()
    cell(Line(modes=("sync",), in_=inputs, out=outputs, verdicts=verdict_reads))
    battery = load_battery()
    deciding = [probe for name in verdict_reads.keys_read for probe in VERDICT_PROBES[name]]
    if inputs.iterated or outputs.iterated or cell in _MODE_CELLS:
        deciding.append(battery.one(Role.GATE).name)
    if inputs.iterated:
        deciding += [probe.name for probe in battery.media]
    return Column(title, tuple(verdict_reads.keys_read), tuple(dict.fromkeys(deciding)))


def layout_columns(layout: str) -> tuple[Column, ...]:
    """Every column of the layout, in table order. Raises ValueError for an unknown layout."""
    return tuple(_column(title, cell) for title, cell in columns(layout))


def cell_evidence(mode: ModeResult, probes: Sequence[str]) -> list[Evidence]:
    """The recorded evidence of those probes in one mode, in the order they were recorded.

    A probe that never ran (a step of the tool chain after a failed one) has none. In a mode whose
    gate failed, the gate decided every cell: its evidence comes first in each."""
    battery = load_battery()
    wanted = set(probes)
    if gate_failure(mode, battery) is not None:
        wanted.add(battery.one(Role.GATE).name)
    return [evidence for evidence in mode.probes if evidence.probe in wanted]
