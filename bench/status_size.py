"""The size of a sweep's status with up to 100,000 runs, against etcd's 1.5 MB object limit.
Every ended run's record goes into status.recordedRuns, the newest 500 (and the 32 best) in
full and older ones folded into ranges and counts. Measured for runs whose Jobs were released
(the steady state) and for the first pass over Jobs that all still carry their records (an
upgrade from before runs were released: at most 200 are released, so recorded, per pass)."""

from __future__ import annotations

import json
from dataclasses import replace

from kubesweep import reconcile
from kubesweep.api import RunState
from kubesweep.runs import Run, Stage

from .harness import table

ETCD_LIMIT = 1.5 * 1024 * 1024


def _sweep(status: dict[str, object] | None = None) -> dict[str, object]:
    return {
        "metadata": {"name": "big", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {
            "method": "random",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"lr": {"min": 0.0001, "max": 0.1}, "batch": {"values": [16, 32, 64]}},
            "template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        },
        "status": status or {},
    }


def _runs(n: int) -> list[Run]:
    return [
        Run(
            name=f"big-{i:04d}",
            number=i,
            parameters={"lr": 0.001 + i * 1e-7, "batch": 32},
            state=RunState.FINISHED,
            metrics={"loss": 1.0 / i},
            stage=Stage.IN_STATUS,
        )
        for i in range(1, n + 1)
    ]


def run(quick: bool) -> str:
    del quick
    rows = []
    for n in (100, 1000, 10000, 100000):
        released = [replace(r, stage=Stage.RELEASED) for r in _runs(n)]
        decision = reconcile.decide(_sweep(), released)
        size = len(json.dumps(decision.status))
        rows.append((n, "every run released (recordedRuns + foldedRuns)", size, size / ETCD_LIMIT * 100))
        kept = [replace(r, stage=Stage.ON_JOB) for r in _runs(n)]
        decision = reconcile.decide(_sweep(), kept)
        size = len(json.dumps(decision.status))
        rows.append((n, "first pass over Jobs kept from before", size, size / ETCD_LIMIT * 100))
    return table("Sweep status size", ["runs", "case", "bytes", "% of etcd's 1.5 MB"], rows)
