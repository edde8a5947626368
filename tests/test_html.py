"""The HTML scoreboard: what it is made of, and how it behaves in a real headless Chromium."""

from __future__ import annotations

import functools
import html
import json
import os
import re
from io import StringIO
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO
from llmprobe.capabilities import NAMES
from llmprobe.claims import Claims
from llmprobe.cli import app, load_pairs
from llmprobe.config import ModelConfig, ProviderConfig, load_config
from llmprobe.dialects.declared import Claim
from llmprobe.render import cells
from llmprobe.render.evidence import (
    VERDICT_PROBES,
    cell_evidence,
    layout_columns,
)
from llmprobe.render.html import CAPABILITY_LABELS, render_html
from llmprobe.render.page import Page as ScoreboardPage
from llmprobe.render.tables import LAYOUTS, model_lines, scoreboard
from llmprobe.results import (
    Evidence,
    ModelResult,
    ModeResult,
    ProviderResult,
    Verdict,
)
from support.cdp import Page, open_page
from test_render import rendered

#: A model id, reply and provider name written to break out of the page if anything were not escaped.
HOSTILE_ID = '<img src="x" onerror="window.pwned=1">'
HOSTILE_REPLY = "</script><script>window.pwned=2</script>"


@functools.cache
def shipped_pairs() -> list[tuple[ProviderConfig, ProviderResult | None]]:
    """Read once for the module: loading every committed results file takes longer than most tests
    (no test changes what it reads)."""
    return load_pairs(load_config(REPO / "providers.yaml"), None, REPO / "results")


@functools.cache
def shipped_page(layout: str = "detailed") -> str:
    """The committed results' page with its summary, rendered once per layout for the tests that
    load it in the browser."""
    return rendered("html", shipped_pairs(), layout, True)


def hostile_pairs() -> list[tuple[ProviderConfig, ProviderResult | None]]:
    verdicts = dict.fromkeys(NAMES, "true")
    probes = [Evidence(probe="Text", outcome="pass", reason=HOSTILE_REPLY, status=200, latency_ms=12.5, attempts=1)]
    result = ProviderResult(
        provider="evil<b>",
        generated_at="2025-01-01T00:00:00Z",
        llmprobe_version="<i>0</i>",
        models=[ModelResult(id=HOSTILE_ID, modes={"sync": ModeResult(verdicts=verdicts, probes=probes)})],
    )
    config = ProviderConfig(name="evil<b>", api="openai", base_url="", models=(ModelConfig(id=HOSTILE_ID),))
    return [(config, result)]


def model_rows(pairs: list[tuple[ProviderConfig, ProviderResult | None]]) -> list[tuple[ProviderResult, ModelResult, cells.Line]]:
    """Every row the page shows, in page order, with what it was drawn from."""
    board = scoreboard(pairs, "detailed", lambda p: p.provider, summary=False)
    return [(p, model, line) for p, _ in board.sections for model in p.models for line in model_lines(model)]


# --- what the page is made of ----------------------------------------------------------------


def deciding_probes(layout: str, title: str) -> tuple[str, ...]:
    """The probes behind column `title`; KeyError for a column the layout does not have."""
    return {column.title: column.probes for column in layout_columns(layout)}[title]


def test_every_verdict_has_deciding_probes_and_a_filter_label() -> None:
    assert set(VERDICT_PROBES) == set(NAMES)
    assert all(VERDICT_PROBES.values())
    assert set(CAPABILITY_LABELS) == set(NAMES)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_verdict_shown_is_explained_by_some_column(layout: str) -> None:
    read = {name for column in layout_columns(layout) for name in column.verdicts}
    # The compact layout leaves the tool traits out (its legend has no 🧐 or 💥).
    hidden = {"toolsBiased", "toolsIndecisive"} if layout == "compact" else set()
    assert read == set(NAMES) - hidden


def test_columns_are_decided_by_the_verdicts_their_cells_read() -> None:
    detailed = {c.title: c for c in layout_columns("detailed")}
    compact = {c.title: c for c in layout_columns("compact")}
    assert detailed["Tool"].verdicts == (
        "tools", "toolCallRequired", "webSearch", "toolsBiased", "toolsIndecisive", "toolAccuracy",
    )  # fmt: skip
    assert compact["Tool"].verdicts == ("tools", "toolCallRequired", "webSearch", "toolAccuracy")
    accuracy = ("Tools-Accuracy-Order", "Tools-Accuracy-Choice", "Tools-Accuracy-NoCall")
    assert detailed["Tool"].probes[-3:] == compact["Tool"].probes[-3:] == accuracy
    assert detailed["JSON"].probes == ("JSON",)
    assert detailed["Schema"].probes == ("JSONSchema", "JSONSchema-Strict")
    assert compact["JSON"].probes == ("JSON", "JSONSchema", "JSONSchema-Strict")
    assert detailed["Text"].probes == ("Seed", "MaxTokens", "Stop")
    assert detailed["Batch"].probes == () and detailed["File"].probes == ()
    assert detailed["Mode"].probes == ("Text",)
    assert detailed["➛In"].probes[0] == "Text" and "Image-png-Inline" in detailed["➛In"].probes
    assert deciding_probes("detailed", "Probs") == ("TopLogprobs",)
    # Citations are asked for over a plain and a Markdown document; either reply may show them.
    assert deciding_probes("detailed", "Cite") == deciding_probes("compact", "Cite") == ("Citations", "Citations-text-markdown")
    with pytest.raises(KeyError):
        deciding_probes("detailed", "Nope")


def test_cell_evidence_keeps_recorded_order_and_skips_probes_never_sent() -> None:
    mode = ModeResult(probes=[Evidence("Text", "pass"), Evidence("Stop", "fail"), Evidence("Seed", "pass")])
    assert [e.probe for e in cell_evidence(mode, ("Seed", "MaxTokens", "Stop"))] == ["Stop", "Seed"]


def test_one_row_per_markdown_row_with_the_same_cells() -> None:
    pairs = shipped_pairs()
    page = shipped_page()
    rows = [
        tuple(html.unescape(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row))
        for row in re.findall(r'<tr data-i="\d+"[^>]*>(.*?)</tr>', page)
    ]
    board = scoreboard(pairs, "detailed", lambda p: p.provider, summary=True)
    assert [row[1:] for row in rows] == [row for _, table in board.sections for row in table.rows]
    assert board.summary is not None and all(html.escape(cell) in page for row in board.summary.rows for cell in row)
    assert page.startswith("<!doctype html>")


def test_results_text_is_escaped_everywhere() -> None:
    page = rendered("html", hostile_pairs())
    assert HOSTILE_ID not in page
    assert "&lt;img src=&quot;x&quot; onerror=&quot;window.pwned=1&quot;&gt;" in page
    assert "window.pwned=2</script>" not in page
    assert "evil<b>" not in page and "<i>0</i>" not in page
    # The page's own two scripts, and nothing else, open or close a script element.
    assert page.count("<script") == 2 and page.count("</script") == 2
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.DOTALL)
    assert data and json.loads(data.group(1))["rows"][0]["probes"][0]["reason"] == HOSTILE_REPLY


def test_cli_writes_the_page(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", "--format", "html", "--config", str(REPO / "providers.yaml"), "--out", str(REPO / "results")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("<!doctype html>") and result.output.rstrip().endswith("</html>")


# --- in a real browser -----------------------------------------------------------------------


VISIBLE = "Array.from(document.querySelectorAll('#board tbody tr')).filter(tr => !tr.hidden)"


def visible_models(page: Page) -> list[str]:
    return page.evaluate(f"{VISIBLE}.map(tr => tr.cells[1].textContent)")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_shipped_page_loads_offline_without_errors_and_shows_every_row(browser: Page, tmp_path: Path, layout: str) -> None:
    pairs = shipped_pairs()
    html = shipped_page(layout)
    target = tmp_path / "scoreboard.html"
    seconds = open_page(browser, target, html)
    rows = model_rows(pairs)
    tested = [row for row in rows if row[2].modes]
    assert browser.evaluate(f"{VISIBLE}.length") == len(tested)
    browser.evaluate("document.getElementById('untested').click()")
    assert browser.evaluate(f"{VISIBLE}.length") == len(rows)
    assert visible_models(browser)[0] == rows[0][1].id
    assert browser.errors == []
    # The page itself is the only request: no font, script, style or image from anywhere.
    assert browser.requests == [target.as_uri()]
    print(f"\nscoreboard.html ({layout}): {len(html.encode())} bytes, loaded in {seconds * 1000:.0f} ms")


def tool_ranks(page: Page) -> list[int]:
    """How good each visible row's Tool cell is, by its first symbol (0 best)."""
    tool_cells = page.evaluate(f"{VISIBLE}.map(tr => tr.cells[7].textContent)")
    return [next(i for i, s in enumerate(("✅", "💨", "❌", "❔")) if cell.startswith(s)) for cell in tool_cells]


def test_sorting_a_column_reorders_the_rows(browser: Page, tmp_path: Path) -> None:
    open_page(browser, tmp_path / "s.html", shipped_page())
    before = visible_models(browser)
    tool = 'Array.from(document.querySelectorAll("#board thead th")).find(th => th.textContent === "Tool")'
    browser.evaluate(f"{tool}.querySelector('button').click()")
    assert visible_models(browser) != before
    # Best first: every ✅ before any 💨, every 💨 before any ❌, unknown last.
    ranks = tool_ranks(browser)
    assert ranks == sorted(ranks) and len(set(ranks)) > 1
    assert browser.evaluate(f"{tool}.getAttribute('aria-sort')") == "ascending"
    browser.evaluate(f"{tool}.querySelector('button').click()")
    assert tool_ranks(browser) == sorted(ranks, reverse=True)
    assert browser.evaluate(f"{tool}.getAttribute('aria-sort')") == "descending"
    assert browser.errors == []


def test_capability_filter_hides_the_right_rows(browser: Page, tmp_path: Path) -> None:
    pairs = shipped_pairs()
    open_page(browser, tmp_path / "f.html", shipped_page())
    works = cells.VERDICT_CELL["true"]
    for name in ("toolCallRequired", "json"):
        browser.evaluate(
            f"(() => {{ const s = document.querySelector('select[data-verdict={name}]'); s.value = {json.dumps(works)};"
            " s.dispatchEvent(new Event('input', {bubbles: true})); })()"
        )
    expected = [
        model.id
        for _, model, line in model_rows(pairs)
        if line.modes and all(cells.verdict(name)(line) == works for name in ("toolCallRequired", "json"))
    ]
    shown = [m.removesuffix("🥇").removesuffix("🥈").removesuffix("🥉") for m in visible_models(browser)]
    assert shown == expected, (shown, expected)
    assert 0 < len(expected) < len(model_rows(pairs))
    browser.evaluate(
        "(() => { const f = document.getElementById('filters'); f.elements.provider.value = 'local';"
        " f.dispatchEvent(new Event('input')); })()"
    )
    assert browser.evaluate(f"{VISIBLE}.every(tr => tr.cells[0].textContent.startsWith('local'))")
    browser.evaluate(
        "(() => { const f = document.getElementById('filters'); f.elements.provider.value = '';"
        " document.querySelectorAll('select[data-verdict]').forEach(s => { s.value = ''; });"
        " f.elements.q.value = 'QWEN'; f.dispatchEvent(new Event('input')); })()"
    )
    qwen = [m.id for _, m, line in model_rows(pairs) if line.modes and "qwen" in m.id.lower()]
    shown = [m.removesuffix("🥇").removesuffix("🥈").removesuffix("🥉") for m in visible_models(browser)]
    assert qwen and shown == qwen
    assert browser.errors == []


def test_clicking_a_cell_shows_its_evidence(browser: Page, tmp_path: Path) -> None:
    pairs = shipped_pairs()
    open_page(browser, tmp_path / "e.html", shipped_page())
    _, model, line = model_rows(pairs)[0]
    browser.evaluate("document.querySelector('#board tbody tr').cells[7].click()")  # Tool
    assert browser.evaluate("document.getElementById('evidence').open") is True
    text = browser.evaluate("document.getElementById('evidence').innerText")
    tool_probes = cell_evidence(model.modes[line.modes[0]], deciding_probes("detailed", "Tool"))
    assert tool_probes
    for evidence in tool_probes:
        assert f"{evidence.probe}: {evidence.outcome}" in text
        assert evidence.reason in text
    assert "Latency (ms)" in text and "Attempts" in text
    assert f"llmprobe explain '{pairs[0][0].name}' '{model.id}' --mode {line.modes[0]} --column 'Tool'" in text
    assert "Seed:" not in text  # another column's probe
    assert browser.errors == []


def test_a_contradicted_cell_says_which_claim_it_contradicts(browser: Page, tmp_path: Path) -> None:
    verdicts = {**dict.fromkeys(NAMES, Verdict.TRUE), "tools": Verdict.FALSE}
    modes = {"sync": ModeResult(verdicts=verdicts, probes=[Evidence(probe="Text", outcome="pass", status=200)])}
    result = ProviderResult("router", "2026-12-07T00:00:00Z", "test", [ModelResult(id="m", modes=modes)])
    config = ProviderConfig(name="router", api="openai", base_url="", models=(ModelConfig(id="m"),))
    kept = Claims("router", "2026-12-07T01:00:00Z", "test", {"m": [Claim("supported_parameters: tools", "tools")]})
    page = StringIO()
    render_html(ScoreboardPage([(config, result)], "detailed", True, claims={"router": kept}), page)
    open_page(browser, tmp_path / "c.html", page.getvalue())
    tool = [column.title for column in layout_columns("detailed")].index("Tool")
    marked = "Array.from(document.querySelectorAll('#board td.contradicted')).map((td) => Number(td.dataset.c))"
    assert browser.evaluate(marked) == [tool]
    browser.evaluate("document.querySelector('#board td.contradicted').click()")
    text = browser.evaluate("document.getElementById('evidence-body').innerText")
    assert text.startswith("contradicts the provider's listing: supported_parameters: tools (declared yes")
    assert browser.errors == []


def test_keyboard_reaches_a_cell_opens_and_closes_its_evidence(browser: Page, tmp_path: Path) -> None:
    open_page(browser, tmp_path / "k.html", shipped_page())
    browser.evaluate("document.querySelector('#board td[tabindex=\"0\"]').focus()")
    browser.press("ArrowRight")
    browser.press("ArrowDown")
    assert browser.evaluate("document.activeElement.dataset.c") == "1"
    browser.press("Enter")
    assert browser.evaluate("document.getElementById('evidence').open") is True
    assert "➛In" in browser.evaluate("document.getElementById('evidence-title').textContent")
    browser.press("Escape")
    assert browser.evaluate("document.getElementById('evidence').open") is False
    assert browser.evaluate("document.activeElement.dataset.c") == "1"
    assert browser.errors == []


def test_hostile_results_render_as_text(browser: Page, tmp_path: Path) -> None:
    target = tmp_path / "h.html"
    open_page(browser, target, rendered("html", hostile_pairs()))
    browser.evaluate("document.querySelector('#board tbody tr').cells[2].click()")
    assert browser.evaluate("window.pwned === undefined") is True
    assert visible_models(browser) == [HOSTILE_ID]
    assert HOSTILE_REPLY in browser.evaluate("document.getElementById('evidence').innerText")
    assert browser.requests == [target.as_uri()]
    assert browser.errors == []


def test_themes_follow_the_system(browser: Page, tmp_path: Path) -> None:
    # One load: the page follows the system's scheme as it changes, as well as at load.
    open_page(browser, tmp_path / "themes.html", shipped_page())
    colours = {}
    for scheme in ("light", "dark"):
        browser.send("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}])
        colours[scheme] = browser.evaluate("getComputedStyle(document.body).backgroundColor")
    browser.send("Emulation.setEmulatedMedia", features=[])
    assert colours == {"light": "rgb(255, 255, 255)", "dark": "rgb(13, 17, 23)"}


def test_phone_width_and_screenshots(browser: Page, tmp_path: Path) -> None:
    """Saved as test artifacts. LLMPROBE_SCREENSHOT=docs/scoreboard.png remakes the README's
    (then `pngquant --quality 60-85` keeps it small)."""
    open_page(browser, tmp_path / "p.html", shipped_page(), width=390)
    # The tables scroll inside their boxes; the page itself is no wider than the phone.
    assert browser.evaluate("document.documentElement.scrollWidth") <= 390
    browser.screenshot(tmp_path / "scoreboard-phone.png")
    open_page(browser, tmp_path / "w.html", shipped_page(), width=1280)
    shot = Path(os.environ.get("LLMPROBE_SCREENSHOT") or tmp_path / "scoreboard.png")
    browser.screenshot(shot)
    browser.evaluate("document.querySelector('#board tbody tr').cells[7].click()")
    browser.screenshot(tmp_path / "scoreboard-evidence.png")
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in (shot, tmp_path / "scoreboard-evidence.png"))
    print(f"\nscreenshots: {shot} and {tmp_path}/scoreboard-phone.png, scoreboard-evidence.png")
