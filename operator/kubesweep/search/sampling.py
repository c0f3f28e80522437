"""Random sampling of each W&B distribution, with the stdlib's random (plain JSON values out)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from .space import Param, active, nest


def quantize(value: float, q: float) -> float | int:
    quantized = round(value / q) * q
    if isinstance(q, int) and not isinstance(q, bool):
        return round(quantized)
    return round(quantized, 12)


def sample(param: Param, rng: random.Random) -> Any:
    kind, c = param.kind, param.config
    match kind:
        case "constant":
            return c["value"]
        case "categorical":
            values = c["values"]
            weights = c.get("probabilities")
            return values[rng.choices(range(len(values)), weights=weights)[0]]
        case "int_uniform":
            return rng.randint(c["min"], c["max"])
        case "uniform":
            return rng.uniform(c["min"], c["max"])
        case "q_uniform":
            return quantize(rng.uniform(c["min"], c["max"]), c["q"])
        case "log_uniform_values":
            return math.exp(rng.uniform(math.log(c["min"]), math.log(c["max"])))
        case "q_log_uniform_values":
            return quantize(math.exp(rng.uniform(math.log(c["min"]), math.log(c["max"]))), c["q"])
        case "inv_log_uniform_values":
            # 1/x is log-uniform between 1/max and 1/min.
            return 1.0 / math.exp(rng.uniform(math.log(1.0 / c["max"]), math.log(1.0 / c["min"])))
        case "normal":
            return rng.gauss(c["mu"], c["sigma"])
        case "q_normal":
            return quantize(rng.gauss(c["mu"], c["sigma"]), c["q"])
        case "log_normal":
            return rng.lognormvariate(c["mu"], c["sigma"])
        case "q_log_normal":
            return quantize(rng.lognormvariate(c["mu"], c["sigma"]), c["q"])
        case "beta":
            return rng.betavariate(c["a"], c["b"])
        case "q_beta":
            return quantize(rng.betavariate(c["a"], c["b"]), c["q"])
    raise ValueError(f"unknown distribution {kind}")


def rng_for(seed: int | None, run_number: int, salt: str = "random") -> random.Random:
    """Deterministic per run: a restarted operator suggests the same point for the same run."""
    return random.Random(f"{salt}:{seed}:{run_number}")


def random_point(params: Sequence[Param], seed: int | None, run_number: int) -> dict[str, Any]:
    rng = rng_for(seed, run_number)
    # Every parameter is drawn (a space without conditions draws as before), then those whose
    # conditions the drawn values do not meet are left out: the same as drawing the condition first.
    return nest(active(list(params), {p.key: sample(p, rng) for p in params}))
