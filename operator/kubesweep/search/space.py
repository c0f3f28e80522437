"""W&B's parameter syntax: parsing, type inference and validation, with the field to fix.

A search space is a flat list of parameters, each with one distribution, named by the keys
leading to it (("optimizer", "lr") for `lr` nested under `optimizer`'s `parameters`; a dotted
key such as "optimizer.lr" is one plain name, as in W&B). Values stay plain JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "spec.parameters"

# distribution -> (required keys, optional keys with their W&B defaults)
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "constant": (("value",), {}),
    "categorical": (("values",), {"probabilities": None}),
    "categorical_w_probabilities": (("values", "probabilities"), {}),
    "int_uniform": (("min", "max"), {}),
    "uniform": (("min", "max"), {}),
    "q_uniform": (("min", "max"), {"q": 1.0}),
    "log_uniform_values": (("min", "max"), {}),
    "q_log_uniform_values": (("min", "max"), {"q": 1.0}),
    "inv_log_uniform_values": (("min", "max"), {}),
    "normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "log_normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_log_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "beta": ((), {"a": 1.0, "b": 1.0}),
    "q_beta": ((), {"a": 1.0, "b": 1.0, "q": 1.0}),
}
DEPRECATED = {
    "log_uniform": "log_uniform_values",
    "q_log_uniform": "q_log_uniform_values",
    "inv_log_uniform": "inv_log_uniform_values",
}
KEYS = {
    "distribution",
    "value",
    "values",
    "probabilities",
    "min",
    "max",
    "mu",
    "sigma",
    "q",
    "a",
    "b",
    "parameters",
    "when",
}
GRID_KINDS = ("constant", "categorical", "int_uniform", "q_uniform")


class SearchSpaceError(ValueError):
    """An invalid spec.parameters (or method/parameters combination), naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Param:
    path: str  # dotted, for nested parameters: for people (fields, descriptions), not identity
    kind: str
    config: Mapping[str, Any]  # the keys of `kind`, defaults filled
    # No `distribution` in the spec: `kind` is W&B's inference from the values' types.
    inferred: bool = dataclasses.field(default=False, compare=False)
    keys: tuple[str, ...] = ()  # the keys leading to it: its identity (a key may hold a dot)
    # Its conditions: (the Param.key of another parameter, the values any of which makes this
    # one active). Empty: always active. An inactive parameter is left out of the run.
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @property
    def key(self) -> str:
        """The parameter's flat key, unique whatever its keys hold (nest() reads it back): its
        dotted path while no key holds a dot (or starts with '['), else its keys as JSON."""
        keys = self.keys or (self.path,)
        if keys[0].startswith("[") or any("." in k for k in keys):
            return json.dumps(list(keys))
        return ".".join(keys)

    @property
    def field(self) -> str:
        return f"{PREFIX}.{self.path}"

    def __getitem__(self, key: str) -> Any:
        return self.config[key]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def canonical(value: Any) -> str:
    """A value's identity for W&B's dedup: 3e6 equals 3000000, true and 1 differ."""

    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, Mapping):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(value), sort_keys=True, separators=(",", ":"))


def infer_kind(path: str, spec: Mapping[str, Any]) -> str:
    field = f"{PREFIX}.{path}"
    declared = spec.get("distribution")
    if declared is not None:
        if declared in DEPRECATED:
            raise SearchSpaceError(
                f"{field}.distribution",
                f"{declared} (min/max as exponents) is deprecated in W&B and not supported: "
                f"use {DEPRECATED[declared]} with min/max as the actual values",
            )
        if declared not in DISTRIBUTIONS:
            raise SearchSpaceError(f"{field}.distribution", f"unknown distribution {declared!r}")
        if declared == "categorical_w_probabilities":
            return "categorical"  # W&B's explicit name for values with probabilities
        return str(declared)
    if "value" in spec:
        return "constant"
    if "values" in spec:
        return "categorical"
    if "min" in spec and "max" in spec:
        return "int_uniform" if _is_int(spec["min"]) and _is_int(spec["max"]) else "uniform"
    if "min" in spec or "max" in spec:
        missing = "max" if "min" in spec else "min"
        raise SearchSpaceError(field, f"a range needs both min and max; {missing} is missing")
    raise SearchSpaceError(
        field, "give value, values, min and max, nested parameters, or a distribution with its arguments"
    )


def _check_keys(field: str, kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    required, optional = DISTRIBUTIONS[spec.get("distribution") or kind]
    allowed = {"distribution", "when", *required, *optional}
    extra = sorted(k for k in spec if k not in allowed)
    if extra:
        unknown = [k for k in extra if k not in KEYS]
        if unknown:
            raise SearchSpaceError(f"{field}.{unknown[0]}", f"unknown key {unknown[0]!r}")
        raise SearchSpaceError(
            field,
            f"{', '.join(extra)} conflict(s) with a {kind} parameter, which takes {', '.join(sorted(allowed - {'distribution', 'when'}))}",
        )
    for key in required:
        if key not in spec:
            raise SearchSpaceError(f"{field}.{key}", f"a {kind} parameter needs {key}")
    return {**optional, **{k: v for k, v in spec.items() if k not in ("distribution", "when")}}


def _check_param(path: str, kind: str, config: dict[str, Any]) -> None:
    field = f"{PREFIX}.{path}"
    for key in ("min", "max", "mu", "sigma", "q", "a", "b"):
        if key in config and config[key] is not None and not _is_number(config[key]):
            raise SearchSpaceError(f"{field}.{key}", f"must be a number, not {config[key]!r}")
        if key in config and _is_number(config[key]) and not math.isfinite(config[key]):
            raise SearchSpaceError(f"{field}.{key}", "must be finite")
    if kind == "categorical":
        values = config["values"]
        if not isinstance(values, list) or not values:
            raise SearchSpaceError(f"{field}.values", "must be a non-empty list")
        probabilities = config.get("probabilities")
        if probabilities is not None:
            if not isinstance(probabilities, list) or len(probabilities) != len(values):
                raise SearchSpaceError(
                    f"{field}.probabilities", f"needs one probability per value ({len(values)})"
                )
            if any(not _is_number(p) or p < 0 for p in probabilities):
                raise SearchSpaceError(f"{field}.probabilities", "must be numbers of at least 0")
            if abs(sum(probabilities) - 1.0) > 1e-6:
                raise SearchSpaceError(f"{field}.probabilities", f"must sum to 1, not {sum(probabilities):g}")
    if "min" in config and "max" in config:
        low, high = config["min"], config["max"]
        if kind == "int_uniform" and not (_is_int(low) and _is_int(high)):
            raise SearchSpaceError(f"{field}.min", "int_uniform needs integer min and max")
        if low > high or (low == high and kind != "int_uniform"):
            raise SearchSpaceError(f"{field}.max", f"max ({high}) must be above min ({low})")
        if kind.endswith("log_uniform_values") and low <= 0:
            raise SearchSpaceError(f"{field}.min", f"{kind} needs min above 0 (it is a logarithmic range)")
    for key in ("q", "sigma", "a", "b"):
        if key in config and config[key] is not None and config[key] <= 0:
            raise SearchSpaceError(f"{field}.{key}", f"must be above 0, not {config[key]}")


def parse(parameters: Mapping[str, Any], prefix: str = "") -> list[Param]:
    """The flat, validated parameters, sorted by path (W&B's grid order)."""
    params = sorted(_parse(parameters, prefix), key=lambda p: p.path)
    return _resolve_conditions(params)


def _parse(
    parameters: Mapping[str, Any],
    prefix: str,
    keys: tuple[str, ...] = (),
    inherited: tuple[tuple[str, Any], ...] = (),
) -> list[Param]:
    """The flat, validated parameters in the order the spec gives them."""
    if not isinstance(parameters, Mapping) or not parameters:
        raise SearchSpaceError(
            f"{PREFIX}{'.' + prefix.rstrip('.') if prefix else ''}", "needs at least one parameter"
        )
    out: list[Param] = []
    for name, spec in parameters.items():
        path = f"{prefix}{name}"
        field = f"{PREFIX}.{path}"
        if not isinstance(spec, Mapping):
            raise SearchSpaceError(field, "must be an object such as {values: [...]} or {min: 0, max: 1}")
        # Unresolved here: (field, the raw `when`), checked once every parameter is known.
        when = (*inherited, (f"{field}.when", spec["when"])) if "when" in spec else inherited
        if "parameters" in spec:
            others = sorted(k for k in spec if k not in ("parameters", "when"))
            if others:
                raise SearchSpaceError(field, f"nested parameters cannot also have {', '.join(others)}")
            out.extend(_parse(spec["parameters"], f"{path}.", (*keys, str(name)), when))
            continue
        kind = infer_kind(path, spec)
        config = _check_keys(field, kind, spec)
        _check_param(path, kind, config)
        out.append(
            Param(
                path,
                kind,
                config,
                inferred=spec.get("distribution") is None,
                keys=(*keys, str(name)),
                when=when,  # resolved by _resolve_conditions
            )
        )
    return out


def _resolve_conditions(params: list[Param]) -> list[Param]:
    """Each `when` checked and resolved to (Param.key, allowed values): it names another parameter
    by its path, which has values (or a value), and values it can take; no cycle."""
    by_path = {p.path: p for p in params}
    out: list[Param] = []
    for param in params:
        resolved: list[tuple[str, tuple[Any, ...]]] = []
        for field, when in param.when:
            if not isinstance(when, Mapping) or not when:
                raise SearchSpaceError(
                    field, "must name another parameter and its value(s), such as {optimizer: sgd}"
                )
            for name, wanted in when.items():
                other = by_path.get(str(name))
                if other is None:
                    raise SearchSpaceError(
                        f"{field}.{name}",
                        f"names no parameter: {name!r} (the parameters are {', '.join(sorted(by_path))})",
                    )
                if other is param:
                    raise SearchSpaceError(f"{field}.{name}", "a parameter cannot depend on itself")
                if other.kind not in ("categorical", "constant"):
                    raise SearchSpaceError(
                        f"{field}.{name}",
                        f"a condition can only name a parameter with values or value; {name} is {other.kind}",
                    )
                possible = other["values"] if other.kind == "categorical" else [other["value"]]
                # A list is any of its values; to match a value that is itself a list, wrap it.
                values = tuple(wanted) if isinstance(wanted, list) else (wanted,)
                known = {canonical(v) for v in possible}
                impossible = [v for v in values if canonical(v) not in known]
                if not values or impossible:
                    raise SearchSpaceError(
                        f"{field}.{name}",
                        f"{name} never takes the value {json.dumps(impossible[0] if impossible else values)}: "
                        f"its values are {json.dumps(possible)}",
                    )
                resolved.append((other.key, tuple(canonical(v) for v in values)))
        out.append(dataclasses.replace(param, when=tuple(resolved)))
    ordered(out)  # refuses a cycle
    return out


def ordered(params: list[Param]) -> list[Param]:
    """The parameters with each one after those its conditions name (else in path order)."""
    by_key = {p.key: p for p in params}
    done: dict[str, Param] = {}
    visiting: set[str] = set()

    def visit(param: Param) -> None:
        if param.key in done:
            return
        if param.key in visiting:
            raise SearchSpaceError(f"{param.field}.when", "the conditions form a cycle")
        visiting.add(param.key)
        for key, _ in param.when:
            visit(by_key[key])
        visiting.discard(param.key)
        done[param.key] = param

    for param in params:
        visit(param)
    return list(done.values())


def is_active(param: Param, flat: Mapping[str, Any]) -> bool:
    """Whether `param` exists given the values (by Param.key) of the parameters before it in
    ordered(): each condition's parameter is there and has one of the values."""
    return all(key in flat and canonical(flat[key]) in allowed for key, allowed in param.when)


def active(params: list[Param], flat: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the parameters that are active given `flat`, in ordered() order."""
    out: dict[str, Any] = {}
    for param in ordered(params):
        if param.key in flat and is_active(param, out):
            out[param.key] = flat[param.key]
    return out


def conditional(params: list[Param]) -> bool:
    return any(p.when for p in params)


# The arguments shown for each distribution after its name, by describe().
_SHOWN: dict[str, tuple[str, ...]] = {
    "q_uniform": ("q",),
    "q_log_uniform_values": ("q",),
    "normal": ("mu", "sigma"),
    "q_normal": ("mu", "sigma", "q"),
    "log_normal": ("mu", "sigma"),
    "q_log_normal": ("mu", "sigma", "q"),
    "beta": ("a", "b"),
    "q_beta": ("a", "b", "q"),
}
SHOWN_VALUES = 6
# Said beside an int_uniform inferred from bare integers: the API server stores 0.0 as 0, so a
# range meant to be continuous reads back as integers.
INTEGER_HINT = "(integers: write distribution: uniform for a continuous range)"


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def describe(param: Param) -> str:
    """One parameter as a person reads it: `lr: log_uniform_values [1e-05, 0.1]`."""
    kind = param.kind
    if kind == "constant":
        detail = _text(param["value"])
    elif kind == "categorical":
        values = [_text(v) for v in param["values"]]
        if len(values) > SHOWN_VALUES:
            values = [*values[: SHOWN_VALUES - 1], f"... {len(values)} values"]
        detail = f"[{', '.join(values)}]"
    elif "min" in param.config:
        detail = f"[{_text(param['min'])}, {_text(param['max'])}]"
    else:
        detail = ""
    extra = " ".join(f"{k}={_text(param[k])}" for k in _SHOWN.get(kind, ()))
    hint = INTEGER_HINT if kind == "int_uniform" and param.inferred else ""
    when = " and ".join(
        f"{key}={'|'.join(json.loads(v) if isinstance(json.loads(v), str) else v for v in allowed)}"
        for key, allowed in param.when
    )
    condition = f"when {when}" if when else ""
    return " ".join(part for part in (f"{param.path}: {kind}", detail, extra, hint, condition) if part)


def descriptions(parameters: Mapping[str, Any]) -> list[str]:
    """Every parameter with the distribution it samples from, in the spec's order."""
    by_path = {p.path: p for p in parse(parameters)}
    return [describe(by_path[p.path]) for p in _parse(parameters, "")]


def distributions(parameters: Mapping[str, Any]) -> dict[str, str]:
    """Every parameter's distribution by its (dotted) path, in the spec's order."""
    return {p.path: p.kind for p in _parse(parameters, "")}


def summary(parameters: Mapping[str, Any]) -> str:
    return ", ".join(descriptions(parameters))


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Values by Param.key -> the run's parameters: {"a.b": 1} -> {"a": {"b": 1}} (nested
    parameters reach the run as dictionaries), {'["a.b"]': 1} -> {"a.b": 1}."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = json.loads(key) if key.startswith("[") else key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def flatten(values: Mapping[str, Any], params: list[Param]) -> dict[str, Any]:
    """A run's (nested) parameters by the flat keys (Param.key) of `params`; absent ones are left out."""
    out: dict[str, Any] = {}
    for param in params:
        node: Any = values
        for part in param.keys or (param.path,):
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            out[param.key] = node
    return out
