"""The sweep's status as one pass leaves it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubesweep import api, runs
from kubesweep.api import Phase, RunState
from kubesweep.folding import Fold
from kubesweep.rules.history import metric_of, metric_text
from kubesweep.rules.passes import Pass, Verdict
from kubesweep.rules.reasons import (
    INVALID_SPEC,
    NO_METRIC_REPORTED,
    NO_RUN_FINISHED,
    PERMISSION_DENIED,
    QUOTA_EXCEEDED,
    TEMPLATE_REJECTED,
)
from kubesweep.runs import Run


def run_counts(all_runs: Sequence[Run], folded: Fold) -> dict[str, int]:
    counts = {state.value.lower(): 0 for state in RunState}
    counts["queued"] = 0
    for run in all_runs:
        # A run waiting in a queue (Kueue) is not running yet, nor pending on a node.
        counts["queued" if run.queued and run.active else run.state.value.lower()] += 1
    for state, count in folded.states.items():
        counts[state.value.lower()] += count
    counts["total"] = len(all_runs) + len(folded.numbers)
    return counts


def completion(
    verdict: Verdict, all_runs: Sequence[Run], folded: Fold, spec: api.SweepSpec | None, best: Run | None
) -> tuple[bool, str, str]:
    """The Completed condition's status, reason and message: Finished is Completed only with a
    result, a run that finished and, with a metric, reported it."""
    completed, reason, message = verdict.phase == Phase.FINISHED, verdict.reason, verdict.message
    if (
        completed
        and not any(r.state == RunState.FINISHED for r in all_runs)
        and not folded.states[RunState.FINISHED]
    ):
        return (
            False,
            NO_RUN_FINISHED,
            f"{message}, but no run finished: kubectl sweep status shows why they failed",
        )
    if completed and spec is not None and spec.metric is not None and best is None:
        return (
            False,
            NO_METRIC_REPORTED,
            f"{message}, but no run reported {spec.metric.name}: print '{spec.metric.name}=VALUE' "
            "or write it to /dev/termination-log",
        )
    return completed, reason, message


def conditions(p: Pass, verdict: Verdict, completed: tuple[bool, str, str]) -> list[dict[str, Any]]:
    phase, reason, message = verdict.phase, verdict.reason, verdict.message
    problem = (
        reason in (INVALID_SPEC, TEMPLATE_REJECTED, PERMISSION_DENIED, QUOTA_EXCEEDED)
        or phase == Phase.FAILED
    )
    done, done_reason, done_message = completed
    return [
        _condition(
            p, "Ready", not problem, reason if problem else "Reconciled",
            message if problem else "The sweep is valid and reconciled",
        ),
        _condition(p, "Progressing", phase in (Phase.RUNNING, Phase.STOPPING), reason, message),
        _condition(
            p, "Completed", done, done_reason if phase == Phase.FINISHED else str(phase), done_message
        ),
    ]  # fmt: skip


def _condition(p: Pass, kind: str, status: bool, reason: str, message: str) -> dict[str, Any]:
    """A metav1.Condition whose lastTransitionTime moves only when its status does."""
    value = "True" if status else "False"
    old = p.condition_before(kind)
    since = (
        old["lastTransitionTime"]
        if old and old.get("status") == value and old.get("lastTransitionTime")
        else p.now
    )
    return {
        "type": kind,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
        "observedGeneration": p.generation,
    }


def record(run: Run, metric: str | None, spec: api.SweepSpec | None) -> dict[str, Any]:
    """An ended run's record in status.recordedRuns. Records written before metrics were bounded
    are bounded as they are kept."""
    why = {} if run.state == RunState.FINISHED else runs.why(run)  # why a run that did not finish ended
    return {
        "name": run.name,
        "number": run.number,
        "state": str(run.state),
        "parameters": dict(run.parameters),
        "metrics": runs.bounded_metrics(run.metrics, metric) if spec is not None else dict(run.metrics),
        **({"bands": list(run.band_values)} if run.band_values is not None else {}),
        **why,
        **({"earlyStopped": True} if run.early_stopped else {}),
    }


def best_run(p: Pass, best: Run | None) -> Any:
    """The best run, or (while the spec is invalid) the one the status named before."""
    if best is not None and p.spec is not None:
        value = metric_of(best, p.spec)
        return {
            "name": best.name,
            "metric": value,
            "metricText": metric_text(value),
            "parameters": dict(best.parameters),
        }
    return p.old_status.get("bestRun")


def sweep_status(
    p: Pass,
    verdict: Verdict,
    counts: dict[str, int],
    completed: tuple[bool, str, str],
    best: Run | None,
    kept: Sequence[Run],
) -> dict[str, Any]:
    settled = verdict.phase in api.SETTLED_PHASES
    return {
        "phase": str(verdict.phase),
        "observedGeneration": p.generation,
        "conditions": conditions(p, verdict, completed),
        "runs": counts,
        "bestRun": best_run(p, best),
        # A sweep whose spec is invalid has not started: its first valid pass starts it.
        "startTime": p.old_status.get("startTime") or (p.now if p.spec is not None else None),
        "completionTime": (p.old_status.get("completionTime") or p.now) if settled else None,
        "recordedRuns": [record(r, p.metric, p.spec) for r in kept],
        "foldedRuns": p.folded.to_status(),
    }
