"""The progress bar on a terminal: its total follows what the run really sends, so it ends full."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from io import StringIO
from pathlib import Path

from rich.console import Console

from llmprobe.jobs import plan_job, run_jobs
from llmprobe.progress import RunProgress
from support.fake_openai import FakeOpenAI, RecordedRequest, Scripted, json_response
from support.passing_provider import passing_provider_config, wire_answer

HELLO = "Say hello. Use only one word."


def test_the_bar_ends_at_its_total_with_dropped_probes_fallbacks_and_retries(tmp_path: Path) -> None:
    retried: list[str] = []

    def script(request: RecordedRequest) -> Scripted:
        body = request.json
        plain_hello = body["messages"][0]["content"] == HELLO and "seed" not in body and "logprobs" not in body
        if body.get("stream") and plain_hello:
            # Text refused in stream mode: the mode's other 20 planned probes leave the total.
            return json_response({"error": {"message": "streaming is not supported"}}, status=400)
        if body.get("tool_choice") == "required":
            # No call when one is required: SquareRoot-1-any joins the total.
            return json_response(
                {"choices": [{"index": 0, "message": {"role": "assistant", "content": "363.89"}, "finish_reason": "stop"}]}
            )
        if body.get("seed") is not None and not retried:
            # One server error, retried at once: the retry joins the total.
            retried.append("Seed")
            return json_response({"error": {"message": "overloaded"}}, status=503, headers={"retry-after": "0"})
        return wire_answer(body, 0.0)

    stream = StringIO()
    progress = RunProgress(Console(file=stream, force_terminal=True, width=120))
    with FakeOpenAI(script) as server:
        provider = dataclasses.replace(passing_provider_config(server.base_url, 1), max_retries=1)
        job = plan_job(provider, [], None, replay=None)
        asyncio.run(run_jobs([job], ("sync", "stream"), tmp_path, None, None, 2, progress))
        sent = len(server.requests)

    # sync: 34 sent of 42 planned (Text, 13 independent, SquareRoot-1, -2, 2 ToolBias, 24 media, of which
    # the 8 audio, video and PDF by URL have no chat-completions part and are never sent) + -1-any + 1 retry;
    # stream: Text and SquareRoot-1 (sent beside it) alone.
    assert sent == progress.requests == 34 + 1 + 1 + 2
    output = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    totals = re.findall(r"(\d+)/(\d+) requests", output)
    assert totals[-1] == (str(sent), str(sent)), "the bar must end full"
    assert all(int(done) <= int(total) for done, total in totals)
    assert "fake fake/model-00: done (sync, stream; " in output
