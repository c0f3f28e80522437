"""A run as the decision sees it (`Run`, and its `Stage` in the operator's keeping) and what its
record keeps of it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kubesweep import api
from kubesweep.api import RunState


class Stage(StrEnum):
    """Where a run is in the operator's keeping. It moves forward: observed on its Job (executing,
    then ended: its state says which), maybe awaiting its pod's end first, then recorded (on its
    Job, or in the status), then released (only the status remembers it)."""

    OBSERVED = "Observed"  # its Job is watched and no record of it is made yet
    # Its Job says it ended but its pod's terminated state has not reached us (Jobs and pods come
    # on separate watches): not recorded until it does, or until `deadline` (its pod gone).
    AWAITING_POD = "AwaitingPod"
    # Recorded on its Job (kubesweep.io/result): a killed or stuck run, whose Job must create no
    # more pods, or a Job kept from before. The status takes the record when the Job is released.
    ON_JOB = "OnJob"
    IN_STATUS = "InStatus"  # recorded in status.recordedRuns; its Job still watched, to release
    RELEASED = "Released"  # only status.recordedRuns remembers it: its Job released or gone


@dataclass(frozen=True)
class Run:
    """A run as the reconcile sees it: from its Job and pods, or from status.recordedRuns."""

    name: str
    number: int
    parameters: Mapping[str, Any]
    state: RunState
    metrics: Mapping[str, float] = field(default_factory=dict)
    stage: Stage = Stage.OBSERVED
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
    # Seconds since the epoch at which this run's observation changes without any event: the
    # wait for its pod's end, or for a pod that cannot start, runs out. The shell passes again then.
    deadline: float | None = None
    stuck: bool = False  # its pod could not start within START_TIMEOUT: to be stopped, Failed
    # Every pod of it deleted (being deleted, or gone): a cancel's kill, if the sweep is cancelled.
    pods_deleted: bool = False
    # Taken away by the cluster (evicted, preempted, drained, its node lost): to be run again.
    disrupted: bool = False
    # Started again: an automatic retry of `retry_of` (the previous attempt), its `attempt`-th
    # (from 1), or a rerun by hand of `rerun_of`; and, for an ended run, the retry that replaced it.
    retry_of: str = ""
    attempt: int = 0
    rerun_of: str = ""
    retried_by: str = ""

    @property
    def active(self) -> bool:
        return self.state in api.ACTIVE_RUN_STATES

    @property
    def watched(self) -> bool:
        """Its Job is still watched (not yet released, nor gone)."""
        return self.stage != Stage.RELEASED

    @property
    def recorded(self) -> bool:
        """Ended, its outcome known: on its Job or in status.recordedRuns."""
        return self.stage in (Stage.ON_JOB, Stage.IN_STATUS, Stage.RELEASED)

    @property
    def record_on_job(self) -> bool:
        """Its Job carries its record (kubesweep.io/result)."""
        return self.stage == Stage.ON_JOB

    @property
    def awaiting_pod(self) -> bool:
        return self.stage == Stage.AWAITING_POD

    @property
    def to_record(self) -> bool:
        """Ended, and its outcome read whole: its record is to be made."""
        return self.stage == Stage.OBSERVED and not self.active

    @property
    def started_again(self) -> bool:
        """A retry or a rerun: the parameters of an earlier run, which runCap already counted."""
        return bool(self.retry_of or self.rerun_of)

    @property
    def queued(self) -> bool:
        """Waiting in a queue (Kueue, or anyone who suspends its Job): no pod of it executes."""
        return self.stage == Stage.OBSERVED and self.active and self.suspended and not self.live_pods


# The podFailurePolicy a run's Job gets where it changes nothing else (backoffLimit 0, restartPolicy
# Never, none of the template's own): a pod the cluster took away fails the Job at once, as
# backoffLimit 0 would, but the Job's Failed condition then says so (reason PodFailurePolicy, the
# condition DisruptionTarget named in its message). The pod, and its condition, may be gone by the
# time the operator looks (deleted after a drain while the operator itself was being moved): the
# Job still tells that the run was taken away, and so is retried.
DISRUPTION_POLICY: dict[str, Any] = {
    "rules": [{"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
}
JOB_FAILED_BY_POLICY = "PodFailurePolicy"


def is_disruption_policy(policy: Any) -> bool:
    """Whether a Job's podFailurePolicy is the one kubesweep gives (as the API server returns it)."""
    rules = policy.get("rules") if isinstance(policy, Mapping) else None
    if not isinstance(rules, list) or len(rules) != 1 or not isinstance(rules[0], Mapping):
        return False
    rule = rules[0]
    conditions = rule.get("onPodConditions") or []
    return (
        rule.get("action") == "FailJob"
        and not rule.get("onExitCodes")
        and len(conditions) == 1
        and conditions[0].get("type") == "DisruptionTarget"
        and conditions[0].get("status", "True") == "True"
    )


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


def bounded_metrics(metrics: Mapping[str, float], keep: str | Sequence[str] | None) -> dict[str, float]:
    """The metrics a run's record keeps: `keep` (the sweep's metric, or each of its objectives)
    first, then the first others."""
    first = [keep] if isinstance(keep, str) else list(keep or ())
    kept = {name: metrics[name] for name in first if name in metrics}
    others = (k for k in metrics if k not in kept and len(k) <= MAX_METRIC_NAME)
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
    if run.disrupted:
        result["disrupted"] = True
    if run.band_values is not None:
        result["bands"] = list(run.band_values)
    return json.dumps(result, separators=(",", ":"), sort_keys=True)
