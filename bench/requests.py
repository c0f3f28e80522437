"""API requests per run over its whole life, counted from each backend's record of the requests
the operator sent (the emulator's request record, or the real API server's audit log; user
agents kopf's and the operator's, discovery left out), against the minimum (1 create of the Job,
a share of the status writes batched per pass, 1 Job patch that writes its result and releases
it, 1 patch releasing its pod)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from kubesweep import api

from .harness import Backend, cluster, grid_spec, table

USES_CLUSTER = True
MINIMUM = 3.5  # a Job create, its release patch, its pod's, a share of the batched status writes


def measure(backend: Backend, runs: int) -> Counter[tuple[str, str]]:
    with cluster(backend) as c:
        mark = c.request_mark()
        ns = c.namespace("requests")
        c.create_sweep(ns, "count", grid_spec(runs, 10, 0.05))
        c.wait(lambda: c.phase(ns, "count") == "Finished", 900, "the sweep", interval=0.2)
        # The last runs are released just after the status that says Finished.
        c.wait(
            lambda: all(
                j.metadata is not None and (j.metadata.labels or {}).get(api.LABEL_RECORDED) == "true"
                for j in c.batch.list_namespaced_job(ns).items
            ),
            60,
            "every Job released",
            interval=0.2,
        )
        requests = c.operator_requests(since=mark)
    tally = Counter((r.verb, r.resource) for r in requests)
    print(f"requests {backend}: {dict(tally)}", file=sys.stderr, flush=True)
    return tally


def run(quick: bool, backends: Sequence[Backend] = ("sandbox",)) -> str:
    runs = 50 if quick else 200
    tallies = {backend: measure(backend, runs) for backend in backends}
    keys = sorted(
        {k for t in tallies.values() for k in t}, key=lambda k: -max(t[k] for t in tallies.values())
    )
    header = ["verb", "resource"]
    for backend in backends:
        header += [f"{backend} requests", f"{backend} per run"]
    rows: list[list[Any]] = []
    for verb, resource in keys:
        row: list[Any] = [verb, resource]
        for backend in backends:
            n = tallies[backend][(verb, resource)]
            row += [n, n / runs]
        rows.append(row)
    totals: list[Any] = ["all", ""]
    ratios: list[Any] = ["ratio to minimum", ""]
    for backend in backends:
        total = sum(tallies[backend].values())
        totals += [total, total / runs]
        ratios += ["", total / runs / MINIMUM]
    rows += [totals, ["minimum", "", *(["", MINIMUM] * len(backends))], ratios]
    return table(
        f"API requests of the operator per run ({runs} runs, parallelism 10; watches are long-lived)",
        header,
        rows,
    )
