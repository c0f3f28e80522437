"""The Gaussian process behind bayes search: likelihood gradients, the fit, expected
improvement and its maximization, and the Optuna sampler's encoding and pending runs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import optuna
import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial
from scipy import optimize, stats

from kubesweep.search import Trial, gp, suggest
from kubesweep.search.gp_sampler import GPSampler, _Columns


def _data(n: int, dims: int, seed: int = 0, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, dims))
    y = np.sin(6 * x[:, 0]) + (x[:, 1:] ** 2).sum(axis=1) + noise * rng.normal(size=n)
    return x, (y - y.mean()) / y.std()


@pytest.mark.parametrize("shared", [False, True])
def test_the_likelihood_gradient_matches_finite_differences(shared: bool) -> None:
    x, y = _data(15, 3)
    sq = np.stack([(x[:, None, k] - x[None, :, k]) ** 2 for k in range(3)])
    if shared:
        sq = sq.sum(axis=0, keepdims=True)
    theta = np.array([*([-0.7] * len(sq)), 0.2, math.log(1e-2)])
    error = optimize.check_grad(
        lambda t: gp._negative_log_posterior(t, y, sq, 3)[0],
        lambda t: gp._negative_log_posterior(t, y, sq, 3)[1],
        theta,
    )
    assert error < 1e-4 * max(1.0, float(np.abs(gp._negative_log_posterior(theta, y, sq, 3)[1]).max()))


def test_the_fit_interpolates_smooth_data_and_is_uncertain_away_from_it() -> None:
    x, y = _data(30, 2)
    model = gp.fit(x, y)
    mean, std = model.predict(x)
    assert np.abs(mean - y).max() < 0.05
    far = np.array([[0.5, 1.8]])  # outside the unit square: no data near
    assert model.predict(far)[1][0] > 10 * std.max()


def test_noise_is_learned_from_noisy_data_and_kept_small_on_exact_data() -> None:
    exact = gp.fit(*_data(40, 2))
    noisy = gp.fit(*_data(40, 2, noise=0.5))
    assert exact.noise < 1e-2
    assert noisy.noise > 10 * exact.noise


def test_log_expected_improvement_equals_the_closed_form_and_stays_finite_far_below() -> None:
    mean = np.array([0.0, 0.5, -1.0, 2.0])
    std = np.array([1.0, 0.3, 0.5, 0.1])
    z = (0.2 - mean) / std
    closed = std * (z * stats.norm.cdf(z) + stats.norm.pdf(z))
    assert np.allclose(np.exp(gp.log_expected_improvement(mean, std, 0.2)), closed, rtol=1e-6)
    # 30 and 40 standard deviations above the incumbent: EI underflows, its log still ranks them
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way
        far = gp.log_expected_improvement(np.array([30.0, 40.0]), np.array([1.0, 1.0]), 0.0)
        # 40 standard deviations below it: EI is the gap itself
        sure = gp.log_expected_improvement(np.array([-40.0]), np.array([1.0]), 0.0)
    assert np.isfinite(far).all()
    assert far[0] > far[1]
    assert math.exp(sure[0]) == pytest.approx(40.0)


def test_maximize_ei_finds_the_maximum_of_a_dense_scan() -> None:
    x = np.array([[0.1], [0.35], [0.5], [0.9]])
    y = np.array([1.0, -0.5, 0.2, 1.5])
    model = gp.fit(x, (y - y.mean()) / y.std())
    best = float(((y - y.mean()) / y.std()).min())
    scan = np.linspace(0, 1, 20001)[:, None]
    dense = gp.log_expected_improvement(*model.predict(scan), best).max()
    found = gp.maximize_ei(model, best, gp.Encoding(1), np.random.default_rng(0))
    assert gp.log_expected_improvement(*model.predict(found[None, :]), best)[0] >= dense - 1e-3


def test_random_points_set_exactly_one_column_of_each_categorical() -> None:
    encoding = gp.Encoding(5, ((1, 2, 3),))
    points = encoding.random(np.random.default_rng(1), 200)
    assert (points[:, [1, 2, 3]].sum(axis=1) == 1).all()
    assert set(np.unique(points[:, [1, 2, 3]])) == {0.0, 1.0}
    assert list(encoding.continuous()) == [True, False, False, False, True]


def test_columns_round_trip_every_distribution() -> None:
    space = {
        "lr": FloatDistribution(1e-5, 1.0, log=True),
        "depth": IntDistribution(1, 12),
        "opt": CategoricalDistribution(["adam", "sgd", 3]),
        "drop": FloatDistribution(0.0, 0.5),
    }
    columns = _Columns(space)
    assert columns.encoding.dims == 6
    for params in (
        {"lr": 1e-5, "depth": 1, "opt": "adam", "drop": 0.0},
        {"lr": 3e-3, "depth": 7, "opt": 3, "drop": 0.25},
        {"lr": 1.0, "depth": 12, "opt": "sgd", "drop": 0.5},
    ):
        row = columns.encode(params)
        assert ((row >= 0) & (row <= 1)).all()
        decoded = columns.decode(row)
        assert decoded["depth"] == params["depth"] and decoded["opt"] == params["opt"]
        assert decoded["lr"] == pytest.approx(params["lr"]) and decoded["drop"] == pytest.approx(
            params["drop"]
        )
        assert all(type(decoded[k]) is type(params[k]) or k == "drop" for k in ("depth", "opt"))


def _study(values: dict[float, float], running: list[float]) -> optuna.Study:
    dist: dict[str, BaseDistribution] = {"x": FloatDistribution(0.0, 1.0)}
    study = optuna.create_study(sampler=GPSampler(seed=0, startup_trials=3))
    study.add_trials(
        [create_trial(params={"x": x}, distributions=dist, value=v) for x, v in values.items()]
        + [create_trial(params={"x": x}, distributions=dist, state=TrialState.RUNNING) for x in running]
    )
    return study


def test_the_sampler_moves_towards_the_minimum_and_does_not_repeat_a_running_point() -> None:
    values = {x: (x - 0.62) ** 2 for x in (0.05, 0.3, 0.5, 0.8, 0.95)}
    first = _study(values, []).ask({"x": FloatDistribution(0.0, 1.0)}).params["x"]
    assert abs(first - 0.62) < 0.1
    # the same history with a run already executing at that point: the next run goes elsewhere
    second = _study(values, [first]).ask({"x": FloatDistribution(0.0, 1.0)}).params["x"]
    assert abs(second - first) > 1e-3


def test_the_sampler_draws_randomly_until_enough_trials_have_completed() -> None:
    values = {0.1: 1.0, 0.9: 0.0}  # fewer than the 3 startup trials
    asked = [_study(values, []).ask({"x": FloatDistribution(0.0, 1.0)}).params["x"] for _ in range(2)]
    assert all(0.0 <= a <= 1.0 for a in asked)
    assert asked[0] == asked[1]  # seeded: the same study asks the same point


def test_metrics_at_the_float_limit_and_repeated_points_still_give_a_point() -> None:
    huge = [
        Trial(i, {"x": 0.5 if i % 2 else 0.25}, "Finished", metric=-1.7e308 * (i % 2)) for i in range(1, 30)
    ]
    repeated = [
        Trial(i, {"opt": "ab"[i % 2], "n": 1 + (i // 2) % 2}, "Finished", metric=float(i % 3))
        for i in range(1, 60)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no division by zero on the way
        point = suggest(
            "bayes", {"x": {"min": 0.0, "max": 1.0}}, huge, seed=1, run_number=30, goal="minimize"
        )
        assert point is not None and 0.0 <= point["x"] <= 1.0
        point = suggest(
            "bayes",
            {"opt": {"values": ["a", "b"]}, "n": {"values": [1, 2]}},
            repeated,
            seed=1,
            run_number=60,
            goal="minimize",
        )
        assert point is not None and point["opt"] in ("a", "b") and point["n"] in (1, 2)
