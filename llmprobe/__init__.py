"""llmprobe: measure what LLM providers really support, by asking them."""

__version__ = "0.1.0"
