"""W&B's hyperband early termination: bands of steps, and at each band the runs outside the best
1/eta of all runs that reached it are stopped."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .space import SearchSpaceError

FIELD = "spec.earlyTerminate"
MAX_BANDS = 30


def validate(config: Mapping[str, Any]) -> None:
    if config.get("type", "hyperband") != "hyperband":
        raise SearchSpaceError(f"{FIELD}.type", "only hyperband is supported")
    eta = config.get("eta", 3)
    if not isinstance(eta, int) or eta < 2:
        raise SearchSpaceError(f"{FIELD}.eta", "must be an integer of at least 2")
    min_iter, max_iter, s = config.get("minIter"), config.get("maxIter"), config.get("s")
    if min_iter is None and max_iter is None:
        raise SearchSpaceError(FIELD, "hyperband needs minIter, or maxIter with s (W&B min_iter/max_iter)")
    if min_iter is not None and max_iter is not None:
        raise SearchSpaceError(FIELD, "give minIter or maxIter with s, not both")
    if max_iter is not None and s is None:
        raise SearchSpaceError(f"{FIELD}.s", "maxIter needs s, the number of brackets")
    if max_iter is not None and not bands(config):
        raise SearchSpaceError(f"{FIELD}.maxIter", f"maxIter {max_iter} is below eta {eta}: no band is left")


def bands(config: Mapping[str, Any]) -> list[int]:
    """The steps at which runs are judged: max_iter 81, eta 3, s 3 -> [3, 9, 27]."""
    eta = int(config.get("eta", 3))
    if config.get("maxIter") is not None:
        band = float(config["maxIter"])
        out = []
        for _ in range(int(config.get("s") or 0)):
            band /= eta
            if band < 1:
                break
            out.append(math.floor(band))
        return sorted(out)
    band = int(config["minIter"])
    out = []
    for _ in range(int(config.get("s") or MAX_BANDS)):
        out.append(band)
        band *= eta
    return out


def _value_at(steps: Sequence[tuple[int, float]], band: int) -> float | None:
    """The run's last value at or before `band`, once it has reached the band."""
    if not steps or max(s for s, _ in steps) < band:
        return None
    at = [v for s, v in steps if s <= band]
    return at[-1] if at else None


def to_stop(config: Mapping[str, Any], goal: str, trials: Sequence[Any]) -> list[int]:
    eta = int(config.get("eta", 3))
    strict = bool(config.get("strict", False))
    better_first = goal != "maximize"
    stop: list[int] = []
    thresholds: dict[int, float] = {}
    for band in bands(config):
        values = [v for t in trials if (v := _value_at(t.steps, band)) is not None]
        if len(values) < 2:
            continue
        ordered = sorted(values, reverse=not better_first)
        keep = max(1, len(ordered) // eta)
        thresholds[band] = ordered[keep - 1]
    for trial in trials:
        if trial.state != "Running":
            continue
        reached = [b for b in thresholds if _value_at(trial.steps, b) is not None]
        judged = reached if strict else reached[-1:]
        for band in judged:
            value = _value_at(trial.steps, band)
            assert value is not None
            worse = value > thresholds[band] if better_first else value < thresholds[band]
            if worse:
                stop.append(trial.number)
                break
    return stop
