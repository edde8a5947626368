"""What changed between two results files of one provider, so a scheduled run can say what got worse.

A verdict that went to or from "unknown" or "inexpressible" (or appeared or vanished)
is reported as "unmeasured", neither worse nor better: "unknown" means the question
could not be asked (network errors after retries), and a flaky network is not a
regression of the model, nor is its recovery an improvement; "inexpressible" means the
dialect has no way to ask it, which says nothing about the model either.

When both files measured a capability over repeated trials (`run --repeat`), their pass
rates are compared instead: a change counts as worse or better only when the 95% intervals
of the two rates do not overlap; a verdict that changed within them is "noise".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from tabulate import tabulate

from llmprobe import capabilities
from llmprobe.capabilities import FAULTS
from llmprobe.errors import LlmprobeError
from llmprobe.results import MODES, ModelResult, ProviderResult, Rate, Verdict, row_key, row_label, twinned

Change = Literal["worse", "better", "unmeasured", "noise"]
CHANGES: tuple[Change, ...] = ("worse", "better", "unmeasured", "noise")


class DiffError(LlmprobeError):
    """The two files cannot be compared (they are about different providers)."""


@dataclass(frozen=True)
class VerdictChange:
    model: str
    mode: str
    capability: str
    #: None when the verdict is absent on that side (the mode's Text probe failed, a new capability).
    old: Verdict | None
    new: Verdict | None
    #: The pass rates, when that side measured the capability over repeated trials.
    old_rate: Rate | None = None
    new_rate: Rate | None = None

    @property
    def change(self) -> Change:
        if self.old is None or self.new is None:
            return "unmeasured"
        old, new = Verdict(self.old).goodness(self.capability), Verdict(self.new).goodness(self.capability)
        if old is None or new is None:
            return "unmeasured"
        if self.old_rate is not None and self.new_rate is not None:
            if self.old_rate.overlaps(self.new_rate):
                return "noise"
            # A higher rate of "true" is better, except for a fault.
            higher = self.new_rate.high < self.old_rate.low
            return "better" if higher == (self.capability in FAULTS) else "worse"
        return "better" if new > old else "worse"


@dataclass(frozen=True)
class ModeChange:
    model: str
    mode: str


@dataclass
class ResultsDiff:
    provider: str
    old_generated_at: str
    new_generated_at: str
    changes: list[VerdictChange] = field(default_factory=list)
    models_added: list[str] = field(default_factory=list)
    models_removed: list[str] = field(default_factory=list)
    modes_added: list[ModeChange] = field(default_factory=list)
    modes_removed: list[ModeChange] = field(default_factory=list)

    @property
    def worse(self) -> bool:
        """True when some capability got worse: what fails a CI check."""
        return any(c.change == "worse" for c in self.changes)

    def count(self, change: Change) -> int:
        return sum(1 for c in self.changes if c.change == change)


def diff_results(old: ProviderResult, new: ProviderResult) -> ResultsDiff:
    """Every verdict that differs between `old` and `new`, models and modes that came or went."""
    if old.provider != new.provider:
        raise DiffError(f"the files hold results of different providers ({old.provider} and {new.provider})")
    # A model listed twice (reasoning off and on) is two rows; `_thinking` names the second.
    twins = twinned([m.id for m in old.models], [m.id for m in new.models])
    old_models = {row_key(m.id, m.reason, twins): m for m in old.models}
    new_models = {row_key(m.id, m.reason, twins): m for m in new.models}
    result = ResultsDiff(
        old.provider,
        old.generated_at,
        new.generated_at,
        models_added=sorted(row_label(*key, twins) for key in new_models.keys() - old_models.keys()),
        models_removed=sorted(row_label(*key, twins) for key in old_models.keys() - new_models.keys()),
    )
    for key in sorted(old_models.keys() & new_models.keys()):
        _diff_model(old_models[key], new_models[key], result, row_label(*key, twins))
    return result


def _diff_model(old: ModelResult, new: ModelResult, into: ResultsDiff, label: str) -> None:
    for mode in _ordered(old.modes.keys() | new.modes.keys(), MODES):
        if mode not in old.modes:
            into.modes_added.append(ModeChange(label, mode))
        elif mode not in new.modes:
            into.modes_removed.append(ModeChange(label, mode))
        else:
            before, after = old.modes[mode].verdicts, new.modes[mode].verdicts
            rates_before, rates_after = old.modes[mode].rates, new.modes[mode].rates
            for name in _ordered(before.keys() | after.keys(), capabilities.NAMES):
                change = VerdictChange(
                    label, mode, name, before.get(name), after.get(name), rates_before.get(name), rates_after.get(name)
                )
                # Rates that moved apart are a change even when both verdicts read "flaky".
                moved = change.old_rate is not None and change.new_rate is not None and change.change in ("worse", "better")
                if change.old != change.new or moved:
                    into.changes.append(change)


def _ordered(names: set[str], canonical: tuple[str, ...]) -> list[str]:
    """The canonical order of the results file, then any names it does not know, alphabetically."""
    return sorted(names, key=lambda n: (canonical.index(n) if n in canonical else len(canonical), n))


def render_text(diff: ResultsDiff) -> str:
    """A plain table, readable in a terminal and in a pull request's code block."""
    lines = [
        f"{diff.provider}: {diff.old_generated_at} -> {diff.new_generated_at}: "
        f"{diff.count('worse')} worse, {diff.count('better')} better, {diff.count('unmeasured')} unmeasured"
        + (f", {diff.count('noise')} within noise" if diff.count("noise") else "")
    ]
    if diff.changes:
        rows = [
            (c.model, c.mode, c.capability, _shown(c.old, c.old_rate), _shown(c.new, c.new_rate), c.change)
            for c in diff.changes
        ]
        lines += ["", tabulate(rows, headers=("model", "mode", "capability", "old", "new", "change"), tablefmt="plain")]
    listed = [
        ("models added", diff.models_added),
        ("models removed", diff.models_removed),
        ("modes added", [f"{m.model} ({m.mode})" for m in diff.modes_added]),
        ("modes removed", [f"{m.model} ({m.mode})" for m in diff.modes_removed]),
    ]
    for title, items in listed:
        if items:
            lines += ["", f"{title}:", *(f"  {item}" for item in items)]
    return "\n".join(lines) + "\n"


def _shown(verdict: Verdict | None, rate: Rate | None = None) -> str:
    if verdict is None:
        return "-"
    return str(verdict) if rate is None else f"{verdict} {rate}"


def render_json(diff: ResultsDiff) -> str:
    payload: dict[str, Any] = {
        "provider": diff.provider,
        "old_generated_at": diff.old_generated_at,
        "new_generated_at": diff.new_generated_at,
        "worse": diff.worse,
        "counts": {change: diff.count(change) for change in CHANGES},
        "changes": [
            {
                "model": c.model,
                "mode": c.mode,
                "capability": c.capability,
                "old": c.old,
                "new": c.new,
                "old_rate": None if c.old_rate is None else str(c.old_rate),
                "new_rate": None if c.new_rate is None else str(c.new_rate),
                "change": c.change,
            }
            for c in diff.changes
        ],
        "models_added": diff.models_added,
        "models_removed": diff.models_removed,
        "modes_added": [{"model": m.model, "mode": m.mode} for m in diff.modes_added],
        "modes_removed": [{"model": m.model, "mode": m.mode} for m in diff.modes_removed],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
