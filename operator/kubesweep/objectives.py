"""Several objectives (spec.metrics): what the spec allows, a run's point, and the Pareto front
the status keeps instead of bestRun. Pure; the rules call it in a few places.

bestRun is left out of a sweep of several objectives: no single run is best when the objectives
trade off, and a person reads the front (status.paretoFront, `kubectl sweep status`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from kubesweep import api
from kubesweep.api import RunState
from kubesweep.runs import Run
from kubesweep.search import pareto


def goals(spec: api.SweepSpec) -> list[str] | None:
    """The goal of each objective of a sweep of several; None for a sweep of one metric or none."""
    return [str(m.goal) for m in spec.metrics] if spec.metrics else None


def problem(spec: api.SweepSpec) -> tuple[str, str] | None:
    """The field and the message of what a spec of several objectives cannot do (the CRD's rules
    say the same; the operator checks again, as the API server may not have)."""
    if not spec.metrics:
        return None
    if spec.metric is not None:
        return "spec.metrics", "give metric (one objective) or metrics (several), not both"
    if spec.method == api.Method.CMAES:
        return "spec.method", "cmaes optimizes a single metric: use bayes or tpe for several objectives"
    if spec.early_terminate is not None:
        return (
            "spec.earlyTerminate",
            "earlyTerminate needs a single metric (not metrics): set metric.name and goal",
        )
    names = [m.name for m in spec.metrics]
    if len(set(names)) != len(names):
        return "spec.metrics", "each of metrics names a different metric"
    return None


def point(metrics: Mapping[str, float], spec: api.SweepSpec) -> tuple[float, ...] | None:
    """A run's value of every objective, in the spec's order; None unless it reported each one
    as a finite number (a run that lacks one is not complete: it is on no front, and the search
    does not learn from it)."""
    if not spec.metrics:
        return None
    values = tuple(metrics.get(m.name) for m in spec.metrics)
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    return values  # type: ignore[return-value]


def none_complete_message(spec: api.SweepSpec) -> str:
    """Why a finished sweep of several objectives has no result: no run reported them all."""
    names = [m.name for m in spec.metrics or []]
    return (
        f"no finished run reported every objective ({', '.join(names)}): print "
        f"'{names[0]}=VALUE {names[1]}=VALUE' or write them to /dev/termination-log"
    )


def missing_message(run: Run, spec: api.SweepSpec | None) -> str | None:
    """The MetricMissing warning of a finished run that lacks objectives, which keeps it off the
    front and out of what the search learns; None when it has them all."""
    if spec is None or not spec.metrics:
        return None
    lacking = [m.name for m in spec.metrics if m.name not in run.metrics]
    if not lacking:
        return None
    example = " ".join(f"{name}=VALUE" for name in lacking)
    return (
        f"Run {run.name} finished without reporting {', '.join(lacking)} (a sweep of several objectives "
        f"needs every one): print '{example}' or write them to /dev/termination-log"
    )


def front(all_runs: Sequence[Run], spec: api.SweepSpec) -> list[Run]:
    """The finished runs of complete points that no other such run dominates, by run number."""
    wanted = goals(spec)
    if wanted is None:
        return []
    scored = [
        (r, p)
        for r in sorted(all_runs, key=lambda r: r.number)
        if r.state == RunState.FINISHED and (p := point(r.metrics, spec)) is not None
    ]
    kept = set(pareto.front([(r.name, p) for r, p in scored], wanted))
    return [r for r, _ in scored if r.name in kept]


def status_fields(
    all_runs: Sequence[Run], spec: api.SweepSpec | None, old_status: Mapping[str, Any]
) -> dict[str, Any]:
    """status.paretoFront (capped, spread along it) and paretoFrontSize, and no bestRun; the
    front None (a merge patch removes it) in a sweep of one metric, and as it was while the spec
    is invalid."""
    if spec is None:
        return {
            "paretoFront": old_status.get("paretoFront"),
            "paretoFrontSize": old_status.get("paretoFrontSize"),
        }
    if not spec.metrics:
        return {"paretoFront": None, "paretoFrontSize": None}
    runs = front(all_runs, spec)
    points = [point(r.metrics, spec) or () for r in runs]
    shown = set(pareto.spread([r.name for r in runs], points, api.PARETO_FRONT_KEPT))
    return {
        # No best run among trade-offs: one left from when the sweep had a single metric goes
        # (rules.status leaves bestRun out of the status it builds when this key is here).
        "bestRun": None,
        "paretoFront": [
            {"name": r.name, "metrics": {m.name: r.metrics[m.name] for m in spec.metrics}}
            for r in runs
            if r.name in shown
        ],
        "paretoFrontSize": len(runs),
    }
