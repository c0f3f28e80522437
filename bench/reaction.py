"""Reaction latency: from a `spec.state` patch to its effect, with 1, 100 and 500 active sweeps.

- cancel: the first pod of the sweep gone (the operator's grace-0 collection delete reached it);
- resume (after the cancel): the sweep's next Job created;
- pause: the sweep's status says Paused (the pass that withholds new runs has run).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubesweep import api

from .harness import Cluster, EventTimes, cluster, grid_spec, median, percentile, table

# Trials start once the operator has worked through the launch of every sweep's first run: the
# latency measured is that of a steady state, not of a backlog (0.5 s after the last pod of 100
# sweeps appeared, the first cancel took up to 0.9 s).
SETTLE = 3.0
LONG = 600.0  # runs that outlive the benchmark: every sweep stays active


def _of_sweep(name: str, event: str) -> Callable[[str, dict[str, Any]], bool]:
    def match(kind: str, body: dict[str, Any]) -> bool:
        labels = (body.get("metadata") or {}).get("labels") or {}
        return kind == event and labels.get(api.LABEL_SWEEP) == name

    return match


def measure(c: Cluster, active: int, trials: int) -> dict[str, list[float]]:
    ns = c.namespace(f"react-{active}")
    for i in range(active):
        c.create_sweep(ns, f"s{i}", grid_spec(1000, 1, LONG))
    c.wait(
        lambda: len(c.core.list_namespaced_pod(ns, label_selector=api.LABEL_SWEEP).items) >= active,
        max(60.0, active / 5),
        f"{active} active runs",
        interval=0.5,
    )
    pods = EventTimes(c.core.list_namespaced_pod, ns, label_selector=api.LABEL_SWEEP)
    jobs = EventTimes(c.batch.list_namespaced_job, ns, label_selector=api.LABEL_SWEEP)
    sweeps = EventTimes(c.custom.list_namespaced_custom_object, api.GROUP, api.VERSION, ns, api.PLURAL)
    time.sleep(SETTLE)
    out: dict[str, list[float]] = {"cancel": [], "resume": [], "pause": []}
    try:
        for t in range(trials):
            name = f"s{t % active}"
            for queue_ in (pods, jobs, sweeps):
                queue_.drain()
            start = time.monotonic()
            c.set_state(ns, name, "cancelled")
            out["cancel"].append(pods.next_after(start, _of_sweep(name, "DELETED")) - start)
            start = time.monotonic()
            c.set_state(ns, name, "running")
            out["resume"].append(jobs.next_after(start, _of_sweep(name, "ADDED")) - start)
            start = time.monotonic()
            c.set_state(ns, name, "paused")

            def paused(kind: str, body: dict[str, Any], n: str = name) -> bool:
                return body["metadata"]["name"] == n and (body.get("status") or {}).get("phase") == "Paused"

            out["pause"].append(sweeps.next_after(start, paused) - start)
            c.set_state(ns, name, "running")
    finally:
        for w in (pods, jobs, sweeps):
            w.stop()
    return out


def run(quick: bool) -> str:
    sizes = (1, 20, 100) if quick else (1, 100, 500)
    trials = 10 if quick else 30
    rows = []
    with cluster() as c:
        for active in sizes:
            result = measure(c, active, trials)
            for action, values in result.items():
                ms = [v * 1000 for v in values]
                rows.append((active, action, len(ms), median(ms), percentile(ms, 99), 5000 / median(ms)))
    return table(
        "Reaction latency from a spec.state patch to its effect (ms)",
        ["active sweeps", "action", "samples", "p50 ms", "p99 ms", "vs W&B agent's 5 s poll (x faster)"],
        rows,
    )
