"""Writing providers.yaml for a test, from plain data: the one writer every test uses.

Tests about the loader itself (tests/test_config.py) write their text by hand, since
line numbers and spelling are what they check; every other test only needs a valid
file, and gets it from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml


def write_providers(directory: Path, providers: Mapping[str, Mapping[str, Any]]) -> Path:
    """`directory/providers.yaml` holding `providers`; a model may be given as its bare id."""
    document = {"providers": {name: _provider(fields) for name, fields in providers.items()}}
    path = directory / "providers.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _provider(fields: Mapping[str, Any]) -> dict[str, Any]:
    provider = dict(fields)
    models: Sequence[str | Mapping[str, Any]] = provider.get("models", [])
    provider["models"] = [{"id": m} if isinstance(m, str) else dict(m) for m in models]
    return provider
