"""Regenerate the committed `results/NAME.json` of every recorded provider by strict replay.

    python tests/replay_results.py   # from the repository root, with ../shared present

Each provider runs with its shipped providers.yaml settings against the test suite's
fixture server, which answers a request only with a recording of the same question
(`llmprobe.questions`); everything else is ❔ "not recorded". One setting is added: an
`image_base_url` (the test suite's placeholder, `configs.MEDIA_BASE_URL`), so the media probes
by URL are asked too, as the recordings did; a recording answers them by the file's type. `results/local.json` is a
live run and is left alone. Then `llmprobe render --out results > SCOREBOARD.md`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

import yaml  # noqa: E402

from llmprobe.cli import app  # noqa: E402
from llmprobe.config import load_config  # noqa: E402
from support import recorded_gemini  # noqa: E402
from support.configs import MEDIA_BASE_URL  # noqa: E402
from support.fixture_server import PROVIDERS, FixtureServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"


def provenance(recordings: str) -> str:
    """The results file's `source`: what answered, shown on the scoreboard's first line."""
    return f"strict replay of the reference's recordings of {recordings.partition('-')[2]} (a request no recording asks is ❔ not recorded)"


def main() -> int:
    shipped = yaml.safe_load((REPO / "providers.yaml").read_text(encoding="utf-8"))
    for name in (*PROVIDERS, "gemini"):
        shipped["providers"][name]["image_base_url"] = MEDIA_BASE_URL
    scratch = Path(tempfile.mkdtemp(prefix="llmprobe-replay-")) / "providers.yaml"
    scratch.write_text(yaml.safe_dump(shipped, allow_unicode=True, sort_keys=False), encoding="utf-8")
    config = load_config(scratch)
    recordings = {name: provider.recordings for name, provider in PROVIDERS.items()}
    recordings["gemini"] = recorded_gemini.RECORDINGS
    with FixtureServer() as server:
        urls = {name: server.base_url(name) for name in PROVIDERS} | {"gemini": recorded_gemini.base_url(server)}
        env = {config.providers[name].api_key_env: "replayed-not-a-key" for name in urls if config.providers[name].api_key_env}
        for name, url in urls.items():
            result = CliRunner().invoke(
                app,
                ["run", "--provider", name, "--base-url", url, "--config", str(scratch), "--out", str(RESULTS)],
                env=env,
            )
            if result.exit_code not in (0, 1):
                print(f"{name}: exit {result.exit_code}\n{result.output}", file=sys.stderr)
                return 1
            path = RESULTS / f"{name}.json"
            document = json.loads(path.read_text(encoding="utf-8"))
            document["source"] = provenance(recordings[name])
            path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            print(f"{name}: written ({recordings[name]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
