"""The command line every stage shares: read params.yaml, run, print one summary line.

A `KombatError` (bad input, bad config) becomes one line on stderr and exit code 2, so DVC
stops the pipeline with a message that names the file or key and what is wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kombat import schema
from kombat.errors import KombatError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter hides our output


def stage_main(name: str, doc: str | None, run: Callable[..., str], paths: dict[str, str],
               argv: list[str] | None = None) -> int:
    """Parse `--params` and one `--<path>` flag per entry of `paths`, then call `run(cfg, **paths)`."""
    parser = argparse.ArgumentParser(prog=f"python -m kombat.stages.{name}", description=doc)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="validated config (default: params.yaml)")
    for key, help_text in paths.items():
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=Path, required=True, help=help_text)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        cfg = schema.load(args.params)
        summary = run(cfg, **{key: getattr(args, key) for key in paths})
    except KombatError as exc:
        print(f"kombat {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kombat {name}: interrupted; earlier outputs are untouched", file=sys.stderr)
        return 130
    print(f"{name}: {summary} [{time.perf_counter() - started:.1f} s]")
    return 0


def tool_main(name: str, body: Callable[[], str]) -> int:
    """A tool's command line (record, label): its summary on stdout and exit 0, or one line on stderr
    and exit 2 for bad input (KombatError)."""
    try:
        summary = body()
    except KombatError as exc:
        print(f"kombat {name}: error: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0
