"""The `llmprobe` command line.

Nothing but the requested document goes to stdout; progress, diagnostics and
the run summary go to stderr. Expected failures (bad config, unknown provider,
missing key, unreadable results) are one line and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from llmprobe import __version__, results_file
from llmprobe import claims as claims_file
from llmprobe.budget import Budget
from llmprobe.config import Config, ProviderConfig, load_config
from llmprobe.credentials import credentials_hint
from llmprobe.errors import ApiError, ConfigError, ErrorKind, LlmprobeError
from llmprobe.render import FORMATS, renderer
from llmprobe.render.merge import listing_of
from llmprobe.render.page import Page
from llmprobe.results import ProviderResult
from llmprobe.results_file import ResultsError

if TYPE_CHECKING:
    from llmprobe.jobs import ProviderJob

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Find out, by asking, what each LLM provider and model really supports.",
)
err = Console(stderr=True)

CONFIG_OPTION = typer.Option(Path("providers.yaml"), "--config", metavar="PATH", help="Providers file.")
OUT_DEFAULT = Path("out")
OUT_OPTION = typer.Option(OUT_DEFAULT, "--out", metavar="DIR", help="Folder of results files (NAME.json).")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmprobe {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Find out, by asking, what each LLM provider and model really supports."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """One line on stderr, unwrapped, so scripts and CI logs can grep it."""
    typer.echo(f"llmprobe: error: {message}", err=True)
    return typer.Exit(code)


def select_providers(config: Config, names: list[str]) -> list[ProviderConfig]:
    unknown = [n for n in names if n not in config.providers]
    if unknown:
        known = ", ".join(config.providers) or "none"
        raise ConfigError(f"unknown provider {unknown[0]!r} in {config.path} (configured: {known})")
    return [config.providers[n] for n in names]


def parse_base_urls(values: list[str], providers: list[ProviderConfig]) -> dict[str, str]:
    """`--base-url URL` for one provider, `--base-url NAME=URL` for several."""
    urls: dict[str, str] = {}
    names = {p.name for p in providers}
    for value in values:
        name, sep, url = value.partition("=")
        if sep and name in names:
            urls[name] = url
        elif len(providers) == 1 and "://" in value:
            urls[providers[0].name] = value
        else:
            raise ConfigError(f"--base-url {value!r}: use NAME=URL with one of {', '.join(sorted(names))}")
    return urls


@app.command()
def run(
    provider: list[str] = typer.Option(..., "--provider", "-p", metavar="NAME", help="Provider to probe (repeatable)."),
    model: list[str] | None = typer.Option(None, "--model", "-m", metavar="ID", help="Only these models (repeatable)."),
    mode: str = typer.Option("both", "--mode", metavar="MODE", help="sync, stream or both."),
    base_url: list[str] | None = typer.Option(
        None,
        "--base-url",
        metavar="URL",
        help="Override the provider's URL (proxies, emulators); NAME=URL with several providers.",
    ),
    concurrency: int | None = typer.Option(None, "--concurrency", min=1, metavar="N", help="Requests in flight per provider."),
    record: Path | None = typer.Option(
        None, "--record", metavar="DIR", help="Record every HTTP exchange as cassettes in DIR."
    ),
    replay: Path | None = typer.Option(
        None, "--replay", metavar="DIR", help="Answer every request from cassettes in DIR, offline."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Only the models an earlier run left unfinished (in out/NAME.json) or whose Text got no answer."
    ),
    repeat: int = typer.Option(
        1, "--repeat", min=1, metavar="N", help="Run each mode's probes N times, one trial after another: verdicts become rates."
    ),
    budget_tokens: int | None = typer.Option(
        None, "--budget-tokens", min=1, metavar="N", help="Send no request that would pass N tokens (in + out) for the whole run."
    ),
    budget_usd: float | None = typer.Option(
        None, "--budget-usd", min=0, metavar="X", help="Send no request that would pass X US dollars (needs every model's price)."
    ),
    dry: bool = typer.Option(False, "--dry-run", help="Print the requests (and likely tokens) per provider; send nothing."),
    config: Path = CONFIG_OPTION,
    out: Path = OUT_OPTION,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="A line per request."),
) -> None:
    """Run the probe battery against the configured models and write out/NAME.json.

    Exit status: 0 when every probe got an answer, 1 when some verdicts could not be
    measured (or a provider refused the key, or the budget stopped the run), 2 for a usage error."""
    # Imported here, by the commands that talk to providers: `render` never loads the HTTP client.
    # Each command imports what only it uses, so that none starts by loading every other's modules.
    from llmprobe.jobs import dry_run, plan_job, run_jobs
    from llmprobe.progress import RunProgress

    try:
        if mode not in ("sync", "stream", "both"):
            raise ConfigError(f"--mode {mode!r}: use sync, stream or both")
        if record and replay:
            raise ConfigError("--record and --replay exclude each other")
        cfg = load_config(config)
        providers = select_providers(cfg, provider)
        modes = ("sync", "stream") if mode == "both" else (mode,)
        if model:
            listed = {m.id for p in providers for m in p.models}
            missing = [m for m in model if m not in listed]
            if missing:
                raise ConfigError(f"--model {missing[0]!r} is not configured for {', '.join(provider)}")
        if budget_usd is not None:
            chosen = [(p, m) for p in providers for m in p.models if m.probe and (not model or m.id in model)]
            unpriced = [f"{p.name}/{m.id}" for p, m in chosen if p.price_of(m) is None]
            if unpriced:
                problem = f"{unpriced[0]} has none (providers.yaml `price:`)"
                raise ConfigError(f"--budget-usd needs a price for every model probed; {problem}")
        if dry:
            for line in dry_run(providers, model or [], modes, repeat, out, resume):
                typer.echo(line)
            raise typer.Exit(0)
        urls = parse_base_urls(base_url or [], providers)
        jobs = [plan_job(p, model or [], urls.get(p.name), replay, out, resume) for p in providers]
        progress = RunProgress(err, verbose=verbose)
        # SIGTERM (CI cancelling, `kill`) unwinds like Ctrl-C: results saved, local server stopped.
        signal.signal(signal.SIGTERM, _interrupt)
        budget = Budget(budget_tokens, budget_usd) if budget_tokens is not None or budget_usd is not None else None
        ok = asyncio.run(run_jobs(jobs, modes, out, record, replay, concurrency, progress, repeat, budget))
    except LlmprobeError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        again = " ".join(f"--provider {p}" for p in provider)
        message = f"interrupted; finished models are saved in {out}/, `llmprobe run {again} --resume` finishes the rest"
        raise fail(message, 130) from None
    raise typer.Exit(0 if ok else 1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def load_pairs(cfg: Config | None, provider: str | None, out: Path) -> list[tuple[ProviderConfig, ProviderResult | None]]:
    """Each selected provider with its results (None when it has no results file yet).

    Without a usable config (`cfg` None) the results files speak for themselves: every
    out/NAME.json, its models in the order and with the tiers it recorded.
    """
    pairs: list[tuple[ProviderConfig, ProviderResult | None]]
    if cfg is None:
        paths = [out / f"{provider}.json"] if provider else sorted(out.glob("*.json"))
        found = [results_file.load(path) for path in paths if path.exists()]
        pairs = [(listing_of(result), result) for result in found]
    else:
        providers = select_providers(cfg, [provider]) if provider else list(cfg.providers.values())
        pairs = []
        for p in providers:
            path = out / f"{p.name}.json"
            pairs.append((p, results_file.load(path) if path.exists() else None))
        # Without --provider, the page shows every provider that has results.
        if not provider:
            pairs = [(p, r) for p, r in pairs if r is not None]
    if not pairs:
        where = f"{out}/{provider}.json" if provider else f"{out}/"
        raise ResultsError(f"no results in {where} yet: run `llmprobe run --provider {provider or 'NAME'}` first")
    return pairs


def config_for_rendering(path: Path) -> Config | None:
    """The config, or None with a warning: rendering needs only the results, so a config problem
    (say, an option of a provider not being rendered) must not hide results that exist."""
    try:
        return load_config(path)
    except ConfigError as exc:
        err.print(
            f"llmprobe: warning: {exc}; rendering the results files as recorded", markup=False, highlight=False, soft_wrap=True
        )
        return None


def _choices(names: Sequence[str]) -> str:
    """`a, b or c`, for help texts and errors that list every choice."""
    return f"{', '.join(names[:-1])} or {names[-1]}"


@app.command()
def render(
    provider: str | None = typer.Option(
        None, "--provider", "-p", metavar="NAME", help="Only this provider (default: all with results)."
    ),
    layout: str = typer.Option("detailed", "--layout", metavar="LAYOUT", help="detailed (one column per capability) or compact."),
    format: str = typer.Option("markdown", "--format", metavar="FORMAT", help=f"{_choices(list(FORMATS))}."),
    extra: list[str] | None = typer.Option(
        None, "--columns", metavar="SECTION", help="Add a section to the markdown: speed (latency and throughput)."
    ),
    config: Path = CONFIG_OPTION,
    out: Path = OUT_OPTION,
) -> None:
    """Print the scoreboard from the results in out/ (markdown to stdout, never the network)."""
    draw(provider, layout, format, extra or [], config, out)


@app.command()
def show(
    provider: str | None = typer.Option(
        None, "--provider", "-p", metavar="NAME", help="Only this provider (default: all with results)."
    ),
    layout: str = typer.Option("detailed", "--layout", metavar="LAYOUT", help="detailed or compact."),
    config: Path = CONFIG_OPTION,
    out: Path = OUT_OPTION,
) -> None:
    """The scoreboard as a table for the terminal (same as render --format terminal)."""
    draw(provider, layout, "terminal", [], config, out)


def draw(provider: str | None, layout: str, format: str, extra: list[str], config: Path, out: Path) -> None:
    """`render` and `show`: the chosen format of FORMATS draws the page on stdout."""
    from llmprobe.render.tables import LAYOUTS

    try:
        unknown = [name for name in extra if name != "speed"]
        if unknown:
            raise ConfigError(f"--columns {unknown[0]!r}: the one extra section is speed")
        if layout not in LAYOUTS:
            raise ConfigError(f"--layout {layout!r}: use {' or '.join(LAYOUTS)}")
        if format not in FORMATS:
            raise ConfigError(f"--format {format!r}: use {_choices(list(FORMATS))}")
        pairs = load_pairs(config_for_rendering(config), provider, out)
        found = [claims_file.load_beside(out, r.provider) for _, r in pairs if r is not None]
    except LlmprobeError as exc:
        raise fail(str(exc)) from None
    claims = {c.provider: c for c in found if c is not None}
    # Without --provider the page is the overview: a summary table, then one section each.
    renderer(format)(Page(pairs, layout, summary=provider is None, speed="speed" in extra, claims=claims), sys.stdout)


@app.command()
def models(
    provider: str = typer.Option(..., "--provider", "-p", metavar="NAME", help="Provider to ask."),
    as_json: bool = typer.Option(False, "--json", help="JSON for machines instead of a table."),
    claims: bool = typer.Option(
        False, "--claims", help="What the listing declares about each configured model, against the verdicts in --out."
    ),
    config: Path = CONFIG_OPTION,
    out: Path = OUT_OPTION,
) -> None:
    """List the models the provider's API serves (live), each marked configured or not configured
    in the providers file; configured models the API no longer lists are marked stale.

    With --claims: what the provider's own listing declares about each configured model (OpenRouter's
    supported_parameters, Ollama's capabilities, Gemini's and Anthropic's limits…), each claim marked
    contradicted, confirmed or not measured by the verdicts in --out/NAME.json; the claims are kept in
    --out/claims/NAME.json for the HTML page. Exit status: 1 when a measured verdict contradicts a
    claim (for CI), 0 otherwise, 2 for a usage error or a listing that cannot be read."""
    # Here rather than at the top, as in `run`.
    from tabulate import tabulate

    from llmprobe.jobs import fetch_models, mark_models, plan_job

    measured: ProviderResult | None = None
    try:
        selected = select_providers(load_config(config), [provider])[0]
        job = plan_job(selected, [], None, replay=None)
        path = out / f"{selected.name}.json"
        if claims and path.exists():
            # Read before anything is fetched, so a broken results file fails up front.
            measured = results_file.load(path)
    except LlmprobeError as exc:
        raise fail(str(exc)) from None
    if claims:
        raise typer.Exit(compare_claims(selected, job, measured, out, as_json))
    try:
        served = asyncio.run(fetch_models(job, out))
    except ApiError as exc:
        raise fail(model_listing_failure(selected, exc)) from None
    except LlmprobeError as exc:  # the local server would not start
        raise fail(str(exc)) from None
    marked = mark_models(selected, served)
    if as_json:
        listing = {"provider": selected.name, "models": [{"id": i, "status": s} for i, s in marked]}
        sys.stdout.write(json.dumps(listing, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(tabulate(marked, headers=("model", "status"), tablefmt="plain") + "\n")
    counts = {status: sum(1 for _, s in marked if s == status) for status in ("configured", "stale")}
    summary = f"{len(served)} listed, {counts['configured']} of them configured, {counts['stale']} stale"
    err.print(f"{selected.name}: {summary}", markup=False, highlight=False)


def compare_claims(provider: ProviderConfig, job: ProviderJob, measured: ProviderResult | None, out: Path, as_json: bool) -> int:
    """`models --claims`: fetch, keep, judge and print; the exit status."""
    from tabulate import tabulate

    from llmprobe.jobs import fetch_claims

    ids = list(dict.fromkeys(m.id for m in provider.models))
    try:
        declared = asyncio.run(fetch_claims(job, out, ids))
    except ApiError as exc:
        raise fail(model_listing_failure(provider, exc)) from None
    except LlmprobeError as exc:
        raise fail(str(exc)) from None
    if declared is None:
        nothing = f"{provider.name}: its API declares nothing about its models that llmprobe measures"
        err.print(nothing, markup=False, highlight=False, soft_wrap=True)
        return 0
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        saved = claims_file.save(claims_file.Claims(provider.name, now, __version__, declared), out)
    except OSError as exc:
        raise fail(f"cannot write the claims to {claims_file.path_for(out, provider.name)}: {exc.strerror}") from None
    findings = claims_file.judge(declared, measured)
    not_listed = [i for i in ids if i not in declared]
    if as_json:
        sys.stdout.write(claims_file.render_json(provider.name, findings, not_listed))
    else:
        headers = ("model", "claim", "declared", "measured", "verdict")
        sys.stdout.write(tabulate(claims_file.render_rows(findings), headers=headers, tablefmt="plain") + "\n")
    line = claims_file.summary_line(provider.name, findings, measured is not None, not_listed, out, saved)
    err.print(line, markup=False, highlight=False, soft_wrap=True)
    return 1 if claims_file.counts(findings)["contradicted"] else 0


def model_listing_failure(provider: ProviderConfig, exc: ApiError) -> str:
    """One line; for bad credentials, the variables to check rather than the provider's wording."""
    if exc.kind is ErrorKind.AUTH and (provider.api_key_env or provider.account_id_env):
        return f"authentication failed for {provider.name}: {credentials_hint(provider)}"
    return f"listing the models of {provider.name} failed: {exc}"


@app.command("explain")
def explain_cell(
    provider: str = typer.Argument(..., metavar="PROVIDER", help="A provider with results in out/."),
    model: str = typer.Argument(..., metavar="MODEL", help="One of its models."),
    mode: str = typer.Option("both", "--mode", metavar="MODE", help="sync, stream or both."),
    column: str | None = typer.Option(None, "--column", metavar="NAME", help="Only this column (its title, e.g. Tool)."),
    layout: str = typer.Option("detailed", "--layout", metavar="LAYOUT", help="detailed or compact: whose columns."),
    base_url: str | None = typer.Option(None, "--base-url", metavar="URL", help="Point the curl commands here instead."),
    thinking: bool | None = typer.Option(
        None, "--thinking/--no-thinking", help="Of a model listed twice, the row with (or without) its reasoning on."
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON for machines (inline pictures in full)."),
    config: Path = CONFIG_OPTION,
    out: Path = OUT_OPTION,
) -> None:
    """For each cell of a model's rows, the probes that decided it: outcome, reason or reply excerpt,
    status, latency, attempts, and a curl command that sends the same request again, with the key
    as $VARIABLE (never its value). Reads out/PROVIDER.json and providers.yaml; sends nothing."""
    from llmprobe import explain
    from llmprobe.render.tables import LAYOUTS

    try:
        if mode not in ("sync", "stream", "both"):
            raise ConfigError(f"--mode {mode!r}: use sync, stream or both")
        if layout not in LAYOUTS:
            raise ConfigError(f"--layout {layout!r}: use {' or '.join(LAYOUTS)}")
        selected = select_providers(load_config(config), [provider])[0]
        path = out / f"{provider}.json"
        if not path.exists():
            raise ResultsError(f"no results in {path} yet: run `llmprobe run --provider {provider}` first")
        modes = ("sync", "stream") if mode == "both" else (mode,)
        loaded = results_file.load(path)
        kept = claims_file.load_beside(out, provider)
        found = explain.explain(
            selected, loaded, model, modes=modes, column=column, layout=layout, base_url=base_url, reason=thinking, claims=kept
        )
    except LlmprobeError as exc:
        raise fail(str(exc)) from None
    sys.stdout.write(explain.render_json(found) if as_json else explain.render_text(found))


@app.command("diff")
def diff_files(
    old: Path = typer.Argument(..., metavar="OLD.json", help="The earlier results file (out/NAME.json)."),
    new: Path = typer.Argument(..., metavar="NEW.json", help="The later results file of the same provider."),
    as_json: bool = typer.Option(False, "--json", help="JSON for machines instead of a table."),
) -> None:
    """Every verdict that changed between two results files, marked worse or better (true > flaky > false,
    reversed for toolsBiased and toolsIndecisive, which name faults), and the models and modes that came or went.

    A verdict going to or from "unknown" or "inexpressible" is listed as "unmeasured" and counts as
    neither worse nor better: "unknown" means the question could not be asked (network errors), and
    a network failure is not a regression; "inexpressible" means the API has no way to ask it.

    When both files measured a capability over repeated trials (`run --repeat N`), the pass
    rates are compared: a change counts as worse or better only when their 95% confidence
    intervals (Wilson) do not overlap; a verdict that changed within them is listed as "noise".

    Exit status: 0 when nothing got worse, 1 when some verdict got worse (for CI), 2 when a file
    cannot be read.
    """
    from llmprobe import diff

    try:
        changes = diff.diff_results(results_file.load(old), results_file.load(new))
    except LlmprobeError as exc:
        raise fail(str(exc)) from None
    sys.stdout.write(diff.render_json(changes) if as_json else diff.render_text(changes))
    raise typer.Exit(1 if changes.worse else 0)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
