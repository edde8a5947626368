"""What every scoreboard format draws, and the one signature a format has."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from llmprobe.claims import Claims
from llmprobe.config import ProviderConfig
from llmprobe.results import ProviderResult


@dataclass(frozen=True)
class Page:
    """One scoreboard, whatever its format: a format draws this and nothing else, so they agree."""

    #: Each provider's config (order, tiers, labels) with its results, None before its first run.
    providers: Sequence[tuple[ProviderConfig, ProviderResult | None]]
    #: One of `tables.LAYOUTS`.
    layout: str = "detailed"
    #: A summary table before the sections; None: only when there are several providers.
    summary: bool | None = None
    #: The speed section (latency and throughput) in the formats where it is optional.
    speed: bool = False
    #: Per provider, what its own model listing claims (`llmprobe models --claims`), kept beside its
    #: results: the HTML page marks the cells a claim contradicts.
    claims: Mapping[str, Claims] = field(default_factory=dict)


#: A format: writes the page to the stream. Raises ValueError for an unknown layout or no providers.
Renderer = Callable[[Page, TextIO], None]
