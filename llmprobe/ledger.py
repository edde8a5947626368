"""One provider's results file while its run goes on: which rows it holds, and saving it as models finish.

The file is written first with every row of the run listed as `incomplete`, so an interruption
at any point leaves a valid file that `run --resume` can finish; each model's result replaces
its row as soon as the model finishes. Rows probed earlier and not part of this run keep their
previous results, so `--model X` refreshes one row without losing the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from llmprobe import __version__, results, results_file
from llmprobe.budget import Cost
from llmprobe.config import ModelConfig, ProviderConfig
from llmprobe.results import ModelResult, ProviderResult


class Ledger:
    """The results file of one provider's run, kept on disk as its models finish."""

    def __init__(
        self,
        provider: ProviderConfig,
        pending: list[ModelConfig],
        previous: ProviderResult | None,
        out_path: Path,
        *,
        modes: tuple[str, ...],
        source: str = "",
        redact: Callable[[str], str] = str,
    ) -> None:
        self.provider = provider
        self.modes = modes
        # A model listed twice (with and without `reason: true`) is two rows, told apart by `reason`.
        self.twins = results.twinned([m.id for m in provider.models], [m.id for m in (previous.models if previous else [])])
        self._done: dict[results.RowKey, ModelResult] = {self._key(m): m for m in previous.models} if previous else {}
        pending_keys = {self._key(m) for m in pending}
        earlier = previous.incomplete if previous else []
        earlier = [row for row in earlier if results.row_key(*row, self.twins) not in pending_keys]
        self.result = ProviderResult(
            provider=provider.name,
            generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            llmprobe_version=__version__,
            country=provider.country,
            dashboard=provider.dashboard,
            local=provider.local,
            incomplete=earlier + [(m.id, m.reason) for m in pending],
            source=source,
        )
        self._writer = results_file.ResultsWriter(out_path, redact=redact)
        self._saving = asyncio.Lock()
        #: Models finished so far, and how many of them the file on disk holds.
        self._finished = 0
        self._saved = 0

    def _key(self, model: ModelConfig | ModelResult) -> results.RowKey:
        return results.row_key(model.id, model.reason, self.twins)

    def label(self, model: ModelConfig) -> str:
        """The row's name in cassettes and logs (`results.row_label`)."""
        return results.row_label(model.id, model.reason, self.twins)

    def save(self) -> None:
        self._writer.save(self._snapshot())

    async def finished(self, model: ModelConfig, fresh: ModelResult, *, complete: bool) -> None:
        """`fresh` is `model`'s row from now on, saved; a row not `complete` (cut short by the
        budget, or by a refused key) stays `incomplete`, so `run --resume` finishes it."""
        if model.id in self.twins:
            # Reasoning seen in the replies must not turn one twin into the other.
            fresh.reason = model.reason
        old = self._done.get(self._key(model))
        if old is not None and old.probed:
            # A run limited to some modes keeps the other modes' earlier results.
            fresh.modes = {**{k: m for k, m in old.modes.items() if k not in self.modes}, **fresh.modes}
        self._done[self._key(model)] = fresh
        if complete:
            self.result.incomplete.remove((model.id, model.reason))
        self._finished += 1
        await self._save_finished()

    def _snapshot(self) -> ProviderResult:
        """The file as of now; later changes to `result` do not reach it."""
        result = self.result
        result.models = []
        for model in self.provider.models:
            if not model.probe:
                result.models.append(ModelResult(id=model.id, tier=model.tier, reason=model.reason, probed=False))
            elif self._key(model) in self._done:
                result.models.append(self._done[self._key(model)])
        costs = [m.cost for m in result.models if m.cost is not None]
        result.cost = Cost.total(costs) if costs else None
        return dataclasses.replace(result, incomplete=list(result.incomplete))

    async def _save_finished(self) -> None:
        """Save once the models finished so far are on disk, writing from a thread: fsync
        blocks for milliseconds (tens with hundreds of models), and the event loop must go
        on reading answers meanwhile. Saves queue one behind the other, and one that finds
        its models already written by the save before it writes nothing: a file grows
        with its models, and writing it once per model would be quadratic."""
        wanted = self._finished
        async with self._saving:
            if self._saved < wanted:
                covered = self._finished
                await asyncio.to_thread(self._writer.save, self._snapshot())
                self._saved = covered
