"""Concurrency must change how fast a run is, never what it finds; and the slot limit must hold.

No timing assertions: the fake's answers are a pure function of the request, so
the only thing concurrency may change is when they arrive.
"""

from __future__ import annotations

import asyncio
from io import StringIO
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from llmprobe.battery import load_battery
from llmprobe.client import ProviderClient
from llmprobe.dialects import get_dialect
from llmprobe.errors import UnsupportedOption
from llmprobe.jobs import plan_job, run_jobs
from llmprobe.neutral import Exchange
from llmprobe.progress import RunProgress
from llmprobe.results_file import load
from llmprobe.runner import ProviderRun
from llmprobe.scheduler import Slots
from support.passing_provider import EXPECTED_VERDICTS, PassingProvider, passing_provider_config, verdicts_by_model

LATENCY = 0.02
MODELS = 3


def probe_all(base_url: str, out: Path, concurrency: int) -> dict[tuple[str, str], dict[str, str]]:
    """A full run of every model in both modes, as `llmprobe run` does it; its verdicts."""
    provider = passing_provider_config(base_url, MODELS)
    job = plan_job(provider, [], None, replay=None)
    progress = RunProgress(Console(file=StringIO()))
    ok = asyncio.run(run_jobs([job], ("sync", "stream"), out, None, None, concurrency, progress))
    assert ok, "every probe should have been answered"
    return verdicts_by_model(load(out / f"{provider.name}.json").models)


@pytest.fixture(scope="module")
def server():
    with PassingProvider(LATENCY) as running:
        yield running


def test_verdicts_do_not_depend_on_concurrency(server, tmp_path):
    concurrent = probe_all(server.base_url, tmp_path / "c8", 8)
    sequential = probe_all(server.base_url, tmp_path / "c1", 1)
    assert concurrent == sequential
    assert len(concurrent) == MODELS * 2
    assert all(verdicts == EXPECTED_VERDICTS for verdicts in concurrent.values())


def test_the_server_never_sees_more_requests_than_the_limit(server, tmp_path):
    server.peak_in_flight = 0
    probe_all(server.base_url, tmp_path, 2)
    assert server.in_flight == 0
    assert server.peak_in_flight <= 2


def test_with_one_slot_the_tool_chain_goes_before_the_independent_probes(server, tmp_path):
    """The runner's priorities, seen in the order requests complete when only one is in flight."""
    completed: list[str] = []

    class Listener:
        def planned(self, requests: int) -> None:
            pass

        def __call__(self, model: str, mode: str, probe: str, exchange: Exchange) -> None:
            # A probe the dialect refuses (a medium by URL it has no part for) never takes the slot.
            if not isinstance(exchange.error, UnsupportedOption):
                completed.append(probe)

    async def run() -> None:
        provider = passing_provider_config(server.base_url, 1)
        async with httpx.AsyncHTTPTransport() as transport:
            client = ProviderClient(get_dialect("openai", server.base_url), transport, concurrency=1)
            modes = ("sync", "stream")
            out = tmp_path / "fake.json"
            await ProviderRun(provider, list(provider.models), modes, client, load_battery(), out, listener=Listener()).run()

    asyncio.run(run())
    assert completed[:2] == ["Text", "Text"]
    # A step of the chain takes over its predecessor's slot, so each mode's -2 may follow its -1 at once.
    assert sorted(completed[2:6]) == ["Tools-SquareRoot-1"] * 2 + ["Tools-SquareRoot-2"] * 2
    # ToolBias has nothing after it, but the model is not done without it: it too goes before
    # the independent probes queued before it.
    assert sorted(completed[6:10]) == ["Tools-ToolBias-Canada"] * 2 + ["Tools-ToolBias-USA"] * 2


def test_models_finish_in_the_order_they_were_started(server, tmp_path):
    """Earlier models' requests go first, so a run saves one model after another (`--resume` keeps most)."""
    finished: list[str] = []

    async def run() -> None:
        provider = passing_provider_config(server.base_url, 4)
        async with httpx.AsyncHTTPTransport() as transport:
            client = ProviderClient(get_dialect("openai", server.base_url), transport, concurrency=4)
            run = ProviderRun(provider, list(provider.models), ("sync", "stream"), client, load_battery(), tmp_path / "f.json")
            run.on_model = lambda result: finished.append(result.id)
            await run.run()

    asyncio.run(run())
    assert finished == [f"fake/model-{i:02d}" for i in range(4)]


# --- Slots ------------------------------------------------------------------------------------
# Everything below runs without I/O, so what can run does so within a few loop turns: a task
# that is not done after `settle()` is blocked, and a lost slot fails an assertion, not a hang.


async def settle() -> None:
    """Let every runnable task run until it blocks."""
    for _ in range(50):
        await asyncio.sleep(0)


async def take(slots: Slots, order: list[str], label: str, priority: int) -> None:
    async with slots.hold((priority,)):
        order.append(label)


async def queue_behind(slots: Slots, order: list[str], waiters: list[tuple[str, int]]) -> list[asyncio.Task[None]]:
    """Start one task per (label, priority) that takes a slot, notes its label and lets go."""

    tasks = []
    for label, priority in waiters:
        tasks.append(asyncio.create_task(take(slots, order, label, priority)))
        await settle()
    return tasks


def test_slots_serve_highest_priority_first_and_fifo_among_equals():
    async def scenario() -> list[str]:
        slots = Slots(1)
        order: list[str] = []
        async with slots.hold():
            tasks = await queue_behind(slots, order, [("a0", 0), ("b2", 2), ("c1", 1), ("d2", 2), ("e0", 0)])
            assert order == []
        await settle()
        assert all(task.done() for task in tasks)
        return order

    assert asyncio.run(scenario()) == ["b2", "d2", "c1", "a0", "e0"]


def test_a_free_slot_is_taken_at_once_and_the_limit_holds():
    async def scenario() -> list[str]:
        slots = Slots(2)
        order: list[str] = []
        async with slots.hold():
            await queue_behind(slots, order, [("second", 0)])
            assert order == ["second"]
            async with slots.hold():
                [third] = await queue_behind(slots, order, [("third", 9)])
                assert not third.done()
            await settle()
            assert third.done()
        return order

    assert asyncio.run(scenario()) == ["second", "third"]


def test_a_cancelled_waiter_leaves_the_queue_without_taking_a_slot():
    async def scenario() -> list[str]:
        slots = Slots(1)
        order: list[str] = []
        async with slots.hold():
            cancelled, kept = await queue_behind(slots, order, [("cancelled", 5), ("kept", 1)])
            cancelled.cancel()
            await settle()
        await settle()
        assert cancelled.cancelled() and kept.done()
        [late] = await queue_behind(slots, order, [("late", 0)])
        assert late.done(), "a slot was lost"
        return order

    assert asyncio.run(scenario()) == ["kept", "late"]


def test_a_waiter_cancelled_after_being_handed_the_slot_passes_it_on():
    async def scenario() -> list[str]:
        slots = Slots(1)
        order: list[str] = []
        holder = slots.hold()
        await holder.__aenter__()
        granted, next_in_line = await queue_behind(slots, order, [("granted", 1), ("next", 0)])
        # Release and cancel in the same turn: the slot is handed to `granted`, which is
        # cancelled before it can run; the slot must go on to `next`, not vanish.
        await holder.__aexit__(None, None, None)
        granted.cancel()
        await settle()
        assert granted.cancelled() and next_in_line.done()
        [late] = await queue_behind(slots, order, [("late", 0)])
        assert late.done(), "a slot was lost"
        return order

    assert asyncio.run(scenario()) == ["next", "late"]


def test_slots_need_at_least_one():
    with pytest.raises(ValueError):
        Slots(0)


# --- Slots: parking a slot for a due opener (its answer lets higher-priority requests go) -------


async def hold_until(slots: Slots, priority: int, release: asyncio.Event, *, opens: int | None = None) -> None:
    async with slots.hold((priority,), opens=None if opens is None else (opens,)):
        await release.wait()


def test_a_slot_released_while_an_opener_is_due_goes_to_the_requests_it_lets_go():
    """Two requests sent together: the later model's comes back first. Its slot must not go to a
    later model's waiter while the opener (the leading model's gate) is due, but to what it opens."""

    async def scenario() -> list[str]:
        slots = Slots(2)
        order: list[str] = []
        gate_back, other_back = asyncio.Event(), asyncio.Event()

        async def gate_then_probes() -> list[asyncio.Task[None]]:
            await hold_until(slots, 0, gate_back, opens=0)
            # What the gate lets go asks for its slots as soon as the gate is answered, all at once.
            return [asyncio.create_task(take(slots, order, label, 0)) for label in ("opened 1", "opened 2")]

        gate = asyncio.create_task(gate_then_probes())
        other = asyncio.create_task(hold_until(slots, -1, other_back))
        await settle()
        [later_model] = await queue_behind(slots, order, [("later model", -1)])
        await asyncio.sleep(0.2)  # both in flight as long as a request takes
        other_back.set()
        await settle()
        assert order == [], "the slot went to a later model while the gate was due"
        gate_back.set()
        opened = await gate
        await asyncio.gather(other, later_model, *opened)
        return order

    assert asyncio.run(scenario()) == ["opened 1", "opened 2", "later model"]


def test_a_parked_slot_is_handed_over_when_the_opener_does_not_come_back_soon():
    async def scenario() -> None:
        slots = Slots(2)
        order: list[str] = []
        gate_back, other_back = asyncio.Event(), asyncio.Event()
        gate = asyncio.create_task(hold_until(slots, 0, gate_back, opens=0))
        other = asyncio.create_task(hold_until(slots, -1, other_back))
        await settle()
        [later_model] = await queue_behind(slots, order, [("later model", -1)])
        await asyncio.sleep(0.1)
        other_back.set()
        # Parked for at most PARK_SHARE of the 0.1 s the other request took: 10 ms, not the gate's time.
        await asyncio.sleep(0.1)
        assert order == ["later model"] and not gate.done()
        gate_back.set()
        await asyncio.gather(gate, other, later_model)

    asyncio.run(scenario())


def test_an_opener_sent_well_after_the_releaser_is_not_waited_for():
    async def scenario() -> None:
        slots = Slots(2)
        order: list[str] = []
        gate_back, other_back = asyncio.Event(), asyncio.Event()
        other = asyncio.create_task(hold_until(slots, -1, other_back))
        await asyncio.sleep(0.2)
        gate = asyncio.create_task(hold_until(slots, 0, gate_back, opens=0))
        await settle()
        [later_model] = await queue_behind(slots, order, [("later model", -1)])
        other_back.set()
        await settle()
        assert order == ["later model"], "the slot waited for a gate that is not due for a while"
        gate_back.set()
        await asyncio.gather(gate, other, later_model)

    asyncio.run(scenario())
