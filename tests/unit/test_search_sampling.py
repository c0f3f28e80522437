"""Random and bayes suggestions: bounds, quantization, probabilities, reproducibility."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
from optuna.trial import TrialState

from kubesweep.search import Trial, bayes, suggest
from kubesweep.search.space import parse

N = 1000


def draws(spec: dict[str, Any], seed: int = 1) -> list[Any]:
    points = [
        suggest("random", {"x": spec}, [], seed=seed, run_number=i, goal="minimize") for i in range(1, N + 1)
    ]
    return [p["x"] for p in points if p is not None]


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [
        ({"min": 2, "max": 5}, 2, 5),
        ({"min": 0.5, "max": 1.5}, 0.5, 1.5),
        ({"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1}, 1e-4, 1e-1),
        ({"distribution": "inv_log_uniform_values", "min": 1e-3, "max": 1.0}, 1e-3, 1.0),
        ({"distribution": "beta", "a": 2, "b": 3}, 0.0, 1.0),
    ],
)
def test_samples_stay_within_bounds(spec: dict[str, Any], low: float, high: float) -> None:
    values = draws(spec)
    assert all(low <= v <= high for v in values)
    assert max(values) - min(values) > (high - low) * 0.5  # spread over the range, not stuck


def test_int_uniform_gives_every_integer_including_max() -> None:
    values = draws({"min": 2, "max": 5})
    assert set(values) == {2, 3, 4, 5} and all(isinstance(v, int) for v in values)


def test_log_uniform_values_is_uniform_in_the_exponent() -> None:
    logs = [math.log10(v) for v in draws({"distribution": "log_uniform_values", "min": 1e-4, "max": 1.0})]
    below = sum(1 for v in logs if v < -2) / N
    assert abs(below - 0.5) < 3 * math.sqrt(0.25 / N)


@pytest.mark.parametrize(
    ("spec", "q"),
    [
        ({"distribution": "q_uniform", "min": 0, "max": 10, "q": 2}, 2),
        ({"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25}, 0.25),
        ({"distribution": "q_normal", "mu": 10, "sigma": 3, "q": 0.5}, 0.5),
        ({"distribution": "q_log_uniform_values", "min": 1, "max": 1024, "q": 4}, 4),
        ({"distribution": "q_log_normal", "q": 0.1}, 0.1),
        ({"distribution": "q_beta", "q": 0.05}, 0.05),
    ],
)
def test_q_distributions_are_quantized(spec: dict[str, Any], q: float) -> None:
    for value in draws(spec):
        steps = value / q
        assert abs(steps - round(steps)) < 1e-6, value
    if isinstance(q, int):
        assert all(isinstance(v, int) for v in draws(spec))


def test_normal_has_its_mean_and_deviation_within_3_sigma() -> None:
    values = draws({"distribution": "normal", "mu": 5, "sigma": 2})
    mean = sum(values) / N
    assert abs(mean - 5) < 3 * 2 / math.sqrt(N)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (N - 1))
    assert abs(sd - 2) < 0.2


def test_log_normal_is_normal_in_the_log() -> None:
    logs = [math.log(v) for v in draws({"distribution": "log_normal", "mu": 1, "sigma": 0.5})]
    assert abs(sum(logs) / N - 1) < 3 * 0.5 / math.sqrt(N)


def test_categorical_probabilities_hold_within_3_sigma() -> None:
    probabilities = [0.1, 0.6, 0.3]
    values = draws({"values": ["a", "b", "c"], "probabilities": probabilities})
    for value, p in zip(["a", "b", "c"], probabilities, strict=True):
        share = values.count(value) / N
        assert abs(share - p) < 3 * math.sqrt(p * (1 - p) / N), (value, share)


def test_values_are_plain_json() -> None:
    spec = {"a": {"distribution": "normal"}, "b": {"min": 1, "max": 9}, "c": {"values": [[1], {"k": "v"}]}}
    for method in ("random", "bayes"):
        point = suggest(method, spec, [], seed=1, run_number=1, goal="minimize")
        assert json.loads(json.dumps(point)) == point


def test_random_is_reproducible_from_seed_and_run_number() -> None:
    spec = {"x": {"min": 0.0, "max": 1.0}, "y": {"values": [1, 2, 3]}}
    first = [suggest("random", spec, [], seed=7, run_number=i, goal="minimize") for i in range(1, 20)]
    again = [suggest("random", spec, [], seed=7, run_number=i, goal="minimize") for i in range(1, 20)]
    other = [suggest("random", spec, [], seed=8, run_number=i, goal="minimize") for i in range(1, 20)]
    assert first == again and first != other
    assert len({json.dumps(p) for p in first}) == len(first)
    # No seed: still deterministic per run number, so a restart suggests the same point.
    assert suggest("random", spec, [], seed=None, run_number=3, goal="minimize") == suggest(
        "random", spec, [], seed=None, run_number=3, goal="minimize"
    )


def quadratic(point: dict[str, Any]) -> float:
    return float((point["x"] - 0.3) ** 2 + (point["y"] + 0.2) ** 2)


def best_after(method: str, seed: int, budget: int, goal: str = "minimize") -> float:
    spec = {"x": {"min": -2.0, "max": 2.0}, "y": {"min": -2.0, "max": 2.0}}
    history: list[Trial] = []
    for number in range(1, budget + 1):
        point = suggest(method, spec, history, seed=seed, run_number=number, goal=goal)  # type: ignore[arg-type]
        assert point is not None
        value = quadratic(point) if goal == "minimize" else -quadratic(point)
        history.append(Trial(number, point, "Finished", metric=value))
    values = [t.metric for t in history if t.metric is not None]
    return min(values) if goal == "minimize" else -max(values)


def test_bayes_beats_random_at_equal_budget() -> None:
    seeds = range(6)
    bayes = sorted(best_after("bayes", s, 30) for s in seeds)
    rand = sorted(best_after("random", s, 30) for s in seeds)
    assert bayes[len(bayes) // 2] < rand[len(rand) // 2]


def test_bayes_honours_maximize() -> None:
    assert best_after("bayes", 1, 30, goal="maximize") < 0.05


def test_bayes_is_reproducible_and_imputes_failures_and_pending_runs() -> None:
    spec = {"x": {"min": 0.0, "max": 1.0}}
    history = [
        Trial(1, {"x": 0.2}, "Finished", metric=0.5),
        Trial(2, {"x": 0.9}, "Failed"),
        Trial(3, {"x": 0.4}, "Running"),
        Trial(4, {"x": 7.0}, "Finished", metric=0.1),  # outside today's space: ignored
    ]
    a = suggest("bayes", spec, history, seed=3, run_number=5, goal="minimize")
    b = suggest("bayes", spec, history, seed=3, run_number=5, goal="minimize")
    assert a == b and a is not None and 0.0 <= a["x"] <= 1.0


def test_bayes_tells_the_sampler_what_wandb_would() -> None:
    params = parse({"x": {"min": 0.0, "max": 1.0}})
    history = [
        Trial(1, {"x": 0.2}, "Finished", metric=0.5),
        Trial(2, {"x": 0.9}, "Failed"),
        Trial(3, {"x": 0.4}, "Running"),
        Trial(4, {"x": 7.0}, "Finished", metric=0.1),  # outside today's space: left out
        Trial(5, {"x": 0.6}, "Killed", metric=0.01, steps=((1, 2.0), (2, 0.01))),
        Trial(6, {"x": 0.7}, "Finished", metric=float("nan")),
        Trial(7, {"x": 0.3}, "Pending"),
    ]
    told = {t.params["x"]: (t.state, t.value) for t in bayes.told(params, history, "minimize")}
    # The worst value any ended run reported (run 5's step 1) stands in for failures, kills and NaN.
    assert told == {
        0.2: (TrialState.COMPLETE, 0.5),
        0.9: (TrialState.COMPLETE, 2.0),
        0.4: (TrialState.RUNNING, None),
        0.6: (TrialState.COMPLETE, 2.0),
        0.7: (TrialState.COMPLETE, 2.0),
        0.3: (TrialState.RUNNING, None),
    }
    maximized = {t.params["x"]: t.value for t in bayes.told(params, history, "maximize")}
    assert maximized[0.9] == 0.01
    # Nothing reported yet: failures carry no information and are left out.
    assert bayes.told(params, [Trial(1, {"x": 0.5}, "Crashed")], "minimize") == []


def test_bayes_history_is_capped_to_the_best_and_the_most_recent() -> None:
    params = parse({"x": {"min": 0.0, "max": 1.0}})
    history = [Trial(i, {"x": i / 1000}, "Finished", metric=float(i)) for i in range(1, 1001)]
    told = bayes.told(params, history, "minimize")
    numbers = sorted(round(t.params["x"] * 1000) for t in told)
    assert len(told) == bayes.KEEP_BEST + bayes.KEEP_RECENT
    assert numbers[: bayes.KEEP_BEST] == list(range(1, bayes.KEEP_BEST + 1))
    assert numbers[-bayes.KEEP_RECENT :] == list(range(1001 - bayes.KEEP_RECENT, 1001))


def test_bayes_cost_is_bounded_with_many_runs() -> None:
    rng = random.Random(0)
    spec = {"x": {"min": 0.0, "max": 1.0}}
    history = [Trial(i, {"x": (x := rng.random())}, "Finished", metric=x) for i in range(1, 2001)]
    point = suggest("bayes", spec, history, seed=1, run_number=2001, goal="minimize")
    assert point is not None and 0.0 <= point["x"] <= 1.0
