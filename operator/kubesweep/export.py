"""`kubectl sweep export`: a sweep's runs as CSV, JSON, or an Optuna journal.

The Optuna journal is written through Optuna's own storage API (JournalStorage over a
JournalFileBackend), so `optuna-dashboard FILE`, `optuna.load_study` and anything else that
reads Optuna storages opens it. CSV and JSON are pure functions of the runs.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubesweep.report.data import AGAIN_FIELDS, Run, flat_parameters, run_parameters
from kubesweep.search import space

FORMATS = ("csv", "json", "optuna")


def _metric_name(spec: Mapping[str, Any]) -> str | None:
    return (spec.get("metric") or {}).get("name")


def _other_metrics(spec: Mapping[str, Any], runs: Sequence[Run]) -> list[str]:
    metric = _metric_name(spec)
    return sorted({k for r in runs for k in r.metrics if k != metric})


def to_csv(spec: Mapping[str, Any], runs: Sequence[Run]) -> str:
    """One row per run: its name, number, state, the metric, the other metrics, each parameter
    (nested ones by their dotted path), why it did not finish and, in a sweep with runs started
    again, how (retry_of, attempt, rerun_of, retried_by, disrupted)."""
    metric = _metric_name(spec)
    others = _other_metrics(spec, runs)
    params = flat_parameters(spec, runs)
    again = [k for k in AGAIN_FIELDS if any(k in r.again for r in runs)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["run", "number", "state", *([metric] if metric else []), *others]
        + [label for _, label, _ in params]
        + ["reason", "exit_code", "message"]
        + [AGAIN_FIELDS[k] for k in again]
    )
    for run in runs:
        flat = run_parameters(spec, run)
        writer.writerow(
            [run.name, run.number, run.state]
            + ([run.metrics.get(metric, "")] if metric else [])
            + [run.metrics.get(name, "") for name in others]
            + [_cell(flat[key]) if key in flat else "" for key, _, _ in params]
            + [run.reason or "", "" if run.exit_code is None else run.exit_code, run.message or ""]
            + [run.again.get(k, "") for k in again]
        )
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    return (
        value if isinstance(value, int | float | str) and not isinstance(value, bool) else json.dumps(value)
    )


def to_json(sweep: Mapping[str, Any], runs: Sequence[Run]) -> str:
    spec = sweep.get("spec") or {}
    try:
        distributions = space.distributions(spec.get("parameters") or {})
    except space.SearchSpaceError:
        distributions = {}
    document = {
        "sweep": {
            "namespace": (sweep.get("metadata") or {}).get("namespace"),
            "name": (sweep.get("metadata") or {}).get("name"),
        },
        "method": spec.get("method"),
        "metric": spec.get("metric"),
        "parameters": distributions,
        "phase": (sweep.get("status") or {}).get("phase"),
        "runs": [
            {
                "name": run.name,
                "number": run.number,
                "state": run.state,
                "parameters": run.parameters,
                "metrics": run.metrics,
                **({"bands": run.bands} if run.bands is not None else {}),
                **({"reason": run.reason} if run.reason else {}),
                **({"exitCode": run.exit_code} if run.exit_code is not None else {}),
                **({"message": run.message} if run.message else {}),
                **({"jobDeleted": True} if run.job_deleted else {}),
                **run.again,
            }
            for run in runs
        ],
    }
    return json.dumps(document, indent=2) + "\n"


# ---------------------------------------------------------------------------------------------
# Optuna.

_PLAIN = (str, int, float, bool, type(None))


def _choice(value: Any) -> Any:
    """A categorical value as Optuna stores it: None, bool, int, float or str (lists and
    objects as their JSON text)."""
    return value if isinstance(value, _PLAIN) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def distributions(spec: Mapping[str, Any], runs: Sequence[Run]) -> dict[str, Any]:
    """One Optuna distribution per parameter (its flat key), wide enough for every run's value:
    the spec's range where it has one (W&B's q_ and normal-like distributions widened to the
    values drawn), categorical over the spec's values and any value a run got."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    try:
        declared = {p.key: p for p in space.parse(spec.get("parameters") or {})}
    except space.SearchSpaceError:
        declared = {}
    values: dict[str, list[Any]] = {}
    for run in runs:
        for key, value in run_parameters(spec, run).items():
            values.setdefault(key, []).append(value)
    out: dict[str, Any] = {}
    for key, _, kind in flat_parameters(spec, runs):
        seen = values.get(key, [])
        param = declared.get(key)
        bounds = [param["min"], param["max"]] if param is not None and "min" in param.config else []
        numbers = [*bounds, *seen]
        if kind not in ("categorical", "constant") and numbers and all(_is_number(v) for v in numbers):
            low, high = min(numbers), max(numbers)
            if kind == "int_uniform" and all(isinstance(v, int) for v in numbers):
                out[key] = IntDistribution(int(low), int(high))
            else:
                log = kind.endswith("log_uniform_values") and low > 0
                out[key] = FloatDistribution(float(low), float(high), log=log)
            continue
        choices: list[Any] = []
        if param is not None and param.kind == "categorical":
            choices = [_choice(v) for v in param["values"]]
        elif param is not None and param.kind == "constant":
            choices = [_choice(param["value"])]
        for value in seen:
            if _choice(value) not in choices:
                choices.append(_choice(value))
        out[key] = CategoricalDistribution(choices or [None])
    return out


def trial_state(run: Run, has_value: bool) -> str:
    """The Optuna TrialState name of a run: Finished with the metric COMPLETE, stopped early or by
    hand PRUNED, failed or crashed (or finished without the metric: Optuna's COMPLETE needs a
    value) FAIL, executing RUNNING, not started WAITING."""
    if run.state == "Finished":
        return "COMPLETE" if has_value else "FAIL"
    if run.state == "Killed":
        return "PRUNED"
    if run.state in ("Failed", "Crashed"):
        return "FAIL"
    if run.state == "Running":
        return "RUNNING"
    return "WAITING"


def write_optuna(path: Path, sweep: Mapping[str, Any], runs: Sequence[Run]) -> str:
    """Writes the sweep as one Optuna study (named NAMESPACE/NAME) in a new journal file at
    `path`; returns the study's name."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend  # Optuna 4's name (3.x: JournalFileStorage)
    from optuna.trial import TrialState, create_trial

    spec = sweep.get("spec") or {}
    meta = sweep.get("metadata") or {}
    metric = spec.get("metric") or {}
    name = f"{meta.get('namespace', 'default')}/{meta.get('name', 'sweep')}"
    path.unlink(missing_ok=True)  # a journal appends: a second export would find the study there
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize" if metric.get("goal") == "maximize" else "minimize",
    )
    study.set_user_attr("kubesweep.sweep", name)
    study.set_user_attr("kubesweep.method", spec.get("method"))
    if metric.get("name"):
        with warnings.catch_warnings():  # experimental since Optuna 3.2, and what the dashboard shows
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([metric["name"]])
    dists = distributions(spec, runs)
    steps: list[int] = []
    if spec.get("earlyTerminate"):
        from kubesweep.search import hyperband

        try:
            steps = hyperband.bands(spec["earlyTerminate"])
        except (KeyError, TypeError, ValueError):
            steps = []
    for run in runs:
        value = run.metrics.get(metric["name"]) if metric.get("name") else None
        has_value = _is_number(value)
        state = trial_state(run, has_value)
        params = {
            k: _choice(v) if k in dists and _is_categorical(dists[k]) else v
            for k, v in run_parameters(spec, run).items()
        }
        bands = run.bands or []
        attrs: dict[str, Any] = {"run": run.name, "number": run.number, "state": run.state}
        attrs.update({f"metric.{k}": v for k, v in run.metrics.items()})
        attrs.update(
            {
                k: v
                for k, v in (("reason", run.reason), ("exitCode", run.exit_code), ("message", run.message))
                if v is not None
            }
        )
        attrs.update(run.again)
        study.add_trial(
            create_trial(
                state=TrialState[state],
                value=float(value) if has_value and state != "FAIL" else None,  # type: ignore[arg-type]
                params=params,
                distributions={k: dists[k] for k in params},
                user_attrs=attrs,
                intermediate_values={
                    (steps[i] if i < len(steps) else i + 1): float(v) for i, v in enumerate(bands)
                },
            )
        )
    return name


def _is_categorical(distribution: Any) -> bool:
    from optuna.distributions import CategoricalDistribution

    return isinstance(distribution, CategoricalDistribution)
