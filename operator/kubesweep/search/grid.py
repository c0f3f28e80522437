"""Grid search with W&B's rules, enumerated lazily: point i is computed from i by mixed-radix
arithmetic, so a grid of 10^9 points costs nothing up front."""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from .space import (
    GRID_KINDS,
    Param,
    SearchSpaceError,
    active,
    canonical,
    conditional,
    flatten,
    is_active,
    nest,
)


class Axis:
    """The values of one parameter, in W&B's grid order, duplicates (by value) removed."""

    def __init__(self, param: Param) -> None:
        self.param = param
        self._values: list[Any] | None = None
        if param.kind == "constant":
            self._values = [param["value"]]
        elif param.kind == "categorical":
            # As W&B: each distinct value at its first position, given as its last spelling
            # (values [1, 1.0] give one point, 1.0).
            last = {canonical(v): v for v in param["values"]}
            self._values = list(last.values())
        elif param.kind == "int_uniform":
            self.size = param["max"] - param["min"] + 1
        elif param.kind == "q_uniform":
            # min up to, not including, max in steps of q (numpy.arange's count).
            self.size = max(0, math.ceil((param["max"] - param["min"]) / param["q"]))
        if self._values is not None:
            self.size = len(self._values)

    def __getitem__(self, index: int) -> Any:
        if self._values is not None:
            return self._values[index]
        if self.param.kind == "int_uniform":
            return self.param["min"] + index
        value = self.param["min"] + index * self.param["q"]
        q = self.param["q"]
        # Keep the step's precision: 0.1 * 3 is 0.30000000000000004, W&B's grid shows 0.3.
        decimals = max(0, -math.floor(math.log10(abs(q)))) + 6 if q else 6
        value = round(value, decimals)
        # numpy.arange's dtype: integers only when min, max and q all are.
        if all(
            isinstance(self.param[k], int) and not isinstance(self.param[k], bool)
            for k in ("min", "max", "q")
        ):
            return int(value)
        return float(value)


def axes(params: Sequence[Param]) -> list[Axis]:
    for param in params:
        if param.kind not in GRID_KINDS:
            raise SearchSpaceError(
                param.field,
                f"a grid sweep can only use values, value, int_uniform or q_uniform parameters; "
                f"this one is {param.kind}: give it values, or use method random or bayes",
            )
        if param.kind == "categorical" and param.config.get("probabilities") is not None:
            raise SearchSpaceError(
                f"{param.field}.probabilities",
                "a grid sweep tries every value once, so probabilities do not apply: remove them",
            )
    return [Axis(p) for p in params]


class Branches:
    """A grid with conditional parameters: one branch per combination of the values of the
    parameters that conditions name (the controllers, first one slowest), each the grid of
    the other parameters active on it. Point i is found by walking the branches' sizes, so
    only the controllers' combinations are enumerated, never the points."""

    def __init__(self, params: Sequence[Param]) -> None:
        grid = axes(params)
        self.params = list(params)
        named = {key for p in params for key, _ in p.when}
        controllers = [a for a in grid if a.param.key in named]
        others = [a for a in grid if a.param.key not in named]
        self.branches: list[tuple[dict[str, Any], list[Axis], int]] = []
        self.index: dict[str, int] = {}
        for combo in itertools.product(*(range(a.size) for a in controllers)):
            on = active(self.params, {a.param.key: a[i] for a, i in zip(controllers, combo, strict=True)})
            ident = canonical(on)
            if ident in self.index:
                continue  # an inactive controller's values give the same branch
            branch = [a for a in others if is_active(a.param, on)]
            self.index[ident] = len(self.branches)
            self.branches.append((on, branch, math.prod(a.size for a in branch)))
        self.order = [a.param.key for a in grid]

    @property
    def size(self) -> int:
        return sum(n for _, _, n in self.branches)

    def point(self, index: int) -> dict[str, Any]:
        for on, branch, n in self.branches:
            if index < n:
                flat = {**on, **point(branch, index)}
                return {k: flat[k] for k in self.order if k in flat}
            index -= n
        raise IndexError(index)

    def position(self, flat: Mapping[str, Any]) -> int | None:
        on = active(self.params, flat)
        named = {key for p in self.params for key, _ in p.when}
        number = self.index.get(canonical({k: v for k, v in on.items() if k in named}))
        if number is None:
            return None
        _, branch, _ = self.branches[number]
        within = _position(branch, flat)
        if within is None:
            return None
        return sum(n for _, _, n in self.branches[:number]) + within


def size(params: Sequence[Param]) -> int:
    if conditional(list(params)):
        return Branches(params).size
    return math.prod(axis.size for axis in axes(params))


def point(grid: Sequence[Axis], index: int) -> dict[str, Any]:
    """The index-th point by flat key (Param.key); the first parameter (by name) changes slowest."""
    flat: dict[str, Any] = {}
    for axis in reversed(grid):
        index, rest = divmod(index, axis.size)
        flat[axis.param.key] = axis[rest]
    return {axis.param.key: flat[axis.param.key] for axis in grid}


def key(grid: Sequence[Axis], flat: Mapping[str, Any]) -> str | None:
    """A point's identity as W&B hashes it: the values of the searched (non-constant) parameters,
    by value; None for a run that lacks one of them (it matches no point)."""
    searched = [axis.param.key for axis in grid if axis.param.kind != "constant"]
    if any(path not in flat for path in searched):
        return None
    return canonical([flat[path] for path in searched])


def _axis_index(axis: Axis, value: Any) -> int | None:
    if axis.param.kind == "constant":
        return 0
    if axis.param.kind == "categorical":
        wanted = canonical(value)
        return next((i for i in range(axis.size) if canonical(axis[i]) == wanted), None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    step = 1.0 if axis.param.kind == "int_uniform" else float(axis.param["q"])
    index = round((value - float(axis.param["min"])) / step)
    if 0 <= index < axis.size and canonical(axis[index]) == canonical(value):
        return index
    return None


def _position(grid: Sequence[Axis], flat: Mapping[str, Any]) -> int | None:
    index = 0
    for axis in grid:
        if axis.param.kind != "constant" and axis.param.key not in flat:
            return None
        position = _axis_index(axis, flat.get(axis.param.key))
        if position is None:
            return None
        index = index * axis.size + position
    return index


def positions(params: Sequence[Param], points: Iterable[Mapping[str, Any]]) -> list[int | None]:
    """The grid position of each run's point (the inverse of `point`), None for one off the
    grid: what the status keeps of a folded run, in a few bytes."""
    if conditional(list(params)):
        tree = Branches(params)
        return [tree.position(flatten(p, list(params))) for p in points]
    grid = axes(params)
    return [_position(grid, flatten(p, list(params))) for p in points]


def index_of(params: Sequence[Param], parameters: Mapping[str, Any]) -> int | None:
    return positions(params, [parameters])[0]


def next_point(
    params: Sequence[Param], used: Iterable[Mapping[str, Any]], used_indices: Collection[int] = ()
) -> dict[str, Any] | None:
    """The first point in grid order that no run has had, in any state; None when exhausted.
    `used_indices` are points of runs known only by their grid position."""
    if conditional(list(params)):
        tree = Branches(params)
        occupied = {i for p in used if (i := tree.position(flatten(p, list(params)))) is not None}
        occupied |= set(used_indices)
        free = next((i for i in range(min(tree.size, len(occupied) + 1)) if i not in occupied), None)
        return None if free is None else nest(tree.point(free))
    grid = axes(params)
    total = math.prod(axis.size for axis in grid)
    taken = {k for p in used if (k := key(grid, flatten(p, list(params)))) is not None}
    # At most that many points can be skipped before a free one: never a full enumeration.
    for index in range(min(total, len(taken) + len(used_indices) + 1)):
        if index in used_indices:
            continue
        flat = point(grid, index)
        if key(grid, flat) not in taken:
            return nest(flat)
    return None
