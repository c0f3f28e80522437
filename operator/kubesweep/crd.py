"""The Sweep CustomResourceDefinition, generated from the pydantic models in `api`.

`kubesweep crd` prints it; crds/sweeps.kubesweep.io.yaml is its committed copy and a test
fails when the two drift apart.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from kubesweep import api

# Keys of pydantic's JSON schema that a structural CRD schema does not take.
_DROPPED_KEYS = {"title", "$defs"}


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    """Inline $refs and turn pydantic's JSON schema into a structural OpenAPI v3 schema."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    if "anyOf" in node:
        # Optional[X] is anyOf [X, null]: an absent field in Kubernetes, not a null one.
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        if len(branches) == 1:
            rest = {k: v for k, v in node.items() if k != "anyOf" and not (k == "default" and v is None)}
            return _resolve({**branches[0], **rest}, defs)
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "const":
            result["enum"] = [value]
            continue
        if key == "default" and value is None:
            continue
        if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # JSON Schema's number form; OpenAPI v3.0 (CRDs) wants the bound plus a flag.
            result["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            result[key] = True
            continue
        if key in ("properties", "patternProperties"):
            result[key] = {name: _resolve(sub, defs) for name, sub in value.items()}
        else:
            result[key] = _resolve(value, defs)
    if result.get("additionalProperties") is False:
        # Structural schemas forbid it; the API server prunes unknown fields instead.
        del result["additionalProperties"]
    if result.get("type") == "object" and result.get("additionalProperties") is True:
        # Free-form maps are kept verbatim by the API server, not pruned.
        del result["additionalProperties"]
        result["x-kubernetes-preserve-unknown-fields"] = True
    if result.get("type") == "object" and "properties" not in result and "additionalProperties" not in result:
        result["x-kubernetes-preserve-unknown-fields"] = True
    return result


def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = _resolve(raw, raw.get("$defs", {}))
    assert isinstance(schema, dict)
    return schema


def openapi_schema() -> dict[str, Any]:
    spec = _schema_of(api.SweepSpec)
    status = _schema_of(api.SweepStatus)
    status.pop("description", None)
    return {
        "type": "object",
        "description": "A hyperparameter sweep: a search over a parameter space, each point tried as a Job.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {**spec, "description": "What to search and how; spec.state steers the sweep."},
            "status": {**status, "description": "What the operator observed; written by kubesweep only."},
        },
    }


PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "State", "type": "string", "jsonPath": ".spec.state"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Running", "type": "integer", "jsonPath": ".status.runs.running"},
    # Runs waiting in a queue (Kueue): in `kubectl get sweeps -o wide`.
    {"name": "Queued", "type": "integer", "jsonPath": ".status.runs.queued", "priority": 1},
    {"name": "Finished", "type": "integer", "jsonPath": ".status.runs.finished"},
    {"name": "Failed", "type": "integer", "jsonPath": ".status.runs.failed"},
    # Crashed (OOMKilled, evicted) and killed (stopped, cancelled, early-terminated) runs: -o wide.
    {"name": "Crashed", "type": "integer", "jsonPath": ".status.runs.crashed", "priority": 1},
    {"name": "Killed", "type": "integer", "jsonPath": ".status.runs.killed", "priority": 1},
    {"name": "Total", "type": "integer", "jsonPath": ".status.runs.total"},
    # Runs started again (retries, reruns by hand): -o wide.
    {"name": "Retries", "type": "integer", "jsonPath": ".status.runs.retries", "priority": 1},
    # A string the operator rounds: the API server prints a number column with every digit.
    {"name": "Best", "type": "string", "jsonPath": ".status.bestRun.metricText"},
    # With several objectives there is no best run but a front: its size, in -o wide.
    {"name": "Front", "type": "integer", "jsonPath": ".status.paretoFrontSize", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def render() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{api.PLURAL}.{api.GROUP}",
            "labels": {"app.kubernetes.io/name": "kubesweep", "app.kubernetes.io/part-of": "kubesweep"},
        },
        "spec": {
            "group": api.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": api.KIND,
                "listKind": f"{api.KIND}List",
                "plural": api.PLURAL,
                "singular": api.SINGULAR,
                "shortNames": api.SHORT_NAMES,
                "categories": api.CATEGORIES,
            },
            "versions": [
                {
                    "name": api.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def render_yaml() -> str:
    header = "# Generated by `kubesweep crd` from operator/kubesweep/api/: do not edit by hand.\n"
    return header + yaml.safe_dump(render(), sort_keys=False, width=100)
