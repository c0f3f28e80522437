"""Runs launched per second: the time to fill `parallelism: 200`, and the steady launch rate
when short runs keep freeing capacity (end to end: create, run, record, release, replace)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from kubesweep import api

from .harness import Backend, EventTimes, cluster, grid_spec, median, table

USES_CLUSTER = True


def measure(backend: Backend, fill: int, steady_runs: int) -> list[tuple[str, float, float]]:
    rows = []
    with cluster(backend) as c:
        fills = []
        for trial in range(3):
            ns = c.namespace(f"fill-{trial}")
            jobs = EventTimes(c.batch.list_namespaced_job, ns, label_selector=api.LABEL_SWEEP)
            start = time.monotonic()
            c.create_sweep(ns, "wide", grid_spec(fill * 2, fill, 600.0))
            seen = 0
            last = start
            while seen < fill:
                last = jobs.next_after(start, lambda kind, body: kind == "ADDED", timeout=120)
                seen += 1
            jobs.stop()
            fills.append(last - start)
            c.set_state(ns, "wide", "cancelled")
        rows.append((f"fill parallelism {fill} (Jobs created)", median(fills), fill / median(fills)))
        # The cancelled pods' removal is work for the Job controller: let it end before the
        # steady sweep, so that sweep measures its own pace only.
        c.wait(
            lambda: not any(c.core.list_namespaced_pod(f"fill-{trial}").items for trial in range(3)),
            300,
            "the cancelled runs' pods gone",
            interval=0.5,
        )

        ns = c.namespace("steady")
        start = time.monotonic()
        c.create_sweep(ns, "steady", grid_spec(steady_runs, 20, 0.05))
        c.wait(lambda: c.phase(ns, "steady") == "Finished", 900, "the steady sweep", interval=0.2)
        took = time.monotonic() - start
        rows.append((f"{steady_runs} runs of 0.05 s, parallelism 20", took, steady_runs / took))
    print(f"throughput {backend}: {rows}", file=sys.stderr, flush=True)
    return rows


def run(quick: bool, backends: Sequence[Backend] = ("sandbox",)) -> str:
    fill = 50 if quick else 200
    steady_runs = 100 if quick else 400
    measured = {backend: measure(backend, fill, steady_runs) for backend in backends}
    header = ["scenario"]
    for backend in backends:
        header += [f"{backend} s (median)", f"{backend} runs/s"]
    rows: list[list[Any]] = []
    for i, (scenario, _, _) in enumerate(next(iter(measured.values()))):
        row: list[Any] = [scenario]
        for backend in backends:
            row += [measured[backend][i][1], measured[backend][i][2]]
        rows.append(row)
    return table("Runs launched per second", header, rows)
