"""providers.yaml: what to probe, and where.

Loaded and validated in full before any request is sent: a typo in a key must not
cost a half-finished (and paid-for) run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TIERS = ("sota", "good", "cheap")


@dataclass(frozen=True)
class ModelConfig:
    id: str
    tier: str | None = None
    #: A thinking model: 🧠 in the Mode column.
    reason: bool = False
    #: False: listed on the scoreboard (a row of '?') but never probed.
    probe: bool = True
    comment: str = ""


@dataclass(frozen=True)
class LaunchConfig:
    """How llmprobe starts a local server itself when nothing answers at base_url."""

    #: argv, with {port} and {model_path} placeholders.
    command: tuple[str, ...]
    #: Path (under base_url's host and port) polled until it answers 200.
    health_path: str = "/v1/models"
    startup_timeout: float = 120.0
    #: Python package whose installed files contain the model (found with importlib.resources).
    model_package: str = ""
    #: Glob, inside model_package, of the model file.
    model_glob: str = "*.gguf"


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    api: str
    base_url: str
    api_key_env: str = ""
    account_id_env: str = ""
    country: str = ""
    dashboard: str = ""
    models: tuple[ModelConfig, ...] = ()
    launch: LaunchConfig | None = None
    #: Requests in flight at once for this provider.
    concurrency: int = 8
    #: Retries of a request that failed for a reason unrelated to the request itself.
    max_retries: int = 2
    #: Seconds to wait for an answer (a stream counts as one answer).
    timeout: float = 120.0
    #: Where the URL-variant image probes point (files banana.jpg, banana.png, ... under it);
    #: empty: the URL variants are skipped.
    image_base_url: str = ""

    @property
    def local(self) -> bool:
        return self.country.lower() == "local"

    def model(self, model_id: str) -> ModelConfig | None:
        return next((m for m in self.models if m.id == model_id), None)


@dataclass(frozen=True)
class Config:
    path: Path
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
