"""Runs inside W&B's own venv (the `sweeps` package): one optimisation loop or one timing, as
JSON on stdout. Kept free of kubesweep imports; the objectives come from bench/objectives.py."""

import json
import random
import sys
import time
from typing import Any

import numpy as np
import sweeps
from objectives import EXTRA, FUNCTIONS, noisy, timing_history

FUNCTIONS = {**FUNCTIONS, **EXTRA}


def config(space: dict[str, Any]) -> dict[str, Any]:
    return {"method": "bayes", "metric": {"name": "loss", "goal": "minimize"}, "parameters": space}


def run_of(params: dict[str, Any], value: float) -> Any:
    return sweeps.SweepRun(
        config={k: {"value": v} for k, v in params.items()},
        summary_metrics={"loss": value},
        state=sweeps.RunState.finished,
    )


def optimise(name: str, seed: int, budget: int) -> dict[str, list[float]]:
    fn, space, _ = FUNCTIONS[name]
    np.random.seed(seed)
    random.seed(seed)
    rng = random.Random(seed)
    runs: list[Any] = []  # W&B's SweepRun
    values: list[float] = []
    truths: list[float] = []
    times: list[float] = []
    for _ in range(budget):
        started = time.perf_counter()
        suggestion = sweeps.next_run(config(space), runs, validate=False)
        times.append(time.perf_counter() - started)
        params = {k: v["value"] for k, v in suggestion.config.items()}
        value = noisy(params, rng) if name == "noisy" else fn(params)
        values.append(value)
        truths.append(fn(params))
        runs.append(run_of(params, value))
    return {"values": values, "truths": truths, "times": times}


def timing(name: str, finished: int, repeats: int) -> dict[str, list[float]]:
    _, space, _ = FUNCTIONS[name]
    runs = [run_of(params, value) for params, value in timing_history(name, finished)]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        sweeps.next_run(config(space), runs, validate=False)
        times.append(time.perf_counter() - started)
    return {"times": times}


def crosscheck(hyperband_cases: list[dict[str, Any]], grids: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """W&B's own answers: the runs hyperband stops, and each grid's full sequence of points."""
    from sweeps.hyperband_stopping import hyperband_stop_runs

    stops = []
    for case in hyperband_cases:
        runs = [
            sweeps.SweepRun(
                name=str(r["number"]),
                state=sweeps.RunState(r["state"]),
                history=[{"loss": v} for v in r["history"]],
            )
            for r in case["runs"]
        ]
        config = {
            "method": "random",
            "metric": {"name": "loss", "goal": case["goal"]},
            "early_terminate": case["config"],
            "parameters": {"a": {"values": [1]}},
        }
        stops.append(sorted(int(r.name) for r in hyperband_stop_runs(runs, config)))
    sequences = []
    for parameters in grids:
        config = {"method": "grid", "parameters": parameters}
        grid_runs: list[Any] = []
        points: list[dict[str, Any]] = []
        while (run := sweeps.next_run(config, grid_runs)) is not None and len(points) < 1000:
            point = {k: v["value"] for k, v in run.config.items()}
            points.append(point)
            grid_runs.append(sweeps.SweepRun(config=run.config, state=sweeps.RunState.finished))
        sequences.append(points)
    return {"stops": stops, "grids": sequences}


if __name__ == "__main__":
    job = json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())
    if job["kind"] == "optimise":
        print(json.dumps(optimise(job["function"], job["seed"], job["budget"])))
    elif job["kind"] == "crosscheck":
        print(json.dumps(crosscheck(job["hyperband"], job["grids"])))
    else:
        print(json.dumps(timing(job["function"], job["finished"], job["repeats"])))
