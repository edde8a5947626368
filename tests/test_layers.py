"""Imports point one way: rendering reads results files and never loads the HTTP client.

Checked in a fresh interpreter each, since this one has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from llmprobe.render import FORMATS

#: Modules that talk to the network; rendering must not even import them.
NETWORK = ("httpx", "httpcore", "llmprobe.client")

#: Runs the command line with the arguments given, then writes the names in sys.modules to the file
#: named by the first argument (stdout is the page, and a command ends by raising SystemExit).
RUN_AND_LIST = """
import json, sys
from llmprobe.cli import app
listing, args = sys.argv[1], sys.argv[2:]
try:
    app(args)
except SystemExit as stop:
    assert not stop.code, stop.code
with open(listing, "w") as out:
    json.dump(sorted(sys.modules), out)
"""


def _network_modules(loaded: list[str]) -> list[str]:
    return [name for name in loaded if name.split(".")[0] in NETWORK or name.startswith(NETWORK)]


#: Imports the command line, then every format; prints the names in sys.modules after each.
IMPORT_CLI_THEN_FORMATS = """
import json, sys
import llmprobe.cli
cli = sorted(sys.modules)
from llmprobe.render import FORMATS, renderer
for name in FORMATS:
    renderer(name)
print(json.dumps([cli, sorted(sys.modules)]))
"""

#: What only some commands use, which the command line imports when one of them runs.
COMMANDS_OWN = ("llmprobe.jobs", "llmprobe.explain", "llmprobe.diff", "llmprobe.render.tables", "tabulate", "jsonschema")


def test_the_command_line_loads_what_a_command_needs_when_it_runs_and_rendering_no_http_client():
    done = subprocess.run([sys.executable, "-c", IMPORT_CLI_THEN_FORMATS], capture_output=True, text=True, check=True, cwd=REPO)
    cli, loaded = json.loads(done.stdout)
    assert [name for name in COMMANDS_OWN if name in cli] == []
    assert [f"llmprobe.render.{module}" for module, _ in FORMATS.values() if f"llmprobe.render.{module}" in cli] == []
    assert all(f"llmprobe.render.{module}" in loaded for module, _ in FORMATS.values())
    assert _network_modules(loaded) == []


@pytest.mark.parametrize("format", list(FORMATS))
def test_the_render_command_loads_no_http_client(format: str, tmp_path: Path):
    listing = tmp_path / "modules.json"
    args = ["render", "--format", format, "--provider", "groq", "--out", str(REPO / "results"), "--config", str(REPO / "providers.yaml")]
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, str(listing), *args], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert "groq" in done.stdout
    loaded = json.loads(listing.read_text())
    assert "llmprobe.cli" in loaded and "llmprobe.results_file" in loaded
    assert _network_modules(loaded) == []
    assert "jsonschema" not in loaded, "rendering reads verdicts, it does not check replies"
