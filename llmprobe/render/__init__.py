"""Rendering: results and config in, scoreboard out. Never touches the network.

Every format draws the same `Page` (providers.yaml merged with out/NAME.json) through one
signature, `page.Renderer`, and markdown and terminal draw the same cells. A format is a
module and a line in FORMATS.
"""

from importlib import import_module

from llmprobe.render.page import Renderer

#: `render --format NAME` → the module in this package and its function that draw it, in the order
#: the help lists them; `show` is "terminal". A format's module is imported when it is asked for, so
#: that every command does not load them all.
FORMATS: dict[str, tuple[str, str]] = {
    "markdown": ("markdown", "render_markdown"),
    "terminal": ("terminal", "render_terminal"),
    "json": ("jsonout", "render_json"),
    "html": ("html", "render_html"),
}


def renderer(format: str) -> Renderer:
    """The function that draws `format`, one of FORMATS."""
    module, function = FORMATS[format]
    draw: Renderer = getattr(import_module(f"{__name__}.{module}"), function)
    return draw
