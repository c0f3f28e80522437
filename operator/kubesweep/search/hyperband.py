"""W&B's hyperband early termination, rule for rule as in its `sweeps` engine.

A run's history is its reported values in step order; band b judges the b-th value. At each band
the threshold is the value at index int(n / eta) of the n runs (any state) that reached it, sorted
best first. A Running run is judged at the last band it reached only: it stops when its best value
so far (or, with `strict`, its value at that band) is worse than that band's threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .space import SearchSpaceError

FIELD = "spec.earlyTerminate"
MIN_ITER_BANDS = 100  # W&B's count of bands from min_iter (s is not used with min_iter)
KEYS = {"type", "minIter", "maxIter", "s", "eta", "strict"}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate(config: Mapping[str, Any]) -> None:
    unknown = sorted(set(config) - KEYS)
    if unknown:
        raise SearchSpaceError(
            f"{FIELD}.{unknown[0]}", f"unknown key {unknown[0]!r}: use type, minIter, maxIter, s, eta, strict"
        )
    if config.get("type") != "hyperband":
        raise SearchSpaceError(
            f"{FIELD}.type", f"unknown type {config.get('type')!r}: use hyperband, asha or median"
        )
    eta = config.get("eta", 3)
    if not _number(eta) or eta <= 1:
        raise SearchSpaceError(f"{FIELD}.eta", f"must be a number above 1, not {eta!r}")
    if "strict" in config and not isinstance(config["strict"], bool):
        raise SearchSpaceError(f"{FIELD}.strict", "must be true or false")
    min_iter, max_iter, s = config.get("minIter"), config.get("maxIter"), config.get("s")
    if max_iter is None and min_iter is None:
        raise SearchSpaceError(FIELD, "hyperband needs minIter, or maxIter with s (W&B min_iter/max_iter)")
    if max_iter is not None:
        if not isinstance(max_iter, int) or isinstance(max_iter, bool) or max_iter < 1:
            raise SearchSpaceError(f"{FIELD}.maxIter", "must be an integer of at least 1")
        if s is None:
            raise SearchSpaceError(f"{FIELD}.s", "maxIter needs s, the number of bands")
        if not _number(s) or s < 1:
            raise SearchSpaceError(f"{FIELD}.s", "must be a number of at least 1")
        if not bands(config):
            raise SearchSpaceError(
                f"{FIELD}.maxIter", f"maxIter {max_iter} divided by eta {eta} is below 1: no band is left"
            )
    elif not isinstance(min_iter, int) or isinstance(min_iter, bool) or min_iter < 1:
        raise SearchSpaceError(f"{FIELD}.minIter", "must be an integer of at least 1")


def bands(config: Mapping[str, Any]) -> list[int]:
    """The history lengths at which runs are judged: maxIter 81, eta 3, s 3 -> [3, 9, 27];
    minIter 3, eta 3 -> [3, 9, 27, 81, ...]. maxIter wins when both are given, as in W&B."""
    eta = float(config.get("eta", 3))
    out: list[int] = []
    if config.get("maxIter") is not None:
        band = float(config["maxIter"])
        for _ in range(int(config.get("s") or 0)):
            band /= eta
            if band < 1:
                break
            out.append(int(band))
        return sorted(out)
    band = float(config["minIter"])
    for _ in range(MIN_ITER_BANDS):
        out.append(int(band))
        band *= eta
    return out


def history(steps: Sequence[tuple[int, float]], goal: str) -> list[float]:
    """The run's finite values in step order, negated when maximizing so lower is always better."""
    ordered = sorted(steps, key=lambda sv: sv[0])  # stable: a repeated step keeps its report order
    sign = -1.0 if goal == "maximize" else 1.0
    return [sign * float(v) for _, v in ordered if _number(v)]


def band_values(config: Mapping[str, Any], steps: Sequence[tuple[int, float]]) -> list[float]:
    """A run's values at the bands it reached: all that the thresholds read of an ended run."""
    values = history(steps, "minimize")
    return [values[band - 1] for band in bands(config) if band <= len(values)]


def to_stop(config: Mapping[str, Any], goal: str, trials: Sequence[Any]) -> list[int]:
    """W&B's thresholds come from every run's history, ended runs too: theirs arrive as
    `band_values` (a recorded run keeps only those)."""
    eta = float(config.get("eta", 3))
    strict = config.get("strict", True) is True  # W&B's schema defaults strict to true
    sign = -1.0 if goal == "maximize" else 1.0
    histories = {t.number: history(t.steps, goal) for t in trials if t.band_values is None}
    reported = [h for h in histories.values() if h]
    banded = [[sign * v for v in t.band_values] for t in trials if t.band_values is not None]
    thresholds: list[tuple[int, float]] = []
    for index, band in enumerate(bands(config)):
        values = sorted(
            [h[band - 1] for h in reported if len(h) >= band] + [b[index] for b in banded if len(b) > index]
        )
        thresholds.append((band, values[int(len(values) / eta)] if values else math.inf))
    stop: list[int] = []
    for trial in trials:
        if trial.state != "Running" or trial.number not in histories:
            continue
        values = histories[trial.number]
        reached = [(b, th) for b, th in thresholds if b <= len(values)]
        if not reached:
            continue
        band, threshold = reached[-1]
        judged = values[band - 1] if strict else min(values)
        if judged > threshold:
            stop.append(trial.number)
    return stop
