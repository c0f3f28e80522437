"""Server-side tables, as `kubectl get` asks for them: a CRD's printer columns, and the
columns of pods and Jobs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .resources import Resource
from .store import Obj
from .times import age


def _jsonpath(obj: Any, path: str) -> Any:
    node = obj
    for part in [p for p in path.strip().lstrip(".").split(".") if p]:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _columns(res: Resource) -> list[tuple[str, str, str]]:
    """(name, type, jsonPath or a built-in key)."""
    if res.printer_columns:
        cols = [("Name", "string", ".metadata.name")]
        cols += [(c["name"], c.get("type", "string"), c["jsonPath"]) for c in res.printer_columns]
        if not any(c[2] == ".metadata.creationTimestamp" for c in cols):
            cols.append(("Age", "date", ".metadata.creationTimestamp"))
        return cols
    if res.ref.plural == "pods":
        return [
            ("Name", "string", ".metadata.name"),
            ("Ready", "string", "pod:ready"),
            ("Status", "string", "pod:status"),
            ("Restarts", "integer", "pod:restarts"),
            ("Age", "date", ".metadata.creationTimestamp"),
        ]
    if res.ref.plural == "jobs":
        return [
            ("Name", "string", ".metadata.name"),
            ("Status", "string", "job:status"),
            ("Completions", "string", "job:completions"),
            ("Age", "date", ".metadata.creationTimestamp"),
        ]
    return [("Name", "string", ".metadata.name"), ("Age", "date", ".metadata.creationTimestamp")]


def _cell(obj: Obj, kind: str, path: str) -> Any:
    status = obj.get("status") or {}
    if path == "pod:ready":
        statuses = status.get("containerStatuses") or []
        total = len((obj.get("spec") or {}).get("containers") or [])
        return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"
    if path == "pod:status":
        if obj["metadata"].get("deletionTimestamp"):
            return "Terminating"
        for s in status.get("containerStatuses") or []:
            terminated = (s.get("state") or {}).get("terminated")
            if terminated:
                return terminated.get("reason") or status.get("phase")
        return status.get("phase", "Pending")
    if path == "pod:restarts":
        return sum(int(s.get("restartCount", 0)) for s in status.get("containerStatuses") or [])
    if path == "job:status":
        for c in status.get("conditions") or []:
            if c.get("status") == "True" and c.get("type") in ("Complete", "Failed", "Suspended"):
                return c["type"]
        return "Running"
    if path == "job:completions":
        return f"{status.get('succeeded', 0)}/{(obj.get('spec') or {}).get('completions', 1)}"
    value = _jsonpath(obj, path)
    if kind == "date":
        return age(value) if isinstance(value, str) else "<unknown>"
    if value is None:
        return None
    if kind == "number" and isinstance(value, float):
        return value
    return value


def render(res: Resource, items: list[Obj], rv: str) -> dict[str, Any]:
    cols = _columns(res)
    # kubectl shows a column of priority above 0 only with -o wide, as the API server marks it.
    priorities = {c["name"]: int(c.get("priority") or 0) for c in res.printer_columns or []}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": [
            {
                "name": name,
                "type": "string" if kind == "date" else kind,
                "format": "name" if i == 0 else "",
                "description": "",
                "priority": priorities.get(name, 0) if i else 0,
            }
            for i, (name, kind, _) in enumerate(cols)
        ],
        "rows": [
            {
                "cells": [_cell(obj, kind, path) for _, kind, path in cols],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            }
            for obj in items
        ],
    }
