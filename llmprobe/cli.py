"""The `llmprobe` command line.

Nothing but the requested document goes to stdout; progress, diagnostics and
the run summary go to stderr. Expected failures (bad config, unknown provider,
missing key, unreadable results) are one line and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional

import httpx
import typer
from rich.console import Console
from tabulate import tabulate

from llmprobe import __version__, diff, results
from llmprobe.battery import load_battery
from llmprobe.cassettes import RecordingTransport, Redactor, ReplayTransport
from llmprobe.client import ProviderClient, RetryPolicy
from llmprobe.config import ACCOUNT_ID_PLACEHOLDER, Config, ModelConfig, ProviderConfig, load_config, resolve_credentials
from llmprobe.dialects import get_dialect
from llmprobe.errors import ApiError, ConfigError, ErrorKind, LlmprobeError
from llmprobe.launcher import local_server
from llmprobe.progress import RunProgress
from llmprobe.render import LAYOUTS, print_terminal, render_json, render_markdown, render_terminal
from llmprobe.results import ProviderResult, ResultsError
from llmprobe.runner import ProviderRun, ProviderStopped, gather_all, resumable

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
    provider: List[str] = typer.Option(..., "--provider", "-p", metavar="NAME", help="Provider to probe (repeatable)."),
    model: Optional[List[str]] = typer.Option(None, "--model", "-m", metavar="ID", help="Only these models (repeatable)."),
    mode: str = typer.Option("both", "--mode", metavar="MODE", help="sync, stream or both."),
    base_url: Optional[List[str]] = typer.Option(
        None, "--base-url", metavar="URL", help="Override the provider's URL (proxies, emulators); NAME=URL with several providers."
    ),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, metavar="N", help="Requests in flight per provider."),
    record: Optional[Path] = typer.Option(None, "--record", metavar="DIR", help="Record every HTTP exchange as cassettes in DIR."),
    replay: Optional[Path] = typer.Option(None, "--replay", metavar="DIR", help="Answer every request from cassettes in DIR, offline."),
    resume: bool = typer.Option(
        False, "--resume", help="Only the models an interrupted run left unfinished (listed in out/NAME.json)."
    ),
    config: Path = CONFIG_OPTION,
    out: Path = OUT_OPTION,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="A line per request."),
) -> None:
    """Run the probe battery against the configured models and write out/NAME.json.

    Exit status: 0 when every probe got an answer, 1 when some verdicts could not be
    measured (or a provider refused the key), 2 for a usage error."""
    try:
        if mode not in ("sync", "stream", "both"):
            raise ConfigError(f"--mode {mode!r}: use sync, stream or both")
        if record and replay:
            raise ConfigError("--record and --replay exclude each other")
        cfg = load_config(config)
        providers = select_providers(cfg, provider)
        modes = ("sync", "stream") if mode == "both" else (mode,)
        urls = parse_base_urls(base_url or [], providers)
        jobs = [plan_job(p, model or [], urls.get(p.name), replay, out, resume) for p in providers]
        if model:
            listed = {m.id for p in providers for m in p.models}
            missing = [m for m in model if m not in listed]
            if missing:
                raise ConfigError(f"--model {missing[0]!r} is not configured for {', '.join(provider)}")
        progress = RunProgress(err, verbose=verbose)
        # SIGTERM (CI cancelling, `kill`) unwinds like Ctrl-C: results saved, local server stopped.
        signal.signal(signal.SIGTERM, _interrupt)
        ok = asyncio.run(run_jobs(jobs, modes, out, record, replay, concurrency, progress))
    except LlmprobeError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        again = " ".join(f"--provider {p}" for p in provider)
        message = f"interrupted; finished models are saved in {out}/, `llmprobe run {again} --resume` finishes the rest"
        raise fail(message, 130) from None
    raise typer.Exit(0 if ok else 1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@dataclass(frozen=True)
class ProviderJob:
    provider: ProviderConfig
    models: list[ModelConfig]
    base_url: str
    api_key: str
    account_id: str
    #: Start the provider's own server (its `launch:` block) unless something answers already.
    launch: bool = False
    #: Its results file before this run.
    previous: ProviderResult | None = None
    #: Where the answers come from, when not from the configured URL.
    source: str = ""


def plan_job(
    provider: ProviderConfig,
    models: list[str],
    base_url: str | None,
    replay: Path | None,
    out: Path | None = None,
    resume: bool = False,
) -> ProviderJob:
    """Resolve URL, credentials and the previous results (from `out`) before anything is sent,
    so a missing key or a broken results file fails up front, not half-way through a paid run."""
    path = out / f"{provider.name}.json" if out is not None else None
    previous = results.load(path) if path is not None and path.exists() else None
    if base_url:
        provider = dataclasses.replace(provider, base_url=base_url)
    selected = [m for m in provider.models if not models or m.id in models]
    if resume:
        selected = resumable(selected, previous)
    if replay:
        # Cassettes hold no secrets: the account id was recorded as ACCOUNT_ID.
        url = provider.base_url.replace(ACCOUNT_ID_PLACEHOLDER, "ACCOUNT_ID")
        return ProviderJob(provider, selected, url, "", "", previous=previous, source=f"replay of {replay}")
    credentials = resolve_credentials(provider, os.environ)
    launch = provider.launch is not None and not base_url and any(m.probe for m in selected)
    source = f"--base-url {base_url}" if base_url else ""
    return ProviderJob(
        provider, selected, credentials.base_url, credentials.api_key, credentials.account_id, launch, previous, source
    )


def transport_for(job: ProviderJob, record: Path | None, replay: Path | None) -> httpx.AsyncBaseTransport:
    redactor = Redactor(secrets=[job.api_key], replacements={job.account_id: "ACCOUNT_ID"} if job.account_id else {})
    if replay:
        return ReplayTransport(replay, redactor)
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport()
    return RecordingTransport(transport, record, redactor) if record else transport


def http_client(provider: ProviderConfig, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(provider.timeout, connect=10.0))


def provider_client(job: ProviderJob, http: httpx.AsyncClient, base_url: str, **options: Any) -> ProviderClient:
    """The client for one provider, with every dialect and request option its config sets."""
    provider = job.provider
    dialect = get_dialect(provider.api, base_url, max_tokens_field=provider.max_tokens_field)
    return ProviderClient(dialect, http, api_key=job.api_key, extra_body=provider.extra_body, **options)


def credentials_hint(provider: ProviderConfig) -> str:
    """What to check when a provider refuses us: the variables its credentials come from."""
    variables = [v for v in (provider.api_key_env, provider.account_id_env) if v]
    return f"check {' and '.join(variables)}" if variables else "check the provider's settings"


async def run_jobs(
    jobs: list[ProviderJob],
    modes: tuple[str, ...],
    out: Path,
    record: Path | None,
    replay: Path | None,
    concurrency: int | None,
    progress: RunProgress,
) -> bool:
    """Every provider at once; True when every verdict could be measured."""
    battery = load_battery()
    async with AsyncExitStack() as stack:
        runs = []
        for job in jobs:
            provider = job.provider
            base_url = job.base_url
            if job.launch:
                base_url = await stack.enter_async_context(local_server(provider, out))
            http = await stack.enter_async_context(http_client(provider, transport_for(job, record, replay)))
            client = provider_client(
                job,
                http,
                base_url,
                retry=RetryPolicy(max_retries=provider.max_retries, wait=replay is None),
                concurrency=concurrency or provider.concurrency,
            )
            probing = [m for m in job.models if m.probe]
            progress.add_provider(provider.name, [m.id for m in probing], modes)
            runs.append(
                ProviderRun(
                    provider,
                    job.models,
                    modes,
                    client,
                    battery,
                    out / f"{provider.name}.json",
                    previous=job.previous,
                    source=job.source,
                    listener=progress.listener(provider.name),
                    on_model=progress.model_done(provider.name),
                )
            )
        with progress:
            await gather_all(_run_provider(r, progress) for r in runs)
    return progress.summarise()


async def _run_provider(run: ProviderRun, progress: RunProgress) -> None:
    """One provider's run; a refused key stops that provider only, the others go on."""
    try:
        await run.run()
    except ProviderStopped as exc:
        progress.problem(f"{exc}; {credentials_hint(run.provider)}")
    for problem in run.problems:
        progress.problem(problem)


def load_pairs(cfg: Config, provider: str | None, out: Path) -> list[tuple[ProviderConfig, ProviderResult | None]]:
    """Each selected provider with its results (None when it has no results file yet)."""
    providers = select_providers(cfg, [provider]) if provider else list(cfg.providers.values())
    pairs = []
    for p in providers:
        path = out / f"{p.name}.json"
        pairs.append((p, results.load(path) if path.exists() else None))
    if not provider:
        # Without --provider, the page shows every provider that has results.
        pairs = [(p, r) for p, r in pairs if r is not None]
        if not pairs:
            raise ResultsError(f"no results in {out}/ yet: run `llmprobe run --provider NAME` first")
    return pairs


@app.command()
def render(
    provider: Optional[str] = typer.Option(None, "--provider", "-p", metavar="NAME", help="Only this provider (default: all with results)."),
    layout: str = typer.Option("detailed", "--layout", metavar="LAYOUT", help="detailed (one column per capability) or compact."),
    format: str = typer.Option("markdown", "--format", metavar="FORMAT", help="markdown, terminal or json."),
    config: Path = CONFIG_OPTION,
    out: Path = OUT_OPTION,
) -> None:
    """Print the scoreboard from the results in out/ (markdown to stdout, never the network)."""
    try:
        if layout not in LAYOUTS:
            raise ConfigError(f"--layout {layout!r}: use {' or '.join(LAYOUTS)}")
        if format not in ("markdown", "terminal", "json"):
            raise ConfigError(f"--format {format!r}: use markdown, terminal or json")
        pairs = load_pairs(load_config(config), provider, out)
    except LlmprobeError as exc:
        raise fail(str(exc)) from None
    # Without --provider the page is the overview: a summary table, then one section each.
    summary = provider is None
    if format == "terminal":
        print_terminal(render_terminal(pairs, layout, summary), Console())
    elif format == "json":
        sys.stdout.write(render_json(pairs))
    else:
        sys.stdout.write(render_markdown(pairs, layout, summary))


@app.command()
def show(
    provider: Optional[str] = typer.Option(None, "--provider", "-p", metavar="NAME", help="Only this provider (default: all with results)."),
    layout: str = typer.Option("detailed", "--layout", metavar="LAYOUT", help="detailed or compact."),
    config: Path = CONFIG_OPTION,
    out: Path = OUT_OPTION,
) -> None:
    """The scoreboard as a table for the terminal (same as render --format terminal)."""
    render(provider=provider, layout=layout, format="terminal", config=config, out=out)


@app.command()
def models(
    provider: str = typer.Option(..., "--provider", "-p", metavar="NAME", help="Provider to ask."),
    as_json: bool = typer.Option(False, "--json", help="JSON for machines instead of a table."),
    config: Path = CONFIG_OPTION,
) -> None:
    """List the models the provider's API serves (live), each marked configured or not configured
    in the providers file; configured models the API no longer lists are marked stale."""
    try:
        selected = select_providers(load_config(config), [provider])[0]
        job = plan_job(selected, [], None, replay=None)
    except LlmprobeError as exc:
        raise fail(str(exc)) from None
    try:
        served = asyncio.run(fetch_models(job))
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


async def fetch_models(job: ProviderJob) -> list[str]:
    """A provider that runs its own server (`launch:`) is started for the listing as `run` starts
    it, unless something already answers; its log goes where `run` puts it by default."""
    async with AsyncExitStack() as stack:
        base_url = job.base_url
        if job.provider.launch is not None:
            base_url = await stack.enter_async_context(local_server(job.provider, OUT_DEFAULT))
        http = await stack.enter_async_context(http_client(job.provider))
        return await provider_client(job, http, base_url).list_models()


def mark_models(provider: ProviderConfig, served: list[str]) -> list[tuple[str, str]]:
    """(id, status) sorted by id: every listed model, configured or not, then the configured ones
    the API no longer lists ("stale": probing them would only collect not-found errors)."""
    configured = {m.id for m in provider.models}
    marked = [(i, "configured" if i in configured else "not configured") for i in served]
    marked += [(i, "stale") for i in configured.difference(served)]
    return sorted(marked)


def model_listing_failure(provider: ProviderConfig, exc: ApiError) -> str:
    """One line; for bad credentials, the variables to check rather than the provider's wording."""
    if exc.kind is ErrorKind.AUTH and (provider.api_key_env or provider.account_id_env):
        return f"authentication failed for {provider.name}: {credentials_hint(provider)}"
    return f"listing the models of {provider.name} failed: {exc}"


@app.command("diff")
def diff_files(
    old: Path = typer.Argument(..., metavar="OLD.json", help="The earlier results file (out/NAME.json)."),
    new: Path = typer.Argument(..., metavar="NEW.json", help="The later results file of the same provider."),
    as_json: bool = typer.Option(False, "--json", help="JSON for machines instead of a table."),
) -> None:
    """Every verdict that changed between two results files, marked worse or better (true > flaky > false,
    reversed for toolsBiased and toolsIndecisive, which name faults), and the models and modes that came or went.

    A verdict going to or from "unknown" is listed as "unmeasured" and counts as neither worse nor
    better: "unknown" means the question could not be asked (network errors), and a network failure
    is not a regression.

    Exit status: 0 when nothing got worse, 1 when some verdict got worse (for CI), 2 when a file
    cannot be read.
    """
    try:
        changes = diff.diff_results(results.load(old), results.load(new))
    except LlmprobeError as exc:
        raise fail(str(exc)) from None
    sys.stdout.write(diff.render_json(changes) if as_json else diff.render_text(changes))
    raise typer.Exit(1 if changes.worse else 0)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
