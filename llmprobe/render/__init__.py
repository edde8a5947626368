"""Rendering: results and config in, scoreboard out. Never touches the network.

Every output (markdown, terminal, JSON, HTML) starts from the same `merge` of providers.yaml
with out/NAME.json, and markdown and terminal draw the same cells.
"""

from llmprobe.render.html import render_html
from llmprobe.render.jsonout import render_json
from llmprobe.render.markdown import render_markdown
from llmprobe.render.tables import LAYOUTS
from llmprobe.render.terminal import print_terminal, render_terminal

__all__ = ["LAYOUTS", "print_terminal", "render_html", "render_json", "render_markdown", "render_terminal"]
