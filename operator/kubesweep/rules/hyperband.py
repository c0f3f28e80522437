"""Hyperband: runs below the threshold of their band stop like a normal stop, and their records
say they were stopped early."""

from __future__ import annotations

from kubesweep import api, runs, search
from kubesweep.actions import Event
from kubesweep.api import RunState, State
from kubesweep.rules.history import trials
from kubesweep.rules.passes import Pass


def stop_early(p: Pass, spec: api.SweepSpec) -> None:
    if p.hyperband is None or p.state != State.RUNNING:
        return
    to_stop = search.hyperband_to_stop(
        p.hyperband[0],
        str(spec.metric.goal) if spec.metric else "minimize",  # type: ignore[arg-type]
        trials(list(p.runs.values()), spec),
    )
    by_number = {r.number: r for r in p.runs.values() if r.watched and r.active}
    for number in to_stop:
        if (run := by_number.get(number)) is None:
            continue
        last = runs.metric_steps(run.steps, spec.metric.name)[-1:] if spec.metric else ()
        metrics = dict(run.metrics)
        if last and spec.metric:
            metrics[spec.metric.name] = last[0][1]
        p.record(run, state=RunState.KILLED, reason="EarlyTerminated", early_stopped=True, metrics=metrics)
        p.stop(run)
        p.actions.append(Event("Normal", "RunStoppedEarly", f"Hyperband stopped run {run.name}"))
