"""Several objectives at equal budgets: kubesweep's tpe with `metrics` (Optuna's multi-objective
TPE, its study rebuilt from the runs at each suggestion) against random, qmc, and Optuna's own
MOTPE and NSGA-II kept in memory as an Optuna user runs them (W&B's engine has no several
objectives). Quality is the hypervolume of the front each search found after 25 and 50 runs
(higher is better; median over seeds), on ZDT1 and ZDT2 in 4 dimensions (convex and concave
fronts); then the time per suggestion with 20, 100 and 1,000 finished runs.
`python -m bench.multi_objective [--quick]` (3 seeds quick, 5 otherwise)."""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any, Literal

import optuna

from kubesweep.search import Trial, suggest
from kubesweep.search.pareto import hypervolume_2d

from .harness import table

DIMS = 4
SPACE = {f"x{i}": {"distribution": "uniform", "min": 0.0, "max": 1.0} for i in range(1, DIMS + 1)}
GOALS: list[Literal["minimize", "maximize"]] = ["minimize", "minimize"]
REFERENCE = (1.1, 11.0)  # beyond the worst f1 (1) and f2 (g at most 10)
BUDGETS = (25, 50)

optuna.logging.set_verbosity(logging.WARNING)


def _g(p: dict[str, Any]) -> float:
    return 1 + 9 * statistics.fmean(p[f"x{i}"] for i in range(2, DIMS + 1))


def zdt1(p: dict[str, Any]) -> tuple[float, float]:
    f1, g = p["x1"], _g(p)
    return f1, g * (1 - math.sqrt(f1 / g))


def zdt2(p: dict[str, Any]) -> tuple[float, float]:
    f1, g = p["x1"], _g(p)
    return f1, g * (1 - (f1 / g) ** 2)


FUNCTIONS: dict[str, Callable[[dict[str, Any]], tuple[float, float]]] = {"zdt1": zdt1, "zdt2": zdt2}


def _loop(
    fn: Callable[[dict[str, Any]], tuple[float, float]], budget: int, ask: Any, tell: Any = None
) -> list[tuple[float, float]]:
    history: list[Trial] = []
    points = []
    for number in range(1, budget + 1):
        params = ask(number, history)
        values = fn(params)
        points.append(values)
        history.append(Trial(number, params, "Finished", values=values))
        if tell is not None:
            tell(values)
    return points


def ours(method: str, fn: Any, seed: int, budget: int) -> list[tuple[float, float]]:
    def ask(number: int, history: list[Trial]) -> dict[str, Any]:
        params = suggest(method, SPACE, history, seed=seed, run_number=number, goal="minimize", goals=GOALS)
        assert params is not None
        return params

    return _loop(fn, budget, ask)


def theirs(sampler: optuna.samplers.BaseSampler, fn: Any, budget: int) -> list[tuple[float, float]]:
    study = optuna.create_study(directions=GOALS, sampler=sampler)
    distributions: dict[str, optuna.distributions.BaseDistribution] = {
        k: optuna.distributions.FloatDistribution(0.0, 1.0) for k in SPACE
    }
    current: list[optuna.Trial] = []

    def ask(number: int, history: list[Trial]) -> dict[str, Any]:
        trial = study.ask(distributions)
        current.append(trial)
        return dict(trial.params)

    def tell(values: tuple[float, float]) -> None:
        study.tell(current.pop(), list(values))

    return _loop(fn, budget, ask, tell)


def engines(seed: int) -> dict[str, Callable[[Any, int], list[tuple[float, float]]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return {
            "tpe": lambda fn, n: ours("tpe", fn, seed, n),
            "random": lambda fn, n: ours("random", fn, seed, n),
            "qmc": lambda fn, n: ours("qmc", fn, seed, n),
            "Optuna MOTPE": lambda fn, n: theirs(optuna.samplers.TPESampler(seed=seed), fn, n),
            # A population of 10: the default 50 would leave 25 or 50 runs all random.
            "Optuna NSGA-II": lambda fn, n: theirs(
                optuna.samplers.NSGAIISampler(seed=seed, population_size=10), fn, n
            ),
        }


def timing(finished: int, repeats: int, in_memory: bool) -> float:
    """Median ms per suggestion with `finished` runs (the same for both): ours rebuilds its study."""
    import random

    rng = random.Random(0)
    history = []
    for number in range(1, finished + 1):
        params = {k: rng.random() for k in SPACE}
        history.append(Trial(number, params, "Finished", values=zdt1(params)))
    distributions: dict[str, optuna.distributions.BaseDistribution] = {
        k: optuna.distributions.FloatDistribution(0.0, 1.0) for k in SPACE
    }
    study = optuna.create_study(directions=GOALS, sampler=optuna.samplers.TPESampler(seed=0))
    if in_memory:
        for t in history:
            study.add_trial(
                optuna.trial.create_trial(
                    params=dict(t.parameters), distributions=distributions, values=list(t.values or ())
                )
            )
    times = []
    for r in range(repeats):
        started = time.perf_counter()
        if in_memory:
            study.ask(distributions)
        else:
            suggest("tpe", SPACE, history, seed=r, run_number=finished + 1, goal="minimize", goals=GOALS)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run(quick: bool) -> str:
    seeds = range(3 if quick else 5)
    sizes = (20, 100) if quick else (20, 100, 1000)
    budget = max(BUDGETS)
    names = list(engines(0))
    rows = []
    for name, fn in FUNCTIONS.items():
        found = {e: [engines(s)[e](fn, budget) for s in seeds] for e in names}
        for n in BUDGETS:
            rows.append(
                (
                    name,
                    n,
                    *(
                        statistics.median(hypervolume_2d(p[:n], REFERENCE, GOALS) for p in found[e])
                        for e in names
                    ),
                )
            )
    timing_rows = [(size, timing(size, 3, False), timing(size, 3, True)) for size in sizes]
    return (
        table(
            f"Two objectives at equal budgets: median over {len(seeds)} seeds of the hypervolume of the "
            f"front found, up to {REFERENCE} (higher is better)",
            ["function", "runs", *names],
            rows,
        )
        + "\n"
        + table(
            "Time per suggestion with two objectives (ZDT1, 4 dimensions), median milliseconds",
            ["finished runs", "tpe (study rebuilt from the runs)", "Optuna MOTPE (in memory)"],
            timing_rows,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(run(parser.parse_args().quick))
