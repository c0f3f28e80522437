"""What the sweep's runs so far say: its records as runs, the best run, whether the target is
reached, what counts toward runCap, and the history the search learns from."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic

from kubesweep import api, objectives, runs, search
from kubesweep.api import RunState
from kubesweep.runs import Run, Stage


def recorded_runs(status: Mapping[str, Any]) -> list[Run]:
    """Ended runs as status.recordedRuns remembers them (their Jobs released or gone)."""
    out = []
    for item in status.get("recordedRuns") or []:
        try:
            record = api.RunRecord.model_validate(item)
        except pydantic.ValidationError:
            continue
        out.append(
            Run(
                name=record.name,
                number=record.number,
                parameters=record.parameters,
                state=RunState(record.state),
                metrics=record.metrics,
                stage=Stage.RELEASED,
                band_values=tuple(record.bands) if record.bands is not None else None,
                # A finished run's record says no reason (its state says it): its Job's result
                # still gets the one an observed run has.
                reason=record.reason or ("Completed" if record.state == RunState.FINISHED else ""),
                exit_code=record.exit_code,
                message=record.message or "",
                early_stopped=bool(record.early_stopped),
                disrupted=bool(record.disrupted),
                retry_of=record.retry_of or "",
                attempt=record.attempt or 0,
                rerun_of=record.rerun_of or "",
                retried_by=record.retried_by or "",
            )
        )
    return out


def metric_of(run: Run, spec: api.SweepSpec) -> float | None:
    if spec.metric is None:
        return None
    return run.metrics.get(spec.metric.name)


def counts_toward_cap(run: Run, spec: api.SweepSpec) -> bool:
    """W&B's run_cap counting: every run started except killed runs that reported no metric.
    A retry or a rerun starts no new point: the run it starts again already counted."""
    if run.started_again:
        return False
    if run.state != RunState.KILLED:
        return True
    return bool(run.metrics) if spec.metric is None else metric_of(run, spec) is not None


def to_retry(run: Run, spec: api.SweepSpec) -> bool:
    """A run the cluster took away, not retried yet, with retries left (spec.maxRetries): it
    will be run again, so it is no failure of the sweep."""
    return (
        run.disrupted
        and run.state == RunState.CRASHED
        and not run.retried_by
        and run.attempt < spec.max_retries
    )


def counts_as_failure(run: Run, spec: api.SweepSpec) -> bool:
    """Toward maxFailedRuns (and the first runs all failing): a failed or crashed run, unless a
    retry replaced it or will."""
    if run.state not in (RunState.FAILED, RunState.CRASHED):
        return False
    return not run.retried_by and not to_retry(run, spec)


def search_seed(spec: api.SweepSpec, uid: str | None) -> int | None:
    """spec.seed, else one derived from the sweep's uid: two unseeded sweeps draw different
    points, and a restarted operator draws the same ones again for the same sweep."""
    if spec.seed is not None:
        return spec.seed
    if not uid:
        return None
    return int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16)


def _better(a: float, b: float, goal: str) -> bool:
    return a < b if goal == api.Goal.MINIMIZE else a > b


def metric_text(value: float | None) -> str | None:
    """A metric as `kubectl get sweeps` shows it: the API server prints a number column in
    full (0.08312345678901234), so the status carries it to 4 significant digits."""
    return None if value is None else f"{value:.4g}"


def best_run(all_runs: Sequence[Run], spec: api.SweepSpec) -> Run | None:
    if spec.metric is None:
        return None
    best: Run | None = None
    for run in all_runs:
        value = metric_of(run, spec)
        if value is None or run.state in (RunState.FAILED, RunState.CRASHED):
            continue
        if best is None or _better(value, best.metrics[spec.metric.name], str(spec.metric.goal)):
            best = run
    return best


def target_reached(all_runs: Sequence[Run], spec: api.SweepSpec) -> Run | None:
    metric = spec.metric
    if metric is None or metric.target is None:
        return None
    for run in sorted(all_runs, key=lambda r: r.number):
        value = metric_of(run, spec)
        if value is None or run.state != RunState.FINISHED:
            continue
        if (value <= metric.target) if metric.goal == api.Goal.MINIMIZE else (value >= metric.target):
            return run
    return None


def trials(all_runs: Sequence[Run], spec: api.SweepSpec) -> list[search.Trial]:
    metric = spec.metric.name if spec.metric else None
    return [
        search.Trial(
            number=run.number,
            parameters=run.parameters,
            state=str(run.state),  # type: ignore[arg-type]
            metric=run.metrics.get(metric) if metric else None,
            steps=runs.metric_steps(run.steps, metric) if metric else (),
            band_values=run.band_values,
            values=objectives.point(run.metrics, spec),
        )
        for run in sorted(all_runs, key=lambda r: r.number)
    ]


def leaders(recorded: Sequence[Run], spec: api.SweepSpec, count: int) -> list[Run]:
    """The `count` best runs by the metric's goal."""
    if spec.metric is None:
        return []
    name, sign = spec.metric.name, -1.0 if spec.metric.goal == api.Goal.MAXIMIZE else 1.0
    scored = [r for r in recorded if r.metrics.get(name) is not None]
    return sorted(scored, key=lambda r: sign * r.metrics[name])[:count]
