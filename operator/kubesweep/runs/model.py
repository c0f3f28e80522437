"""A run as the decision sees it (`Run`) and what its record keeps of it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubesweep import api
from kubesweep.api import RunState


@dataclass(frozen=True)
class Run:
    """A run as the reconcile sees it: from its Job and pods, or from status.recordedRuns."""

    name: str
    number: int
    parameters: Mapping[str, Any]
    state: RunState
    metrics: Mapping[str, float] = field(default_factory=dict)
    recorded: bool = False  # ended, its outcome known: in status.recordedRuns or on its Job
    record_on_job: bool = False  # the Job carries kubesweep.io/result
    exists: bool = True  # False once only status.recordedRuns remembers it (Job released or gone)
    stop_requested: bool = False  # annotated kubesweep.io/stop: "true"
    deleting: bool = False  # the Job has a deletionTimestamp (deleted by hand or by its TTL)
    suspended: bool = False
    pods_alive: bool = False  # pods not yet terminated and not being deleted
    # The Job controller is done with the Job: none of its pods alive or being deleted, and it
    # carries its outcome (a terminal condition, or our result). Writing to it earlier would race
    # the controller's status updates (a 409 costs the controller a 1 s backoff).
    settled: bool = True
    early_stopped: bool = False
    needs_log: bool = False  # finished without a termination message: metrics are in its log
    steps: Sequence[tuple[int, Mapping[str, float]]] = ()  # intermediate values, per step
    band_values: tuple[float, ...] | None = None  # hyperband: the metric at the bands it reached
    reason: str = ""
    # Suspended by someone else (a queue such as Kueue) before any pod of it existed.
    queued: bool = False
    has_pods: bool = False
    pod_failures: int = 0  # the Job's pods that failed so far (its status.failed)
    # Its pods still alive that no stop reached yet (see stop_job_patch): their names.
    unstopped_pods: tuple[str, ...] = ()
    # Its pods not terminated (being deleted or not), and those of them Pending: what a kill
    # deletes, by name (a pod is the run's when its Job owns it, which no label says).
    live_pods: tuple[str, ...] = ()
    pending_pods: tuple[str, ...] = ()
    exit_code: int | None = None  # the failed container's exit code
    message: str = ""  # why it failed, as the kubelet or the container said it
    # The Job says the run ended but its pod's terminated state has not reached us (Jobs and pods
    # come on separate watches): not recorded until it does, or until `deadline` (its pod gone).
    awaiting_pod: bool = False
    # Seconds since the epoch at which this run's observation changes without any event: the
    # wait for its pod's end, or for a pod that cannot start, runs out. The shell passes again then.
    deadline: float | None = None
    stuck: bool = False  # its pod could not start within START_TIMEOUT: to be stopped, Failed
    # Every pod of it deleted (being deleted, or gone): a cancel's kill, if the sweep is cancelled.
    pods_deleted: bool = False

    @property
    def active(self) -> bool:
        return self.state in api.ACTIVE_RUN_STATES


def metric_steps(
    run_steps: Iterable[tuple[int, Mapping[str, float]]], metric: str
) -> tuple[tuple[int, float], ...]:
    """The intermediate values of one metric."""
    return tuple((step, values[metric]) for step, values in run_steps if metric in values)


# What a record keeps of a run's metrics: the sweep's metric and the first MAX_OTHER_METRICS
# others it reported, with names up to MAX_METRIC_NAME characters. A run may print thousands of
# names; the status keeps 500 records and must stay far below etcd's 1.5 MB.
MAX_OTHER_METRICS = 10
MAX_METRIC_NAME = 48


def bounded_metrics(metrics: Mapping[str, float], metric: str | None) -> dict[str, float]:
    """The metrics a run's record keeps: `metric` (the sweep's) first, then the first others."""
    kept = {metric: metrics[metric]} if metric is not None and metric in metrics else {}
    others = (k for k in metrics if k != metric and len(k) <= MAX_METRIC_NAME)
    for name in itertools.islice(others, MAX_OTHER_METRICS):
        kept[name] = metrics[name]
    return kept


def why(run: Run) -> dict[str, Any]:
    """How a run ended, as its records keep it: reason, exit code and message, where known."""
    found: dict[str, Any] = {}
    if run.reason:
        found["reason"] = run.reason
    if run.exit_code is not None:
        found["exitCode"] = run.exit_code
    if run.message:
        found["message"] = run.message
    return found


def result_annotation(run: Run) -> str:
    result: dict[str, Any] = {"state": str(run.state), "metrics": dict(run.metrics), **why(run)}
    if run.early_stopped:
        result["earlyStopped"] = True
    if run.band_values is not None:
        result["bands"] = list(run.band_values)
    return json.dumps(result, separators=(",", ":"), sort_keys=True)
