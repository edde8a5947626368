"""How long rendering takes for a provider with 100 models, against the 1 s target.

Run: python benchmarks/render_bench.py
"""

from __future__ import annotations

import sys
import time
from io import StringIO
from pathlib import Path

# Runnable from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from llmprobe.capabilities import NAMES  # noqa: E402
from llmprobe.config import TIERS, ModelConfig, ProviderConfig  # noqa: E402
from llmprobe.render import renderer  # noqa: E402
from llmprobe.render.page import Page  # noqa: E402
from llmprobe.results import MODES, VERDICTS, Modality, ModelResult, ModeResult, ProviderResult  # noqa: E402

MODELS = 100
TARGET_SECONDS = 1.0
REPEATS = 5


def synthetic_provider() -> tuple[ProviderConfig, ProviderResult]:
    """Every verdict value, tier, mode mix and a few unprobed models, so no cell path is skipped."""
    configs, results = [], []
    for i in range(MODELS):
        model_id = f"vendor-{i % 7}/model-{i:03d}-instruct"
        configs.append(ModelConfig(id=model_id, tier=TIERS[i % 4] if i % 4 < 3 else None, reason=i % 5 == 0, probe=i % 10 != 9))
        verdicts = {name: VERDICTS[(i + j) % len(VERDICTS)] for j, name in enumerate(NAMES)}
        results.append(
            ModelResult(
                id=model_id,
                in_={"text": Modality(inline=True), "image": Modality(url=i % 2 == 0)},
                out={"text": Modality(inline=True)},
                modes={mode: ModeResult(verdicts=dict(verdicts)) for mode in MODES[: 1 + i % 2]},
            )
        )
    config = ProviderConfig(name="synthetic", api="openai", base_url="", country="US", models=tuple(configs))
    return config, ProviderResult(provider="synthetic", generated_at="", llmprobe_version="", models=results)


def best_of(render) -> float:
    """Best of a few runs: the least disturbed by whatever else the machine is doing."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        render()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    providers = [synthetic_provider()]
    several = providers + [synthetic_provider()]
    renders = {
        "markdown (1 provider)": lambda: renderer("markdown")(Page(providers), StringIO()),
        "markdown (2 providers + summary)": lambda: renderer("markdown")(Page(several, "compact"), StringIO()),
        "terminal (1 provider)": lambda: renderer("terminal")(Page(providers), StringIO()),
        "json (1 provider)": lambda: renderer("json")(Page(providers), StringIO()),
    }
    print(f"{MODELS} models per provider, best of {REPEATS} runs, target {TARGET_SECONDS:.1f} s")
    for name, render in renders.items():
        seconds = best_of(render)
        print(f"{name:<34} {seconds * 1000:8.1f} ms   {seconds / TARGET_SECONDS:6.1%} of target")


if __name__ == "__main__":
    main()
