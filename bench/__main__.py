"""`make bench` / `python -m bench [--quick] [--only NAME ...]`: every benchmark, printed as tables."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time

SUITES = ["status_size", "reaction", "throughput", "requests", "memory", "bayes_vs_wandb"]


def machine() -> str:
    cpus = os.cpu_count()
    return f"{platform.machine()}, {cpus} CPUs, Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer samples")
    parser.add_argument("--only", nargs="*", choices=SUITES, default=SUITES)
    args = parser.parse_args(argv)
    print(f"# kubesweep benchmarks\n\nMachine: {machine()}\n", flush=True)
    for name in args.only:
        module = importlib.import_module(f"bench.{name}")
        started = time.monotonic()
        try:
            print(module.run(args.quick), flush=True)
        except Exception as exc:  # one broken benchmark must not hide the others' tables
            print(f"## {name}\n\nfailed: {exc!r}\n", flush=True)
        print(f"({name} took {time.monotonic() - started:.0f} s)\n", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
