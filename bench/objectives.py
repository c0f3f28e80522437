"""Standard test functions for the search benchmarks (minimised), shared by both engines."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any

BRANIN_SPACE = {"x1": {"min": -5.0, "max": 10.0}, "x2": {"min": 0.0, "max": 15.0}}
HARTMANN_SPACE = {f"x{i}": {"min": 0.0, "max": 1.0} for i in range(1, 7)}
NOISY_SPACE = {
    "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
    "depth": {"min": 1, "max": 12},
}

_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
_ALPHA = [1.0, 1.2, 3.0, 3.2]


def branin(p: Mapping[str, Any]) -> float:
    x1, x2 = float(p["x1"]), float(p["x2"])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10  # min 0.397887


def hartmann6(p: Mapping[str, Any]) -> float:
    x = [float(p[f"x{i}"]) for i in range(1, 7)]
    total = 0.0
    for alpha, a_row, p_row in zip(_ALPHA, _A, _P, strict=True):
        total += alpha * math.exp(-sum(a * (xi - pi) ** 2 for a, xi, pi in zip(a_row, x, p_row, strict=True)))
    return -total  # min -3.32237


def noiseless(p: Mapping[str, Any]) -> float:
    """A training-loss-like surface: best near lr 3e-3 and depth 6 (min 0)."""
    return (math.log10(float(p["lr"])) + 2.5) ** 2 + 0.05 * (int(p["depth"]) - 6) ** 2


def noisy(p: Mapping[str, Any], rng: random.Random | None = None) -> float:
    """What the search sees: the surface plus evaluation noise (sd 0.1); a run is scored by the
    noiseless value of the point it picked as best, as a user would retrain that point."""
    return noiseless(p) + (rng or random).gauss(0, 0.1)


FUNCTIONS: dict[str, tuple[Callable[..., float], dict[str, Any], float]] = {
    "branin": (branin, BRANIN_SPACE, 0.397887),
    "hartmann6": (hartmann6, HARTMANN_SPACE, -3.32237),
    "noisy": (noiseless, NOISY_SPACE, 0.0),
}


# A conditional space: each optimizer has its own parameter. kubesweep's methods search it with
# `when`; W&B (which has no conditions) searches every parameter and the function ignores the
# ones the optimizer does not use, as a W&B user's training script would.
CONDITIONAL_SPACE: dict[str, Any] = {
    "optimizer": {"values": ["sgd", "adam", "rmsprop"]},
    "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
    "momentum": {"distribution": "uniform", "min": 0.0, "max": 0.99, "when": {"optimizer": "sgd"}},
    "beta1": {"distribution": "uniform", "min": 0.5, "max": 0.999, "when": {"optimizer": "adam"}},
    "rho": {"distribution": "uniform", "min": 0.5, "max": 0.99, "when": {"optimizer": "rmsprop"}},
}
CONDITIONAL_FLAT = {
    k: {key: v for key, v in s.items() if key != "when"} for k, s in CONDITIONAL_SPACE.items()
}


def conditional(p: Mapping[str, Any]) -> float:
    """Adam is best (0 at lr 1e-3, beta1 0.9); sgd needs a larger lr and momentum 0.9 (best
    0.2); rmsprop is in between (best 0.1 at lr 3e-3, rho 0.9)."""
    lr = math.log10(float(p["lr"]))
    if p["optimizer"] == "adam":
        return (lr + 3) ** 2 + 10 * (float(p["beta1"]) - 0.9) ** 2
    if p["optimizer"] == "sgd":
        return (lr + 1) ** 2 + 4 * (float(p["momentum"]) - 0.9) ** 2 + 0.2
    return (lr + 2.5) ** 2 + 10 * (float(p["rho"]) - 0.9) ** 2 + 0.1


# Searched by W&B in its flat form (bench/strategies.py gives kubesweep the conditional one).
EXTRA: dict[str, tuple[Callable[..., float], dict[str, Any], float]] = {
    "conditional": (conditional, CONDITIONAL_FLAT, 0.0),
}


def timing_history(name: str, finished: int) -> list[tuple[dict[str, Any], float]]:
    """The finished runs both engines are timed on: the same points and values for each, drawn
    uniformly (integers for integer bounds) from a fixed seed."""
    fn, space, _ = FUNCTIONS[name]
    rng = random.Random(0)
    history = []
    for _ in range(finished):
        params = {
            k: (
                rng.randint(s["min"], s["max"])
                if isinstance(s.get("min"), int) and isinstance(s.get("max"), int)
                else rng.uniform(s["min"], s["max"])
            )
            for k, s in space.items()
        }
        history.append((params, fn(params)))
    return history
