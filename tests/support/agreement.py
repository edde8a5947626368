"""Agreement of the results' `in` with the reference's, field by field (inline, url, formats per medium).

    python tests/support/agreement.py [RESULTS_DIR]   # from the repository root, with ../shared present

Prints, per provider, how many cells agree; tests/test_media.py pins the committed results' agreement.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from conftest import SAME_FORMAT  # noqa: E402
from llmprobe.results import ProviderResult  # noqa: E402
from llmprobe.results_file import load  # noqa: E402

FIXTURES = REPO.parent / "shared" / "fixtures"
#: The media the reference measures (text is always read; a row without it is not measured).
MEDIA = ("image", "audio", "video", "document")
FIELDS = ("inline", "url", "formats")

Cell = tuple[str, bool, str, str]


def recordings(provider: str) -> Path:
    (found,) = [p for p in FIXTURES.iterdir() if p.name.rsplit("-", 3)[0] == provider and p.is_dir()]
    return found


def cells(result: ProviderResult, scoreboard: Path) -> dict[Cell, tuple[object, object]]:
    """(model, reason, medium, field) → (reference's value, ours), for every row both measured."""
    found: dict[Cell, tuple[object, object]] = {}
    for scenario in json.loads(scoreboard.read_text(encoding="utf-8"))["scenarios"]:
        if "GenSync" not in scenario and "GenStream" not in scenario:
            continue
        model_id, reason = scenario["models"][0], scenario.get("reason", False)
        model = result.model(model_id, reason)
        if model is None or not model.probed or not model.modes:
            continue
        for medium in MEDIA:
            theirs = scenario.get("in", {}).get(medium, {})
            ours = model.in_.get(medium)
            values = {
                "inline": (theirs.get("inline", False), bool(ours and ours.inline)),
                "url": (theirs.get("url", False), bool(ours and ours.url)),
                "formats": (
                    sorted(theirs.get("supportedFormats", [])),
                    sorted(SAME_FORMAT.get(f, f) for f in (ours.formats if ours else [])),
                ),
            }
            for field in FIELDS:
                found[(model_id, reason, medium, field)] = values[field]
    return found


def differences(result: ProviderResult, scoreboard: Path) -> dict[Cell, tuple[object, object]]:
    return {cell: pair for cell, pair in cells(result, scoreboard).items() if pair[0] != pair[1]}


def main() -> int:
    results = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "results"
    total = agreed = 0
    for path in sorted(results.glob("*.json")):
        try:
            scoreboard = recordings(path.stem) / "scoreboard.json"
        except ValueError:
            continue
        found = cells(load(path), scoreboard)
        same = sum(1 for theirs, ours in found.values() if theirs == ours)
        total, agreed = total + len(found), agreed + same
        print(f"{path.stem:16} {same:4}/{len(found):<4} {100 * same / max(len(found), 1):5.1f}%")
    print(f"{'all':16} {agreed:4}/{total:<4} {100 * agreed / max(total, 1):5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
