"""Shared test helpers: where ../shared is, and how to skip without it."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
GROQ_FIXTURES = FIXTURES / "groq-2025-08-29"
CLOUDFLARE_FIXTURES = FIXTURES / "cloudflare-2025-09-02"
ANTHROPIC_FIXTURES = FIXTURES / "anthropic-2025-09-02"
OLLAMA_FIXTURES = FIXTURES / "ollama-2025-08-28"
COHERE_FIXTURES = FIXTURES / "cohere-2025-09-02"

needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is absent")


def default_sigint() -> None:
    """`preexec_fn` for a child a test interrupts with SIGINT. A shell that ignores SIGINT (a
    background job, some CI runners) passes that on to pytest and through exec to the child,
    whose Python then never raises KeyboardInterrupt; the child must get the default back.
    (One system call between fork and exec, taking no lock: safe beside the tests' server threads.)"""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def reference_verdicts(scoreboard: Path, thinking: bool | None = None) -> dict[tuple[str, str], dict[str, str]]:
    """(model, mode) → the reference's verdicts, in our vocabulary ("false" where the key is absent).

    `thinking` keeps only the scenarios run with (True) or without (False) reasoning, for
    models the reference listed both ways.
    """
    rows = reference_rows(scoreboard).items()
    return {(model, mode): verdicts for (model, reason, mode), verdicts in rows if thinking in (None, reason)}


def reference_rows(scoreboard: Path) -> dict[tuple[str, bool, str], dict[str, str]]:
    """(model, reason, mode) → the reference's verdicts: a model run with and without reasoning is two rows."""
    from llmprobe.results import VERDICT_NAMES

    data = json.loads(scoreboard.read_text())
    verdicts = {}
    for scenario in data["scenarios"]:
        reason = bool(scenario.get("reason", scenario.get("thinking", False)))
        for key, mode in (("GenSync", "sync"), ("GenStream", "stream")):
            record = scenario.get(key)
            if record is None:
                continue
            values = {}
            for name in VERDICT_NAMES:
                value = record.get(name, False)
                values[name] = "true" if value is True else "false" if value is False else str(value)
            for model in scenario["models"]:
                verdicts[(model, reason, mode)] = values
    return verdicts
