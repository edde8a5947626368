"""The emoji markdown scoreboard: what most people will ever see of llmprobe."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TextIO

from wcwidth import wcswidth

from llmprobe.render import legend
from llmprobe.render.page import Page
from llmprobe.render.tables import Table, provider_title, scoreboard, speed_table
from llmprobe.results import ProviderResult


def render_markdown(page: Page, out: TextIO) -> None:
    """`# Scoreboard`, where the results came from, then one `## name` section per provider and
    the legend once. Several providers (or `summary=True`) get a summary table linking to the
    sections first; one provider's page is the same section on its own.
    `speed`: a `## Speed` section after the legend, latency and throughput per model and mode.

    Raises ValueError for an unknown layout or an empty provider list.
    """
    layout = page.layout
    board = scoreboard(page.providers, layout, _link, page.summary, claims=page.claims)
    blocks = ["# Scoreboard", *_provenance([result for result, _ in board.sections])]
    if board.summary is not None:
        blocks.append(_table(board.summary))
    for provider, table in board.sections:
        blocks += [f"## {provider_title(provider)}", _table(table), *_notes(table)]
    # The legend follows the last table directly, as on the reference pages.
    text = "\n\n".join(blocks) + "\n" + _legend(layout)
    speeds = speed_table([provider for provider, _ in board.sections]) if page.speed else None
    if speeds is not None:
        text += "\n## Speed\n\n" + _speed_note() + "\n\n" + _table(speeds) + "\n"
    out.write(text)


def _speed_note() -> str:
    return (
        "_From the probes' own requests, answered ones only: time to the first streamed event, whole-request latency, "
        "and streamed output speed (output tokens after the first ÷ time after the first token)._"
    )


def provenance(results: Sequence[ProviderResult]) -> list[str]:
    """When and how each provider's results were made; from the files alone, so the page is
    the same every time it is rendered from the same results."""
    runs = []
    for result in results:
        if not result.generated_at:
            continue  # a provider listed without results yet
        when = result.generated_at.replace("T", " ").removesuffix("Z") + " UTC"
        runs.append(
            f"{result.provider} probed {when} by llmprobe {result.llmprobe_version}"
            + (f", {result.source}" if result.source else "")
        )
    return runs


def _provenance(results: Sequence[ProviderResult]) -> list[str]:
    """The line that says so, or none when no provider has results yet."""
    runs = provenance(results)
    return ["_Made by `llmprobe render` from the results files: " + "; ".join(runs) + "._"] if runs else []


def anchor(heading: str) -> str:
    """GitHub's heading slug: lower-cased, punctuation and emoji dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _link(provider: ProviderResult) -> str:
    return f"[{provider.provider}](#{anchor(provider_title(provider))})"


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "|" + "".join(f" {cell}{' ' * (width - wcswidth(cell))} |" for cell, width in zip(cells, widths, strict=False))


def _table(data: Table) -> str:
    """Padded by display width so the raw file lines up in an editor.

    Each column is at least as wide as its title's UTF-8 byte length, as in the reference, so
    the header line reads the same as the reference pages'.
    """
    header = [_escape(c) for c in data.header]
    rows = [[_escape(c) for c in row] for row in data.rows]
    widths = [
        max(len(title.encode()), wcswidth(title), *(wcswidth(row[i]) for row in rows))
        for i, title in enumerate(header)
    ]
    lines = [_line(header, widths), _line(["-" * w for w in widths], widths), *(_line(r, widths) for r in rows)]
    return "\n".join(lines)


def _notes(table: Table) -> list[str]:
    """The table's notes as a list under it; a provider's message is text, never markup."""
    return ["\n".join(f"- {_text(note)}" for note in table.notes)] if table.notes else []


def _text(text: str) -> str:
    """Markdown's punctuation escaped, so a message shows as the provider wrote it."""
    return re.sub(r"([\\`*_\[\]<>|#!~&])", r"\\\1", text)


def _legend(layout: str) -> str:
    """A collapsed <details> block, so the table stays the first thing a reader sees."""
    lines = ["<details>", f"<summary>{legend.SUMMARY}</summary>", ""]
    for entry in legend.entries(layout):
        lines.append(f"- {entry.text}")
        lines += [f"    - {child}" for child in entry.children]
    lines.append("</details>")
    return "\n".join(lines) + "\n"
