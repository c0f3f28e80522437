"""Unknown fields of built-in objects (Jobs, pods), as the API server's strict decoding finds
them: `fieldValidation=Strict` refuses `spec.template.spec.containers[0].comand` with 400, and
the default (Warn) drops it with a warning. The field names come from the `kubernetes` client's
models, which list every field of every built-in kind."""

from __future__ import annotations

import typing
from typing import Any

from kubernetes import client
from pydantic import BaseModel

MODELS: dict[str, type[BaseModel]] = {"jobs": client.V1Job, "pods": client.V1Pod}


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds (unwrapping Optional and Annotated), and whether it is a list of it."""
    while typing.get_origin(annotation) in (typing.Union, typing.Annotated):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if args else None
    if typing.get_origin(annotation) is list:
        inner, _ = _model_of(typing.get_args(annotation)[0])
        return inner, True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def unknown_fields(obj: Any, model: type[BaseModel], path: str = "") -> list[str]:
    """Paths of the fields of `obj` that `model` does not know, e.g. `spec.template.spec.containers[0].comand`."""
    if not isinstance(obj, dict):
        return []
    by_json_name = {json_name: name for name, json_name in getattr(model, "attribute_map", {}).items()}
    found: list[str] = []
    for key, value in obj.items():
        where = f"{path}.{key}" if path else key
        name = by_json_name.get(key)
        if name is None:
            if key not in ("apiVersion", "kind") or path:
                found.append(where)
            continue
        inner, many = _model_of(model.model_fields[name].annotation)
        if inner is None:
            continue
        if many and isinstance(value, list):
            for i, item in enumerate(value):
                found.extend(unknown_fields(item, inner, f"{where}[{i}]"))
        elif not many:
            found.extend(unknown_fields(value, inner, where))
    return found


def _quantity(value: Any) -> Any:
    """A number as the API server writes a resource quantity back: a string (`2` is "2", `0.5`
    is "500m")."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if float(value).is_integer():
        return str(int(value))
    return f"{round(value * 1000)}m"


def canonical_quantities(obj: Any, plural: str) -> None:
    """The containers' resource limits and requests of a Job or pod as strings, in place."""
    spec = (obj or {}).get("spec") or {}
    pod_spec = ((spec.get("template") or {}).get("spec") or {}) if plural == "jobs" else spec
    if not isinstance(pod_spec, dict):
        return
    for key in ("containers", "initContainers"):
        for container in pod_spec.get(key) or []:
            resources = container.get("resources") if isinstance(container, dict) else None
            for kind in ("limits", "requests"):
                amounts = (resources or {}).get(kind)
                if isinstance(amounts, dict):
                    resources[kind] = {name: _quantity(v) for name, v in amounts.items()}  # type: ignore[index]
