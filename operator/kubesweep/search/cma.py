"""CMA-ES through the `cmaes` package (an optional extra: kubesweep[cmaes]), with the same
ask-and-tell rebuilt from the sweep's runs as bayes: the optimizer is replayed from the runs in
run-number order, a generation (its population size of ended runs) at a time, then asked for
the next point. Nothing lives only in memory, so a restart suggests the same point.

CMA-ES searches a fixed number of dimensions: it models the parameters that every run has (in
the unit cube of unit.py, categoricals by index) and draws conditional ones at random, as the
GP of bayes does."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from cmaes import CMA

from .bayes import IMPUTE, PENDING, _worst
from .sampling import rng_for, sample
from .space import Param, active, flatten, nest
from .unit import point, to_unit

MAX_SEED = 2**31
SIGMA = 1 / 6  # Optuna's CmaEsSampler default: a sixth of the (unit) range


def suggest(
    params: Sequence[Param], history: Sequence[Any], *, seed: int | None, run_number: int, goal: str
) -> dict[str, Any]:
    modeled = [p for p in params if p.kind != "constant" and not p.when]
    dims = max(1, len(modeled))
    optimizer = CMA(
        mean=np.full(dims, 0.5),
        sigma=SIGMA,
        bounds=np.array([[0.0, 1.0]] * dims),
        seed=(seed or 0) % MAX_SEED,
    )
    sign = -1.0 if goal == "maximize" else 1.0  # cmaes minimizes
    worst = _worst(history, goal)
    ended: list[tuple[np.ndarray, float]] = []
    waiting = 0  # runs of the current generation not yet told
    for trial in sorted(history, key=lambda t: t.number):
        flat = flatten(trial.parameters, list(params))
        coordinates = [to_unit(p, flat[p.key]) if p.key in flat else None for p in modeled]
        if any(c is None for c in coordinates):
            continue  # from an earlier search space
        x = np.array([c for c in coordinates if c is not None] or [0.5])
        value: float | None = None
        if trial.state == "Finished" and trial.metric is not None and math.isfinite(trial.metric):
            value = float(trial.metric)
        elif trial.state in IMPUTE or trial.state == "Finished":
            value = worst  # as W&B and bayes impute a run without a result
        if trial.state in PENDING or value is None:
            waiting += 1
            continue
        ended.append((x, sign * value))
        if len(ended) == optimizer.population_size:
            optimizer.tell(ended)
            ended = []
    # The k-th point of this generation: asked k times from the replayed optimizer, so runs
    # asked in the same generation get distinct points.
    asked = optimizer.ask()
    for _ in range(len(ended) + waiting):
        asked = optimizer.ask()
    values = point(modeled, {p.key: float(asked[i]) for i, p in enumerate(modeled)})
    rng = rng_for(seed, run_number, "cmaes")
    for param in params:
        if param.key not in values:
            values[param.key] = sample(param, rng)
    return nest(active(list(params), {p.key: values[p.key] for p in params}))
