"""What the operator does around a pass's decision, decided here so the shell decides nothing:
which Jobs to let go of, which pods to label recorded, what a refused Job creation changes, and
how a recorded run counts in the metrics. Pure, as `reconcile` is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubesweep import api, reconcile, runs
from kubesweep.api import RunState
from kubesweep.reconcile import Decision, RecordRun


@dataclass(frozen=True)
class LetGo:
    """Remove our finalizer from a Job being deleted that no run of the sweep holds (its sweep is
    gone, or it is an earlier sweep's of the same name): only our finalizer would keep it. The
    resourceVersion guards the write, so no other finalizer added meanwhile is lost."""

    name: str
    finalizers: tuple[str, ...]
    resource_version: str


def let_go(jobs: Iterable[Mapping[str, Any]]) -> list[LetGo]:
    """Of `jobs` that no run of a live sweep holds, those only our finalizer keeps from going."""
    out = []
    for job in jobs:
        meta = job["metadata"]
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and api.JOB_FINALIZER in finalizers:
            out.append(LetGo(meta["name"], tuple(finalizers), meta["resourceVersion"]))
    return out


def owned_by(job: Mapping[str, Any], sweep: Mapping[str, Any]) -> bool:
    """Only a Job the sweep owns is its run: not a Job of an earlier sweep of the same name, nor
    one anyone created with a run's labels and no owner."""
    uid = sweep["metadata"].get("uid")
    return uid is not None and job["metadata"].get("ownerUid") == uid


def pods_to_label(
    decision: Decision,
    released: Sequence[Mapping[str, Any]],
    watched_jobs: Iterable[str],
    pods_by_run: Mapping[str, Sequence[Mapping[str, Any]]],
    left_behind: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[str]:
    """The pods to label recorded after a pass, so they leave the watch as their Jobs did:

    - the pods of the Jobs `released` in this pass (not of a Job being deleted: its pods go too);
    - pods left behind by an earlier pass (a failed label, a restart) whose runs the status
      records and whose Jobs are no longer watched. Their Jobs are gone from the cache, so no
      owner says whose they are: `left_behind` are all pods by their run label.
    """
    names: list[str] = []
    for job in released:
        if not job["metadata"].get("deletionTimestamp"):
            names.extend(p["metadata"]["name"] for p in pods_by_run.get(job["metadata"]["name"], []))
    recorded = {r["name"] for r in decision.status.get("recordedRuns") or []}
    watched = set(watched_jobs)
    for run, run_pods in left_behind.items():
        if run in recorded and run not in watched:
            names.extend(p["metadata"]["name"] for p in run_pods)
    return list(dict.fromkeys(names))


def tells_an_end(pod: Mapping[str, Any]) -> bool:
    """Whether a pod deleted by anyone (not let go by us) is remembered as it was last, for a run
    whose pass did not see how it ended: if it succeeded, or the cluster took it away
    (DisruptionTarget). Not any pod that failed: one that a suspend deleted is no failure, and
    the Job's count says which are."""
    phase = pod.get("status", {}).get("phase")
    return phase == "Succeeded" or (phase == "Failed" and runs.disruption([pod]) is not None)


@dataclass(frozen=True)
class Refusal:
    """The API server refused to create a run's Job: for lack of permission or quota (403), or
    as invalid (422 and the like)."""

    forbidden: bool
    message: str


def refusal(forbidden: str | None, rejected: str | None) -> Refusal | None:
    """Which refusal of a pass's creations the sweep is told of: a 403 before a rejection (the
    template may be fine; the operator cannot tell until it may create Jobs)."""
    if forbidden is not None:
        return Refusal(True, forbidden)
    if rejected is not None:
        return Refusal(False, rejected)
    return None


def after_refusal(sweep: Mapping[str, Any], observed: Sequence[runs.Run], refused: Refusal) -> Decision:
    """The pass decided again knowing a creation was refused: a 403 holds the sweep Running, saying
    why, until a retry; a rejected Job is the template's error (Crashed). The actions already
    carried out (records, kills, creations) are not repeated by the shell."""
    if refused.forbidden:
        return reconcile.decide(sweep, observed, permission_denied=refused.message)
    return reconcile.decide(sweep, observed, template_error=refused.message)


def counted_as(record: RecordRun) -> RunState | None:
    """How a run recorded on its Job counts in the operator's metrics: Killed, Failed (a crash
    counts as a failure), or not at all."""
    try:
        state = json.loads(record.result).get("state")
    except (ValueError, AttributeError):
        return None
    if state == RunState.KILLED:
        return RunState.KILLED
    if state in (RunState.FAILED, RunState.CRASHED):
        return RunState.FAILED
    return None
