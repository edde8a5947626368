"""Rendering: results and config in, scoreboard out. Never touches the network.

Every format draws the same `Page` (providers.yaml merged with out/NAME.json) through one
signature, `page.Renderer`, and markdown and terminal draw the same cells. A format is a
module and a line in FORMATS.
"""

from llmprobe.render import html, jsonout, markdown, terminal
from llmprobe.render.page import Renderer

#: `render --format NAME`, in the order the help lists them; `show` is "terminal".
FORMATS: dict[str, Renderer] = {
    "markdown": markdown.render_markdown,
    "terminal": terminal.render_terminal,
    "json": jsonout.render_json,
    "html": html.render_html,
}
