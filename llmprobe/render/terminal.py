"""The scoreboard as rich tables, for reading results without leaving the terminal.

Colour and width are the Console's business: it drops colour off a TTY and under NO_COLOR.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table as RichTable
from rich.text import Text

from llmprobe.config import ProviderConfig
from llmprobe.render import legend
from llmprobe.render.tables import Table, provider_title, scoreboard
from llmprobe.results import ProviderResult


def render_terminal(
    providers: Sequence[tuple[ProviderConfig, ProviderResult | None]], layout: str = "detailed"
) -> RenderableType:
    """Print the result with a rich Console. Same tables as the markdown, each titled with its
    provider (a summary first when there are several), then the legend.

    Raises ValueError for an unknown layout or an empty provider list.
    """
    board = scoreboard(providers, layout, lambda p: p.provider)
    parts: list[RenderableType] = [] if board.summary is None else [_rich(board.summary, "Scoreboard")]
    parts += [_rich(table, provider_title(provider)) for provider, table in board.sections]
    parts.append(_legend(layout))
    return Group(*parts)


def _rich(data: Table, title: str) -> RichTable:
    table = RichTable(title=title, title_justify="left")
    table.add_column(data.header[0])
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
