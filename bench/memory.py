"""Operator memory (RSS) as sweeps and runs grow, on the simulated kubelet: it must stay under
300 MB at 1,000 sweeps x 50 runs and grow linearly.

Each sweep runs its 50 runs 5 at a time (W&B: five agents); the peak column is the operator's
high-water mark (VmHWM), which the launch storm of each step's new sweeps sets.

The full size (1,000 sweeps x 50 runs) runs on the sandbox alone (39 minutes on 2 CPUs). With the
real control plane among the backends, every backend runs a size that fits the real Job
controller's pace in about 10 minutes instead (up to 100 sweeps x 20 runs), so the two compare."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .harness import Backend, Cluster, cluster, grid_spec, table

USES_CLUSTER = True
PARALLELISM = 5
FULL = ((250, 500, 1000), 50)
# The real Job controller runs about 4 runs a second here (its client's default 20 requests/s):
# 2,000 runs take about 9 minutes.
COMPARED = ((25, 50, 100), 20)
QUICK = ((50, 100, 200), 10)
QUICK_COMPARED = ((10, 20, 40), 10)


def _proc_mb(c: Cluster, field: str) -> float:
    assert c.operator is not None
    for line in Path(f"/proc/{c.operator.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def measure(
    steps: tuple[int, ...], runs_per_sweep: int, parallelism: int = PARALLELISM, backend: Backend = "sandbox"
) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    with cluster(backend) as c:
        started = time.monotonic()
        baseline = c.operator_rss_mb()
        rows.append((backend, 0, 0, baseline, _proc_mb(c, "VmHWM"), float("nan"), 0.0))
        created = 0
        for target in steps:
            ns = c.namespace(f"mem-{target}")
            for i in range(created, target):
                c.create_sweep(ns, f"m{i}", grid_spec(runs_per_sweep, parallelism, 0.05))
            created = target
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                listed: Any = c.custom.list_cluster_custom_object("kubesweep.io", "v1alpha1", "sweeps")
                items = listed["items"]
                finished = sum(1 for s in items if (s.get("status") or {}).get("phase") == "Finished")
                if finished >= target + 1:  # + the probe sweep
                    break
                time.sleep(1.0)
            rss = c.operator_rss_mb()
            peak = _proc_mb(c, "VmHWM")
            rows.append(
                (
                    backend,
                    target,
                    target * runs_per_sweep,
                    rss,
                    peak,
                    (rss - baseline) / target * 1000,
                    time.monotonic() - started,
                )
            )
            print(f"memory: {rows[-1]}", file=sys.stderr, flush=True)  # partial results survive a timeout
    return rows


def sizes(quick: bool, backends: Sequence[Backend]) -> tuple[tuple[int, ...], int]:
    if "real" in backends:
        return QUICK_COMPARED if quick else COMPARED
    return QUICK if quick else FULL


def run(quick: bool, backends: Sequence[Backend] = ("sandbox",)) -> str:
    steps, runs_per_sweep = sizes(quick, backends)
    rows = [row for backend in backends for row in measure(steps, runs_per_sweep, backend=backend)]
    return table(
        f"Operator memory (RSS) with finished sweeps, their Jobs and pods kept ({PARALLELISM} runs at a time per sweep)",
        ["backend", "sweeps", "runs", "RSS MB", "peak RSS MB", "KB per sweep above baseline", "elapsed s"],
        rows,
    )
