"""`make bench` / `python -m bench [--quick] [--only NAME ...] [--backend sandbox|real|both]`:
every benchmark, printed as tables; those that need a cluster run on each backend asked for."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from collections.abc import Sequence

from .harness import BACKENDS, Backend, k8s_bin, real_unavailable

SUITES = [
    "status_size",
    "reaction",
    "interference",
    "throughput",
    "requests",
    "memory",
    "bayes_vs_wandb",
    "strategies",
    "multi_objective",
]


def machine() -> str:
    cpus = os.cpu_count()
    return f"{platform.machine()}, {cpus} CPUs, Python {platform.python_version()}, {platform.system()}"


def backends_for(choice: str | None) -> tuple[tuple[Backend, ...], str]:
    """The backends to run on, and a line saying why: both when the real control plane's
    binaries are there, else the sandbox alone."""
    reason = real_unavailable()
    if choice is None:
        if reason:
            return ("sandbox",), f"Backend: the sandbox only (no real control plane: {reason})"
        return BACKENDS, f"Backends: the sandbox and a real control plane from {k8s_bin()}"
    if choice != "sandbox" and reason:
        raise SystemExit(f"--backend {choice}: no real control plane: {reason}")
    chosen: tuple[Backend, ...] = BACKENDS if choice == "both" else (choice,)  # type: ignore[assignment]
    where = f" (real: {k8s_bin()})" if "real" in chosen else ""
    return chosen, f"Backends: {', '.join(chosen)}{where}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer samples")
    parser.add_argument("--only", nargs="*", choices=SUITES, default=SUITES)
    parser.add_argument(
        "--backend",
        choices=["sandbox", "real", "both"],
        default=None,
        help="the cluster: the emulated sandbox, a real control plane (KUBESWEEP_K8S_BIN, else "
        "../shared/k8s/bin), or both side by side (the default when the binaries are there)",
    )
    args = parser.parse_args(argv)
    backends, said = backends_for(args.backend)
    load = os.getloadavg()
    print(
        f"# kubesweep benchmarks\n\nMachine: {machine()}; load average at start {load[0]:.2f} / "
        f"{load[1]:.2f} / {load[2]:.2f}\n{said}\n",
        flush=True,
    )
    for name in args.only:
        module = importlib.import_module(f"bench.{name}")
        started = time.monotonic()
        try:
            if getattr(module, "USES_CLUSTER", False):
                print(module.run(args.quick, backends), flush=True)
            else:
                print(module.run(args.quick), flush=True)
        except Exception as exc:  # one broken benchmark must not hide the others' tables
            print(f"## {name}\n\nfailed: {exc!r}\n", flush=True)
        print(f"({name} took {time.monotonic() - started:.0f} s)\n", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
