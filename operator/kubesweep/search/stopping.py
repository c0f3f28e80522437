"""Early stopping besides W&B's hyperband, on the same reported values (a run's history is its
values in step order; band b judges the b-th one) and the same memory of ended runs (their
values at the bands).

- asha, asynchronous successive halving (as Ray Tune's ASHA): rungs at minIter * eta^k (below
  maxIter, if given). A Running run is judged at the last rung it reached, by its value there,
  against every run that reached that rung so far: it continues only if it is in the top 1/eta
  of them, that is, not worse than their 1/eta quantile (linear interpolation, as numpy's
  percentile); the first run at a rung always continues.
- median (Google Vizier's median stopping rule): bands every minIter values. A Running run is
  judged at the last band it reached: it stops when its best value so far is worse than the
  median of the other runs' values at that band, once at least minRuns other runs reached it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from .hyperband import FIELD, MIN_ITER_BANDS, _number, history
from .space import SearchSpaceError

TYPES = ("asha", "median")
# eta and strict have defaults in the CRD's schema, so every stored earlyTerminate has them;
# median reads neither, asha no strict.
KEYS = {
    "asha": {"type", "minIter", "maxIter", "eta", "strict"},
    "median": {"type", "minIter", "minRuns", "eta", "strict"},
}
MIN_RUNS = 3  # Ray Tune's and Vizier's default: the median of fewer runs says little


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def validate(config: Mapping[str, Any]) -> None:
    kind = str(config.get("type"))
    unknown = sorted(set(config) - KEYS[kind])
    if unknown:
        raise SearchSpaceError(
            f"{FIELD}.{unknown[0]}",
            f"{kind} does not take {unknown[0]!r}: use {', '.join(sorted(KEYS[kind]))}",
        )
    if not _integer(config.get("minIter")):
        raise SearchSpaceError(f"{FIELD}.minIter", f"{kind} needs minIter, an integer of at least 1")
    eta = config.get("eta", 3)
    if not _number(eta) or eta <= 1:
        raise SearchSpaceError(f"{FIELD}.eta", f"must be a number above 1, not {eta!r}")
    if "maxIter" in config and (not _integer(config["maxIter"]) or config["maxIter"] <= config["minIter"]):
        raise SearchSpaceError(f"{FIELD}.maxIter", "must be an integer above minIter")
    if "minRuns" in config and not _integer(config["minRuns"]):
        raise SearchSpaceError(f"{FIELD}.minRuns", "must be an integer of at least 1")


def bands(config: Mapping[str, Any]) -> list[int]:
    """asha: minIter 1, eta 3, maxIter 30 -> [1, 3, 9, 27]; median: minIter 5 -> [5, 10, 15, ...]."""
    min_iter = int(config["minIter"])
    if config.get("type") == "median":
        return [min_iter * k for k in range(1, MIN_ITER_BANDS + 1)]
    eta, cap = float(config.get("eta", 3)), config.get("maxIter")
    out: list[int] = []
    rung = float(min_iter)
    for _ in range(MIN_ITER_BANDS):
        if cap is not None and rung >= cap:
            break
        if not out or int(rung) > out[-1]:
            out.append(int(rung))
        rung *= eta
    return out


def band_values(config: Mapping[str, Any], steps: Sequence[tuple[int, float]]) -> list[float]:
    values = history(steps, "minimize")
    return [values[band - 1] for band in bands(config) if band <= len(values)]


def quantile(values: Sequence[float], q: float) -> float:
    """numpy.percentile's default (linear) of sorted `values` at q in [0, 1]."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def to_stop(config: Mapping[str, Any], goal: str, trials: Sequence[Any]) -> list[int]:
    sign = -1.0 if goal == "maximize" else 1.0
    marks = bands(config)
    # Every run's values at the bands it reached, lower is better: from its steps, or for a
    # run that keeps only those, its band values.
    at_bands: dict[int, list[float]] = {}
    histories: dict[int, list[float]] = {}
    for trial in trials:
        if trial.band_values is not None:
            at_bands[trial.number] = [sign * v for v in trial.band_values]
        else:
            histories[trial.number] = history(trial.steps, goal)
            at_bands[trial.number] = [
                histories[trial.number][b - 1] for b in marks if b <= len(histories[trial.number])
            ]
    eta = float(config.get("eta", 3))
    min_runs = int(config.get("minRuns", MIN_RUNS))
    stop: list[int] = []
    for trial in trials:
        if trial.state != "Running" or trial.number not in histories or not at_bands[trial.number]:
            continue
        index = len(at_bands[trial.number]) - 1
        band = marks[index]
        others = [v[index] for n, v in at_bands.items() if n != trial.number and len(v) > index]
        if config.get("type") == "asha":
            judged = at_bands[trial.number][index]
            if judged > quantile([*others, judged], 1 / eta):
                stop.append(trial.number)
        elif len(others) >= min_runs:
            best = min(histories[trial.number][:band])
            if best > statistics.median(others):
                stop.append(trial.number)
    return stop
