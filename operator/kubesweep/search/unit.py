"""A point of the unit cube as parameter values: what qmc and cmaes search in. Each coordinate
in [0, 1] is one parameter in its own space (logarithmic ranges in log, categoricals by index,
the normal, log-normal and beta families through their quantile), as bayes sees them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .bayes import EPS, to_internal, to_value
from .space import Param

LOG = ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values")
RANGES = ("int_uniform", "uniform", "q_uniform", *LOG)


def from_unit(param: Param, u: float) -> Any:
    u = min(max(float(u), 0.0), 1.0)
    c = param.config
    if param.kind == "constant":
        return c["value"]
    if param.kind == "categorical":
        n = len(c["values"])
        return to_value(param, min(int(u * n), n - 1))
    if param.kind == "int_uniform":
        span = c["max"] - c["min"]
        return to_value(param, c["min"] + min(int(u * (span + 1)), span))
    if param.kind in LOG:
        low, high = math.log(c["min"]), math.log(c["max"])
        return to_value(param, min(max(math.exp(low + u * (high - low)), c["min"]), c["max"]))
    if param.kind in RANGES:
        return to_value(param, c["min"] + u * (c["max"] - c["min"]))
    return to_value(param, min(max(u, EPS), 1 - EPS))  # a quantile


def to_unit(param: Param, value: Any) -> float | None:
    """A run's value as its coordinate (the middle of its cell for a categorical or integer);
    None when it is outside the current space."""
    internal = to_internal(param, value)
    if internal is None:
        return None
    c = param.config
    low_end, high_end = float(c.get("min", 0.0)), float(c.get("max", 1.0))
    if param.kind == "constant":
        return 0.5
    if param.kind == "categorical":
        return (float(internal) + 0.5) / len(c["values"])
    if param.kind == "int_uniform":
        return (float(internal) - low_end + 0.5) / (high_end - low_end + 1)
    if param.kind in LOG:
        low, high = math.log(low_end), math.log(high_end)
        return (math.log(float(internal)) - low) / (high - low)
    if param.kind in RANGES:
        return (float(internal) - low_end) / (high_end - low_end)
    return float(internal)


def point(params: list[Param], coordinates: Mapping[str, float]) -> dict[str, Any]:
    return {p.key: from_unit(p, coordinates[p.key]) for p in params if p.key in coordinates}
