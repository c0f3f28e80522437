"""Custom objects checked as the API server checks them against a CRD's openAPIV3Schema: nulls and
unknown fields pruned (or refused under strict field validation), defaults applied, then
validated, every violation reported with its field path and the server's wording; then the
schema's CEL rules (x-kubernetes-validations), evaluated with a CEL library as the server does."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cel

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


# The server skips the rules when a value has the wrong type, and says so in a cause of its own.
RULES_NOT_CHECKED = Cause(
    "FieldValueInvalid",
    "<nil>",
    "<nil>: Invalid value: null: some validation rules were not checked because the object was "
    "invalid; correct the existing errors to complete validation",
)


def has_rules(schema: Any) -> bool:
    if isinstance(schema, Mapping):
        return "x-kubernetes-validations" in schema or any(has_rules(v) for v in schema.values())
    if isinstance(schema, list):
        return any(has_rules(v) for v in schema)
    return False


@functools.lru_cache(maxsize=512)
def _program(expression: str) -> Any:
    return cel.compile(expression)


def _visible(schema: Schema) -> bool:
    """Whether CEL sees a field: the server declares typed fields only, so free JSON (a field
    without a type, or an array of such items) is not there for a rule."""
    if not schema.get("type"):
        return False
    items = schema.get("items")
    return schema["type"] != "array" or (isinstance(items, Mapping) and _visible(items))


def cel_value(value: Any, schema: Schema) -> Any:
    """A value as CEL gets it from the server: `number` a double even when stored as 0,
    `integer` an int, objects with only their typed fields."""
    kind = schema.get("type")
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        props: Mapping[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            return {k: cel_value(v, extra) for k, v in value.items()}
        return {k: cel_value(v, props[k]) for k, v in value.items() if k in props and _visible(props[k])}
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [cel_value(v, schema["items"]) for v in value]
    return value


def _rule_failure(rule: Mapping[str, Any], self_value: Any) -> str | None:
    """None when the rule holds, else the message the server gives."""
    try:
        held = _program(rule["rule"]).execute({"self": self_value})
    except Exception as exc:  # a rule that errs fails, as on the server
        return f"{exc} evaluating rule: {rule['rule']}"
    if held is True:
        return None
    if rule.get("messageExpression"):
        try:
            message = _program(rule["messageExpression"]).execute({"self": self_value})
            if isinstance(message, str) and message.strip():
                return message
        except Exception:  # the server falls back to the static message
            pass
    return str(rule.get("message") or f"failed rule: {rule['rule']}")


def validate_rules(value: Any, schema: Schema, path: str, out: Outcome, old: Any = None) -> None:
    """Every x-kubernetes-validations rule, the node's own before its children's. Paths are the
    server's: map entries as `spec.parameters[lr]`, a rule's fieldPath appended. A value equal to
    the old object's at the same place is not checked again (the server's validation ratcheting),
    so an object stored before a rule existed stays writable."""
    if old is not None and value == old:
        return
    rules = schema.get("x-kubernetes-validations") or []
    if rules:
        self_value = cel_value(value, schema)
        for rule in rules:
            message = _rule_failure(rule, self_value)
            if message is not None:
                field = path + str(rule.get("fieldPath") or "")
                out.causes.append(
                    Cause(
                        str(rule.get("reason") or "FieldValueInvalid"),
                        field,
                        f"{field}: Invalid value: {message}",
                    )
                )
    if isinstance(value, dict):
        props: Mapping[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        olds = old if isinstance(old, dict) else {}
        for key, item in value.items():
            if key in props:
                validate_rules(item, props[key], _join(path, key), out, olds.get(key))
            elif isinstance(extra, Mapping):
                validate_rules(item, extra, f"{path}[{key}]", out, olds.get(key))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            validate_rules(item, schema["items"], f"{path}[{i}]", out)


def check(
    obj: dict[str, Any], schema: Schema, old: dict[str, Any] | None = None
) -> tuple[dict[str, Any], Outcome]:
    """The object as stored (pruned, defaulted) and what was wrong with it; `old` is the stored
    object an update replaces."""
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
    if has_rules(top):
        if any(c.reason == "FieldValueTypeInvalid" for c in out.causes):
            out.causes.append(RULES_NOT_CHECKED)
        else:
            old_body = {k: v for k, v in (old or {}).items() if k not in ("apiVersion", "kind", "metadata")}
            validate_rules(cleaned, top, "", out, old_body if old is not None else None)
    result = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": obj.get("metadata") or {},
    }
    result.update(cleaned)
    return result, out
