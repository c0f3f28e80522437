"""One sweep's reaction latency while another sweep does its heaviest work (issue 14).

A quiet sweep (one run that sleeps) is cancelled, resumed and paused, as in bench/reaction.py:

- alone;
- beside a bayes sweep at parallelism 50 whose runs end every second or two, so that its passes
  suggest tens of points with a GP fitted to up to 128 runs;
- beside a sweep whose runs each print a huge log (HUGE_LOG_MB of progress lines, no
  termination message), so each run's end means streaming and parsing that whole log.

Runs are real processes of the sandbox's kubelet (cheap ones: sh, sleep, yes), not simulated:
a log has to exist to be read. The table gives medians and each one's ratio to the quiet
sweep's alone.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from kubesweep import api

from .harness import Backend, Cluster, EventTimes, cluster, median
from .harness import table as format_table
from .reaction import _job_added, _pod_event, _running_pods, quiesce

USES_CLUSTER = True
ACTIONS = ("cancel → deletion", "resume", "pause")
HUGE_LOG_MB = 100
BAYES_PARALLELISM = 50


def _process_template(script: str) -> dict[str, Any]:
    return {
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "train", "image": "busybox", "command": ["sh", "-c", script]}],
                }
            },
        }
    }


def quiet_spec() -> dict[str, Any]:
    return {
        "method": "grid",
        "parallelism": 1,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"g": {"values": list(range(1000))}},
        "template": _process_template("exec sleep 600"),
    }


def bayes_spec() -> dict[str, Any]:
    return {
        "method": "bayes",
        "seed": 1,
        "parallelism": BAYES_PARALLELISM,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x": {"distribution": "uniform", "min": 0.0, "max": 1.0},
            "y": {"distribution": "uniform", "min": 0.0, "max": 1.0},
            "z": {"values": ["a", "b", "c"]},
        },
        # Ends after 1 to 2 s with a loss from its pid ($$ is Kubernetes' escape of $): passes keep
        # suggesting new points.
        "template": _process_template("sleep 1.$(( $$$$ % 10 )); echo loss=$(( $$$$ % 97 ))"),
    }


def huge_log_spec() -> dict[str, Any]:
    size = HUGE_LOG_MB * 1024 * 1024
    return {
        "method": "grid",
        "parallelism": 2,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"g": {"values": list(range(1000))}},
        # No metric but the last line: the operator streams and parses the whole log of each.
        "template": _process_template(
            f"echo loss=9; yes 'epoch 3 batch 1234 of 5000: forward, backward, optimizer step done' "
            f"| head -c {size}; echo loss=0.5"
        ),
    }


def _trial(
    c: Cluster, ns: str, name: str, pods: EventTimes, jobs: EventTimes, sweeps: EventTimes
) -> dict[str, float]:
    running = c.wait(partial(_running_pods, c, ns, name), 60, f"a running pod of {name}")
    for queue_ in (pods, jobs, sweeps):
        queue_.drain()
    out: dict[str, float] = {}
    start = time.monotonic()
    c.set_state(ns, name, "cancelled")
    out["cancel → deletion"] = pods.next_after(start, _pod_event(running, deletion=True), 60) - start
    start = time.monotonic()
    c.set_state(ns, name, "running")
    out["resume"] = jobs.next_after(start, _job_added(name), 60) - start
    start = time.monotonic()
    c.set_state(ns, name, "paused")

    def paused(kind: str, body: dict[str, Any]) -> bool:
        return body["metadata"]["name"] == name and (body.get("status") or {}).get("phase") == "Paused"

    out["pause"] = sweeps.next_after(start, paused, 60) - start
    c.set_state(ns, name, "running")
    return out


def _heavy_under_way(c: Cluster, ns: str, name: str, recorded: int) -> bool:
    status = c.sweep(ns, name).get("status") or {}
    total: int = (status.get("runs") or {}).get("total", 0)
    return total >= recorded


def measure(c: Cluster, scenario: str, trials: int) -> dict[str, list[float]]:
    ns = c.namespace(f"interfere-{scenario.split()[0]}")
    c.create_sweep(ns, "quiet", quiet_spec())
    c.wait(partial(_running_pods, c, ns, "quiet"), 60, "the quiet sweep's run")
    if scenario != "alone":
        spec = bayes_spec() if scenario.startswith("bayes") else huge_log_spec()
        c.create_sweep(ns, "heavy", spec)
        # Under way: bayes past its random start (a GP fitted to each pass's history), the
        # huge logs a few runs in.
        wanted = 2 * BAYES_PARALLELISM if scenario.startswith("bayes") else 3
        c.wait(partial(_heavy_under_way, c, ns, "heavy", wanted), 600, f"{scenario} under way", interval=1)
    else:
        quiesce(c)
    pods = EventTimes(c.core.list_namespaced_pod, ns, label_selector=f"{api.LABEL_SWEEP}=quiet")
    jobs = EventTimes(c.batch.list_namespaced_job, ns, label_selector=f"{api.LABEL_SWEEP}=quiet")
    sweeps = EventTimes(c.custom.list_namespaced_custom_object, api.GROUP, api.VERSION, ns, api.PLURAL)
    time.sleep(1.0)  # the watches established
    out: dict[str, list[float]] = {action: [] for action in ACTIONS}
    try:
        for _ in range(trials):
            for action, seconds in _trial(c, ns, "quiet", pods, jobs, sweeps).items():
                out[action].append(seconds)
        if scenario != "alone":
            total = ((c.sweep(ns, "heavy").get("status") or {}).get("runs") or {}).get("total")
            print(f"interference {c.backend} {scenario}: the heavy sweep at {total} runs", file=sys.stderr)
    finally:
        for w in (pods, jobs, sweeps):
            w.stop()
        for sweep in ("heavy", "quiet"):
            with contextlib.suppress(Exception):  # "alone" has no heavy sweep
                c.set_state(ns, sweep, "cancelled")
    return out


SCENARIOS = ("alone", f"bayes at parallelism {BAYES_PARALLELISM}", f"runs with {HUGE_LOG_MB} MB logs")


def run(quick: bool, backends: Sequence[Backend] = ("sandbox",)) -> str:
    trials = 5 if quick else 10
    rows: list[tuple[Any, ...]] = []
    for backend in backends:
        with cluster(backend, executor="process") as c:
            alone: dict[str, float] = {}
            for scenario in SCENARIOS:
                result = measure(c, scenario, trials)
                for action in ACTIONS:
                    ms = median([v * 1000 for v in result[action]])
                    if scenario == "alone":
                        alone[action] = ms
                    rows.append((backend, scenario, action, len(result[action]), ms, ms / alone[action]))
                print(f"interference: {rows[-len(ACTIONS) :]}", file=sys.stderr, flush=True)
    return format_table(
        "One sweep's reaction latency while another does its heaviest work (ms)",
        ["backend", "beside", "action", "samples", "p50 ms", "ratio to alone"],
        rows,
    )
