"""llama.cpp's own HTTP server, embedded by xllamacpp, as a process the launcher can start and stop.

`python -m llmprobe.local_server --model FILE --port N ...` loads the model, serves the
OpenAI-compatible API on 127.0.0.1 and returns only on SIGTERM or SIGINT, after llama.cpp's
server has shut down (its log goes to this process's stderr, which the launcher keeps). The
model file is not ours to find here: the launcher passes it (see launcher.model_file).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

#: What to do where pip installed no xllamacpp: the `local` extra's marker leaves it out on
#: platforms without a binary wheel, rather than compiling llama.cpp for many minutes.
NOT_INSTALLED = (
    "xllamacpp (llama.cpp's server) is not installed: pip install -e '.[local]'; where that installs "
    "nothing, xllamacpp has no binary wheel for this platform: run any OpenAI-compatible server "
    "yourself and give its address to llmprobe (--base-url, or base_url in providers.yaml)"
)

#: How long a failed start waits before its last line, for llama.cpp's log thread to catch up.
_LOG_DRAIN_SECONDS = 0.5


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m llmprobe.local_server", description=__doc__)
    parser.add_argument("--model", required=True, type=Path, help="the GGUF file")
    parser.add_argument("--alias", required=True, help="the model id the API serves it as")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ctx-size", type=int, default=512, help="context tokens per slot")
    parser.add_argument("--parallel", type=int, default=1, help="slots: requests decoded together")
    parser.add_argument("--threads", type=int, default=-1, help="CPU threads (-1: llama.cpp's choice, one per core)")
    return parser.parse_args(argv)


def serve(args: argparse.Namespace, stop: threading.Event) -> None:
    """Runs the server until `stop` is set. llama.cpp sizes its context for all slots together,
    so each slot gets --ctx-size tokens."""
    try:
        import xllamacpp
    except ImportError:
        raise SystemExit(NOT_INSTALLED) from None
    if not args.model.is_file():
        raise SystemExit(f"no model file at {args.model}")
    params = xllamacpp.CommonParams()
    params.model.path = str(args.model)
    params.model_alias = {args.alias}
    params.hostnames = [args.host]
    params.port = args.port
    params.n_parallel = args.parallel
    params.n_ctx = args.ctx_size * args.parallel
    # The context is sized above, so llama.cpp's fitting of it to the device's free memory (a trial
    # load of the model first) would only cost CPU at every start; it is for memory-bound GPUs.
    params.fit_params = False
    for cpu in (params.cpuparams, params.cpuparams_batch):
        cpu.n_threads = args.threads
    # The chat template shipped in the GGUF, rendered as llama.cpp's own server does by default.
    params.use_jinja = True
    try:
        server = xllamacpp.Server(params)
    except RuntimeError as exc:
        # llama.cpp has logged why above (an unreadable model, a port taken); the launcher shows
        # the log's last lines, so the last one says what failed without a traceback. llama.cpp
        # writes its log from a thread of its own, a moment behind: without the pause its last
        # lines could come after this one, or split it, on a busy machine.
        time.sleep(_LOG_DRAIN_SECONDS)
        raise SystemExit(f"llama.cpp's server did not start: {exc}") from None
    stop.wait()
    # Returning drops the server: llama.cpp stops its HTTP thread and frees the model.
    del server


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serve(args, stop)


if __name__ == "__main__":
    main()
