"""What the decision asks the shell to do: one dataclass per kind of action, and the Decision
that lists them in the order the shell carries them out (see reconcile)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubesweep import api
from kubesweep.api import Phase
from kubesweep.runs import Run


@dataclass(frozen=True)
class CreateRun:
    name: str
    number: int
    parameters: Mapping[str, Any]
    job: Mapping[str, Any]


@dataclass(frozen=True)
class RecordRun:
    """Save a killed run's outcome on its Job (kubesweep.io/result) at once, with `job_spec`
    (runs.stop_job_patch) so the Job creates no more pods, whoever else controls it; its release
    waits for its pods to end."""

    name: str
    result: str
    job_spec: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class StopPods:
    """Stop these pods gracefully and keep them, logs and all: each gets
    spec.activeDeadlineSeconds runs.STOP_DEADLINE, and the kubelet stops it with its grace period."""

    names: tuple[str, ...]


# The pods a kill deletes: those not yet terminated. A pod that ended keeps its log (and an
# ended run's pods are its logs: `kubectl logs` must find them after a cancel).
ALIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
PENDING_PODS = "status.phase=Pending"


@dataclass(frozen=True)
class DeletePods:
    """One collection delete of the pods matching label_selector that are still alive. grace 0
    kills at once; None is a normal stop."""

    label_selector: str
    grace_period_seconds: int | None
    field_selector: str = ALIVE_PODS


def delete_pods(
    run: Run, grace_period_seconds: int | None, *, pending_only: bool = False
) -> list[DeletePods]:
    """Deletes of the run's pods, each by name: labels alone would reach any pod that carries
    them, and a pod is the run's only when its Job owns it (the shell observes only those). The
    phase is still checked by the API server, so a pod that ended meanwhile keeps its log."""
    names = run.pending_pods if pending_only else run.live_pods
    phases = PENDING_PODS if pending_only else ALIVE_PODS
    return [
        DeletePods(f"{api.LABEL_RUN}={run.name}", grace_period_seconds, f"metadata.name={name},{phases}")
        for name in names
    ]


@dataclass(frozen=True)
class WriteStatus:
    """The sweep's whole status (api.SweepStatus dumped by alias, as a merge patch writes it)."""

    status: Mapping[str, Any]


@dataclass(frozen=True)
class ReleaseJob:
    """Let an ended run's Job go once status.recordedRuns holds its record: label it (and its
    pods) kubesweep.io/recorded, write `result` on it when it is not there yet, remove our
    finalizer."""

    name: str
    result: str | None = None


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


Action = CreateRun | RecordRun | StopPods | DeletePods | WriteStatus | ReleaseJob | Event


@dataclass(frozen=True)
class Decision:
    actions: list[Action]
    phase: Phase
    status: Mapping[str, Any]

    def of(self, kind: type) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]
