"""A model whose Text probe (the gate) fails says so in every output.

One run per way of failing, against a fake provider that answers every request of the model
`broken` the same way (with `max_retries: 0`): the run's exit status and summary, the results
file, and the markdown, terminal and HTML scoreboards, where the row must not look like the
`unprobed` model's row of `?`.
"""

from __future__ import annotations

import dataclasses
import html
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from llmprobe.battery import load_battery
from llmprobe.capabilities import NAMES
from llmprobe.cli import app
from llmprobe.results import Evidence, ModeResult, Verdict
from llmprobe.results_file import load
from llmprobe.verdicts import gate_failure
from support.cdp import open_page
from support.configs import write_providers
from support.fake_openai import Canned, FakeOpenAI, Wait, json_response

KEY = "sk-test-0123456789abcdefghijklmnop"
#: Released when the module ends, so no server thread waits for it any longer.
NEVER = threading.Event()


@dataclass(frozen=True)
class Case:
    answer: Canned
    #: What every cell of the row shows: ❌ refused, ❔ not measured.
    symbol: str
    exit_code: int
    #: The evidence's reason, as every output quotes it.
    reason: str
    #: The provider's `timeout:`. Short only where the case is the timeout: elsewhere a busy machine
    #: could make a slow first answer a timeout, and the case would test the wrong failure.
    timeout: float = 30.0


def envelope(status: int, message: str, **fields: Any) -> Canned:
    return json_response({"error": {"message": message, **fields}}, status=status)


CASES = {
    "500-with-body": Case(
        envelope(500, "unknown error in the model inference server", type="server_error"),
        "❔",
        1,
        "HTTP 500: unknown error in the model inference server",
    ),
    "500-without-body": Case(
        Canned(500, {"Content-Type": "text/html"}, b"<html><head><title>Internal Server Error</title></head></html>"),
        "❔",
        1,
        "HTTP 500: Internal Server Error",
    ),
    "400": Case(envelope(400, "this model only takes <audio> | *nothing* else", type="invalid_request_error"), "❌", 0, "HTTP 400: this model only takes <audio> | *nothing* else"),
    "401": Case(envelope(401, "Invalid API Key", code="invalid_api_key"), "❔", 1, "HTTP 401: Invalid API Key (invalid_api_key)"),
    "timeout": Case(Canned(200, {"Content-Type": "application/json"}, [Wait(NEVER, 30)]), "❔", 1, "transport: timed out: no complete answer within 0.5s", 0.5),
}
MODES = {"sync": "Sync", "stream": "Stream"}


@pytest.fixture(scope="module", params=list(CASES))
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, Path, Any]:
    case = CASES[request.param]
    tmp = tmp_path_factory.mktemp(request.param)
    with FakeOpenAI(lambda r: case.answer) as server:
        provider = {
            "api": "openai",
            "base_url": server.base_url,
            "api_key_env": "FAKE_API_KEY",
            "max_retries": 0,
            "timeout": case.timeout,
            "models": ["broken", {"id": "unprobed", "probe": False}],
        }
        config = write_providers(tmp, {"fake": provider})
        result = CliRunner().invoke(
            app, ["run", "-p", "fake", "--config", str(config), "--out", str(tmp / "out")], env={"FAKE_API_KEY": KEY}
        )
    return case, config, result


@pytest.fixture(scope="module", autouse=True)
def release_waiting_servers() -> Any:
    yield
    NEVER.set()


def render(config: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--config", str(config), "--out", str(config.parent / "out")])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_exit_status_and_the_summary_name_the_model(run: tuple[Case, Path, Any]) -> None:
    case, _, result = run
    assert result.exit_code == case.exit_code, result.output
    assert "Traceback" not in result.output
    how = "❌ Text refused" if case.symbol == "❌" else "❔ Text not measured"
    summary = result.stderr[result.stderr.index("probed 1 model(s)") :]
    for word in MODES.values():
        assert f"fake broken ({word}): {how}: {case.reason}" in summary, result.stderr


def test_the_results_file_keeps_the_gate_s_answer(run: tuple[Case, Path, Any]) -> None:
    case, config, _ = run
    model = load(config.parent / "out" / "fake.json").model("broken")
    assert model is not None and set(model.modes) == set(MODES)
    for mode in model.modes.values():
        failure = gate_failure(mode, load_battery())
        assert failure is not None and failure.refused == (case.symbol == "❌")
        assert failure.evidence.reason.startswith(case.reason)
        # Refused: no record, as in the reference; not measured: every verdict unknown.
        assert mode.verdicts == ({} if failure.refused else dict.fromkeys(NAMES, Verdict.UNKNOWN))
    # Nothing was measured, so the model is not said to take text in.
    assert model.in_ == {}


def row_cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_markdown_rows_show_the_failure_and_a_note_says_how(run: tuple[Case, Path, Any]) -> None:
    case, config, _ = run
    page = render(config, "render", "-p", "fake")
    lines = page.splitlines()
    header = row_cells(next(line for line in lines if line.startswith("| Model ")))
    broken = [dict(zip(header, row_cells(line), strict=True)) for line in lines if line.startswith("| broken ")]
    assert [row["Mode"] for row in broken] == ["🕰️", "📡"]
    # Every measured column says it, Text included; nothing is left as "?" (Batch and File are never measured).
    for row in broken:
        assert {title: cell for title, cell in row.items() if title not in ("Model", "Mode", "Batch", "File")} == dict.fromkeys(
            header[2:-10] + ["Cite", "Text", "Probs", "Limits", "Usage", "Finish", "Parallel", "Think"], case.symbol
        )
    (unprobed,) = [row_cells(line) for line in lines if line.startswith("| unprobed ")]
    assert set(unprobed[1:]) == {"?"}
    how = "❌ Text refused" if case.symbol == "❌" else "❔ Text not measured"
    # The provider's words as it wrote them, once the markdown is read: no markup of theirs takes effect.
    shown = MarkdownIt("commonmark").enable("table").render(page)
    for word in MODES.values():
        assert f"<li>broken ({word}): {how}: {html.escape(case.reason, quote=False)}" in shown


def test_terminal_table_shows_the_failure_and_the_note(run: tuple[Case, Path, Any]) -> None:
    case, config, _ = run
    text = render(config, "show", "-p", "fake")
    rows = [line for line in text.splitlines() if "broken" in line and "│" in line]
    assert len(rows) == 2 and all(case.symbol in row and "?" not in row for row in rows)
    for word in MODES.values():
        assert f"broken ({word}): " in text
    assert case.reason in " ".join(text.split())


def test_html_lists_the_note_and_every_cell_opens_the_gate_s_evidence(run: tuple[Case, Path, Any], browser: Any, tmp_path: Path) -> None:
    case, config, _ = run
    page = render(config, "render", "-p", "fake", "--format", "html")
    assert f"fake · broken (Sync): {html.escape(case.symbol)}" in page and html.escape(case.reason) in page
    open_page(browser, tmp_path / "gate.html", page)
    cells = browser.evaluate("Array.from(document.querySelector('#board tbody tr').cells).map(c => c.textContent)")
    assert cells[1] == "broken" and set(cells[3:]) <= {case.symbol, "❌"} and cells[-6] == case.symbol  # Text
    browser.evaluate("document.querySelector('#board tbody tr').cells[5].click()")  # JSON
    shown = browser.evaluate("document.getElementById('evidence').innerText")
    outcome = "unsupported" if case.symbol == "❌" or case.reason.startswith("HTTP 401") else "error"
    assert f"Text: {outcome}" in shown and case.reason in shown
    assert browser.errors == []


# --- reading the fact back from a results file, whatever it holds -----------------------------

REFUSED = Evidence(probe="Text", outcome="unsupported", reason="HTTP 400: no", status=400)
ANSWERED = Evidence(probe="Text", outcome="pass", reason="'Hello'", status=200)
UNKNOWN = dict.fromkeys(NAMES, Verdict.UNKNOWN)


@pytest.mark.parametrize(
    "mode, refused",
    [
        (ModeResult(verdicts={}, probes=[REFUSED]), True),
        (ModeResult(verdicts=UNKNOWN, probes=[REFUSED]), False),
        # Repeated trials: the last one's answer is quoted.
        (ModeResult(verdicts={}, probes=[dataclasses.replace(REFUSED, reason="first"), dataclasses.replace(REFUSED, trial=2)]), True),
        # Measured, or a file whose verdicts do not follow from its evidence: no gate failure to show.
        (ModeResult(verdicts={**UNKNOWN, "json": Verdict.FALSE}, probes=[REFUSED]), None),
        (ModeResult(verdicts={}, probes=[]), None),
        (ModeResult(verdicts=UNKNOWN, probes=[ANSWERED]), None),
        (ModeResult(verdicts={}, probes=[REFUSED, dataclasses.replace(ANSWERED, trial=2)]), None),
    ],
)
def test_gate_failure_is_read_from_the_mode_alone(mode: ModeResult, refused: bool | None) -> None:
    failure = gate_failure(mode, load_battery())
    if refused is None:
        assert failure is None
    else:
        assert failure is not None and failure.refused is refused and failure.evidence is mode.probes[-1]
