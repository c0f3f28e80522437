"""Custom objects checked as the API server checks them against a CRD's openAPIV3Schema: nulls and
unknown fields pruned (or refused under strict field validation), defaults applied, then
validated, every violation reported with its field path and the server's wording."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Schema = Mapping[str, Any]
MAX_SAFE_INT = 2**53


@dataclass(frozen=True)
class Cause:
    reason: str  # FieldValueInvalid | FieldValueRequired | FieldValueNotSupported | FieldValueTypeInvalid
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        # As the real server: the cause's message without its field, which has a key of its own.
        prefix = f"{self.field}: "
        message = self.message[len(prefix) :] if self.message.startswith(prefix) else self.message
        return {"reason": self.reason, "message": message, "field": self.field}


@dataclass
class Outcome:
    causes: list[Cause] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # pruned fields, for strict validation


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, default=str)


def _type_ok(kind: str, value: Any) -> bool:
    match kind:
        case "object":
            return isinstance(value, dict)
        case "array":
            return isinstance(value, list)
        case "string":
            return isinstance(value, str)
        case "boolean":
            return isinstance(value, bool)
        case "integer":
            if isinstance(value, bool):
                return False
            if isinstance(value, int):
                return True
            return isinstance(value, float) and value.is_integer() and abs(value) < MAX_SAFE_INT
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def prune_and_default(value: Any, schema: Schema, path: str, out: Outcome) -> Any:
    """The value with unknown fields and nulls pruned and defaults applied (recursively)."""
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema):
        props: Mapping[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        result: dict[str, Any] = {}
        for key, item in value.items():
            sub = props.get(key)
            if item is None and not (sub or {}).get("nullable", False) and (sub is not None or not preserve):
                continue
            if sub is not None:
                result[key] = prune_and_default(item, sub, _join(path, key), out)
            elif isinstance(extra, Mapping):
                result[key] = prune_and_default(item, extra, _join(path, key), out)
            elif preserve or extra is True:
                result[key] = item
            else:
                out.unknown.append(_join(path, key))
        for key, sub in props.items():
            if key not in result and "default" in sub:
                result[key] = prune_and_default(
                    json.loads(json.dumps(sub["default"])), sub, _join(path, key), out
                )
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [prune_and_default(item, schema["items"], f"{path}[{i}]", out) for i, item in enumerate(value)]
    if schema.get("type") == "integer" and isinstance(value, float) and _type_ok("integer", value):
        return int(value)
    return value


def validate(value: Any, schema: Schema, path: str, out: Outcome) -> None:
    kind = schema.get("type")
    if kind and not _type_ok(kind, value):
        out.causes.append(
            Cause(
                "FieldValueTypeInvalid",
                path,
                f"{path}: Invalid value: {_show(_type_name(value))}: {path} in body must be of type {kind}: {_show(_type_name(value))}",
            )
        )
        return
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(_show(v) for v in schema["enum"])
        out.causes.append(
            Cause(
                "FieldValueNotSupported",
                path,
                f"{path}: Unsupported value: {_show(value)}: supported values: {supported}",
            )
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema:
            if schema.get("exclusiveMinimum") is True and value <= schema["minimum"]:
                out.causes.append(_invalid(path, value, f"should be greater than {schema['minimum']}"))
            elif value < schema["minimum"]:
                out.causes.append(
                    _invalid(path, value, f"should be greater than or equal to {schema['minimum']}")
                )
        if "maximum" in schema:
            if schema.get("exclusiveMaximum") is True and value >= schema["maximum"]:
                out.causes.append(_invalid(path, value, f"should be less than {schema['maximum']}"))
            elif value > schema["maximum"]:
                out.causes.append(
                    _invalid(path, value, f"should be less than or equal to {schema['maximum']}")
                )
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.causes.append(_invalid(path, value, f"should be at least {schema['minLength']} chars long"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.causes.append(_invalid(path, value, f"may not be longer than {schema['maxLength']}"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.causes.append(_invalid(path, value, f"should match '{schema['pattern']}'"))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.causes.append(_invalid(path, len(value), f"should have at least {schema['minItems']} items"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.causes.append(_invalid(path, len(value), f"should have at most {schema['maxItems']} items"))
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                validate(item, items, f"{path}[{i}]", out)
    if isinstance(value, dict):
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            out.causes.append(
                _invalid(path, len(value), f"should have at least {schema['minProperties']} properties")
            )
        for key in schema.get("required") or []:
            if key not in value:
                sub = _join(path, key)
                out.causes.append(Cause("FieldValueRequired", sub, f"{sub}: Required value"))
        props: Mapping[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                validate(item, props[key], _join(path, key), out)
            elif isinstance(extra, Mapping):
                validate(item, extra, _join(path, key), out)


def _type_name(value: Any) -> Any:
    # The server quotes the offending value's type in the message ("string", "number", ...).
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number" if not (isinstance(value, int)) else "integer"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _invalid(path: str, value: Any, rule: str) -> Cause:
    return Cause("FieldValueInvalid", path, f"{path}: Invalid value: {_show(value)}: {path} in body {rule}")


def check(obj: dict[str, Any], schema: Schema) -> tuple[dict[str, Any], Outcome]:
    """The object as stored (pruned, defaulted) and what was wrong with it."""
    out = Outcome()
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    properties = {
        k: v
        for k, v in (schema.get("properties") or {}).items()
        if k not in ("apiVersion", "kind", "metadata")
    }
    top = {**schema, "properties": properties}
    cleaned = prune_and_default(body, top, "", out)
    validate(cleaned, top, "", out)
    result = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": obj.get("metadata") or {},
    }
    result.update(cleaned)
    return result, out
