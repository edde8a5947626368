"""The merged results as JSON, for people who build on them rather than read them."""

from __future__ import annotations

import json
from collections.abc import Sequence

from llmprobe.config import ProviderConfig
from llmprobe.render.merge import merge
from llmprobe.results import ProviderResult
from llmprobe.results_file import to_json


def render_json(providers: Sequence[tuple[ProviderConfig, ProviderResult | None]]) -> str:
    """`{"providers": [...]}`, each in the out/NAME.json shape after `merge`: models in config
    order (unlisted ones last), tier and reason from the config, `probed` false for models
    listed with `probe: false` or without results, and empty generated_at and llmprobe_version
    for a provider without results.
    """
    merged = [to_json(merge(config, result)) for config, result in providers]
    return json.dumps({"providers": merged}, indent=2, ensure_ascii=False) + "\n"
