"""The runs a report shows, read from a Sweep and its Jobs, and what the charts and the exports
read from them: the axes of the search space and the metric, the best runs, the counts by state.
Pure; no drawing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubesweep import api, runs
from kubesweep.search import space

RUN_STATES = ("Queued", "Pending", "Running", "Finished", "Failed", "Crashed", "Killed")
BEST_SHOWN = 10


@dataclass(frozen=True)
class Run:
    """One run as the report and the exports show it."""

    name: str
    number: int
    state: str  # a RunState, or Queued for a Job waiting in its queue
    parameters: dict[str, Any]  # as the run got them (nested parameters nested)
    metrics: dict[str, float] = field(default_factory=dict)
    bands: list[float] | None = None
    reason: str | None = None
    exit_code: int | None = None
    message: str | None = None
    job_deleted: bool = False
    # Started again, or to be: the record's retryOf, attempt, rerunOf, retriedBy, disrupted.
    again: dict[str, Any] = field(default_factory=dict)


# How a run was started again, by its record's names, each with its name as the run model (and
# the CSV export) has it.
AGAIN_FIELDS = {
    "retryOf": "retry_of",
    "attempt": "attempt",
    "rerunOf": "rerun_of",
    "retriedBy": "retried_by",
    "disrupted": "disrupted",
}


def again_of(record: Mapping[str, Any], annotations: Mapping[str, Any]) -> dict[str, Any]:
    """How a run was started again, or will be: its record's fields, else what its Job's
    annotations say (read as the operator reads them)."""
    started = runs.started_again(annotations)
    found: dict[str, Any] = {k: started[name] for k, name in AGAIN_FIELDS.items() if name in started}
    found.update({k: record[k] for k in AGAIN_FIELDS if record.get(k) not in (None, False, "")})
    return found


def again_text(again: Mapping[str, Any]) -> str:
    """`retry 1 of s-0003`, `rerun of s-0003`, `disrupted, retried by s-0006`."""
    parts = []
    if again.get("retryOf"):
        attempt = f" {again['attempt']}" if again.get("attempt") else ""
        parts.append(f"retry{attempt} of {again['retryOf']}")
    if again.get("rerunOf"):
        parts.append(f"rerun of {again['rerunOf']}")
    if again.get("disrupted"):
        parts.append("disrupted")
    if again.get("retriedBy"):
        parts.append(f"retried by {again['retriedBy']}")
    return ", ".join(parts)


def _number_of(name: str, annotations: Mapping[str, Any]) -> int:
    text = annotations.get(api.ANNOTATION_RUN_NUMBER) or name.rsplit("-", 1)[-1]
    try:
        return int(text)
    except ValueError:
        return 0


def _live_state(job: Mapping[str, Any]) -> str:
    if (job.get("status") or {}).get("active"):
        return "Running"
    if (job.get("spec") or {}).get("suspend"):
        return "Queued"
    return "Pending"


def runs_of(sweep: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]]) -> list[Run]:
    """Every run the cluster still knows, by number: the status's records (they hold the bands),
    then the Jobs of runs not recorded yet (their result annotation, or their live state)."""
    records = {r["name"]: r for r in (sweep.get("status") or {}).get("recordedRuns") or []}
    with_jobs = {job["metadata"]["name"] for job in jobs}
    out: list[Run] = []
    for name, record in records.items():
        out.append(
            Run(
                name=name,
                number=int(record.get("number") or _number_of(name, {})),
                state=str(record.get("state")),
                parameters=dict(record.get("parameters") or {}),
                metrics=dict(record.get("metrics") or {}),
                bands=list(record["bands"]) if record.get("bands") is not None else None,
                reason=record.get("reason"),
                exit_code=record.get("exitCode"),
                message=record.get("message"),
                job_deleted=name not in with_jobs,
                again=again_of(record, {}),
            )
        )
    for job in jobs:
        name = job["metadata"]["name"]
        if name in records:
            continue
        annotations = job["metadata"].get("annotations") or {}
        try:
            result = json.loads(annotations.get(api.ANNOTATION_RESULT) or "{}")
            parameters = json.loads(annotations.get(api.ANNOTATION_PARAMETERS) or "{}")
        except ValueError:
            result, parameters = {}, {}
        out.append(
            Run(
                name=name,
                number=_number_of(name, annotations),
                state=str(result.get("state") or _live_state(job)),
                parameters=parameters if isinstance(parameters, dict) else {},
                metrics={
                    k: float(v)
                    for k, v in (result.get("metrics") or {}).items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                },
                reason=result.get("reason"),
                exit_code=result.get("exitCode"),
                message=result.get("message"),
                again=again_of({}, annotations),
            )
        )
    return sorted(out, key=lambda r: (r.number, r.name))


# ---------------------------------------------------------------------------------------------
# The sweep's search space and metric, as the charts read them.


@dataclass(frozen=True)
class Axis:
    key: str  # the flat key of the parameter (space.Param.key), or the metric's name
    label: str
    kind: str  # a distribution, or "metric"
    values: dict[str, Any]  # run name -> its value (absent: the run has none)
    choices: list[str] | None = None  # categorical: the values' texts in their order
    log: bool = False


_LOG_KINDS = {
    "log_uniform_values",
    "q_log_uniform_values",
    "inv_log_uniform_values",
    "log_normal",
    "q_log_normal",
}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def flat_parameters(spec: Mapping[str, Any], runs: Sequence[Run]) -> list[tuple[str, str, str]]:
    """(flat key, label, distribution) of every parameter: the spec's, in its order, then any a
    run got that the spec no longer has (the spec changed, or it is invalid)."""
    try:
        params = space.parse(spec.get("parameters") or {})
    except space.SearchSpaceError:
        params = []
    out = [(p.key, p.path, p.kind) for p in params]
    known = {key for key, _, _ in out}
    for run in runs:
        for key in flatten(run.parameters):
            if key not in known:
                known.add(key)
                out.append((key, key, "categorical"))
    return out


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested values by their dotted key (`optimizer.name`)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def run_parameters(spec: Mapping[str, Any], run: Run) -> dict[str, Any]:
    """A run's parameters by flat key (space.Param.key where the spec knows them)."""
    try:
        params = space.parse(spec.get("parameters") or {})
    except space.SearchSpaceError:
        params = []
    known = space.flatten(run.parameters, params)
    covered = {".".join(p.keys) for p in params}
    rest = {k: v for k, v in flatten(run.parameters).items() if k not in covered}
    return {**known, **rest}


def axes(spec: Mapping[str, Any], runs: Sequence[Run]) -> list[Axis]:
    """The parallel-coordinates axes: each parameter whose runs differ (a constant says
    nothing), then the metric."""
    by_run = {run.name: run_parameters(spec, run) for run in runs}
    try:
        declared = {p.key: p for p in space.parse(spec.get("parameters") or {})}
    except space.SearchSpaceError:
        declared = {}
    out: list[Axis] = []
    for key, label, kind in flat_parameters(spec, runs):
        values = {name: flat[key] for name, flat in by_run.items() if key in flat}
        if len({space.canonical(v) for v in values.values()}) < 2 and len(runs) > 1:
            continue
        numeric = bool(values) and all(is_number(v) for v in values.values())
        if numeric and kind != "categorical":
            positive = all(v > 0 for v in values.values())
            out.append(Axis(key, label, kind, values, log=kind in _LOG_KINDS and positive))
            continue
        order: list[str] = []
        param = declared.get(key)
        if param is not None and param.kind == "categorical":
            order = [value_text(v) for v in param["values"]]
        texts = sorted({value_text(v) for v in values.values()} - set(order))
        if numeric:
            texts = sorted(texts, key=float)
        out.append(Axis(key, label, kind, values, choices=[*order, *texts]))
    metric = (spec.get("metric") or {}).get("name")
    if metric:
        values = {run.name: run.metrics[metric] for run in runs if is_number(run.metrics.get(metric))}
        out.append(Axis(metric, metric, "metric", values))
    return out


def best_runs(spec: Mapping[str, Any], runs: Sequence[Run], count: int = BEST_SHOWN) -> list[Run]:
    """The best runs by the metric and its goal; failed and crashed runs never count, as for
    status.bestRun."""
    metric = spec.get("metric") or {}
    name = metric.get("name")
    if not name:
        return []
    sign = -1.0 if metric.get("goal") == "maximize" else 1.0
    ranked = [r for r in runs if is_number(r.metrics.get(name)) and r.state not in ("Failed", "Crashed")]
    return sorted(ranked, key=lambda r: (sign * r.metrics[name], r.number))[:count]


def best_so_far(spec: Mapping[str, Any], runs: Sequence[Run]) -> list[tuple[int, float]]:
    """(run number, best metric up to it) at each run that improved on the runs before it."""
    metric = spec.get("metric") or {}
    name = metric.get("name")
    maximize = metric.get("goal") == "maximize"
    out: list[tuple[int, float]] = []
    for run in sorted(runs, key=lambda r: r.number):
        value = run.metrics.get(name) if name else None
        if not is_number(value) or run.state in ("Failed", "Crashed"):
            continue
        assert value is not None
        if not out or (value > out[-1][1] if maximize else value < out[-1][1]):
            out.append((run.number, float(value)))
    return out


def state_counts(status: Mapping[str, Any], runs: Sequence[Run]) -> dict[str, int]:
    """Runs by state: the status's counts (they include folded runs) where it has them."""
    counts = status.get("runs") or {}
    if counts.get("total"):
        return {state: int(counts.get(state.lower(), 0)) for state in RUN_STATES}
    return {state: sum(1 for r in runs if r.state == state) for state in RUN_STATES}
