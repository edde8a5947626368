"""The `llmprobe` command line.

Nothing but the requested document goes to stdout; progress, diagnostics and
the run summary go to stderr. Expected failures (bad config, unknown provider,
missing key, unreadable results) are one line and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import httpx
import typer
from rich.console import Console

from llmprobe import __version__
from llmprobe.battery import load_battery
from llmprobe.cassettes import RecordingTransport, Redactor, ReplayTransport
from llmprobe.client import ProviderClient, RetryPolicy
from llmprobe.config import ACCOUNT_ID_PLACEHOLDER, Config, ModelConfig, ProviderConfig, load_config, resolve_credentials
from llmprobe.dialects import get_dialect
from llmprobe.errors import ConfigError, LlmprobeError
from llmprobe.progress import RunProgress
from llmprobe.runner import ProviderRun, gather_all

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Find out, by asking, what each LLM provider and model really supports.",
)
err = Console(stderr=True)

CONFIG_OPTION = typer.Option(Path("providers.yaml"), "--config", help="Providers file.")
OUT_OPTION = typer.Option(Path("out"), "--out", help="Folder of results files (NAME.json).")


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
    err.print(f"llmprobe: error: {message}", markup=False, highlight=False)
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
    provider: List[str] = typer.Option(..., "--provider", "-p", help="Provider to probe (repeatable)."),
    model: Optional[List[str]] = typer.Option(None, "--model", "-m", help="Only these models (repeatable)."),
    mode: str = typer.Option("both", "--mode", help="sync, stream or both."),
    base_url: Optional[List[str]] = typer.Option(
        None, "--base-url", help="Override the provider's URL (proxies, emulators); NAME=URL with several providers."
    ),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, help="Requests in flight per provider."),
    record: Optional[Path] = typer.Option(None, "--record", help="Record every HTTP exchange as cassettes in DIR."),
    replay: Optional[Path] = typer.Option(None, "--replay", help="Answer every request from cassettes in DIR, offline."),
    config: Path = CONFIG_OPTION,
    out: Path = OUT_OPTION,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="A line per request."),
) -> None:
    """Run the probe battery against the configured models and write out/NAME.json."""
    try:
        if mode not in ("sync", "stream", "both"):
            raise ConfigError(f"--mode {mode!r}: use sync, stream or both")
        if record and replay:
            raise ConfigError("--record and --replay exclude each other")
        cfg = load_config(config)
        providers = select_providers(cfg, provider)
        modes = ("sync", "stream") if mode == "both" else (mode,)
        urls = parse_base_urls(base_url or [], providers)
        jobs = [plan_job(p, model or [], urls.get(p.name), replay is not None) for p in providers]
        if model:
            listed = {m.id for p in providers for m in p.models}
            missing = [m for m in model if m not in listed]
            if missing:
                raise ConfigError(f"--model {missing[0]!r} is not configured for {', '.join(provider)}")
        progress = RunProgress(err, verbose=verbose)
        ok = asyncio.run(run_jobs(jobs, modes, out, record, replay, concurrency, progress))
    except LlmprobeError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; finished models are saved in " + str(out), 130) from None
    raise typer.Exit(0 if ok else 1)


@dataclass(frozen=True)
class ProviderJob:
    provider: ProviderConfig
    models: list[ModelConfig]
    base_url: str
    api_key: str
    account_id: str


def plan_job(provider: ProviderConfig, models: list[str], base_url: str | None, replaying: bool) -> ProviderJob:
    """Resolve URL and credentials before anything is sent, so a missing key fails up front."""
    if base_url:
        provider = dataclasses.replace(provider, base_url=base_url)
    selected = [m for m in provider.models if not models or m.id in models]
    if replaying:
        # Cassettes hold no secrets: the account id was recorded as ACCOUNT_ID.
        url = provider.base_url.replace(ACCOUNT_ID_PLACEHOLDER, "ACCOUNT_ID")
        return ProviderJob(provider, selected, url, "", "")
    credentials = resolve_credentials(provider, os.environ)
    account_id = os.environ.get(provider.account_id_env, "") if provider.account_id_env else ""
    return ProviderJob(provider, selected, credentials.base_url, credentials.api_key, account_id)


def transport_for(job: ProviderJob, record: Path | None, replay: Path | None) -> httpx.AsyncBaseTransport:
    redactor = Redactor(secrets=[job.api_key], replacements={job.account_id: "ACCOUNT_ID"} if job.account_id else {})
    if replay:
        return ReplayTransport(replay, redactor)
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport()
    return RecordingTransport(transport, record, redactor) if record else transport


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
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=transport_for(job, record, replay),
                    timeout=httpx.Timeout(provider.timeout, connect=10.0),
                )
            )
            client = ProviderClient(
                get_dialect(provider.api, job.base_url),
                http,
                api_key=job.api_key,
                retry=RetryPolicy(max_retries=provider.max_retries),
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
                    listener=progress.listener(provider.name),
                )
            )
        with progress:
            await gather_all(r.run() for r in runs)
    return progress.summarise()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
