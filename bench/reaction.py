"""Reaction latency: from a `spec.state` patch to its effect, with 1, 100 and 500 active sweeps.

- cancel → deletion: the first of the sweep's running pods marked for deletion (a MODIFIED event
  with `deletionTimestamp` set, or its DELETED when no such event came first): the operator's
  grace-0 delete reached it;
- cancel → pod gone: that pod's DELETED. On the sandbox the two coincide; on a real control plane
  a Job's pod carries the Job controller's `batch.kubernetes.io/job-tracking` finalizer and is
  gone only once that controller has removed it;
- resume (after the cancel): the sweep's next Job created;
- pause: the sweep's status says Paused (the pass that withholds new runs has run).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from kubesweep import api
from kubesweep.sandbox import request_log
from kubesweep.sandbox.controlplane import ControlPlane

from .harness import Backend, Cluster, EventTimes, cluster, grid_spec, median, percentile, table

# Trials start once the operator has worked through the launch of every sweep's first run: the
# latency measured is that of a steady state, not of a backlog (0.5 s after the last pod of 100
# sweeps appeared, the first cancel took up to 0.9 s).
SETTLE = 3.0
LONG = 600.0  # runs that outlive the benchmark: every sweep stays active
USES_CLUSTER = True
ACTIONS = ("cancel → deletion", "cancel → pod gone", "resume", "pause")
TAIL_MS = 500.0  # a cancel → pod gone above this waited for something other than the operator


def _marked(body: dict[str, Any]) -> bool:
    meta = body.get("metadata") or {}
    # The client's models name it in snake case, plain dicts in camel case.
    return bool(meta.get("deletion_timestamp") or meta.get("deletionTimestamp"))


def _pod_event(names: set[str], deletion: bool) -> Callable[[str, dict[str, Any]], bool]:
    def match(kind: str, body: dict[str, Any]) -> bool:
        if (body.get("metadata") or {}).get("name") not in names:
            return False
        return kind == "DELETED" or (deletion and kind == "MODIFIED" and _marked(body))

    return match


def _job_added(name: str) -> Callable[[str, dict[str, Any]], bool]:
    def match(kind: str, body: dict[str, Any]) -> bool:
        labels = (body.get("metadata") or {}).get("labels") or {}
        return kind == "ADDED" and labels.get(api.LABEL_SWEEP) == name

    return match


def _running_pods(c: Cluster, ns: str, sweep: str) -> set[str]:
    """The sweep's pods not yet marked for deletion: a pod of an earlier trial may still be
    terminating, and its events must not count."""
    pods = c.core.list_namespaced_pod(ns, label_selector=f"{api.LABEL_SWEEP}={sweep}").items
    return {
        str(p.metadata.name) for p in pods if p.metadata is not None and p.metadata.deletion_timestamp is None
    }


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
    quiesce(c)
    out: dict[str, list[float]] = {action: [] for action in ACTIONS}
    try:
        for t in range(trials):
            name = f"s{t % active}"
            running = c.wait(partial(_running_pods, c, ns, name), 30, f"a running pod of {name}")
            for queue_ in (pods, jobs, sweeps):
                queue_.drain()
            start = time.monotonic()
            c.set_state(ns, name, "cancelled")
            marked, kind, _ = pods.next_event_after(start, _pod_event(running, deletion=True))
            out["cancel → deletion"].append(marked - start)
            # A DELETED seen first is both the deletion and the pod gone.
            gone = (
                marked if kind == "DELETED" else pods.next_after(start, _pod_event(running, deletion=False))
            )
            out["cancel → pod gone"].append(gone - start)
            if gone - start > TAIL_MS / 1000:
                print(
                    f"reaction {c.backend} {active}: trial {t} pod gone after {gone - start:.3f} s",
                    file=sys.stderr,
                )
            start = time.monotonic()
            c.set_state(ns, name, "running")
            out["resume"].append(jobs.next_after(start, _job_added(name)) - start)
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


def quiesce(c: Cluster, quiet: float = 2.0, timeout: float = 120.0) -> None:
    """On a real control plane, waits until the API server has served nothing for `quiet`
    seconds (its audit log stands still): the Job controller works through the launch of every
    run at its client's 20 requests/s, well after the pods appeared, and a cancel measured during
    that backlog waits for it."""
    if not isinstance(c.server, ControlPlane):
        return
    log = c.server.audit_log_path
    started = time.monotonic()
    deadline = started + timeout
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = log.stat().st_size if log.exists() else 0
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            print(f"reaction: the API server quiet after {time.monotonic() - started:.1f} s", file=sys.stderr)
            return
        time.sleep(0.2)
    print(f"reaction: the API server never quiet for {quiet} s in {timeout} s", file=sys.stderr)


def conflicts(c: Cluster) -> dict[str, int]:
    """409s on Jobs so far, by user agent: a Job controller that met one backs off 1 s before
    it removes the pods' job-tracking finalizer (issue 12's cancel tail)."""
    if not isinstance(c.server, ControlPlane):
        return {}
    found: dict[str, int] = {}
    for _, request in request_log.served(c.server):
        if request.resource == "jobs" and request.code == 409:
            agent = request.agent.split("/")[0]
            found[agent] = found.get(agent, 0) + 1
    return found


def rows_of(backend: str, active: int, result: dict[str, list[float]]) -> list[tuple[Any, ...]]:
    rows = []
    for action, values in result.items():
        ms = [v * 1000 for v in values]
        tail = sum(1 for v in ms if v > TAIL_MS)
        rows.append(
            (backend, active, action, len(ms), median(ms), percentile(ms, 99), max(ms, default=0.0), tail)
        )
    return rows


def run(quick: bool, backends: Sequence[Backend] = ("sandbox",)) -> str:
    sizes = (1, 20, 100) if quick else (1, 100, 500)
    trials = 10 if quick else 30
    rows: list[tuple[Any, ...]] = []
    for backend in backends:
        with cluster(backend) as c:
            for active in sizes:
                result = measure(c, active, trials)
                rows.extend(rows_of(backend, active, result))
                if backend == "real":
                    print(f"reaction real {active}: {conflicts(c)}", file=sys.stderr, flush=True)
                print(f"reaction: {rows[-4:]}", file=sys.stderr, flush=True)
    # Side by side: each size and action, one backend after the other.
    rows.sort(key=lambda r: (r[1], ACTIONS.index(r[2]), r[0] != "sandbox"))
    return table(
        "Reaction latency from a spec.state patch to its effect (ms)",
        [
            "backend",
            "active sweeps",
            "action",
            "samples",
            "p50 ms",
            "p99 ms",
            "max ms",
            f"> {TAIL_MS:.0f} ms",
        ],
        rows,
    )
