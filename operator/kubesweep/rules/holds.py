"""Why a valid sweep starts no run: paused, stopped, out of its failure budget, or its template
rejected by the API server."""

from __future__ import annotations

from kubesweep import api
from kubesweep.actions import Event
from kubesweep.api import Phase, RunState, State
from kubesweep.rules.history import counts_as_failure
from kubesweep.rules.passes import Pass, Verdict
from kubesweep.rules.reasons import FIRST_RUNS_FAILED, TEMPLATE_REJECTED
from kubesweep.rules.spec import with_sweep_field


def hold(p: Pass, spec: api.SweepSpec, template_error: str | None) -> Verdict | None:
    """The phase of a sweep that starts no run, or None: it runs. `template_error` is the API
    server's message when it rejected a run's Job in this pass."""
    executing = p.executing()
    if p.state == State.PAUSED:
        return Verdict(Phase.PAUSED, "Paused", f"{len(executing)} run(s) still executing")
    if p.state == State.STOPPED:
        if executing:
            return Verdict(Phase.STOPPING, "Stopping", f"waiting for {len(executing)} run(s)")
        return Verdict(Phase.STOPPED, "Stopped", "no run is executing")

    all_runs = p.runs.values()
    failures = sum(1 for r in all_runs if counts_as_failure(r, spec))
    failures += p.folded.states[RunState.FAILED] + p.folded.states[RunState.CRASHED] - p.folded.retried
    if spec.max_failed_runs is not None and failures >= spec.max_failed_runs:
        return Verdict(
            Phase.FAILED,
            "MaxFailedRunsReached",
            f"{failures} run(s) failed, reaching maxFailedRuns={spec.max_failed_runs}; "
            "raise maxFailedRuns to continue",
        )
    finished = sum(1 for r in all_runs if r.state == RunState.FINISHED) + p.folded.states[RunState.FINISHED]
    if spec.max_failed_runs is None and finished == 0 and failures >= FIRST_RUNS_FAILED:
        return Verdict(
            Phase.FAILED,
            "FirstRunsFailed",
            f"The first {failures} runs all failed and none finished (W&B's agent stops so); "
            "kubectl sweep status shows why each failed. Fix the template, or set maxFailedRuns "
            "to allow more failures",
        )
    # Rejected in this pass, or in an earlier one of this generation of the spec (it holds until
    # the spec changes).
    rejected = next(
        (
            c
            for c in p.conditions_before
            if c.get("reason") == TEMPLATE_REJECTED and c.get("observedGeneration") == p.generation
        ),
        None,
    )
    if template_error is not None:
        message = with_sweep_field(template_error or str(rejected.get("message", "") if rejected else ""))
        p.actions.append(Event("Warning", TEMPLATE_REJECTED, message))
        return Verdict(Phase.CRASHED, TEMPLATE_REJECTED, message)
    if rejected is not None:
        return Verdict(Phase.CRASHED, TEMPLATE_REJECTED, str(rejected.get("message", "")))
    return None
