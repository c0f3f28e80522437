"""The rules of the built-in kinds the sandbox runs, as their Go types and validation have
them: integer fields that refuse any other JSON value, Job and Pod validation, a pod's deadline
that may only be lowered, and the defaults of namespaces, Jobs, pods and CRDs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import schema as crd_schema
from .resources import Resource
from .store import Obj
from .times import now_iso


def pod_deadline_update(old: Obj, new: Obj) -> list[crd_schema.Cause]:
    """A pod's spec.activeDeadlineSeconds may be set or lowered on a running pod, never raised
    nor removed (ValidatePodUpdate; the messages are the real API server's)."""
    field = "spec.activeDeadlineSeconds"
    before = (old.get("spec") or {}).get("activeDeadlineSeconds")
    after = (new.get("spec") or {}).get("activeDeadlineSeconds")
    if after is None and before is not None:
        message = f"{field}: Invalid value: null: must not update from a positive integer to nil value"
    elif after is not None and before is not None and after > before:
        message = f"{field}: Invalid value: {after}: must be less than or equal to previous value"
    else:
        return []
    return [crd_schema.Cause("FieldValueInvalid", field, message)]


# The integer fields of the built-in kinds the sandbox runs, as (Go struct, path, Go type): a real
# API server decodes a built-in kind into its Go types, which refuse any other JSON value there,
# even a whole-number float (`600.0`), where a custom resource's would be read back as `600`.
_POD_INTEGERS = (
    ("terminationGracePeriodSeconds", "int64"),
    ("activeDeadlineSeconds", "int64"),
    ("priority", "int32"),
)
_BUILTIN_INTEGERS: dict[str, list[tuple[str, tuple[str, ...], str]]] = {
    "jobs": [
        *(
            ("JobSpec", ("spec", field), kind)
            for field, kind in (
                ("parallelism", "int32"),
                ("completions", "int32"),
                ("activeDeadlineSeconds", "int64"),
                ("backoffLimit", "int32"),
                ("backoffLimitPerIndex", "int32"),
                ("maxFailedIndexes", "int32"),
                ("ttlSecondsAfterFinished", "int32"),
            )
        ),
        *(("PodSpec", ("spec", "template", "spec", field), kind) for field, kind in _POD_INTEGERS),
    ],
    "pods": [("PodSpec", ("spec", field), kind) for field, kind in _POD_INTEGERS],
    "deployments": [
        *(
            ("DeploymentSpec", ("spec", field), "int32")
            for field in ("replicas", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds")
        ),
        *(("PodSpec", ("spec", "template", "spec", field), kind) for field, kind in _POD_INTEGERS),
    ],
}


def undecodable_integer(plural: str, body: Mapping[str, Any]) -> str | None:
    """Why a real API server cannot decode `body` of a built-in kind into its Go type, for a value
    other than an integer in one of `_BUILTIN_INTEGERS`; None when it can."""
    for struct, path, kind in _BUILTIN_INTEGERS.get(plural, []):
        value: Any = body
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None or (type(value) is int):
            continue
        what = (
            f"number {value!r}"
            if isinstance(value, float)
            else {str: "string", bool: "bool"}.get(
                type(value), "object" if isinstance(value, dict) else "array"
            )
        )
        return f"json: cannot unmarshal {what} into Go struct field {struct}.{'.'.join(path)} of type {kind}"
    return None


def validate_builtin(res: Resource, obj: Obj) -> list[crd_schema.Cause]:
    if res.ref.plural == "jobs":
        pod_spec = (((obj.get("spec") or {}).get("template") or {}).get("spec")) or {}
        causes = validate_pod_spec(pod_spec, "spec.template.spec")
        policy = pod_spec.get("restartPolicy", "Always")
        if policy not in ("OnFailure", "Never"):
            field = "spec.template.spec.restartPolicy"
            message = f'{field}: Required value: valid values: "OnFailure", "Never"'
            if policy != "Always":
                message = f'{field}: Unsupported value: {json.dumps(policy)}: supported values: "OnFailure", "Never"'
            causes.append(crd_schema.Cause("FieldValueRequired", field, message))
        return causes
    if res.ref.plural == "pods":
        return validate_pod_spec(obj.get("spec") or {}, "spec")
    return []


def validate_pod_spec(spec: Mapping[str, Any], path: str) -> list[crd_schema.Cause]:
    causes: list[crd_schema.Cause] = []
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append(
            crd_schema.Cause("FieldValueRequired", f"{path}.containers", f"{path}.containers: Required value")
        )
        return causes
    for i, container in enumerate(containers):
        where = f"{path}.containers[{i}]"
        if not isinstance(container, dict):
            causes.append(
                crd_schema.Cause("FieldValueTypeInvalid", where, f"{where}: Invalid value: must be an object")
            )
            continue
        for key in ("name", "image"):
            if not container.get(key):
                causes.append(
                    crd_schema.Cause("FieldValueRequired", f"{where}.{key}", f"{where}.{key}: Required value")
                )
    return causes


def default(res: Resource, obj: Obj) -> None:
    if res.ref.plural == "namespaces":
        obj["status"] = {"phase": "Active"}
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
    elif res.ref.plural == "jobs":
        spec = obj.setdefault("spec", {})
        for k, v in (
            ("parallelism", 1),
            ("completions", 1),
            ("backoffLimit", 6),
            ("suspend", False),
            ("completionMode", "NonIndexed"),
        ):
            spec.setdefault(k, v)
        uid = obj["metadata"]["uid"]
        labels = {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": obj["metadata"]["name"],
            "controller-uid": uid,
            "job-name": obj["metadata"]["name"],
        }
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
        template_meta["labels"] = {**(template_meta.get("labels") or {}), **labels}
        obj.setdefault("status", {})
    elif res.ref.plural == "pods":
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        for container in spec.get("containers") or []:
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("imagePullPolicy", "IfNotPresent")
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif res.ref.plural == "customresourcedefinitions":
        names = (obj.get("spec") or {}).get("names") or {}
        obj["status"] = {
            "acceptedNames": names,
            "storedVersions": [
                v["name"] for v in (obj.get("spec") or {}).get("versions") or [] if v.get("storage")
            ],
            "conditions": [
                {"type": t, "status": "True", "reason": r, "message": "", "lastTransitionTime": now_iso()}
                for t, r in (("NamesAccepted", "NoConflicts"), ("Established", "InitialNamesAccepted"))
            ],
        }
