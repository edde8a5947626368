"""Copies the trimmed set of the reference's recordings from ../shared/fixtures into this folder.

The set is what the comparison tests need when ../shared is absent (GitHub's CI): per provider, every
cassette of the models in MODELS (both modes, every probe), the error cassettes and the whole
scoreboard.json, byte for byte; the small cassettes of the other models where SINGLES says; and two of
the reference's scoreboard pages (seeds). The tests compare the models in MODELS (`conftest.recorded`),
so adding one is a line below and a rerun: `python tests/recordings/trim.py`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared"

#: Recording folder → model folders kept (a `_thinking` folder is the model run with reasoning on).
MODELS = {
    "anthropic-2025-09-02": ["claude-3-5-haiku-20241022", "claude-sonnet-4-20250514_thinking"],
    "cerebras-2025-09-02": ["llama3.1-8b"],
    "cloudflare-2025-09-02": ["@cf/meta/llama-3.2-3b-instruct", "@cf/meta/llama-4-scout-17b-16e-instruct"],
    "cohere-2025-09-02": [
        "c4ai-aya-vision-8b_thinking",
        "command-a-reasoning-08-2025_thinking",
        "command-light",
        "command-r7b-12-2024_thinking",
        "command-r_thinking",
    ],
    "deepseek-2025-09-02": ["deepseek-chat"],
    "gemini-2025-09-02": ["gemini-2.5-flash"],
    "groq-2025-08-29": ["llama-3.1-8b-instant"],
    "huggingface-2025-09-02": ["meta-llama/Llama-3.3-70B-Instruct"],
    "mistral-2025-09-02": ["mistral-tiny-latest"],
    "ollama-2025-08-28": ["gemma3-4b"],
    "openaichat-2025-09-02": ["gpt-4.1-nano"],
    "openairesponses-2025-09-03": ["gpt-4.1"],
    "perplexity-2025-09-02": ["sonar-pro"],
    "togetherai-2025-09-01": ["google/gemma-3-27b-it"],
}

#: Folders whose tests read each recording on its own (parse it, check its error): of their other models,
#: the cassettes smaller than this many bytes are kept too. Such a model's folder is partial, so no test
#: compares its verdicts (see `recorded` in tests/conftest.py); the big cassettes carry inline media.
SINGLES = ["anthropic-2025-09-02", "gemini-2025-09-02", "groq-2025-08-29", "ollama-2025-08-28", "openairesponses-2025-09-03"]
SINGLE_BYTES = 3072

#: The reference's scoreboard pages the Markdown renderer is compared with.
SEEDS = ["groq.md", "cloudflare.md"]


def main() -> None:
    for folder, models in MODELS.items():
        source, target = SHARED / "fixtures" / folder, HERE / folder
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        shutil.copy2(source / "scoreboard.json", target)
        shutil.copytree(source / "error-cassettes", target / "error-cassettes")
        for model in models:
            shutil.copytree(source / "scoreboard-cassettes" / model, target / "scoreboard-cassettes" / model)
        if folder in SINGLES:
            for cassette in (source / "scoreboard-cassettes").rglob("Gen*.yaml"):
                copy = target / cassette.relative_to(source)
                if not copy.exists() and cassette.stat().st_size < SINGLE_BYTES:
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(cassette, copy)
    (HERE / "seeds").mkdir(exist_ok=True)
    for seed in SEEDS:
        shutil.copy2(SHARED / "seeds" / seed, HERE / "seeds")


if __name__ == "__main__":
    main()
