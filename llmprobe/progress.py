"""What a run shows while it works, and the summary it ends with (all on stderr).

A line per finished model, and with --verbose one per request; on a terminal, above
a progress bar per provider whose total is the requests the run still expects (see
`runner.ProbeListener`), so it ends full.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from llmprobe.budget import Cost
from llmprobe.judging import failure_outcome
from llmprobe.neutral import Exchange
from llmprobe.render.tables import gate_note, model_lines
from llmprobe.results import ModelResult, Verdict


class RunProgress:
    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        self.live = console.is_terminal
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("requests"),
            TimeElapsedColumn(),
            RateLimitColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self.requests = 0
        self.tokens_in = 0
        self.tokens_out = 0
        #: Probes per provider that ended without an answer (outcome "error").
        self.errors: Counter[str] = Counter()
        self._models: set[tuple[str, str]] = set()
        #: Whole providers or models that could not be probed (refused key, unknown model).
        self.problems: list[str] = []
        #: What each finished model's probes used, by (provider, model).
        self.costs: dict[tuple[str, str], Cost] = {}
        #: One line per mode of a finished model whose gate failed, as the scoreboards note it.
        self.failed_gates: list[str] = []

    def add_provider(self, name: str, rate_limited_for: Callable[[], float] | None = None) -> None:
        """A bar for the provider; its total grows as its models' modes start (ProviderListener.planned).
        `rate_limited_for`: seconds the provider has been answering 429s (`ProviderClient.rate_limited_for`)."""
        self._tasks[name] = self._progress.add_task(name, total=0, rate_limited_for=rate_limited_for)

    def listener(self, provider: str) -> ProviderListener:
        return ProviderListener(self, provider)

    def planned(self, provider: str, requests: int) -> None:
        task = self._tasks[provider]
        self._progress.update(task, total=(self._progress.tasks[task].total or 0) + requests)

    def answered(self, provider: str, model: str, mode: str, probe: str, exchange: Exchange) -> None:
        self.requests += exchange.attempts
        if exchange.reply is not None:
            self.tokens_in += exchange.reply.usage.input_tokens
            self.tokens_out += exchange.reply.usage.output_tokens
        self._models.add((provider, model))
        outcome = "ok" if exchange.error is None else failure_outcome(exchange.error)
        if outcome == "error":
            self.errors[provider] += 1
        self._progress.advance(self._tasks[provider], exchange.attempts)
        if self.verbose:
            detail = "" if exchange.error is None else f": {exchange.error}"
            self.console.print(
                f"{provider} {model} {mode} {probe}: {outcome}{detail}", markup=False, highlight=False, soft_wrap=True
            )

    def model_done(self, provider: str) -> Callable[[ModelResult], None]:
        """A line per finished model; on a terminal it goes above the bar."""

        def on_model(result: ModelResult) -> None:
            counts = Counter(value for mode in result.modes.values() for value in mode.verdicts.values())
            modes = ", ".join(result.modes) or "no mode answered"
            tally = ", ".join(
                f"{counts[verdict]} {verdict}" for verdict in (Verdict.TRUE, Verdict.FLAKY, Verdict.FALSE, Verdict.UNKNOWN)
            )
            if counts[Verdict.INEXPRESSIBLE]:
                tally += f", {counts[Verdict.INEXPRESSIBLE]} {Verdict.INEXPRESSIBLE}"
            cost = "" if result.cost is None else f"; {result.cost}"
            if result.cost is not None:
                self.costs[(provider, result.id)] = result.cost
            line = f"{provider} {result.id}: done ({modes}; {tally}{cost})"
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
            notes = (gate_note(f"{provider} {result.id}", row) for row in model_lines(result))
            self.failed_gates += [note for note in notes if note is not None]

        return on_model

    def __enter__(self) -> RunProgress:
        if self.live:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self._progress.stop()

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def summarise(self) -> bool:
        """Print the summary; True when every request got an answer (nothing left unknown)."""
        self.console.print(
            f"probed {len(self._models)} model(s): {self.requests} requests, "
            f"{self.tokens_in} tokens in, {self.tokens_out} tokens out"
            + (f", ${total.usd:.4f}" if (total := Cost.total(self.costs.values())).usd is not None else ""),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        for provider, count in sorted(self.errors.items()):
            if count:
                self.console.print(
                    f"{provider}: {count} probe(s) got no usable answer after retries; "
                    "their verdicts are 'unknown' (see the evidence in the results file)",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
        for line in [*self.failed_gates, *self.problems]:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        return not any(self.errors.values()) and not self.problems


class ProviderListener:
    """One provider's side of a RunProgress: a `runner.ProbeListener`."""

    def __init__(self, progress: RunProgress, provider: str) -> None:
        self.progress = progress
        self.provider = provider

    def planned(self, requests: int) -> None:
        self.progress.planned(self.provider, requests)

    def __call__(self, model: str, mode: str, probe: str, exchange: Exchange) -> None:
        self.progress.answered(self.provider, model, mode, probe, exchange)


class RateLimitColumn(ProgressColumn):
    """"waiting on its rate limit for N s" while a provider answers 429s with no success since,
    read when the bar is drawn: a provider waiting sends nothing, so no answer would redraw it."""

    #: Shorter runs of 429s are the pacing at work, not worth a word.
    SHOWN_AFTER = 2.0

    def render(self, task: Task) -> Text:
        limited_for = task.fields.get("rate_limited_for")
        seconds = limited_for() if limited_for is not None else 0.0
        if seconds < self.SHOWN_AFTER:
            return Text("")
        return Text(f"waiting on its rate limit for {seconds:.0f} s", style="yellow")
