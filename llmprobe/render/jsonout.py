"""The merged results as JSON, for people who build on them rather than read them."""

from __future__ import annotations

import json
from typing import TextIO

from llmprobe.render.merge import merge
from llmprobe.render.page import Page
from llmprobe.results_file import to_json


def render_json(page: Page, out: TextIO) -> None:
    """`{"providers": [...]}`, each in the out/NAME.json shape after `merge`: models in config
    order (unlisted ones last), tier and reason from the config, `probed` false for models
    listed with `probe: false` or without results, and empty generated_at and llmprobe_version
    for a provider without results. Layout, summary and speed do not apply: the data is all there.
    """
    merged = [to_json(merge(config, result)) for config, result in page.providers]
    out.write(json.dumps({"providers": merged}, indent=2, ensure_ascii=False) + "\n")
