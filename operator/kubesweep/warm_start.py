"""Warm start (spec.warmStart.fromSweeps): a sweep learns from the recorded runs of other
sweeps in its namespace. Pure: the shell hands in those Sweeps as its index holds them.

Their finished runs whose parameters fit this sweep's space (the same parameters, each value
one this sweep could have drawn) and that reported this sweep's metric (every objective, with
metrics) join the history bayes and tpe learn from. They are not runs of this sweep: they are
not in its status, and runCap, maxFailedRuns and the run counts do not see them.

A sweep learns again when a Sweep it names changes what it teaches (created, deleted, a run
recorded): the shell keeps a reverse map (`learners`, a kopf index) from each named Sweep to the
sweeps that name it, and wakes those `to_wake` says.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from kubesweep import api, objectives, runs, search
from kubesweep.search import space

# Methods that learn from a history: the others ignore one (the CRD refuses warmStart with them).
METHODS = ("bayes", "tpe")
# Runs taken from all the sources together, the newest of each first: bounds what a suggestion costs.
MAX_PRIOR_RUNS = 1000


def problem(spec: api.SweepSpec) -> tuple[str, str] | None:
    """The field and the message when the sweep cannot learn from other sweeps (the CRD says so too)."""
    if spec.warm_start is not None and str(spec.method) not in METHODS:
        return "spec.warmStart", "warmStart feeds what bayes and tpe learn from: use method bayes or tpe"
    return None


def sources(sweep: Mapping[str, Any]) -> list[str]:
    """The names of the Sweeps this one learns from, as its (raw) spec gives them; never itself."""
    spec = sweep.get("spec") or {}
    warm = spec.get("warmStart") if isinstance(spec, Mapping) else None
    names = warm.get("fromSweeps") if isinstance(warm, Mapping) else None
    own = (sweep.get("metadata") or {}).get("name")
    if not isinstance(names, list):
        return []
    return [n for n in dict.fromkeys(names) if isinstance(n, str) and n != own]


def learners(namespace: str, sweep: Mapping[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    """The reverse map's entries of one sweep: each Sweep it names, by its key (namespace, label
    value), to this sweep's key."""
    own = (namespace, runs.label_value((sweep.get("metadata") or {}).get("name") or ""))
    return {(namespace, runs.label_value(name)): own for name in sources(sweep)}


def taught(sweep: Mapping[str, Any] | None) -> int | None:
    """What a Sweep teaches those that learn from it, as a fingerprint: its records, by name and
    state (a record does not change once made; new ones come, folded ones go). None: no Sweep."""
    if sweep is None:
        return None
    records = (sweep.get("status") or {}).get("recordedRuns") or []
    return hash(tuple((r.get("name"), r.get("state")) for r in records if isinstance(r, Mapping)))


_K = TypeVar("_K")


def to_wake(
    before: int | None, sweep: Mapping[str, Any] | None, learning: Iterable[_K]
) -> tuple[list[_K], int | None]:
    """Which of the sweeps `learning` from a Sweep get a pass after an event of it (`sweep`; None:
    deleted), `before` what it taught when last seen (None: not seen): all of them when it came,
    went or recorded runs, none when only the rest of it changed (its own passes write its
    status often). And what it teaches now, to remember."""
    now = taught(sweep)
    changed = sweep is None or before is None or now != before
    return (list(dict.fromkeys(learning)) if changed else []), now


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _value_fits(param: space.Param, value: Any) -> bool:
    c = param.config
    match param.kind:
        case "constant":
            return space.canonical(value) == space.canonical(c["value"])
        case "categorical":
            return space.canonical(value) in {space.canonical(v) for v in c["values"]}
        case "int_uniform":
            return _number(value) and float(value).is_integer() and c["min"] <= value <= c["max"]
        case (
            "uniform" | "q_uniform" | "log_uniform_values" | "q_log_uniform_values" | "inv_log_uniform_values"
        ):
            return _number(value) and c["min"] <= value <= c["max"]
        case "log_normal" | "q_log_normal":
            return _number(value) and value > 0
        case "beta" | "q_beta":
            return _number(value) and 0 <= value <= 1
    return _number(value)  # normal, q_normal


def fits(parameters: Mapping[str, Any], point: Mapping[str, Any]) -> bool:
    """Whether a run's parameters are a point this sweep's space could have drawn: exactly its
    active parameters (no more, none missing), each value within its distribution."""
    return _fits(space.parse(parameters), point)


def _fits(params: list[space.Param], point: Mapping[str, Any]) -> bool:
    flat = space.active(params, space.flatten(point, params))
    expected = space.active(params, {**{p.key: None for p in params}, **flat})
    if set(flat) != set(expected):
        return False
    by_key = {p.key: p for p in params}
    if not all(_value_fits(by_key[k], v) for k, v in flat.items()):
        return False
    # Nothing beyond them (a parameter this sweep does not have changed what that run measured).
    return json.dumps(space.nest(flat), sort_keys=True) == json.dumps(point, sort_keys=True)


def prior_trials(spec: api.SweepSpec, found: Mapping[str, Mapping[str, Any]]) -> list[search.Trial]:
    """The history the sweep learns from beyond its own runs: the finished runs of the Sweeps
    `found` (by name; those of spec.warmStart.fromSweeps that exist), numbered 0, -1, -2, ...
    so that they are older than any run of this sweep."""
    if spec.warm_start is None or str(spec.method) not in METHODS:
        return []
    try:
        params = space.parse(spec.parameters)  # once: a source may hold hundreds of records
    except search.SearchSpaceError:
        return []
    out: list[search.Trial] = []
    for name in spec.warm_start.from_sweeps:
        status = (found.get(name) or {}).get("status") or {}
        records = [r for r in status.get("recordedRuns") or [] if isinstance(r, Mapping)]
        for record in sorted(records, key=lambda r: -r["number"] if _number(r.get("number")) else 0):
            if len(out) >= MAX_PRIOR_RUNS:
                return out
            trial = _trial(spec, params, record, -len(out))
            if trial is not None:
                out.append(trial)
    return out


def learned_from(
    spec: api.SweepSpec, found: Mapping[str, Mapping[str, Any]]
) -> tuple[list[search.Trial], dict[str, Any] | None]:
    """The prior trials, and status.warmStart: how many runs the sweep learns from, and which
    of the Sweeps it names do not exist (a misspelt name would otherwise teach it nothing unseen)."""
    if spec.warm_start is None:
        return [], None
    prior = prior_trials(spec, found)
    missing = [name for name in spec.warm_start.from_sweeps if name not in found]
    return prior, {"runs": len(prior), "missing": missing}


def _trial(
    spec: api.SweepSpec, params: list[space.Param], record: Mapping[str, Any], number: int
) -> search.Trial | None:
    if record.get("state") != api.RunState.FINISHED:
        return None
    point = record.get("parameters")
    metrics = record.get("metrics")
    if not isinstance(point, Mapping) or not isinstance(metrics, Mapping):
        return None
    if not _fits(params, point):
        return None
    if spec.metrics:
        values = objectives.point(metrics, spec)
        if values is None:
            return None
        return search.Trial(number=number, parameters=dict(point), state="Finished", values=values)
    value = metrics.get(spec.metric.name) if spec.metric else None
    if not isinstance(value, int | float) or not _number(value):
        return None
    return search.Trial(number=number, parameters=dict(point), state="Finished", metric=float(value))
