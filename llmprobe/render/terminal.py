"""The scoreboard as rich tables, for reading results without leaving the terminal.

Colour and width are the Console's business: it drops colour off a TTY and under NO_COLOR.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table as RichTable
from rich.text import Text

from llmprobe.render import legend
from llmprobe.render.page import Page
from llmprobe.render.tables import Table, provider_title, scoreboard, speed_table


def render_terminal(page: Page, out: TextIO) -> None:
    """The same tables as the markdown as rich tables, each titled with its provider (a summary
    first when there are several, or with `summary=True`), then the legend. Colour and width
    follow `out`, as rich's Console finds it (a TTY or not, NO_COLOR, COLUMNS).

    Cells of one capability measured over repeated trials show the pass rate (`💨 7/10`); latency
    and throughput follow the scoreboard, where the results have them.

    Raises ValueError for an unknown layout or an empty provider list.
    """
    layout = page.layout
    board = scoreboard(page.providers, layout, lambda p: p.provider, page.summary, rates=True, claims=page.claims)
    parts: list[RenderableType] = [] if board.summary is None else [_rich(board.summary, "Scoreboard")]
    parts += [_rich(table, provider_title(provider)) for provider, table in board.sections]
    speeds = speed_table([provider for provider, _ in board.sections])
    if speeds is not None:
        parts.append(_rich(speeds, "Speed (from the probes' own requests)"))
    parts.append(_legend(layout))
    _print(Group(*parts), out)


def _rich(data: Table, title: str) -> RichTable:
    # Text, not str: a provider's message must not be read as rich markup.
    caption = Text("\n".join(data.notes)) if data.notes else None
    table = RichTable(title=title, title_justify="left", caption=caption, caption_justify="left")
    table.add_column(data.header[0], no_wrap=True)
    # A symbol cell split over two lines would read as two cells; not wrapping also halves the time.
    for heading in data.header[1:]:
        table.add_column(heading, no_wrap=True)
    for row in data.rows:
        # Text, not str: a '[' in a model id must not be read as rich markup.
        table.add_row(*(Text(cell) for cell in row))
    return table


def _legend(layout: str) -> Text:
    text = Text(legend.SUMMARY + "\n", style="bold")
    for entry in legend.entries(layout):
        text.append(f"• {entry.text}\n")
        for child in entry.children:
            text.append(f"    ◦ {child}\n")
    return text


def _print(renderable: Group, out: TextIO) -> None:
    """Print at the tables' natural width at least: rich would otherwise shrink a wide
    scoreboard to the terminal and cut the model ids to '…'; a long line wraps instead."""
    console = Console(file=out)
    unbounded = console.options.update_width(10_000)
    widest = max(
        (Measurement.get(console, unbounded, part).maximum for part in _tables(renderable)),
        default=console.width,
    )
    wide = Console(file=out, width=max(console.width, widest), no_color=console.no_color, force_terminal=console.is_terminal)
    wide.print(renderable)


def _tables(renderable: Group) -> list[RichTable]:
    return [part for part in renderable.renderables if isinstance(part, RichTable)]
