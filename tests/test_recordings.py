"""The trimmed recordings in tests/recordings: what trim.py lists, whole, and byte for byte the reference's.

The comparison tests trust `conftest.recorded` when ../shared is absent: a model it names must have every
recording, or a comparison would quietly cover less than it says.
"""

from __future__ import annotations

from pathlib import Path

from conftest import SHARED, needs_fixtures
from recordings.trim import HERE, MODELS, SEEDS, SINGLE_BYTES, SINGLES

#: The most the repository holds of copies of ../shared's recordings (issue 29).
BUDGET = 8 * 1024 * 1024


def copies() -> list[Path]:
    """Every recording copied here: cassettes, scoreboards and seeds, not this folder's own files."""
    return sorted(p for p in HERE.rglob("*") if p.is_file() and p.parent != HERE)


def test_every_listed_model_is_here_in_both_modes() -> None:
    for folder, models in MODELS.items():
        assert (HERE / folder / "scoreboard.json").is_file(), folder
        assert list((HERE / folder / "error-cassettes").rglob("*.yaml")), folder
        for model in models:
            names = {p.name for p in (HERE / folder / "scoreboard-cassettes" / model).glob("Gen*.yaml")}
            assert {"GenSync-Text.yaml", "GenStream-Text.yaml"} <= names, (folder, model)
    assert sorted(p.name for p in (HERE / "seeds").iterdir()) == sorted(SEEDS)


def test_only_listed_providers_and_small_single_cassettes_are_added() -> None:
    for path in copies():
        relative = path.relative_to(HERE)
        if relative.parts[0] == "seeds" or relative.parts[1] != "scoreboard-cassettes":
            continue
        folder, model = relative.parts[0], "/".join(relative.parts[2:-1])
        assert folder in MODELS, relative
        assert model in MODELS[folder] or (folder in SINGLES and path.stat().st_size < SINGLE_BYTES), relative


def test_the_copies_stay_within_the_budget() -> None:
    assert sum(path.stat().st_size for path in copies()) <= BUDGET


@needs_fixtures
def test_the_copies_are_the_references_byte_for_byte_and_listed_models_whole() -> None:
    fixtures = SHARED / "fixtures"
    for path in copies():
        relative = path.relative_to(HERE)
        source = SHARED / relative if relative.parts[0] == "seeds" else fixtures / relative
        assert path.read_bytes() == source.read_bytes(), relative
    for folder, models in MODELS.items():
        for model in models:
            ours, theirs = (root / folder / "scoreboard-cassettes" / model for root in (HERE, fixtures))
            assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir()), (folder, model)
        ours, theirs = (root / folder / "error-cassettes" for root in (HERE, fixtures))
        assert sorted(p.relative_to(ours) for p in ours.rglob("*")) == sorted(p.relative_to(theirs) for p in theirs.rglob("*"))
