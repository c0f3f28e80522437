"""A run observed: its state, metrics and why it ended, read from its Job and its pods (and its
log), and the patch that stops it. Pure functions; no API calls."""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from kubesweep import api
from kubesweep.api import RunState
from kubesweep.runs.logparse import LogParser, parse_log, parse_termination_message, to_float
from kubesweep.runs.model import JOB_FAILED_BY_POLICY, Run, Stage, is_disruption_policy


def _pod_terminated(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        terminated: Mapping[str, Any] | None = status.get("state", {}).get("terminated")
        if terminated:
            return terminated
    return None


def _attempt_order(pod: Mapping[str, Any]) -> tuple[int, str, str, str]:
    """Orders a Job's attempts (its retries, backoffLimit > 0): the successful attempt is the
    run's result; else one not yet ended is the newest; else the last to end, by its container's
    finishedAt (creation times have one-second resolution, and names are random suffixes)."""
    phase = _phase(pod)
    rank = 2 if phase == "Succeeded" else 0 if phase == "Failed" else 1
    terminated = _pod_terminated(pod) or {}
    created = pod.get("metadata", {}).get("creationTimestamp") or ""
    return rank, str(terminated.get("finishedAt") or created), created, pod["metadata"]["name"]


def latest_pod(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The attempt whose outcome is the run's (see _attempt_order)."""
    if not pods:
        return None
    return max(pods, key=_attempt_order)


def disruption(pods: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(reason, message) of a pod the cluster took away: a node drain or any eviction
    (EvictionByEvictionAPI), a taint (DeletionByTaintManager), preemption
    (PreemptionByScheduler), the kubelet (TerminationByKubelet), the pod GC: the condition
    DisruptionTarget True, which the API server or controller sets before the pod is deleted."""
    for pod in pods:
        for cond in pod.get("status", {}).get("conditions") or []:
            if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
                message = str(cond.get("message") or "")[:MESSAGE_LIMIT]
                return str(cond.get("reason") or "DisruptionTarget"), message
    return None


# A pod's own reasons (status.reason) for being taken away by its node, without a DisruptionTarget
# condition: the kubelet's eviction under node pressure, the node controller's for a lost node.
TAKEN_AWAY_REASONS = frozenset({"Evicted", "NodeLost"})


def _phase_reason(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("reason") or "")


def started_again(annotations: Mapping[str, str]) -> dict[str, Any]:
    """What a run's Job says of it being started again (retry-of and attempt, or rerun-of)."""
    found: dict[str, Any] = {}
    if retry_of := annotations.get(api.ANNOTATION_RETRY_OF, ""):
        found["retry_of"] = retry_of
        attempt = annotations.get(api.ANNOTATION_ATTEMPT, "")
        found["attempt"] = int(attempt) if attempt.isdigit() and int(attempt) >= 1 else 1
    if rerun_of := annotations.get(api.ANNOTATION_RERUN_OF, ""):
        found["rerun_of"] = rerun_of
    return found


def _crash_reason(pods: Sequence[Mapping[str, Any]]) -> str | None:
    """OOMKilled, evicted, disrupted or lost: the run crashed rather than failed on its own."""
    if (disrupted := disruption(pods)) is not None:
        return disrupted[0]
    for pod in pods:
        status = pod.get("status", {})
        if status.get("reason") in ("Evicted", "NodeLost", "UnexpectedAdmissionError"):
            return str(status["reason"])
        terminated = _pod_terminated(pod)
        if terminated and terminated.get("reason") in ("OOMKilled", "ContainerCannotRun", "DeadlineExceeded"):
            return str(terminated["reason"])
    return None


# A stopped run's pods get this spec.activeDeadlineSeconds: the kubelet then stops them with
# their grace period and keeps them (phase Failed, reason DeadlineExceeded), logs and all. 1 is
# the lowest value the API server takes, already past for any pod that ran a second, and the API
# server lets a pod's deadline only be lowered, never raised or removed, so no one undoes it.
STOP_DEADLINE = 1


def stopped_by_deadline(pod: Mapping[str, Any]) -> bool:
    return (pod.get("spec") or {}).get("activeDeadlineSeconds") == STOP_DEADLINE


def stop_job_patch(run: Run) -> dict[str, Any]:
    """The Job spec patch that ends a killed run for good, whatever else controls the Job.

    Not `suspend`: a queue (Kueue) owns it and sets it back to false on admission, and the Job
    controller deletes a suspended Job's pods, logs and all. A backoffLimit of the failures so far
    makes the Job Failed with the next one, so the stopped (or deleted) pod is its last: no
    replacement. A Job without pods (waiting in a queue, or not started yet) gets parallelism 0,
    so no pod is ever created, and activeDeadlineSeconds 1, so it ends Failed the moment it is
    admitted (its quota freed) instead of waiting forever. The API server takes all three on a
    running Job."""
    patch: dict[str, Any] = {"backoffLimit": run.pod_failures}
    if not run.has_pods:
        patch.update({"parallelism": 0, "activeDeadlineSeconds": STOP_DEADLINE})
    return patch


# Waiting reasons of a container that will not start by itself: past START_TIMEOUT seconds from
# its pod's creation the run is Failed with that reason and its pod deleted (not Pending forever).
CANNOT_START = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
START_TIMEOUT = 300.0
# How long a run whose Job says it ended waits for its pod's terminated state (its metrics and
# why it failed) before it is recorded without it: the pod may be gone for good (deleted, a TTL).
POD_VIEW_TIMEOUT = 15.0
MESSAGE_LIMIT = 512


def _seconds(timestamp: Any) -> float | None:
    """An RFC 3339 time as seconds since the epoch."""
    if not isinstance(timestamp, str) or not timestamp:
        return None
    try:
        return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _waiting(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The state of a container that cannot start (CANNOT_START), if any."""
    for status in pod.get("status", {}).get("containerStatuses") or []:
        waiting: Mapping[str, Any] | None = status.get("state", {}).get("waiting")
        if waiting and waiting.get("reason") in CANNOT_START:
            return waiting
    return None


def failure(pods: Sequence[Mapping[str, Any]]) -> tuple[str, int | None, str]:
    """Why the latest pod that failed did: (reason, exit code, message), e.g. ("StartError",
    128, 'exec: "trian": executable file not found'), ("OOMKilled", 137, ""), ("Evicted", None, ...)."""
    failed = [p for p in pods if _phase(p) == "Failed"]
    pod = latest_pod(failed) or latest_pod(pods)
    if pod is None:
        return "", None, ""
    status = pod.get("status", {})
    terminated = _pod_terminated(pod)
    if status.get("reason"):  # the pod's own: Evicted, DeadlineExceeded, NodeLost, ...
        code = terminated.get("exitCode") if terminated else None
        return str(status["reason"]), code, str(status.get("message") or "")[:MESSAGE_LIMIT]
    if terminated:
        code = terminated.get("exitCode")
        reason = str(terminated.get("reason") or ("Error" if code else "Completed"))
        return reason, code, str(terminated.get("message") or "")[:MESSAGE_LIMIT]
    return "", None, ""


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    cond: Mapping[str, Any]
    for cond in job.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def _phase(pod: Mapping[str, Any]) -> str:
    return str(pod.get("status", {}).get("phase") or "")


def _terminated(pod: Mapping[str, Any]) -> bool:
    return _phase(pod) in ("Succeeded", "Failed")


def _deleting(pod: Mapping[str, Any]) -> bool:
    return bool(pod.get("metadata", {}).get("deletionTimestamp"))


def pod_outcome(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> RunState | None:
    """The run's end as its pods tell it, before the Job says so: the Job controller marks a Job
    Complete (or Failed) about a second after its pod ended. None while the run may go on.

    Enough pods succeeded: Finished. More pods failed than backoffLimit allows (the Job's rule,
    so a failed pod followed by a retry is not an end): Failed, or Crashed (OOMKilled, evicted).
    With a podFailurePolicy or per-index limits only the Job can tell which failures count."""
    spec = job.get("spec") or {}
    if sum(1 for p in pods if _phase(p) == "Succeeded") >= int(spec.get("completions") or 1):
        return RunState.FINISHED
    policy = spec.get("podFailurePolicy")
    if (policy and not is_disruption_policy(policy)) or spec.get("backoffLimitPerIndex") is not None:
        return None
    if spec.get("suspend"):
        # Suspended (by hand, or a queue preempting it): the Job controller deletes its pods and
        # counts none of them failed; the run waits to be resumed.
        return None
    if sum(1 for p in pods if _phase(p) == "Failed") > int(spec.get("backoffLimit") or 0):
        return RunState.CRASHED if _crash_reason(pods) else RunState.FAILED
    return None


def run_number(job: Mapping[str, Any]) -> int:
    annotations = job["metadata"].get("annotations") or {}
    try:
        return int(annotations[api.ANNOTATION_RUN_NUMBER])
    except (KeyError, ValueError):
        match = re.search(r"-(\d+)$", job["metadata"]["name"])
        return int(match.group(1)) if match else 0


def owner_uid(job: Mapping[str, Any]) -> str | None:
    """The uid of the Sweep that owns `job` (None: no Sweep does)."""
    for owner in job.get("metadata", {}).get("ownerReferences") or []:
        if owner.get("kind") == api.KIND and owner.get("apiVersion", "").startswith(api.GROUP + "/"):
            return str(owner.get("uid") or "") or None
    return None


def is_run_of(job: Mapping[str, Any], sweep_uid: str | None) -> bool:
    """Whether a Job found under a run's name (a create answered 409) is a run of this sweep still
    to be watched: owned by it and not yet released (a released one's record is the status's)."""
    labels = job.get("metadata", {}).get("labels") or {}
    return sweep_uid is not None and owner_uid(job) == sweep_uid and api.LABEL_RECORDED not in labels


def read_result(job: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = (job["metadata"].get("annotations") or {}).get(api.ANNOTATION_RESULT)
    if not raw:
        return None
    try:
        result = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return result if isinstance(result, dict) and result.get("state") in set(RunState) else None


def read_parameters(job: Mapping[str, Any]) -> dict[str, Any]:
    raw = (job["metadata"].get("annotations") or {}).get(api.ANNOTATION_PARAMETERS, "{}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def observe(
    job: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    log: str | LogParser | None = None,
    *,
    now: float | None = None,
    start_timeout: float = START_TIMEOUT,
) -> Run:
    """A run's state and metrics from its Job and its pods (and its log, where read), at `now`
    (seconds since the epoch; the bounds on waiting for a pod are measured against it).

    A run is recorded only from a complete view of how it ended: its pod terminated (or gone,
    POD_VIEW_TIMEOUT after its Job ended)."""
    meta = job["metadata"]
    annotations = meta.get("annotations") or {}
    not_terminated = [p for p in pods if not _terminated(p)]
    pods_alive = any(not _deleting(p) for p in not_terminated)
    # (A pod gone, remembered as it ended (the shell's "gone"), keeps the Job controller busy no more.)
    pods_busy = bool(not_terminated) or any(_deleting(p) and not p.get("gone") for p in pods)
    result = read_result(job)
    job_ended = _condition(job, "Complete") or _condition(job, "Failed")
    unstopped = tuple(
        p["metadata"]["name"] for p in not_terminated if not _deleting(p) and not stopped_by_deadline(p)
    )
    live = tuple(p["metadata"]["name"] for p in not_terminated)
    common: dict[str, Any] = {
        "live_pods": live,
        "pending_pods": tuple(p["metadata"]["name"] for p in pods if _phase(p) == "Pending"),
        "name": meta["name"],
        "number": run_number(job),
        "parameters": read_parameters(job),
        "stop_requested": annotations.get(api.ANNOTATION_STOP, "").lower() == "true",
        "deleting": bool(meta.get("deletionTimestamp")),
        "suspended": bool(job.get("spec", {}).get("suspend")),
        "pods_alive": pods_alive,
        # A killed run's Job is done with once its pods are: without pods it never starts one
        # (stop_job_patch); with pods, once the Job controller marked it Failed.
        "settled": not pods_busy and (job_ended is not None or (result is not None and not pods)),
        "has_pods": bool(pods),
        "pod_failures": int((job.get("status") or {}).get("failed") or 0),
        "unstopped_pods": unstopped,
        "pods_deleted": all(_deleting(p) for p in pods),
        **started_again(annotations),
    }
    steps: list[tuple[int, dict[str, float]]] = []
    log_metrics: dict[str, float] = {}
    if log is not None:
        log_metrics, steps = parse_log(log) if isinstance(log, str) else log.result()
    common["steps"] = tuple(steps)

    if result is not None:
        metrics = {k: float(v) for k, v in (result.get("metrics") or {}).items() if to_float(v) is not None}
        bands = result.get("bands")
        return Run(
            state=RunState(result["state"]),
            metrics=metrics,
            stage=Stage.ON_JOB,
            band_values=tuple(v for v in map(to_float, bands) if v is not None)
            if isinstance(bands, list)
            else None,
            early_stopped=bool(result.get("earlyStopped")),
            disrupted=bool(result.get("disrupted")),
            reason=str(result.get("reason", "")),
            exit_code=result["exitCode"] if isinstance(result.get("exitCode"), int) else None,
            message=str(result.get("message", "")),
            **common,
        )

    current = time.time() if now is None else now
    latest = latest_pod(pods)
    terminated = _pod_terminated(latest) if latest else None
    message_metrics = parse_termination_message(terminated.get("message") if terminated else None)
    metrics = message_metrics or log_metrics
    ended: dict[str, Any] = {"metrics": metrics, "needs_log": not message_metrics and log is None}

    # Its pods stopped by the operator (STOP_DEADLINE) whose result the Job does not show (the
    # pods' watch ran ahead of the Jobs'): a kill, never a failure of the run. Before the wait
    # for a pod's end below: a stopped pod has ended, so the view is complete.
    if any(_phase(p) == "Failed" and stopped_by_deadline(p) for p in pods):
        return Run(state=RunState.KILLED, reason="Stopped", **ended, **common)

    if job_ended is not None and (latest is None or not _terminated(latest)):
        # The Job controller has marked the run's end, but its pod's end (the termination
        # message with its metrics, the exit code) has not reached us yet: the pod watch lags
        # the Job watch. Wait for it, a bounded time (the pod may be gone for good).
        since = _seconds(job_ended.get("lastTransitionTime"))
        deadline = (since if since is not None else current) + POD_VIEW_TIMEOUT
        if current < deadline:
            state = RunState.FINISHED if _condition(job, "Complete") else RunState.FAILED
            return Run(state=state, stage=Stage.AWAITING_POD, deadline=deadline, **common)
        ended["needs_log"] = ended["needs_log"] and latest is not None

    def failed_run(state: RunState, job_reason: str = "", job_message: str = "") -> Run:
        reason, code, message = failure(pods)
        crash = _crash_reason(pods)
        if crash:
            state, reason = RunState.CRASHED, reason or crash
        last_failed = latest_pod([p for p in pods if _phase(p) == "Failed"])
        taken_away = False
        if last_failed is not None and (disrupted := disruption([last_failed])) is not None:
            # Its last pod was taken away (its container's reason is only the signal that stopped it).
            reason, message = disrupted
            job_reason = ""
            taken_away = True
        elif last_failed is not None and _phase_reason(last_failed) in TAKEN_AWAY_REASONS:
            taken_away = True
        elif job_reason == JOB_FAILED_BY_POLICY and "DisruptionTarget" in job_message:
            # Its pod gone with its condition (deleted while no operator watched): the Job, failed
            # by kubesweep's podFailurePolicy, still says the cluster took it away.
            state, reason, message, job_reason = RunState.CRASHED, "DisruptionTarget", job_message, ""
            taken_away = True
        # The Job's own reason where it says more than its pods (DeadlineExceeded: it killed them).
        if (job_reason and job_reason != "BackoffLimitExceeded") or not reason:
            reason = job_reason or reason or "Failed"
        return Run(
            state=state,
            reason=reason,
            exit_code=code,
            message=message,
            disrupted=taken_away and state == RunState.CRASHED,
            **ended,
            **common,
        )

    if _condition(job, "Complete"):
        return Run(state=RunState.FINISHED, reason="Completed", **ended, **common)
    if failed := _condition(job, "Failed"):
        return failed_run(RunState.FAILED, str(failed.get("reason") or ""), str(failed.get("message") or ""))
    # The pods may know before the Job does: a run that ended is never taken for an active one
    # (a cancel in that second would record a run that exited 0 as Killed, without metrics).
    outcome = pod_outcome(job, pods)
    if outcome == RunState.FINISHED:
        return Run(state=outcome, reason="Completed", **ended, **common)
    if outcome is not None:
        return failed_run(outcome)
    running = any(_phase(p) == "Running" and not _deleting(p) for p in pods)
    waiting = _waiting(latest) if latest is not None and not running else None
    if waiting is not None and latest is not None:
        # A pod that cannot start (a wrong image, a missing Secret) is a failed run past a bound.
        created = _seconds(latest.get("metadata", {}).get("creationTimestamp"))
        deadline = (created if created is not None else current) + start_timeout
        if current >= deadline:
            return Run(
                state=RunState.FAILED,
                reason=str(waiting.get("reason")),
                message=str(waiting.get("message") or "")[:MESSAGE_LIMIT],
                stuck=True,
                metrics=metrics,
                **common,
            )
        common["deadline"] = deadline
    state = RunState.RUNNING if running else RunState.PENDING
    # Suspended with no pod executing (none made yet, or its pods deleted by the suspend): queued.
    return Run(state=state, metrics=metrics, **common)
