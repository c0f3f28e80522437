"""kubesweep's bayes against W&B's own engine (the `sweeps` package, installed into a venv of
its own under .cache/, never a dependency of kubesweep), on Branin, Hartmann-6 and a noisy
function at equal budgets: the median best value over seeds after 25 and 50 runs, and the time
per suggestion with 20, 100 and 1000 finished runs. `python -m bench.bayes_vs_wandb [--quick]`."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubesweep.search import Trial, hyperband_to_stop, suggest

from .harness import table
from .objectives import FUNCTIONS, noisy, timing_history

ROOT = Path(__file__).resolve().parents[1]
WANDB_VENV = ROOT / ".cache" / "wandb-venv"
BUDGETS = (25, 50)


def wandb_python() -> Path:
    python = WANDB_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(WANDB_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "sweeps==0.3.0", "numpy<2"], check=True)
    return python


def wandb(job: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [str(wandb_python()), str(Path(__file__).with_name("wandb_driver.py"))],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def ours(name: str, seed: int, budget: int) -> dict[str, Any]:
    fn, space, _ = FUNCTIONS[name]
    rng = random.Random(seed)
    history: list[Trial] = []
    values, truths, times = [], [], []
    for number in range(1, budget + 1):
        started = time.perf_counter()
        params = suggest("bayes", space, history, seed=seed, run_number=number, goal="minimize")
        times.append(time.perf_counter() - started)
        assert params is not None
        value = noisy(params, rng) if name == "noisy" else fn(params)
        values.append(value)
        truths.append(fn(params))
        history.append(Trial(number, params, "Finished", metric=value))
    return {"values": values, "truths": truths, "times": times}


def our_timing(name: str, finished: int, repeats: int) -> list[float]:
    _, space, _ = FUNCTIONS[name]
    history = [
        Trial(number, params, "Finished", metric=value)
        for number, (params, value) in enumerate(timing_history(name, finished), start=1)
    ]
    times = []
    for r in range(repeats):
        started = time.perf_counter()
        suggest("bayes", space, history, seed=r, run_number=finished + 1, goal="minimize")
        times.append(time.perf_counter() - started)
    return times


GRIDS: list[dict[str, Any]] = [
    {"b": {"values": [1, 2]}, "a": {"values": ["x", "y", "z"]}, "c": {"value": "k"}},
    {"n": {"min": 2, "max": 5}, "d": {"values": [1, 1.0, 3e6, 3000000, True]}},
    {"x": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 3}, "y": {"values": [[1, 2], {"k": 1}]}},
    {"x": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25}},
]
STATES = {"Running": "running", "Finished": "finished", "Killed": "killed", "Failed": "failed"}


def hyperband_cases(count: int) -> list[dict[str, Any]]:
    rng = random.Random(11)
    cases = []
    for _ in range(count):
        eta = rng.choice([2, 3, 4])
        if rng.random() < 0.5:
            config: dict[str, Any] = {"type": "hyperband", "min_iter": rng.randint(1, 3), "eta": eta}
        else:
            config = {
                "type": "hyperband",
                "max_iter": rng.randint(eta, 30),
                "s": rng.randint(1, 4),
                "eta": eta,
            }
        if rng.random() < 0.7:
            config["strict"] = rng.random() < 0.5
        runs = [
            {
                "number": n,
                "state": rng.choice(list(STATES)),
                "history": [round(rng.uniform(0, 10), 2) for _ in range(rng.randint(0, 12))],
            }
            for n in range(1, rng.randint(2, 9))
        ]
        cases.append({"config": config, "goal": rng.choice(["minimize", "maximize"]), "runs": runs})
    return cases


def crosscheck() -> str:
    """Our hyperband decisions and grid sequences against the sweeps package's on the same input."""
    cases = hyperband_cases(300)
    theirs_cases = [{**c, "runs": [{**r, "state": STATES[r["state"]]} for r in c["runs"]]} for c in cases]
    theirs = wandb({"kind": "crosscheck", "hyperband": theirs_cases, "grids": GRIDS})
    camel = {"min_iter": "minIter", "max_iter": "maxIter"}
    agree = 0
    for case, wanted in zip(cases, theirs["stops"], strict=True):
        config = {camel.get(k, k): v for k, v in case["config"].items()}
        trials = [
            Trial(r["number"], {}, r["state"], steps=tuple(enumerate(r["history"], 1))) for r in case["runs"]
        ]
        agree += sorted(hyperband_to_stop(config, case["goal"], trials)) == wanted
    rows: list[tuple[Any, ...]] = [("hyperband stop decisions", len(cases), agree)]
    for parameters, wanted in zip(GRIDS, theirs["grids"], strict=True):
        history: list[Trial] = []
        while (
            point := suggest(
                "grid", parameters, history, seed=None, run_number=len(history) + 1, goal="minimize"
            )
        ) is not None:
            history.append(Trial(len(history) + 1, point, "Finished"))
        ours_points = [json.dumps(t.parameters, sort_keys=True) for t in history]
        same = ours_points == [json.dumps(p, sort_keys=True) for p in wanted]
        rows.append((f"grid {sorted(parameters)}: {len(wanted)} W&B points", 1, int(same)))
    return table("Cross-check against W&B's engine on the same inputs", ["case", "cases", "identical"], rows)


def best_after(result: dict[str, Any], n: int) -> float:
    """The true value of the point the search saw as best in its first n runs (for the noisy
    function the observed best is partly luck; its true value is what the user gets)."""
    observed = result["values"][:n]
    return float(result["truths"][observed.index(min(observed))])


def run(quick: bool) -> str:
    seeds = range(5 if quick else 20)
    sizes = (20, 100) if quick else (20, 100, 1000)
    rows = []
    for name in FUNCTIONS:
        budget = max(BUDGETS)
        with ThreadPoolExecutor(max_workers=2) as pool:
            theirs = list(
                pool.map(
                    lambda s, n=name, b=budget: wandb(
                        {"kind": "optimise", "function": n, "seed": s, "budget": b}
                    ),
                    seeds,
                )
            )
        mine = [ours(name, s, budget) for s in seeds]
        optimum = FUNCTIONS[name][2]
        for n in BUDGETS:
            ks = statistics.median(best_after(r, n) for r in mine)
            wb = statistics.median(best_after(r, n) for r in theirs)
            rows.append(
                (
                    name,
                    f"best after {n} runs (optimum {optimum:g})",
                    ks,
                    wb,
                    (wb - optimum) / max(ks - optimum, 1e-9),
                )
            )
    timing_rows = []
    for size in sizes:
        repeats = 3 if size >= 1000 else 5
        ks = statistics.median(our_timing("hartmann6", size, repeats)) * 1000
        wb = (
            statistics.median(
                wandb({"kind": "timing", "function": "hartmann6", "finished": size, "repeats": repeats})[
                    "times"
                ]
            )
            * 1000
        )
        timing_rows.append((size, ks, wb, wb / ks))
    return (
        crosscheck()
        + "\n"
        + table(
            f"Bayes search: kubesweep (GP via Optuna) vs W&B's engine (sweeps 0.3.0), median over {len(seeds)} seeds",
            ["function", "measure", "kubesweep", "W&B", "W&B gap to optimum / kubesweep gap (x better)"],
            rows,
        )
        + "\n"
        + table(
            "Time per bayes suggestion (Hartmann-6), milliseconds",
            ["finished runs", "kubesweep ms", "W&B ms", "W&B / kubesweep"],
            timing_rows,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(run(parser.parse_args().quick))
