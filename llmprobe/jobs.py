"""A run's wiring: from the selected providers to running clients and their results files.

Everything between the command line (which only parses and reports) and the runner
(which only probes one provider): resolving URLs and credentials up front, the HTTP
transport (live, recording or replaying), starting a local server, one client per
provider, and running the providers side by side.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from llmprobe import results_file
from llmprobe.battery import load_battery
from llmprobe.budget import Budget, Cost
from llmprobe.client import Pages, ProviderClient, too_many_pages
from llmprobe.config import ACCOUNT_ID_PLACEHOLDER, ModelConfig, ProviderConfig
from llmprobe.credentials import credentials_hint, resolve_credentials
from llmprobe.dialects import get_dialect
from llmprobe.dialects.declared import Claim
from llmprobe.launcher import local_server
from llmprobe.progress import RunProgress
from llmprobe.proxies import environment_proxies, routed_transport
from llmprobe.recording import RecordingTransport
from llmprobe.redaction import Redactor
from llmprobe.replay import ReplayTransport
from llmprobe.results import ProviderResult
from llmprobe.retries import RetryPolicy
from llmprobe.runner import ProviderRun, ProviderStopped, gather_all, mode_plan, resumable


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
    previous = results_file.load(path) if path is not None and path.exists() else None
    if base_url:
        provider = dataclasses.replace(provider, base_url=base_url)
    selected = [m for m in provider.models if not models or m.id in models]
    if resume:
        selected = resumable(selected, previous, load_battery())
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


def redactor_for(job: ProviderJob) -> Redactor:
    """The one redaction of a provider's secrets, for its client (replies, errors) and its cassettes alike."""
    return Redactor(secrets=[job.api_key], replacements={job.account_id: "ACCOUNT_ID"} if job.account_id else {})


def transport_for(
    job: ProviderJob, record: Path | None, replay: Path | None, launched: bool = False
) -> httpx.AsyncBaseTransport:
    """The provider's transport: through the proxies the environment names, as for any httpx
    program (see `proxies`), except to a server llmprobe `launched` on this machine, which no
    proxy elsewhere could reach."""
    redactor = redactor_for(job)
    if replay:
        return ReplayTransport(replay, redactor, job.provider.api)
    transport = routed_transport(_live_transport, {} if launched else environment_proxies())
    return RecordingTransport(transport, record, redactor) if record else transport


def _live_transport(proxy: str | None) -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(verify=tls_context(), proxy=proxy)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One certificate store for every provider of the process: loading it is slow enough to
    show, and each provider's transport would otherwise pay for it again. httpx reads
    SSL_CERT_FILE (else SSL_CERT_DIR) here, as every httpx program does; certifi's store otherwise."""
    return httpx.create_ssl_context()


def provider_client(job: ProviderJob, transport: httpx.AsyncBaseTransport, base_url: str, **options: Any) -> ProviderClient:
    """The client for one provider, with every dialect and request option its config sets."""
    provider = job.provider
    dialect = get_dialect(provider.api, base_url, provider.options)
    return ProviderClient(
        dialect,
        transport,
        api_key=job.api_key,
        extra_body=provider.extra_body,
        unsupported=provider.unsupported,
        timeout=provider.timeout,
        phase_timeouts=httpx.Timeout(provider.timeout, connect=10.0),
        max_reply_bytes=provider.max_reply_bytes,
        redactor=redactor_for(job),
        **options,
    )


async def run_jobs(
    jobs: list[ProviderJob],
    modes: tuple[str, ...],
    out: Path,
    record: Path | None,
    replay: Path | None,
    concurrency: int | None,
    progress: RunProgress,
    repeat: int = 1,
    budget: Budget | None = None,
) -> bool:
    """Every provider at once; True when every verdict could be measured (and the budget, if any,
    let every request through)."""
    battery = load_battery()
    async with AsyncExitStack() as stack:
        runs = []
        for job in jobs:
            provider = job.provider
            base_url = job.base_url
            if job.launch:
                base_url = await stack.enter_async_context(local_server(provider, out))
            # Entered so that its connection pool is closed when the run ends.
            transport = await stack.enter_async_context(transport_for(job, record, replay, launched=job.launch))
            client = provider_client(
                job,
                transport,
                base_url,
                retry=RetryPolicy(
                    max_retries=provider.max_retries, rate_limit_wait=provider.rate_limit_wait, wait=replay is None
                ),
                concurrency=concurrency or provider.concurrency,
            )
            progress.add_provider(provider.name, client.rate_limited_for)
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
                    repeat=repeat,
                    budget=budget,
                )
            )
        with progress:
            await gather_all(_run_provider(r, progress) for r in runs)
    if budget is not None and budget.refused:
        progress.problem(
            f"budget reached after {budget.spent_tokens} tokens"
            + (f" (${budget.spent_usd:.4f})" if budget.usd is not None else "")
            + f": {budget.refused} probe(s) not sent, unknown with the reason 'budget'; "
            "`llmprobe run ... --resume` finishes the models left incomplete"
        )
    return progress.summarise()


async def _run_provider(run: ProviderRun, progress: RunProgress) -> None:
    """One provider's run; a refused key stops that provider only, the others go on."""
    try:
        await run.run()
    except ProviderStopped as exc:
        progress.problem(f"{exc}; {credentials_hint(run.provider)}")
    for problem in run.problems:
        progress.problem(problem)


async def fetch_models(job: ProviderJob, log_dir: Path) -> list[str]:
    """The model ids the provider's API lists (see `listing_client`)."""
    async with listing_client(job, log_dir) as client:
        return await client.list_models()


def mark_models(provider: ProviderConfig, served: list[str]) -> list[tuple[str, str]]:
    """(id, status) sorted by id: every listed model, configured or not, then the configured ones
    the API no longer lists ("stale": probing them would only collect not-found errors)."""
    configured = {m.id for m in provider.models}
    marked = [(i, "configured" if i in configured else "not configured") for i in served]
    marked += [(i, "stale") for i in configured.difference(served)]
    return sorted(marked)


async def fetch_claims(job: ProviderJob, log_dir: Path, models: list[str]) -> dict[str, list[Claim]] | None:
    """What the provider's own listing declares about each of `models` that it lists (`Dialect.claims_call`);
    None when its API declares nothing.

    Each distinct page is fetched once, however many models are asked about (a catalog lists them
    all on the same pages); a model found on no page is left out. Fails like listing the models, at
    the first page that fails, and reads at most MAX_MODEL_PAGES pages per model likewise.
    """
    async with listing_client(job, log_dir) as client:
        pages: Pages = {}
        found: dict[str, list[Claim]] = {}
        for model in models:
            cursor: str | None = None
            for _ in range(client.MAX_MODEL_PAGES):
                call = client.dialect.claims_call(model, cursor)
                if call is None:
                    return None
                claims, cursor = await client.listing_page(call, functools.partial(client.dialect.parse_claims, model), pages)
                if claims is not None:
                    found[model] = claims
                if claims is not None or cursor is None:
                    break
            else:
                raise too_many_pages(client.MAX_MODEL_PAGES)
        return found


@asynccontextmanager
async def listing_client(job: ProviderJob, log_dir: Path) -> AsyncIterator[ProviderClient]:
    """A client for asking the provider about its models. A provider that runs its own server
    (`launch:`) is started for it as `run` starts it, unless something already answers; its log
    goes to `log_dir`."""
    async with AsyncExitStack() as stack:
        base_url = job.base_url
        if job.provider.launch is not None:
            base_url = await stack.enter_async_context(local_server(job.provider, log_dir))
        transport = await stack.enter_async_context(
            transport_for(job, None, None, launched=job.provider.launch is not None)
        )
        yield provider_client(job, transport, base_url)


#: Requests a trial can add to its plan: the forced tool call's and the follow-up's fallbacks.
_FALLBACKS = 2


def dry_run(
    providers: list[ProviderConfig], models: list[str], modes: tuple[str, ...], repeat: int, out: Path, resume: bool
) -> list[str]:
    """One line per provider: the requests a run would send, and the tokens (and price) the
    previous run's evidence suggests. Reads out/NAME.json, sends nothing, needs no key.

    No request caps its reply (only the MaxTokens probe does), so tokens cannot be bounded
    before the replies come; the previous run's usage is the best guess there is."""
    battery = load_battery()
    lines = []
    for provider in providers:
        path = out / f"{provider.name}.json"
        previous = results_file.load(path) if path.exists() else None
        selected = [m for m in provider.models if m.probe and (not models or m.id in models)]
        if resume:
            selected = resumable(selected, previous, battery)
        per_trial = len(mode_plan(battery, bool(provider.image_base_url)))
        trials = len(selected) * len(modes) * repeat
        at_most = trials * (per_trial + _FALLBACKS) * (1 + provider.max_retries)
        line = (
            f"{provider.name}: {len(selected)} model(s) x {len(modes)} mode(s) x {repeat} trial(s) x {per_trial} probes"
            f" = {trials * per_trial} requests (at most {at_most} with fallbacks and retries)"
        )
        costs = [_previous_cost(previous, model, modes, repeat, provider) for model in selected]
        known = [c for c in costs if c is not None]
        if known and len(known) == len(costs):
            line += f"; about {Cost.total(known)}, by the previous run's usage"
        elif known:
            line += f"; about {Cost.total(known)} for the {len(known)} model(s) run before, unknown for the others"
        else:
            line += "; tokens unknown until a first run"
        lines.append(line)
    return lines


def _previous_cost(
    previous: ProviderResult | None, model: ModelConfig, modes: tuple[str, ...], repeat: int, provider: ProviderConfig
) -> Cost | None:
    """The tokens one trial of each mode used last time, times `repeat`; None when a mode was never run."""
    found = previous.model(model.id) if previous else None
    if found is None or any(mode not in found.modes for mode in modes):
        return None
    evidence = [e for mode in modes for e in found.modes[mode].probes if e.trial == 1]
    tokens_in = sum(e.tokens_in or 0 for e in evidence) * repeat
    tokens_out = sum(e.tokens_out or 0 for e in evidence) * repeat
    return Cost.of(tokens_in, tokens_out, provider.price_of(model))
