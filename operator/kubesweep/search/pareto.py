"""Several objectives: Pareto dominance and the front, pure and free of any API type.

A point is a tuple of objective values, one per goal; a point dominates another when it is at
least as good in every objective and better in one. The front is the points no other dominates.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def _sign(goal: str) -> float:
    return -1.0 if goal == "maximize" else 1.0


def dominates(a: Sequence[float], b: Sequence[float], goals: Sequence[str]) -> bool:
    """Whether `a` dominates `b`: no worse in any objective, better in at least one."""
    if not (len(a) == len(b) == len(goals)):
        raise ValueError("points and goals differ in length")
    better = False
    for x, y, goal in zip(a, b, goals, strict=True):
        sx, sy = _sign(goal) * x, _sign(goal) * y
        if sx > sy:
            return False
        better = better or sx < sy
    return better


def front(points: Sequence[tuple[K, Sequence[float]]], goals: Sequence[str]) -> list[K]:
    """The keys of the points no other point dominates, in the order given. A point with a NaN
    or an infinity has no place on it (it cannot be compared); equal points are all on it."""
    finite = [(k, v) for k, v in points if len(v) == len(goals) and all(math.isfinite(x) for x in v)]
    # Sorted by the objectives (minimizing), a point can only be dominated by one before it.
    order = sorted(
        range(len(finite)),
        key=lambda i: tuple(_sign(g) * x for g, x in zip(goals, finite[i][1], strict=True)),
    )
    kept: list[int] = []
    for i in order:
        if not any(dominates(finite[j][1], finite[i][1], goals) for j in kept):
            kept.append(i)
    chosen = set(kept)
    return [finite[i][0] for i in range(len(finite)) if i in chosen]


def spread(keys: Sequence[K], values: Sequence[Sequence[float]], cap: int) -> list[K]:
    """At most `cap` of a front's keys, spread evenly along its first objective and keeping both
    ends: the shape of the trade-off survives the cap. `values` are the keys' points."""
    if cap <= 0:
        return []
    if len(keys) <= cap:
        return list(keys)
    order = sorted(range(len(keys)), key=lambda i: (values[i][0], i))
    if cap == 1:
        return [keys[order[0]]]
    picks = sorted({order[round(n * (len(order) - 1) / (cap - 1))] for n in range(cap)})
    return [keys[i] for i in picks]


def hypervolume_2d(
    points: Sequence[Sequence[float]], reference: Sequence[float], goals: Sequence[str]
) -> float:
    """The area two objectives' points dominate up to `reference` (a point worse than any of
    them): the quality of a front, for the bench."""
    signs = [_sign(g) for g in goals]
    ref = (signs[0] * reference[0], signs[1] * reference[1])
    pts = sorted(
        (signs[0] * p[0], signs[1] * p[1])
        for p in points
        if signs[0] * p[0] < ref[0] and signs[1] * p[1] < ref[1]
    )
    area, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area
