"""Label and field selectors as the API server parses them: equality (`a=b`, `a==b`, `a!=b`) and
set-based (`a in (x,y)`, `a notin (x)`, `a`, `!a`) requirements, comma-separated."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, str]], bool]

_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")


class SelectorError(ValueError):
    pass


def _split(selector: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return [p for p in parts if p.strip()]


def _requirement(text: str) -> Predicate:
    if m := _SET.match(text):
        key, op, raw = m.groups()
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _EQ.match(text):
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS.match(text):
        negate, key = m.groups()
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise SelectorError(f"unable to parse requirement: {text.strip()!r}")


def parse(selector: str | None) -> Predicate:
    if not selector:
        return lambda labels: True
    requirements = [_requirement(part) for part in _split(selector)]
    return lambda labels: all(r(labels) for r in requirements)


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def field_values(obj: Mapping[str, Any]) -> dict[str, str]:
    """The fields the API server lets clients select on (the common ones)."""
    meta = obj.get("metadata") or {}
    out = {"metadata.name": str(meta.get("name", "")), "metadata.namespace": str(meta.get("namespace", ""))}
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if "nodeName" in spec:
        out["spec.nodeName"] = str(spec["nodeName"])
    if "phase" in status:
        out["status.phase"] = str(status["phase"])
    for key in ("involvedObject", "regarding"):
        for sub, value in (obj.get(key) or {}).items():
            out[f"{key}.{sub}"] = str(value)
    return out


def parse_fields(selector: str | None) -> Callable[[Mapping[str, Any]], bool]:
    predicate = parse(selector)
    if not selector:
        return lambda obj: True
    return lambda obj: predicate(field_values(obj))
