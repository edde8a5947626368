"""Running the battery: which probe is sent when, and what becomes of the answers.

Per model, the two modes run independently. Within a mode, the gate (Text) goes
first (no answer, no record — and no money spent on thirty more requests), with
only the first step of the tool chain beside it; then every probe runs at once
except the rest of the tool chain (SquareRoot-1 → -1-any → -2 → ToolBias), whose
steps depend on each other (`toolchain.walk` names each next one). Which probe plays
which part is written in probes/battery.yaml (`role:`); what each request is, is
decided in `asking`. Verdicts are computed afterwards from the evidence, in `verdicts`,
so the order in which answers arrive never changes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from llmprobe import results, shares, trials
from llmprobe import verdicts as v
from llmprobe.asking import ChainState, request_for, wanted
from llmprobe.battery import Battery, Probe, Role
from llmprobe.budget import Budget, BudgetExhausted, Cost, Price
from llmprobe.client import ProviderClient
from llmprobe.config import ModelConfig, ProviderConfig
from llmprobe.errors import ApiError, ErrorKind, LlmprobeError
from llmprobe.judging import Observations, failure_outcome, ok_reply, passed
from llmprobe.ledger import Ledger
from llmprobe.neutral import Exchange
from llmprobe.results import Evidence, Modality, ModelResult, ModeResult, ProviderResult
from llmprobe.scheduler import Priority
from llmprobe.toolchain import walk

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
    trials: list[Observations] = field(default_factory=list)


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
            observations: Observations = {}
            run.trials.append(observations)
            await self._trial(mode, observations, len(run.trials))
            if self.key_refused is not None:
                break
        return run

    async def _trial(self, mode: str, observations: Observations, trial: int) -> None:
        stream = mode == "stream"
        b = self.battery
        # What a mode sends when every step goes well: fallbacks join when they are sent,
        # and whatever was not sent leaves the plan when the mode ends.
        plan = mode_plan(b, bool(self.image_base_url))
        self._planned(len(plan))
        suffix = "" if self.repeat == 1 else f"-{trial}"

        async def send(probe: Probe, chain: ChainState | None = None) -> Exchange:
            """`probe`'s request (`asking.request_for`), `chain` for a step that continues the tool chain.

            Earlier models first, so models finish one after another while later ones fill the
            slots they leave (a run killed half-way has saved about half its models); within a
            model, the longest dependent chain first (`Role.priority`), and a step of the chain
            (even the last) before an independent probe, which has been waiting since the gate.
            """
            request = request_for(
                probe, stream=stream, thinking=self.model.reason, image_base_url=self.image_base_url, chain=chain
            )
            assert request is not None, "only the wanted probes are sent"
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
            answered = False
            try:
                answered = (await send(b.one(Role.GATE))).ok
            finally:
                # Resolved on every way out (an answer, a refused key, a cancel, a timeout), so the
                # tool chain never waits on a gate that nothing will open.
                opened.set_result(answered)
            if answered:
                independent = (*b.with_role(Role.INDEPENDENT), *b.media)
                await gather_all(send(probe) for probe in independent if wanted(probe, bool(self.image_base_url)))

        async def tool_chain() -> None:
            """Each step of the chain as `toolchain.walk` names it, after the first only when
            the gate (`opened`) was answered: otherwise the mode has no record, and the first
            step's answer is evidence of what was sent, deciding nothing."""
            await send(b.one(Role.FORCE))
            if not await opened:
                return
            while (step := walk(b, observations)).next:
                if len(step.next) == 1:
                    # Sent from this task, in the turn the step before it came back: it then asks
                    # for the slot that step just gave up in time to get it (see `Slots`).
                    await send(step.next[0], step.state)
                else:
                    await gather_all(send(probe, step.state) for probe in step.next)

        try:
            await gather_all([gated(), tool_chain()])
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

    def _result(self, runs: list[ModeRun]) -> ModelResult:
        result = ModelResult(id=self.model.id, tier=self.model.tier, reason=self.model.reason)
        for run in runs:
            verdicts, rates = trials.over_trials([v.mode_verdicts(obs, self.battery) for obs in run.trials])
            rates.update(shares.sampled_rates(run.trials, self.battery))
            probes = [e for trial, obs in enumerate(run.trials, 1) for e in self._evidence(obs, trial)]
            result.modes[run.mode] = ModeResult(verdicts=verdicts, probes=probes, rates=rates, speed=trials.speed_of(probes))
            result.reason = result.reason or any(v.thinking_seen(obs) for obs in run.trials)
            if any(ok_reply(obs, self.battery.one(Role.GATE).name) is not None for obs in run.trials):
                result.in_["text"] = Modality(inline=True)
                result.out["text"] = Modality(inline=True)
        probes = [e for mode in result.modes.values() for e in mode.probes]
        result.cost = Cost.of(sum(e.tokens_in or 0 for e in probes), sum(e.tokens_out or 0 for e in probes), self.price)
        result.in_.update(v.media_input((obs for run in runs for obs in run.trials), self.battery))
        return result

    def _evidence(self, obs: Observations, trial: int) -> list[Evidence]:
        """In the battery's order, whatever order the answers came in."""
        probes = [p for p in (*self.battery.probes.values(), *self.battery.media) if p.name in obs]
        return [_evidence(p.name, obs[p.name], passed(p, obs[p.name]), trial, shares.problems(p, obs[p.name])) for p in probes]


def _evidence(name: str, exchange: Exchange, passed: bool, trial: int = 1, problems: str = "") -> Evidence:
    """`problems`: what was wrong with each call or structured reply checked on its own, said first
    (the reason is cut at 300 characters, and a call's arguments can fill them)."""
    reply = exchange.reply
    if exchange.error is not None:
        outcome = failure_outcome(exchange.error)
        reason = str(exchange.error)
    else:
        outcome = "pass" if passed else "fail"
        reason = _describe(name, exchange)
        if problems:
            reason = f"{problems} (reply: {reason})"
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
    return plan | {p.name for p in (*b.with_role(Role.INDEPENDENT), *b.media) if wanted(p, image_urls)}


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
        """Probe every model concurrently, saving the results file (`Ledger`) after each one finishes."""
        pending = [m for m in self.models if m.probe]
        ledger = Ledger(
            self.provider, pending, self.previous, self.out_path, modes=self.modes, source=self.source, redact=self.client.redact
        )
        ledger.save()
        await gather_all(self._probe(ledger, order, model) for order, model in enumerate(pending))
        ledger.save()
        return ledger.result

    async def _probe(self, ledger: Ledger, order: int, model: ModelConfig) -> None:
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
            label=ledger.label(model),
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
        await ledger.finished(model, fresh, complete=not prober.unsent and prober.key_refused is None)
        if self.on_model is not None:
            self.on_model(fresh)
        if prober.key_refused is not None:
            raise prober.key_refused


def resumable(models: list[ModelConfig], previous: ProviderResult | None, battery: Battery) -> list[ModelConfig]:
    """The rows an earlier run left unfinished: listed `incomplete`, never probed at all, or with a
    mode whose gate got no answer (a timeout, a 503: every verdict unknown), which asking again may
    measure; a gate the provider refused is an answer, and stays."""
    if previous is None:
        return models
    twins = results.twinned([m.id for m in models], [m.id for m in previous.models])
    probed = {results.row_key(m.id, m.reason, twins) for m in previous.models}
    unanswered = {
        results.row_key(m.id, m.reason, twins)
        for m in previous.models
        if any((failure := v.gate_failure(mode, battery)) is not None and not failure.refused for mode in m.modes.values())
    }
    unfinished = {results.row_key(model_id, reason, twins) for model_id, reason in previous.incomplete} | unanswered
    keys = [(m, results.row_key(m.id, m.reason, twins)) for m in models]
    return [m for m, key in keys if key in unfinished or (m.probe and key not in probed)]
