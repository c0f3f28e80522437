"""Runs stopped by a person (the kubesweep.io/stop annotation, or their Job deleted)."""

from __future__ import annotations

from kubesweep.actions import Event
from kubesweep.api import RunState, State
from kubesweep.rules.passes import Pass


def stop_by_user(p: Pass) -> None:
    """They end Killed, and their pods stop with their normal grace period (no signal is
    skipped) and stay, with their logs (a deleted Job's pods are then garbage-collected by the
    cluster)."""
    for run in list(p.runs.values()):
        if run.watched and run.active and (run.stop_requested or run.deleting):
            p.record(run, state=RunState.KILLED, reason="StoppedByUser")
            p.stop(run)
            p.actions.append(Event("Normal", "RunStopped", f"Run {run.name} stopped by a person: Killed"))
        elif (
            run.watched and run.state == RunState.KILLED and run.record_on_job and p.state != State.CANCELLED
        ):
            # Killed in an earlier pass whose stop did not reach every pod (the operator
            # restarted in between, or a pod appeared since): stop them now.
            p.stop(run)
