"""The status the operator writes survives the API server: every key of it is in the CRD's
status schema, so none is pruned (structural pruning drops unknown fields, and nulls of fields
not nullable, silently: the write succeeds and the field is gone)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic
import pytest

from kubesweep import api, crd, reconcile
from kubesweep.api import RunState
from kubesweep.runs import Run, Stage

NOW = "2026-11-24T12:00:00Z"
STATUS_SCHEMA: dict[str, Any] = crd.openapi_schema()["properties"]["status"]


def pruned(value: Any, schema: dict[str, Any], *, top: bool = False) -> Any:
    """`value` as the API server stores it under a structural `schema`. A null of the status's
    own fields is kept: in the merge patch the operator writes, it clears the field."""
    if isinstance(value, dict):
        properties: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        if preserve and not properties and not isinstance(extra, dict):
            return value
        out = {}
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            if item is None and not top and not (sub or {}).get("nullable"):
                continue
            if sub is not None:
                out[key] = pruned(item, sub)
            elif preserve:
                out[key] = item
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [pruned(item, schema["items"]) for item in value]
    return value


def _sweep(status: Mapping[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    base = {
        "method": "grid",
        "parameters": {"a": {"values": list(range(2000))}},
        "parallelism": 2,
        "metric": {"name": "loss", "goal": "minimize"},
        "earlyTerminate": {"type": "hyperband", "minIter": 1, "eta": 2},
        "template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
    }
    return {
        "metadata": {"name": "s", "namespace": "ns", "uid": "u", "generation": 3},
        "spec": {**base, **spec},
        "status": status or {},
    }


def _run(number: int, state: RunState, **kw: Any) -> Run:
    kw.setdefault("stage", Stage.OBSERVED)
    return Run(name=f"s-{number:04d}", number=number, parameters={"a": number}, state=state, **kw)


def _statuses() -> list[dict[str, Any]]:
    """Statuses with every field the operator writes: records of every kind (bands, why a run
    failed, stopped early), folded runs, a best run, conditions, and the settled phases."""
    released = [
        _run(n, RunState.FINISHED, metrics={"loss": float(n)}, stage=Stage.RELEASED, band_values=(float(n),))
        for n in range(1, 601)
    ]
    ended = [
        _run(601, RunState.FAILED, reason="Error", exit_code=3, message="boom", steps=((1, {"loss": 9.0}),)),
        _run(
            602,
            RunState.KILLED,
            reason="EarlyTerminated",
            early_stopped=True,
            metrics={"loss": 8.0},
            stage=Stage.RELEASED,
        ),
        _run(603, RunState.RUNNING, has_pods=True, live_pods=("p",), steps=((1, {"loss": 99.0}),)),
    ]
    first = reconcile.decide(_sweep(), [*released, *ended], now=NOW)
    assert first.status["foldedRuns"] and first.status["bestRun"]
    records = first.status["recordedRuns"]
    assert {"bands", "reason", "exitCode", "message", "earlyStopped"} <= {k for r in records for k in r}
    statuses = [dict(first.status)]
    for spec in ({"state": "cancelled"}, {"state": "stopped"}, {"method": "bayes", "metric": None}):
        statuses.append(dict(reconcile.decide(_sweep(first.status, **spec), [], now=NOW).status))
    denied = reconcile.decide(_sweep(first.status), [], now=NOW, permission_denied="forbidden")
    statuses.append(dict(denied.status))
    return statuses


def test_every_field_of_the_status_is_in_the_crds_schema() -> None:
    for status in _statuses():
        assert pruned(status, STATUS_SCHEMA, top=True) == status


def test_a_field_the_schema_lacks_would_be_pruned_and_the_model_refuses_it() -> None:
    (status, *_) = _statuses()
    stray = {**status, "recordedRuns": [{**status["recordedRuns"][0], "note": "x"}]}
    assert pruned(stray, STATUS_SCHEMA, top=True) != stray
    assert pruned({**status, "extra": 1}, STATUS_SCHEMA, top=True) == status
    # The status is built as api.SweepStatus, which takes no field the CRD does not have.
    with pytest.raises(pydantic.ValidationError):
        api.SweepStatus.model_validate({**status, "extra": 1})
    assert api.SweepStatus.model_validate(status).model_dump(by_alias=True) == status
