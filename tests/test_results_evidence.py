"""No published verdict in `results/` rests on a recording of another request.

Every results file made by replay is walked cell by cell: each probe behind a cell whose
answer came from a recording has its request rebuilt (`llmprobe explain`, as the run built
it) and sent to the strict fixture server, which answers only with a recording of the same
question (`llmprobe.questions`). The recording must exist and answer with the status the
evidence shows; a probe the replay could not answer must say "not recorded" and be unknown.
The server answers in this process (`FixtureServer.post`): what is checked is its answer, not
the HTTP that carries it, which the end-to-end tests go through.
"""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import urlsplit

import pytest

from conftest import REPO, needs_fixtures
from llmprobe.config import load_config
from llmprobe.explain import explain
from llmprobe.questions import NOT_RECORDED
from llmprobe.results_file import load
from support.configs import MEDIA_BASE_URL

pytestmark = needs_fixtures

REPLAYED = sorted(path.stem for path in (REPO / "results").glob("*.json") if path.stem != "local")


@pytest.fixture(scope="module")
def server():
    from support.fixture_server import FixtureServer

    answering = FixtureServer()
    try:
        yield answering
    finally:
        answering.close()


@pytest.fixture(scope="module")
def shipped():
    """providers.yaml, read once for every results file."""
    return load_config(REPO / "providers.yaml").providers


def base_url(server, provider: str) -> str:
    from support import recorded_gemini

    return recorded_gemini.base_url(server) if provider == "gemini" else server.base_url(provider)


@pytest.mark.parametrize("provider", REPLAYED)
def test_every_answered_probe_rests_on_a_recording_of_its_own_request(server, shipped, provider: str) -> None:
    # As tests/replay_results.py ran it: the media by URL pointed at the placeholder.
    config = dataclasses.replace(shipped[provider], image_base_url=MEDIA_BASE_URL)
    result = load(REPO / "results" / f"{provider}.json")
    checked = 0
    for model in result.models:
        if not model.probed or not model.modes:
            continue
        explanation = explain(config, result, model.id, base_url=base_url(server, provider), reason=model.reason)
        # A probe shown in several cells, or run in several trials, is one request: sent once.
        answers: dict[tuple[str, str], tuple[int, bytes]] = {}
        for mode in explanation.modes:
            for cell in mode.cells:
                for probe in cell.probes:
                    for trial in probe.trials:
                        where = f"{provider} {model.id} {mode.mode} {probe.probe}"
                        if trial.status is None:
                            continue  # never sent, or no answer: no recording behind it
                        if NOT_RECORDED in trial.reason:
                            assert trial.outcome in ("error", "unknown"), where
                            continue
                        assert probe.reproduction.body is not None, f"{where}: {probe.reproduction.note}"
                        # A follow-up is rebuilt with the expected call in place of the model's own;
                        # the question compares neither (only the tools, the choice and a tool result).
                        sent = (mode.mode, probe.probe)
                        if sent not in answers:
                            url = urlsplit(probe.reproduction.url)
                            path = f"{url.path}?{url.query}" if url.query else url.path
                            answers[sent] = server.post(path, json.dumps(probe.reproduction.body).encode())
                        status, answer = answers[sent]
                        assert not answer.startswith(NOT_RECORDED.encode()), f"{where}: {answer.decode(errors='replace')}"
                        assert status == trial.status, where
                        checked += 1
    assert checked, f"{provider}: no answered probe was checked"
