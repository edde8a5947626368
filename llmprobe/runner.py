"""Running the battery: which probe is sent when, and what becomes of the answers.

Per model, the two modes run independently. Within a mode, the gate (Text) goes
first (no answer, no record — and no money spent on thirty more requests), with
only the first step of the tool chain beside it; then every probe runs at once
except the rest of the tool chain (SquareRoot-1 → -1-any → -2 → ToolBias), whose
steps depend on each other. Which probe plays which part is
written in probes/battery.yaml (`role:`). Verdicts are computed afterwards from
the evidence, in `verdicts`, so the order in which answers arrive never changes them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol, TypeVar

from llmprobe import __version__, results, results_file, trials
from llmprobe import verdicts as v
from llmprobe.battery import Battery, MediaProbe, Probe, Role, continuation
from llmprobe.budget import Budget, BudgetExhausted, Cost, Price
from llmprobe.client import ProviderClient
from llmprobe.config import ModelConfig, ProviderConfig
from llmprobe.errors import ApiError, ErrorKind, LlmprobeError
from llmprobe.neutral import Exchange, Request, ToolChoice
from llmprobe.results import Evidence, Modality, ModelResult, ModeResult, ProviderResult
from llmprobe.scheduler import Priority

T = TypeVar("T")


class ProbeListener(Protocol):
    """Told what a run will send and what came back: enough for a progress bar that ends full."""

    def planned(self, requests: int) -> None:
        """`requests` more requests are now expected (fewer when negative): a mode's probes as it
        starts, a fallback or a retry when it happens, the probes a mode turned out not to need."""

    def __call__(self, model: str, mode: str, probe: str, exchange: Exchange) -> None:
        """One probe came back, after `exchange.attempts` requests."""


async def gather_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """asyncio.gather that cancels the siblings when one fails (TaskGroup needs 3.11)."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


@dataclass
class ModeRun:
    mode: str
    #: One mode's observations per trial, in the order the trials ran.
    trials: list[v.Observations] = field(default_factory=list)


class ModelProber:
    """Probes one model of one provider, in the modes asked for."""

    def __init__(
        self,
        client: ProviderClient,
        battery: Battery,
        provider: str,
        model: ModelConfig,
        *,
        image_base_url: str = "",
        listener: ProbeListener | None = None,
        repeat: int = 1,
        budget: Budget | None = None,
        price: Price | None = None,
        order: int = 0,
        label: str = "",
    ) -> None:
        self.client = client
        self.battery = battery
        self.provider = provider
        self.model = model
        self.image_base_url = image_base_url.rstrip("/")
        self.listener = listener
        self.repeat = repeat
        self.budget = budget
        self.price = price
        #: Requests sent, and probes left unsent because the budget would have been passed.
        self.sent = 0
        self.unsent = 0
        #: The model's place in the run: earlier models' requests go first (see `send`).
        self.order = order
        #: The row's name in cassettes and logs (`results.row_label`).
        self.label = label or model.id
        #: Set when the provider refused the key at a gate: the model's result is kept (its row
        #: shows the refusal), then the provider stops (`ProviderRun`).
        self.key_refused: ProviderStopped | None = None

    async def probe(self, modes: Iterable[str]) -> ModelResult:
        runs = await gather_all(self._mode(mode) for mode in modes)
        return self._result(runs)

    async def _mode(self, mode: str) -> ModeRun:
        """`repeat` trials of the mode, one after the other: the trials of one probe are then
        spread over the run instead of fired at once, where they would share one server state
        (a cache, a warm batch, a rate-limit window) and agree for that reason alone."""
        run = ModeRun(mode)
        for _ in range(self.repeat):
            observations: v.Observations = {}
            run.trials.append(observations)
            await self._trial(mode, observations, len(run.trials))
            if self.key_refused is not None:
                break
        return run

    async def _trial(self, mode: str, observations: v.Observations, trial: int) -> None:
        stream = mode == "stream"
        b = self.battery
        # What a mode sends when every step goes well: fallbacks join when they are sent,
        # and whatever was not sent leaves the plan when the mode ends.
        plan = mode_plan(b, bool(self.image_base_url))
        self._planned(len(plan))
        suffix = "" if self.repeat == 1 else f"-{trial}"

        async def send(probe: Probe, request: Request) -> Exchange:
            """`probe`'s request (its own, or a continuation).

            Earlier models first, so models finish one after another while later ones fill the
            slots they leave (a run killed half-way has saved about half its models); within a
            model, the longest dependent chain first (`Role.priority`), and a step of the chain
            (even the last) before an independent probe, which has been waiting since the gate.
            """
            if self.model.reason:
                # A `reason: true` row asks for the model's reasoning, where the API has a switch for it.
                request = dataclasses.replace(request, thinking=True)
            try:
                ticket = await self.budget.reserve(self.provider, request, self.price) if self.budget else 0
            except BudgetExhausted as exc:
                # Not sent: unknown (❔) with the reason "budget", and no progress to report.
                observations[probe.name] = Exchange(error=exc)
                self.unsent += 1
                self._planned(-1 if probe.name in plan else 0)
                return observations[probe.name]
            name = f"{self.provider}/{self.label}/{mode}-{probe.name}{suffix}"
            priority = self._priority(probe.role)
            # What the gate's answer lets go (see `Slots.hold`).
            opens = self._priority(Role.INDEPENDENT) if probe.role is Role.GATE else None
            exchange: Exchange | None = None
            try:
                exchange = await self.client.generate(self.model.id, request, name=name, priority=priority, opens=opens)
            finally:
                if self.budget:
                    usage = exchange.reply.usage if exchange is not None and exchange.reply is not None else None
                    self.budget.settle(ticket, self.provider, usage, self.price)
            self.sent += 1
            observations[probe.name] = exchange
            self._planned(exchange.attempts - (1 if probe.name in plan else 0))
            if self.listener is not None:
                self.listener(self.label, mode, probe.name, exchange)
            if probe.role is Role.GATE:
                self._stop_on_access_errors(exchange)
            return exchange

        # Whether the gate was answered. The tool chain's first step goes out with the gate: the
        # chain is the longest path of a mode, so this shortens every model by one request's time,
        # at the price of one request spent in vain on a mode that turns out to be refused.
        opened: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        async def gated() -> None:
            gate = b.one(Role.GATE)
            answered = False
            try:
                answered = (await send(gate, gate.request(stream=stream))).ok
            finally:
                # Resolved on every way out (an answer, a refused key, a cancel, a timeout), so the
                # tool chain never waits on a gate that nothing will open.
                opened.set_result(answered)
            if answered:
                await gather_all(
                    [send(probe, probe.request(stream=stream)) for probe in b.with_role(Role.INDEPENDENT)]
                    + [self._medium(send, probe, stream) for probe in b.media if self._wanted(probe)]
                )

        try:
            await gather_all([gated(), self._tool_chain(send, stream, opened)])
        finally:
            self._planned(-len(plan - observations.keys()))

    def _priority(self, role: Role) -> Priority:
        """Where a request of `role` stands among the waiting ones: see `send`."""
        return (-self.order, role.priority, role is not Role.INDEPENDENT)

    def _planned(self, requests: int) -> None:
        if self.listener is not None and requests:
            self.listener.planned(requests)

    def _stop_on_access_errors(self, text: Exchange) -> None:
        """A refused key or an unknown model makes every further answer meaningless: stop
        with one clear message, instead of thirty failed probes. A refused gate sends nothing
        more in its mode anyway, so a refused key lets the model's modes end (its result says
        so) before the provider stops."""
        error = text.error
        if not isinstance(error, ApiError):
            return
        if error.kind is ErrorKind.AUTH:
            self.key_refused = self.key_refused or ProviderStopped(f"{self.provider}: authentication failed ({error})")
        if error.kind is ErrorKind.NOT_FOUND:
            raise ModelMissing(f"{self.provider}: model {self.model.id!r} not found ({error})")

    def _wanted(self, probe: Probe) -> bool:
        return _wanted(probe, bool(self.image_base_url))

    async def _medium(self, send: Callable[[Probe, Request], Awaitable[Exchange]], probe: MediaProbe, stream: bool) -> None:
        request = probe.media_request(stream=stream, base_url=self.image_base_url)
        assert request is not None, "a probe by URL is only wanted with a base URL"
        await send(probe, request)

    async def _tool_chain(
        self, send: Callable[[Probe, Request], Awaitable[Exchange]], stream: bool, opened: Awaitable[bool]
    ) -> None:
        """SquareRoot-1 → (-1-any) → -2 → ToolBias ×2; each step only when the previous one allows it,
        and after the first only when the gate (`opened`) was answered."""
        b = self.battery
        force = b.one(Role.FORCE)
        caller = force
        source = await send(force, force.request(stream=stream))
        if not await opened:
            # The mode has no record: this answer is evidence of what was sent, and decides nothing.
            return
        first = v.judge_force(force, source)
        if first == "error":
            return
        if first != "ok":
            caller = b.one(Role.FORCE_FALLBACK)
            source = await send(caller, caller.request(stream=stream))
            if v.judge_force(caller, source) != "ok":
                return
        assert source.reply is not None
        history = continuation(source.reply.tool_calls, list(v.tool_results(caller, source.reply)), source.reply.thoughts)
        follow_up = b.one(Role.FOLLOW_UP)
        second = await send(follow_up, follow_up.request(stream=stream, history=history))
        if v.refuses_tool_choice(second.error):
            # "none" refused, by the dialect (Cloudflare cannot say it) or by the provider (aya-vision's
            # 400): ask again with auto, as the reference's later versions do, rather than calling
            # the model flaky.
            follow_up = b.one(Role.FOLLOW_UP_FALLBACK)
            second = await send(follow_up, follow_up.request(stream=stream, history=history))
        if not v.passed(follow_up, second):
            return
        choice: ToolChoice = "required" if first == "ok" else "auto"
        await gather_all(
            send(probe, dataclasses.replace(probe.request(stream=stream), tool_choice=choice))
            for probe in b.with_role(Role.BIAS)
        )

    def _result(self, runs: list[ModeRun]) -> ModelResult:
        result = ModelResult(id=self.model.id, tier=self.model.tier, reason=self.model.reason)
        for run in runs:
            verdicts, rates = trials.over_trials([v.mode_verdicts(obs, self.battery) for obs in run.trials])
            probes = [e for trial, obs in enumerate(run.trials, 1) for e in self._evidence(obs, trial)]
            result.modes[run.mode] = ModeResult(verdicts=verdicts, probes=probes, rates=rates, speed=trials.speed_of(probes))
            result.reason = result.reason or any(v.thinking_seen(obs) for obs in run.trials)
            if any(v.ok_reply(obs, self.battery.one(Role.GATE).name) is not None for obs in run.trials):
                result.in_["text"] = Modality(inline=True)
                result.out["text"] = Modality(inline=True)
        probes = [e for mode in result.modes.values() for e in mode.probes]
        result.cost = Cost.of(sum(e.tokens_in or 0 for e in probes), sum(e.tokens_out or 0 for e in probes), self.price)
        result.in_.update(v.media_input((obs for run in runs for obs in run.trials), self.battery))
        return result

    def _evidence(self, obs: v.Observations, trial: int) -> list[Evidence]:
        """In the battery's order, whatever order the answers came in."""
        probes = [p for p in (*self.battery.probes.values(), *self.battery.media) if p.name in obs]
        return [_evidence(p.name, obs[p.name], v.passed(p, obs[p.name]), trial) for p in probes]


def _evidence(name: str, exchange: Exchange, passed: bool, trial: int = 1) -> Evidence:
    reply = exchange.reply
    if exchange.error is not None:
        outcome = v.failure_outcome(exchange.error)
        reason = str(exchange.error)
    else:
        outcome = "pass" if passed else "fail"
        reason = _describe(name, exchange)
    if exchange.retries:
        reason += f" (after {len(exchange.retries)} retr{'y' if len(exchange.retries) == 1 else 'ies'}: {exchange.retries[-1]})"
    return Evidence(
        probe=name,
        outcome=outcome,
        reason=reason[:300],
        status=exchange.status,
        latency_ms=None if exchange.latency_ms is None else round(exchange.latency_ms, 1),
        ttfb_ms=None if exchange.ttfb_ms is None else round(exchange.ttfb_ms, 1),
        ttft_ms=None if exchange.ttft_ms is None else round(exchange.ttft_ms, 1),
        tokens_in=reply.usage.input_tokens if reply else None,
        tokens_out=reply.usage.output_tokens if reply else None,
        finish_reason=reply.finish_reason if reply else None,
        attempts=exchange.attempts,
        cassette=exchange.cassette,
        trial=trial,
    )


def _describe(name: str, exchange: Exchange) -> str:
    """A short, human account of the reply: what a reader of out/*.json wants to see first."""
    reply = exchange.reply
    assert reply is not None
    if reply.tool_calls:
        return "called " + ", ".join(f"{c.name}({c.arguments})" for c in reply.tool_calls)
    text = reply.text.strip().replace("\n", " ")
    # What shows a web search ran, the WebSearch verdict's evidence: its first source or query.
    searched = f", searched the web: {reply.web_search[0][:120]}" if reply.web_search else ""
    more = f" (+{len(reply.web_search) - 1} more)" if len(reply.web_search) > 1 else ""
    if not text and reply.reasoning:
        return "no text, only reasoning" + searched + more
    return repr(text[:120] + ("…" if len(text) > 120 else "")) + searched + more


def mode_plan(battery: Battery, image_urls: bool) -> set[str]:
    """The probes one trial of a mode sends when every step goes well (no fallback, no retry);
    the media by URL only when there is an image_base_url to point them at."""
    b = battery
    plan = {p.name for p in (b.one(Role.GATE), b.one(Role.FORCE), b.one(Role.FOLLOW_UP), *b.with_role(Role.BIAS))}
    return plan | {p.name for p in (*b.with_role(Role.INDEPENDENT), *b.media) if _wanted(p, image_urls)}


def _wanted(probe: Probe, image_urls: bool) -> bool:
    """Every probe but the media by URL when there is no image_base_url to point them at."""
    return not isinstance(probe, MediaProbe) or probe.way == "Inline" or image_urls


class ProviderStopped(LlmprobeError):
    """The provider refused our credentials; the rest of its run was abandoned."""


class ModelMissing(LlmprobeError):
    """The provider does not know this model; its other models are still probed."""


@dataclass
class ProviderRun:
    """One provider's run: which models, in which modes, written where."""

    provider: ProviderConfig
    models: list[ModelConfig]
    modes: tuple[str, ...]
    client: ProviderClient
    battery: Battery
    out_path: Path
    #: The results file as it was before this run (read up front, so a broken one stops nothing midway).
    previous: ProviderResult | None = None
    listener: ProbeListener | None = None
    #: Where the answers come from, when not from the configured URL (see ProviderResult.source).
    source: str = ""
    #: Called with each model's result as soon as it is saved.
    on_model: Callable[[ModelResult], None] | None = None
    #: One line per model that could not be probed at all (unknown model), for the summary.
    problems: list[str] = field(default_factory=list)
    #: Trials of each mode (`run --repeat`).
    repeat: int = 1
    #: The run's budget, shared with the other providers; None for no limit.
    budget: Budget | None = None

    async def run(self) -> ProviderResult:
        """Probe every model concurrently, saving the results file after each one finishes.

        Models probed earlier and not part of this run keep their previous results,
        so `--model X` refreshes one row without losing the others. The file is
        written first with every model of this run listed as `incomplete`, so an
        interruption at any point leaves a valid file that `run --resume` can finish.
        """
        previous = self.previous
        # A model listed twice (with and without `reason: true`) is two rows, told apart by `reason`.
        twins = results.twinned([m.id for m in self.provider.models], [m.id for m in (previous.models if previous else [])])

        def key(model: ModelConfig | ModelResult) -> results.RowKey:
            return results.row_key(model.id, model.reason, twins)

        done: dict[results.RowKey, ModelResult] = {key(m): m for m in previous.models} if previous else {}
        pending = [m for m in self.models if m.probe]
        pending_rows = [(m.id, m.reason) for m in pending]
        pending_keys = {key(m) for m in pending}
        earlier = [row for row in (previous.incomplete if previous else []) if results.row_key(*row, twins) not in pending_keys]
        result = ProviderResult(
            provider=self.provider.name,
            generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            llmprobe_version=__version__,
            country=self.provider.country,
            dashboard=self.provider.dashboard,
            local=self.provider.local,
            incomplete=earlier + pending_rows,
            source=self.source,
        )
        writer = results_file.ResultsWriter(self.out_path, redact=self.client.redact)
        saving = asyncio.Lock()
        #: Models finished so far, and how many of them the file on disk holds.
        finished = saved = 0

        def snapshot() -> ProviderResult:
            """The file as of now; later changes to `result` do not reach it."""
            result.models = []
            for model in self.provider.models:
                if not model.probe:
                    result.models.append(ModelResult(id=model.id, tier=model.tier, reason=model.reason, probed=False))
                elif key(model) in done:
                    result.models.append(done[key(model)])
            costs = [m.cost for m in result.models if m.cost is not None]
            result.cost = Cost.total(costs) if costs else None
            return dataclasses.replace(result, incomplete=list(result.incomplete))

        def save() -> None:
            writer.save(snapshot())

        async def save_finished() -> None:
            """Save once the models finished so far are on disk, writing from a thread: fsync
            blocks for milliseconds (tens with hundreds of models), and the event loop must go
            on reading answers meanwhile. Saves queue one behind the other, and one that finds
            its models already written by the save before it writes nothing: a file grows
            with its models, and writing it once per model would be quadratic."""
            nonlocal saved
            wanted = finished
            async with saving:
                if saved < wanted:
                    covered = finished
                    await asyncio.to_thread(writer.save, snapshot())
                    saved = covered

        async def probe(order: int, model: ModelConfig) -> None:
            prober = ModelProber(
                self.client,
                self.battery,
                self.provider.name,
                model,
                image_base_url=self.provider.image_base_url,
                listener=self.listener,
                repeat=self.repeat,
                budget=self.budget,
                price=self.provider.price_of(model),
                order=order,
                label=results.row_label(model.id, model.reason, twins),
            )
            try:
                fresh = await prober.probe(self.modes)
            except ModelMissing as exc:
                # Left `incomplete` with its earlier results, if any: a later run may find it.
                self.problems.append(str(exc))
                return
            except LlmprobeError:
                raise
            except Exception as exc:  # noqa: BLE001 - one model's surprise must not cost the others their results
                problem = f"{self.provider.name}: model {model.id!r} could not be judged ({type(exc).__name__}: {exc})"
                self.problems.append(self.client.redact(" ".join(problem.split())[:300]) + "; it is left incomplete")
                return
            if prober.sent == 0:
                return  # the budget let nothing through: left `incomplete` with its earlier results
            if model.id in twins:
                # Reasoning seen in the replies must not turn one twin into the other.
                fresh.reason = model.reason
            old = done.get(key(model))
            if old is not None and old.probed:
                # A run limited to some modes keeps the other modes' earlier results.
                fresh.modes = {**{k: m for k, m in old.modes.items() if k not in self.modes}, **fresh.modes}
            done[key(model)] = fresh
            if not prober.unsent and prober.key_refused is None:
                # A model the budget cut short stays `incomplete`, so `run --resume` finishes it;
                # so does one whose key was refused.
                result.incomplete.remove((model.id, model.reason))
            nonlocal finished
            finished += 1
            await save_finished()
            if self.on_model is not None:
                self.on_model(fresh)
            if prober.key_refused is not None:
                raise prober.key_refused

        save()
        await gather_all(probe(order, model) for order, model in enumerate(pending))
        save()
        return result


def resumable(models: list[ModelConfig], previous: ProviderResult | None) -> list[ModelConfig]:
    """The rows an interrupted run left unfinished: listed `incomplete`, or never probed at all."""
    if previous is None:
        return models
    twins = results.twinned([m.id for m in models], [m.id for m in previous.models])
    probed = {results.row_key(m.id, m.reason, twins) for m in previous.models}
    unfinished = {results.row_key(model_id, reason, twins) for model_id, reason in previous.incomplete}
    keys = [(m, results.row_key(m.id, m.reason, twins)) for m in models]
    return [m for m, key in keys if key in unfinished or (m.probe and key not in probed)]
