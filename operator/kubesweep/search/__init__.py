"""The search strategies, with W&B's semantics: grid, random, bayes, and hyperband early
termination; beyond W&B: tpe, cmaes and qmc, conditional parameters, asha and median stopping. Pure functions of the spec and the sweep's runs so far: deterministic, so a
restarted operator suggests exactly what it would have."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from . import grid, hyperband, sampling, space, stopping
from .space import SearchSpaceError

__all__ = [
    "Goal",
    "RunState",
    "SearchSpaceError",
    "Trial",
    "conditional_paths",
    "describe",
    "grid_positions",
    "grid_size",
    "hyperband_bands",
    "hyperband_to_stop",
    "hyperband_validate",
    "suggest",
    "validate",
]

RunState = Literal["Pending", "Running", "Finished", "Failed", "Crashed", "Killed"]
Goal = Literal["minimize", "maximize"]
METHODS = ("grid", "random", "bayes", "tpe", "cmaes", "qmc")
# The methods that learn from results: they need a metric and a parameter to search.
ADAPTIVE = ("bayes", "tpe", "cmaes")
UNKNOWN_METHOD = "use grid, random, bayes, tpe, cmaes or qmc"
CMAES_MISSING = (
    "method cmaes needs the cmaes package, an optional extra this operator was installed without: "
    "install kubesweep[cmaes] in the operator's image, or use bayes or tpe"
)
# Bayes learns from the best runs plus the most recent ones (a GP's cost grows with the cube of
# its points; 128 keeps a suggestion under W&B's ~100 ms at any number of runs). Here, not in
# bayes, so that keeping those records does not import Optuna.
BAYES_KEEP_BEST = 32
BAYES_KEEP_RECENT = 96


@dataclass(frozen=True)
class Trial:
    """One run of a sweep as the search sees it."""

    number: int  # run number, from 1
    parameters: Mapping[str, Any]  # the values this run got (nested dicts for nested parameters)
    state: RunState
    metric: float | None = None  # the final value of spec.metric.name, if reported
    steps: Sequence[tuple[int, float]] = ()  # intermediate (step, value) pairs, for hyperband
    # The metric at each hyperband band the run reached, for a run whose steps are not kept.
    band_values: Sequence[float] | None = None
    # With several objectives: the value of each, in the spec's order; None unless it reported all.
    values: Sequence[float] | None = None


def validate(method: str, parameters: Mapping[str, Any]) -> None:
    """Raises SearchSpaceError naming the field when the search cannot run."""
    if method not in METHODS:
        raise SearchSpaceError("spec.method", f"unknown method {method!r}: {UNKNOWN_METHOD}")
    params = space.parse(parameters)
    if method == "grid":
        grid.axes(params)
    if method in ADAPTIVE and all(p.kind == "constant" for p in params):
        raise SearchSpaceError(
            "spec.parameters", f"{method} needs at least one parameter to search, not only constant values"
        )
    if method == "cmaes":
        _require_cmaes()


def _require_cmaes() -> None:
    """Loads the cmaes package (only a cmaes sweep does), or says how to get it."""
    try:
        import cmaes  # noqa: F401
    except ImportError:
        raise SearchSpaceError("spec.method", CMAES_MISSING) from None


def describe(parameters: Mapping[str, Any]) -> str:
    """Each parameter with the distribution it samples from, for a person (an event, the plugin)."""
    return space.summary(parameters)


def conditional_paths(parameters: Mapping[str, Any]) -> set[str]:
    """The (dotted) paths of the parameters that have conditions: a run may lack them."""
    try:
        return {p.path for p in space.parse(parameters) if p.when}
    except SearchSpaceError:
        return set()


def grid_size(parameters: Mapping[str, Any]) -> int:
    return grid.size(space.parse(parameters))


def grid_positions(parameters: Mapping[str, Any], points: Sequence[Mapping[str, Any]]) -> list[int | None]:
    """Each point's position on the grid of `parameters`; None for one that is not on it."""
    return grid.positions(space.parse(parameters), points)


def suggest(
    method: str,
    parameters: Mapping[str, Any],
    history: Sequence[Trial],
    *,
    seed: int | None,
    run_number: int,
    goal: Goal,
    grid_points_used: Collection[int] = (),
    goals: Sequence[Goal] | None = None,
) -> dict[str, Any] | None:
    """The parameters of run `run_number`; None when a grid is exhausted. `grid_points_used`
    are the grid positions of runs the history no longer holds. `goals`, one per objective of a
    sweep of several (each trial's `values`): bayes and tpe then use Optuna's multi-objective
    TPE; grid, random and qmc do not look at results."""
    params = space.parse(parameters)
    if method == "grid":
        return grid.next_point(params, [t.parameters for t in history], grid_points_used)
    if method == "random":
        return sampling.random_point(params, seed, run_number)
    # Imported on first use: Optuna and scipy add ~60 MB to an operator that runs no such sweep.
    if method in ("bayes", "tpe"):
        from . import bayes

        if goals:
            return bayes.suggest_multi(params, history, seed=seed, run_number=run_number, goals=goals)
        sampler = "gp" if method == "bayes" else "tpe"
        return bayes.suggest(params, history, seed=seed, run_number=run_number, goal=goal, sampler=sampler)
    if method == "qmc":
        from . import qmc

        return qmc.suggest(params, seed=seed, run_number=run_number)
    if method == "cmaes":
        _require_cmaes()
        from . import cma

        return cma.suggest(params, history, seed=seed, run_number=run_number, goal=goal)
    raise SearchSpaceError("spec.method", f"unknown method {method!r}: {UNKNOWN_METHOD}")


# The hyperband_* functions serve every earlyTerminate type (hyperband, asha, median): each
# judges runs at its bands and keeps an ended run's values there, so reconcile applies them alike.
def hyperband_validate(early_terminate: Mapping[str, Any]) -> None:
    if early_terminate.get("type") in stopping.TYPES:
        stopping.validate(early_terminate)
    else:
        hyperband.validate(early_terminate)


def hyperband_bands(early_terminate: Mapping[str, Any]) -> list[int]:
    if early_terminate.get("type") in stopping.TYPES:
        return stopping.bands(early_terminate)
    return hyperband.bands(early_terminate)


def hyperband_band_values(
    early_terminate: Mapping[str, Any], steps: Sequence[tuple[int, float]]
) -> list[float]:
    if early_terminate.get("type") in stopping.TYPES:
        return stopping.band_values(early_terminate, steps)
    return hyperband.band_values(early_terminate, steps)


def hyperband_to_stop(early_terminate: Mapping[str, Any], goal: Goal, trials: Sequence[Trial]) -> list[int]:
    """Run numbers of Running trials that W&B's hyperband (or asha, or median) would stop now."""
    if early_terminate.get("type") in stopping.TYPES:
        return stopping.to_stop(early_terminate, goal, trials)
    return hyperband.to_stop(early_terminate, goal, trials)
