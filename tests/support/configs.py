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


#: The variable the end-to-end tests put their (fake) key in.
TEST_KEY_ENV = "LLMPROBE_TEST_KEY"


#: Where replayed runs point the media probes by URL: nothing is fetched from it, a recording
#: answers by the file's type.
MEDIA_BASE_URL = "https://images.invalid/probes"


def replayed(api: str, base_url: str, models: Sequence[str | Mapping[str, Any]], *, keyed: bool = True, **fields: Any) -> dict[str, Any]:
    """A provider answered by the test suite's fixture server from its recordings: no retries and no
    recorded 429 waited out (a recording answers once, and then the same again), and the image-URL
    probes on (the server answers them by file extension)."""
    provider: dict[str, Any] = {
        "api": api,
        "base_url": base_url,
        "max_retries": 0,
        "rate_limit_wait": 0,
        "image_base_url": MEDIA_BASE_URL,
    }
    if keyed:
        provider["api_key_env"] = TEST_KEY_ENV
    return {**provider, **fields, "models": list(models)}
