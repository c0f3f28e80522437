"""kubesweep's tpe, cmaes and qmc against its bayes, W&B's engine and Optuna's own TPE (a study
kept in memory, with Optuna's defaults), at equal budgets: the median over seeds of the true
value of the point each search saw as best after 25 and 50 runs, on Branin, Hartmann-6, the
noisy function and a conditional space (bench/objectives.py); then the time per suggestion
with 20, 100 and 1,000 finished runs. `python -m bench.strategies [--quick]`: a few minutes on
2 shared CPUs (3 seeds quick, 5 otherwise)."""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import optuna

from kubesweep.search import Trial, suggest

from .bayes_vs_wandb import best_after, wandb
from .harness import table
from .objectives import CONDITIONAL_SPACE, EXTRA, FUNCTIONS, noisy, timing_history

OURS = ("bayes", "tpe", "cmaes", "qmc", "random")
BUDGETS = (25, 50)
ALL = {**FUNCTIONS, **EXTRA}
SPACES = {**{name: space for name, (_, space, _) in FUNCTIONS.items()}, "conditional": CONDITIONAL_SPACE}
OPTIMA = {name: optimum for name, (_, _, optimum) in ALL.items()}

optuna.logging.set_verbosity(logging.WARNING)


def _loop(
    name: str, seed: int, budget: int, ask: Callable[[int, list[Trial]], dict[str, Any]]
) -> dict[str, Any]:
    fn = ALL[name][0]
    rng = random.Random(seed)
    history: list[Trial] = []
    values, truths, times = [], [], []
    for number in range(1, budget + 1):
        started = time.perf_counter()
        params = ask(number, history)
        times.append(time.perf_counter() - started)
        value = noisy(params, rng) if name == "noisy" else fn(params)
        values.append(value)
        truths.append(fn(params))
        history.append(Trial(number, params, "Finished", metric=value))
    return {"values": values, "truths": truths, "times": times}


def ours(method: str, name: str, seed: int, budget: int) -> dict[str, Any]:
    def ask(number: int, history: list[Trial]) -> dict[str, Any]:
        params = suggest(method, SPACES[name], history, seed=seed, run_number=number, goal="minimize")
        assert params is not None
        return params

    return _loop(name, seed, budget, ask)


def _optuna_ask(trial: optuna.Trial, space: dict[str, Any]) -> dict[str, Any]:
    """Define-by-run over the benchmark spaces (ranges, log ranges, values, `when`)."""
    params: dict[str, Any] = {}
    for key, spec in space.items():
        when = spec.get("when") or {}
        if any(params.get(k) != v for k, v in when.items()):
            continue
        if "values" in spec:
            params[key] = trial.suggest_categorical(key, spec["values"])
        elif isinstance(spec["min"], int) and isinstance(spec["max"], int):
            params[key] = trial.suggest_int(key, spec["min"], spec["max"])
        else:
            log = spec.get("distribution") == "log_uniform_values"
            params[key] = trial.suggest_float(key, spec["min"], spec["max"], log=log)
    return params


def optuna_tpe(name: str, seed: int, budget: int) -> dict[str, Any]:
    """Optuna's TPE as an Optuna user runs it: one study in memory, told each result."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    pending: dict[int, optuna.Trial] = {}

    def ask(number: int, history: list[Trial]) -> dict[str, Any]:
        if history:
            last = history[-1]
            study.tell(pending.pop(last.number), last.metric)
        trial = study.ask()
        pending[number] = trial
        return _optuna_ask(trial, SPACES[name])

    return _loop(name, seed, budget, ask)


def timing(method: str, finished: int, repeats: int) -> float:
    """Median ms per suggestion on Hartmann-6 with `finished` runs (the same runs for all)."""
    space = FUNCTIONS["hartmann6"][1]
    history = [
        Trial(number, params, "Finished", metric=value)
        for number, (params, value) in enumerate(timing_history("hartmann6", finished), start=1)
    ]
    distributions: dict[str, optuna.distributions.BaseDistribution] = {
        k: optuna.distributions.FloatDistribution(s["min"], s["max"]) for k, s in space.items()
    }
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    if method == "Optuna TPE":
        for trial in history:
            study.add_trial(
                optuna.trial.create_trial(
                    params=dict(trial.parameters), distributions=distributions, value=trial.metric
                )
            )
    times = []
    for r in range(repeats):
        started = time.perf_counter()
        if method == "Optuna TPE":
            study.ask(distributions)
        else:
            suggest(method, space, history, seed=r, run_number=finished + 1, goal="minimize")
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run(quick: bool) -> str:
    seeds = range(3 if quick else 5)
    sizes = (20, 100) if quick else (20, 100, 1000)
    budget = max(BUDGETS)
    engines = [*OURS, "Optuna TPE", "W&B"]
    rows = []
    for name in ALL:
        with ThreadPoolExecutor(max_workers=2) as pool:
            theirs = list(
                pool.map(
                    lambda s, n=name: wandb({"kind": "optimise", "function": n, "seed": s, "budget": budget}),
                    seeds,
                )
            )
        results: dict[str, list[dict[str, Any]]] = {
            m: [ours(m, name, s, budget) for s in seeds] for m in OURS
        }
        results["Optuna TPE"] = [optuna_tpe(name, s, budget) for s in seeds]
        results["W&B"] = theirs
        for n in BUDGETS:
            rows.append(
                (
                    f"{name} ({OPTIMA[name]:g})",
                    n,
                    *(statistics.median(best_after(r, n) for r in results[e]) for e in engines),
                )
            )
    timing_rows = []
    for size in sizes:
        repeats = 3 if size >= 1000 else 5
        mine = [timing(m, size, repeats) for m in (*OURS, "Optuna TPE")]
        theirs_ms = statistics.median(
            wandb({"kind": "timing", "function": "hartmann6", "finished": size, "repeats": repeats})["times"]
        )
        timing_rows.append((size, *mine, theirs_ms * 1000))
    return (
        table(
            f"Search quality at equal budgets: median over {len(seeds)} seeds of the true value of the "
            "best point seen (lower is better)",
            ["function (optimum)", "runs", *engines],
            rows,
        )
        + "\n"
        + table(
            "Time per suggestion (Hartmann-6), median milliseconds",
            ["finished runs", *engines],
            timing_rows,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(run(parser.parse_args().quick))
