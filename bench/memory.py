"""Operator memory (RSS) as sweeps and runs grow, on the simulated kubelet: it must stay under
300 MB at 1,000 sweeps x 50 runs and grow linearly."""

from __future__ import annotations

import sys
import time
from typing import Any

from .harness import cluster, grid_spec, table


def run(quick: bool) -> str:
    steps = (50, 100, 200) if quick else (250, 500, 1000)
    runs_per_sweep = 10 if quick else 50
    rows = []
    with cluster() as c:
        baseline = c.operator_rss_mb()
        rows.append((0, 0, baseline, float("nan")))
        created = 0
        for target in steps:
            ns = c.namespace(f"mem-{target}")
            for i in range(created, target):
                c.create_sweep(ns, f"m{i}", grid_spec(runs_per_sweep, runs_per_sweep, 0.05))
            created = target
            finished = 0
            deadline = time.monotonic() + 1800
            while time.monotonic() < deadline:
                listed: Any = c.custom.list_cluster_custom_object("kubesweep.io", "v1alpha1", "sweeps")
                items = listed["items"]
                finished = sum(1 for s in items if (s.get("status") or {}).get("phase") == "Finished")
                if finished >= target + 1:  # + the probe sweep
                    break
                time.sleep(1.0)
            rss = c.operator_rss_mb()
            rows.append((target, target * runs_per_sweep, rss, (rss - baseline) / target * 1000))
            print(f"memory: {rows[-1]}", file=sys.stderr, flush=True)  # partial results survive a timeout
    return table(
        "Operator memory (RSS) with finished sweeps held in its indexes",
        ["sweeps", "runs", "RSS MB", "KB per sweep above baseline"],
        rows,
    )
