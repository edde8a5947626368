"""Shared test helpers: where ../shared is, and what runs without it."""

from __future__ import annotations

import functools
import gc
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import typer.testing

from recordings.trim import MODELS
from support.cdp import browser  # noqa: F401 - the headless Chromium, a fixture for every module that drives the page

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
#: The reference's recordings: all of them in ../shared when it is there, else the trimmed copy committed
#: beside the tests (tests/recordings/README.md), so that GitHub's CI runs the comparisons too. Tests
#: that go over recordings go over the folders present, so the trimmed set generates fewer cases, not skips.
ALL_RECORDINGS = (SHARED / "fixtures").is_dir()
FIXTURES = SHARED / "fixtures" if ALL_RECORDINGS else REPO / "tests" / "recordings"
#: The reference's own scoreboard pages, which the Markdown renderer is compared with.
SEEDS = SHARED / "seeds" if ALL_RECORDINGS else FIXTURES / "seeds"

GROQ_FIXTURES = FIXTURES / "groq-2025-08-29"
CLOUDFLARE_FIXTURES = FIXTURES / "cloudflare-2025-09-02"
ANTHROPIC_FIXTURES = FIXTURES / "anthropic-2025-09-02"
OLLAMA_FIXTURES = FIXTURES / "ollama-2025-08-28"
COHERE_FIXTURES = FIXTURES / "cohere-2025-09-02"

#: A test that needs a recording only ../shared holds (a model outside the trimmed set, the whole set's
#: count). Without ../shared (GitHub's CI) such tests are not collected as skips, one per case, but
#: deselected together and counted in one line.
needs_fixtures = pytest.mark.needs_shared


# typer's CliRunner makes the whole click command from the app's function signatures again at every
# invoke (4 ms), and the suite runs the command line in-process about a thousand times: it is made
# once per app (a click command keeps nothing from one invocation to the next).
typer.testing._get_command = functools.cache(typer.testing._get_command)

#: The variables that send llmprobe's requests through a proxy (llmprobe/proxies.py).
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def recorded(recordings: str, model: str, reason: bool = False) -> bool:
    """Whether all recordings of `model` (run with reasoning if `reason`) are in the folder `recordings`:
    always with ../shared, else if the trimmed set has them. Cassette folders write a model's `:` as `-`
    and add `_thinking` for the run with reasoning."""
    return ALL_RECORDINGS or model.replace(":", "-") + ("_thinking" if reason else "") in MODELS.get(recordings, ())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_shared: needs a recording only ../shared holds (not in tests/recordings)")
    # The suite talks only to servers it starts on 127.0.0.1: not through the proxy of the machine
    # running it. The tests of proxies set their own.
    for name in PROXY_VARIABLES:
        os.environ.pop(name, None)
        os.environ.pop(name.upper(), None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers more than the cores. Many tests wait (on a local server's latency, a
    subprocess, a timeout) and a waiting worker's core is then taken by a spare one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores + 2


#: The modules that take the largest share of a worker's time, longest first (the local model's
#: decoding, then the hostile tables' runs; then modules that mostly wait, on latencies and timeouts,
#: which overlap best with work). pytest-xdist hands out whole files in collection order: a long
#: module left for last would have the other workers wait for it at the end, and small ones last
#: even the workers out.
HANDED_OUT_FIRST = (
    "test_local_model.py",
    "test_hostile_replies.py",
    "test_hostile_dialects.py",
    "test_end_to_end_openai_compatible.py",
    "test_concurrency.py",
    "test_cassettes.py",
    "test_resilience.py",
    "test_measure.py",
    "test_html.py",
    "test_launcher.py",
)
_MISSING = [name for name in HANDED_OUT_FIRST if not (Path(__file__).parent / name).is_file()]
assert not _MISSING, f"HANDED_OUT_FIRST names modules that are gone: {_MISSING}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The sort is stable, so a module's tests stay together and in their order.
    first = {name: rank for rank, name in enumerate(HANDED_OUT_FIRST)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))
    if ALL_RECORDINGS:
        return
    without = [item for item in items if item.get_closest_marker("needs_shared")]
    if without:
        config.hook.pytest_deselected(items=without)
        items[:] = [item for item in items if not item.get_closest_marker("needs_shared")]
        config.stash[_NOT_RUN] = len(without)


_NOT_RUN = pytest.StashKey[int]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection made (modules, test items, parameters) lives to the end of the run: frozen out
    of the garbage collector's sight, its full collections during the tests do not walk it every time."""
    gc.freeze()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker of pytest-xdist hands its count to the controller, which prints the summary."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["not_run"] = session.config.stash.get(_NOT_RUN, 0)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Every worker collects the same tests, so any one's count is the run's."""
    count = getattr(node, "workeroutput", {}).get("not_run", 0)
    if count:
        node.config.stash[_NOT_RUN] = count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    if config.stash.get(_NOT_RUN, 0):
        count = config.stash[_NOT_RUN]
        terminalreporter.write_line(f"{count} tests need recordings only ../shared holds, which is absent here: deselected, not run")


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


#: D26: the reference names MP3 "audio/mp3" in `supportedFormats`; llmprobe reports the registered
#: type it sends, audio/mpeg. Compared as the same format.
SAME_FORMAT = {"audio/mpeg": "audio/mp3"}


def unrecorded_by_reference(served: str) -> bool:
    """A probe no recording answers because the reference never asked it: a medium's format (D26: it
    stopped trying a medium's formats once its first ones failed, so only those were recorded), or a
    probe it never had (tool-call accuracy, schema strictness; `fixture_server.BEYOND_REFERENCE`)."""
    if served.startswith("none ") and served.endswith(" (beyond the reference)"):
        return True
    return served.startswith("none ") and "MultiModal-" in served and "MultiModal-Image-" not in served


def beyond_reference_unrecorded(results_file: Path) -> list[str]:
    """The model of each request of llmprobe's own questions (capabilities `beyond`: parallel calls,
    reasoning off) that no recording answered: the reference never asked them, so the replay cannot."""
    from llmprobe.battery import load_battery
    from llmprobe.capabilities import BEYOND_NAMES
    from llmprobe.results_file import load

    beyond = {probe.name for probe in load_battery().probes.values() if probe.verdict in BEYOND_NAMES}
    return [
        model.id
        for model in load(results_file).models
        for mode in model.modes.values()
        for e in mode.probes
        if e.probe in beyond and "not recorded" in e.reason
    ]


def reference_rows(scoreboard: Path) -> dict[tuple[str, bool, str], dict[str, str]]:
    """(model, reason, mode) → the reference's verdicts: a model run with and without reasoning is two rows."""
    from llmprobe.capabilities import REFERENCE_NAMES

    verdicts = {}
    for scenario in scenarios(scoreboard):
        reason = bool(scenario.get("reason", scenario.get("thinking", False)))
        for key, mode in (("GenSync", "sync"), ("GenStream", "stream")):
            record = scenario.get(key)
            if record is None:
                continue
            values = {}
            for name in REFERENCE_NAMES:
                value = record.get(name, False)
                values[name] = "true" if value is True else "false" if value is False else str(value)
            for model in scenario["models"]:
                verdicts[(model, reason, mode)] = values
    return verdicts


def scenarios(scoreboard: Path) -> list[dict[str, Any]]:
    """The reference's scenarios whose recordings are here: all of them with ../shared, else those of
    the trimmed set. A scenario's cassettes are in its first model's folder (`:` written `-`)."""
    kept = []
    for scenario in json.loads(scoreboard.read_text())["scenarios"]:
        if recorded(scoreboard.parent.name, scenario["models"][0], scenario.get("reason", scenario.get("thinking", False))):
            kept.append(scenario)
    return kept
