"""Runs launched per second: the time to fill `parallelism: 200`, and the steady launch rate
when short runs keep freeing capacity."""

from __future__ import annotations

import time

from kubesweep import api

from .harness import EventTimes, cluster, grid_spec, median, table


def run(quick: bool) -> str:
    fill = 50 if quick else 200
    steady_runs = 100 if quick else 400
    rows = []
    with cluster() as c:
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
        rows.append((f"fill parallelism {fill}", median(fills), fill / median(fills)))

        ns = c.namespace("steady")
        start = time.monotonic()
        c.create_sweep(ns, "steady", grid_spec(steady_runs, 20, 0.05))
        c.wait(lambda: c.phase(ns, "steady") == "Finished", 600, "the steady sweep", interval=0.2)
        took = time.monotonic() - start
        rows.append((f"{steady_runs} runs of 0.05 s, parallelism 20", took, steady_runs / took))
    return table("Runs launched per second", ["scenario", "seconds (median)", "runs/s"], rows)
