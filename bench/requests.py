"""API requests per run over its whole life, counted from the sandbox's record of every request
the operator sent, against the minimum (1 create of the Job, a share of the status writes batched
per pass, 1 Job patch that writes its result and releases it, 1 patch releasing its pod)."""

from __future__ import annotations

from collections import Counter

from kubesweep import api

from .harness import cluster, grid_spec, table


def _verb(request: object) -> str:
    """The Kubernetes verb of a request, as RBAC and audit logs name it."""
    method = str(getattr(getattr(request, "method", ""), "value", getattr(request, "method", ""))).upper()
    name = getattr(request, "name", None)
    params = getattr(request, "params", {}) or {}
    if method == "GET":
        if name:
            return "get"
        return "watch" if params.get("watch") in ("true", "1") else "list"
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def _kind(request: object) -> str:
    resource = getattr(request, "resource", None)
    plural = getattr(resource, "plural", None) or "other"
    path = str(getattr(request, "path", ""))
    if path.endswith("/status"):
        return f"{plural}/status"
    if path.endswith("/log"):
        return f"{plural}/log"
    return str(plural)


def run(quick: bool) -> str:
    runs = 50 if quick else 200
    with cluster() as c:
        before = len(c.operator_requests())
        ns = c.namespace("requests")
        c.create_sweep(ns, "count", grid_spec(runs, 10, 0.05))
        c.wait(lambda: c.phase(ns, "count") == "Finished", 600, "the sweep", interval=0.2)
        # The last runs are released just after the status that says Finished.
        c.wait(
            lambda: all(
                j.metadata is not None and (j.metadata.labels or {}).get(api.LABEL_RECORDED) == "true"
                for j in c.batch.list_namespaced_job(ns).items
            ),
            30,
            "every Job released",
            interval=0.2,
        )
        requests = c.operator_requests()[before:]
    tally = Counter((_verb(r), _kind(r)) for r in requests)
    rows: list[tuple[str, str, object, float]] = [
        (verb, kind, n, n / runs) for (verb, kind), n in sorted(tally.items(), key=lambda kv: -kv[1])
    ]
    total = sum(tally.values())
    rows.append(("all", "", total, total / runs))
    minimum = 3.5  # a Job create, its release patch, its pod's, a share of the batched status writes
    rows.append(("minimum", "", "", minimum))
    rows.append(("ratio to minimum", "", "", total / runs / minimum))
    return table(
        f"API requests of the operator per run ({runs} runs, parallelism 10; watches are long-lived)",
        ["verb", "resource", "requests", "per run"],
        rows,
    )
