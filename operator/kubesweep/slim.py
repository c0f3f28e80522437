"""What the operator keeps in memory of each Sweep and Job it watches: only the fields the
reconcile reads, with the strings every object repeats interned once. The operator holds every
run of every sweep in kopf's indexes, so each byte here is multiplied by the number of runs."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

OURS = "kubesweep.io/"
_SWEEP_META = ("name", "namespace", "uid", "resourceVersion", "generation", "deletionTimestamp", "finalizers")
_JOB_META = ("name", "resourceVersion", "deletionTimestamp", "finalizers")


def _intern(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) else value


def _ours(mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    return {sys.intern(k): v for k, v in (mapping or {}).items() if k.startswith(OURS)}


def _meta(meta: Mapping[str, Any], keep: tuple[str, ...], *, annotations: bool) -> dict[str, Any]:
    out = {k: meta[k] for k in keep if meta.get(k) is not None}
    if annotations:
        out["annotations"] = _ours(meta.get("annotations"))
    out["labels"] = {k: _intern(v) for k, v in _ours(meta.get("labels")).items()}
    return out


def sweep(body: Mapping[str, Any]) -> dict[str, Any]:
    meta = _meta(body.get("metadata", {}), _SWEEP_META, annotations=True)
    meta["creationTimestamp"] = body.get("metadata", {}).get("creationTimestamp")
    return {"metadata": meta, "spec": dict(body.get("spec") or {}), "status": dict(body.get("status") or {})}


def job(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Job: its identity and our annotations; its conditions and pod counts only until its
    outcome is saved on it (a recorded run is read from its kubesweep.io/result annotation
    alone)."""
    meta = _meta(body.get("metadata", {}), _JOB_META, annotations=True)
    out: dict[str, Any] = {"metadata": meta, "spec": {}, "status": {}}
    if (body.get("spec") or {}).get("suspend"):
        out["spec"]["suspend"] = True
    if not meta["annotations"].get(f"{OURS}result"):
        status = body.get("status") or {}
        out["status"] = {k: status[k] for k in ("active", "ready", "failed") if status.get(k)}
        out["status"]["conditions"] = [
            {"type": _intern(c.get("type")), "status": "True", "reason": _intern(c.get("reason"))}
            for c in (body.get("status") or {}).get("conditions") or []
            if c.get("status") == "True"
        ]
    return out
