"""The sweep's status as one pass leaves it, built as api.SweepStatus: what a write would lose to
the CRD's pruning cannot be built at all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pydantic

from kubesweep import api, objectives, runs
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


def run_counts(all_runs: Sequence[Run], folded: Fold) -> api.RunCounts:
    counts = {state.value.lower(): 0 for state in RunState}
    counts["queued"] = 0
    for run in all_runs:
        # A run waiting in a queue (Kueue) is not running yet, nor pending on a node.
        counts["queued" if run.queued and run.active else run.state.value.lower()] += 1
    for state, count in folded.states.items():
        counts[state.value.lower()] += count
    counts["total"] = len(all_runs) + len(folded.numbers)
    counts["retries"] = sum(1 for r in all_runs if r.started_again) + folded.retries
    return api.RunCounts(**counts)


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
    if completed and spec is not None and spec.metrics and not objectives.front(all_runs, spec):
        return False, NO_METRIC_REPORTED, f"{message}, but {objectives.none_complete_message(spec)}"
    return completed, reason, message


def conditions(p: Pass, verdict: Verdict, completed: tuple[bool, str, str]) -> list[api.Condition]:
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


def _condition(p: Pass, kind: str, status: bool, reason: str, message: str) -> api.Condition:
    """A metav1.Condition whose lastTransitionTime moves only when its status does."""
    value: Literal["True", "False"] = "True" if status else "False"
    old = p.condition_before(kind)
    since = (
        old["lastTransitionTime"]
        if old and old.get("status") == value and old.get("lastTransitionTime")
        else p.now
    )
    return api.Condition(
        type=kind,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=p.generation,
    )


def record(run: Run, kept: Sequence[str], spec: api.SweepSpec | None) -> api.RunRecord:
    """An ended run's record in status.recordedRuns. Records written before metrics were bounded
    are bounded as they are kept."""
    why = {} if run.state == RunState.FINISHED else runs.why(run)  # why a run that did not finish ended
    return api.RunRecord(
        name=run.name,
        number=run.number,
        state=run.state,
        parameters=dict(run.parameters),
        metrics=runs.bounded_metrics(run.metrics, kept) if spec is not None else dict(run.metrics),
        bands=list(run.band_values) if run.band_values is not None else None,
        reason=why.get("reason"),
        exit_code=why.get("exitCode"),
        message=why.get("message"),
        early_stopped=True if run.early_stopped else None,
        disrupted=True if run.disrupted else None,
        retried_by=run.retried_by or None,
        retry_of=run.retry_of or None,
        attempt=run.attempt or None,
        rerun_of=run.rerun_of or None,
    )


def best_run(p: Pass, best: Run | None) -> api.BestRun | None:
    """The best run, or (while the spec is invalid) the one the status named before."""
    if best is not None and p.spec is not None:
        value = metric_of(best, p.spec)
        assert value is not None  # the best run is chosen among those that reported the metric
        return api.BestRun(
            name=best.name, metric=value, metric_text=metric_text(value), parameters=dict(best.parameters)
        )
    before: Mapping[str, Any] | None = p.old_status.get("bestRun")
    if not before:
        return None
    try:
        return api.BestRun.model_validate(before)
    except pydantic.ValidationError:
        return None  # only the operator writes it; the schema keeps others from breaking it


def sweep_status(
    p: Pass,
    verdict: Verdict,
    counts: api.RunCounts,
    completed: tuple[bool, str, str],
    best: Run | None,
    kept: Sequence[Run],
    all_runs: Sequence[Run],
) -> api.SweepStatus:
    settled = verdict.phase in api.SETTLED_PHASES
    front = objectives.status_fields(all_runs, p.spec, p.old_status)
    warm = p.warm if p.spec is not None else p.old_status.get("warmStart")
    return api.SweepStatus(
        phase=verdict.phase,
        observed_generation=p.generation,
        conditions=conditions(p, verdict, completed),
        runs=counts,
        # No best run among trade-offs: one left from when the sweep had a single metric goes.
        best_run=None if "bestRun" in front else best_run(p, best),
        pareto_front=front["paretoFront"],
        pareto_front_size=front["paretoFrontSize"],
        warm_start=api.WarmStartStatus.model_validate(warm) if warm is not None else None,
        refused_reruns=p.refused_reruns,
        # A sweep whose spec is invalid has not started: its first valid pass starts it.
        start_time=p.old_status.get("startTime") or (p.now if p.spec is not None else None),
        completion_time=(p.old_status.get("completionTime") or p.now) if settled else None,
        recorded_runs=[record(r, p.kept, p.spec) for r in kept],
        folded_runs=p.folded.to_status(),
    )
