"""Shared test helpers: where ../shared is, and how to skip without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
GROQ_FIXTURES = FIXTURES / "groq-2025-08-29"
CLOUDFLARE_FIXTURES = FIXTURES / "cloudflare-2025-09-02"
OLLAMA_FIXTURES = FIXTURES / "ollama-2025-08-28"
COHERE_FIXTURES = FIXTURES / "cohere-2025-09-02"

needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is absent")


def reference_verdicts(scoreboard: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(model, mode) → the reference's verdicts, in our vocabulary ("false" where the key is absent)."""
    from llmprobe.results import VERDICT_NAMES

    data = json.loads(scoreboard.read_text())
    verdicts = {}
    for scenario in data["scenarios"]:
        for key, mode in (("GenSync", "sync"), ("GenStream", "stream")):
            record = scenario.get(key)
            if record is None:
                continue
            values = {}
            for name in VERDICT_NAMES:
                value = record.get(name, False)
                values[name] = "true" if value is True else "false" if value is False else str(value)
            for model in scenario["models"]:
                verdicts[(model, mode)] = values
    return verdicts
