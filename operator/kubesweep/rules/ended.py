"""Runs that ended: each recorded once, with its metrics, and told as an event."""

from __future__ import annotations

from kubesweep import objectives
from kubesweep.actions import Event, delete_pods
from kubesweep.api import RunState, State
from kubesweep.rules.passes import Pass
from kubesweep.rules.reasons import METRIC_MISSING, RELEASES_PER_PASS
from kubesweep.runs import Run


def record_ended(p: Pass) -> None:
    """A bounded number per pass, so one status write never carries thousands of new records
    (the write brings the next pass). A run whose Job ended but whose pod's end has not reached
    us yet waits (Stage.AWAITING_POD): its record would lack the metrics of its termination
    message and why it failed."""
    ended = [r for r in p.runs.values() if r.to_record]
    for run in sorted(ended, key=lambda r: r.number)[:RELEASES_PER_PASS]:
        if (
            p.state == State.CANCELLED
            and run.state in (RunState.FAILED, RunState.CRASHED)
            and run.pods_deleted
        ):
            # Its pods were deleted, not ended by themselves, in a cancelled sweep: the cancel's
            # kill, whose record did not reach its Job (the operator restarted in between).
            run = p.record(run, state=RunState.KILLED, reason="Cancelled")
        else:
            run = p.record(run)
        p.actions.append(run_event(run))
        if run.stuck:
            # Its pod cannot start (a wrong image, a missing Secret): nothing runs in it to stop
            # gracefully.
            p.actions.extend(delete_pods(run, 0))
        if run.state == RunState.FINISHED and p.metric is not None and p.metric not in run.metrics:
            p.actions.append(
                Event(
                    "Warning",
                    METRIC_MISSING,
                    f"Run {run.name} finished without reporting {p.metric}: print "
                    f"'{p.metric}=VALUE' or write it to /dev/termination-log",
                )
            )
        if run.state == RunState.FINISHED and (lacking := objectives.missing_message(run, p.spec)):
            p.actions.append(Event("Warning", METRIC_MISSING, lacking))


def run_event(run: Run) -> Event:
    text = ", ".join(f"{k}={v:g}" for k, v in sorted(run.metrics.items()))
    detail = f" ({text})" if text else ""
    if run.state == RunState.FINISHED:
        return Event("Normal", "RunFinished", f"Run {run.name} finished{detail}")
    if run.state == RunState.KILLED:
        return Event("Normal", "RunKilled", f"Run {run.name} killed{detail}")
    code = f" (exit code {run.exit_code})" if run.exit_code is not None else ""
    said = f": {run.message}" if run.message else ""
    return Event(
        "Warning",
        f"Run{run.state}",
        f"Run {run.name} {str(run.state).lower()}: {run.reason or 'Failed'}{code}{said}",
    )
