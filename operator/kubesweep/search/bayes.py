"""Bayesian search through Optuna's ask-and-tell with the Gaussian-process sampler of
gp_sampler.py (W&B's bayes is a GP too). The study is rebuilt from the sweep's runs on every
suggestion (nothing lives only in memory), seeded per run number (a restart suggests the same
point), and given a bounded history so the time per suggestion does not grow without bound.

Every distribution is searched in its own space: ranges as Optuna ranges (logarithmic where W&B's
is), categoricals by index, and the normal, log-normal and beta families through their quantile
(a uniform u in (0, 1) mapped by the inverse CDF), so the model sees them with their true shape.
"""

from __future__ import annotations

import logging
import math
import statistics
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from . import BAYES_KEEP_BEST, BAYES_KEEP_RECENT
from .gp_sampler import GPSampler
from .sampling import quantize
from .space import Param, active, canonical, flatten, is_active, nest, ordered

optuna.logging.set_verbosity(logging.WARNING)

KEEP_BEST = BAYES_KEEP_BEST
KEEP_RECENT = BAYES_KEEP_RECENT
# Random points before the model takes over (W&B's bayes starts randomly too); chosen by
# measurement (bench/bayes_vs_wandb.py) on other seeds than it reports.
STARTUP_TRIALS = 5
EPS = 1e-6
IMPUTE = ("Failed", "Crashed", "Killed")
PENDING = ("Pending", "Running")


def _distribution(param: Param) -> BaseDistribution:
    c = param.config
    match param.kind:
        case "constant":
            return CategoricalDistribution([0])
        case "categorical":
            return CategoricalDistribution(list(range(len(c["values"]))))
        case "int_uniform":
            return IntDistribution(c["min"], c["max"])
        case "uniform":
            return FloatDistribution(c["min"], c["max"])
        case "q_uniform":
            return FloatDistribution(c["min"], c["max"])
        case "log_uniform_values" | "q_log_uniform_values" | "inv_log_uniform_values":
            return FloatDistribution(c["min"], c["max"], log=True)
    return FloatDistribution(EPS, 1 - EPS)  # quantile of normal, log-normal, beta


def _beta_ppf(u: float, a: float, b: float) -> float:
    """The beta distribution's inverse CDF by bisection on its CDF (regularized incomplete beta
    by Simpson integration: accurate enough for a search space)."""

    def pdf(x: float) -> float:
        return math.pow(x, a - 1) * math.pow(1 - x, b - 1)

    grid = 400
    xs = [(i + 0.5) / grid for i in range(grid)]
    weights = [pdf(x) for x in xs]
    total = sum(weights)
    acc = 0.0
    for x, w in zip(xs, weights, strict=True):
        acc += w / total
        if acc >= u:
            return x
    return xs[-1]


def to_value(param: Param, internal: Any) -> Any:
    c = param.config
    match param.kind:
        case "constant":
            return c["value"]
        case "categorical":
            return c["values"][int(internal)]
        case "int_uniform":
            return int(internal)
        case "uniform" | "log_uniform_values" | "inv_log_uniform_values":
            return float(internal)
        case "q_uniform" | "q_log_uniform_values":
            return quantize(float(internal), c["q"])
    normal = statistics.NormalDist(c.get("mu", 0.0), c.get("sigma", 1.0))
    match param.kind:
        case "normal":
            return normal.inv_cdf(internal)
        case "q_normal":
            return quantize(normal.inv_cdf(internal), c["q"])
        case "log_normal":
            return math.exp(normal.inv_cdf(internal))
        case "q_log_normal":
            return quantize(math.exp(normal.inv_cdf(internal)), c["q"])
        case "beta":
            return _beta_ppf(internal, c["a"], c["b"])
        case "q_beta":
            return quantize(_beta_ppf(internal, c["a"], c["b"]), c["q"])
    raise ValueError(param.kind)


def to_internal(param: Param, value: Any) -> Any | None:
    """A run's value in the sampler's space; None when it is outside the current space."""
    c = param.config
    try:
        match param.kind:
            case "constant":
                return 0
            case "categorical":
                keys = [canonical(v) for v in c["values"]]
                return keys.index(canonical(value))
            case "int_uniform":
                return int(value) if c["min"] <= value <= c["max"] else None
            case (
                "uniform"
                | "q_uniform"
                | "log_uniform_values"
                | "q_log_uniform_values"
                | "inv_log_uniform_values"
            ):
                return float(value) if c["min"] <= value <= c["max"] else None
        normal = statistics.NormalDist(c.get("mu", 0.0), c.get("sigma", 1.0))
        match param.kind:
            case "normal" | "q_normal":
                u = normal.cdf(float(value))
            case "log_normal" | "q_log_normal":
                u = normal.cdf(math.log(float(value)))
            case _:  # beta: its CDF by the same numeric integration
                u = _beta_cdf(float(value), c["a"], c["b"])
        return min(max(u, EPS), 1 - EPS)
    except (ValueError, TypeError):
        return None


def _beta_cdf(x: float, a: float, b: float) -> float:
    grid = 400
    xs = [(i + 0.5) / grid for i in range(grid)]
    weights = [math.pow(t, a - 1) * math.pow(1 - t, b - 1) for t in xs]
    total = sum(weights)
    return sum(w for t, w in zip(xs, weights, strict=True) if t <= x) / total


def _bounded(history: Sequence[Any], goal: str) -> list[Any]:
    done = [t for t in history if t.state == "Finished" and t.metric is not None]
    if len(done) <= KEEP_BEST + KEEP_RECENT:
        return list(history)
    best = sorted(done, key=lambda t: t.metric, reverse=goal == "maximize")[:KEEP_BEST]
    recent = sorted(history, key=lambda t: t.number)[-KEEP_RECENT:]
    chosen = {t.number: t for t in [*best, *recent]}
    return sorted(chosen.values(), key=lambda t: t.number)


def _worst(history: Sequence[Any], goal: str) -> float | None:
    """W&B's imputed value: the worst value any ended run reported, final or intermediate."""
    seen = [
        float(v)
        for t in history
        if t.state not in PENDING
        for v in [t.metric, *(value for _, value in t.steps)]
        if v is not None and math.isfinite(v)
    ]
    if not seen:
        return None
    return min(seen) if goal == "maximize" else max(seen)


def _internal_parameters(params: Sequence[Param], parameters: Mapping[str, Any]) -> dict[str, Any] | None:
    """A run's parameters in Optuna's internal representation, or None for a run from an earlier
    search space: every parameter active on the run's branch must be there (all of them, without
    conditions), each a value this space can hold."""
    by_path = {p.key: p for p in params}
    flat = active(list(params), flatten(parameters, list(params)))
    internal = {path: to_internal(by_path[path], v) for path, v in flat.items()}
    expected = active(list(params), {**{p.key: None for p in params}, **flat})
    if set(internal) != set(expected) or any(v is None for v in internal.values()):
        return None
    return internal


def told(params: Sequence[Param], history: Sequence[Any], goal: str) -> list[FrozenTrial]:
    """The history as Optuna trials: finished runs with their metric; Failed, Crashed and Killed
    runs (and finished ones without a metric) as the worst value seen, as W&B imputes them, or
    left out while nothing was seen; Pending and Running runs as running trials, which the
    sampler treats as fantasies so parallel runs spread out. Runs from an earlier search space
    are left out."""
    distributions = {p.key: _distribution(p) for p in params}
    worst = _worst(history, goal)
    out: list[FrozenTrial] = []
    for trial in _bounded(history, goal):
        internal = _internal_parameters(params, trial.parameters)
        if internal is None:
            continue
        value: float | None
        if trial.state == "Finished" and trial.metric is not None and math.isfinite(trial.metric):
            state, value = TrialState.COMPLETE, float(trial.metric)
        elif trial.state in IMPUTE or trial.state == "Finished":
            if worst is None:
                continue
            state, value = TrialState.COMPLETE, worst
        elif trial.state in PENDING:
            state, value = TrialState.RUNNING, None
        else:
            continue
        out.append(
            create_trial(
                params=internal,
                distributions={k: distributions[k] for k in internal},
                value=value,
                state=state,
            )
        )
    return out


def _suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    """Define-by-run, with the same distribution study.ask(distributions) would use."""
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high)
    assert isinstance(distribution, FloatDistribution)
    return trial.suggest_float(name, distribution.low, distribution.high, log=distribution.log)


def ask(study: optuna.Study, params: Sequence[Param]) -> dict[str, Any]:
    """The next point, define-by-run: a conditional parameter is asked only once the parameters
    its conditions name have values that make it active, so an inactive one is never sampled.
    Without conditions it asks what study.ask(distributions) would, in the same order."""
    trial = study.ask()
    chosen: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for param in ordered(list(params)):
        if not is_active(param, values):
            continue
        chosen[param.key] = _suggest(trial, param.key, _distribution(param))
        # Values go out as plain JSON types (to_value converts), never numpy's.
        values[param.key] = to_value(param, chosen[param.key])
    order = [p.key for p in params]
    return nest({k: values[k] for k in order if k in values})


def sampler_for(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        # Optuna's defaults but for: multivariate (models the parameters jointly), group (splits
        # the space by which conditional parameters a trial has) and constant_liar (Pending and
        # Running runs push parallel suggestions apart, as the GP's fantasies do).
        with warnings.catch_warnings():
            # group and constant_liar are marked experimental in Optuna 4 (stable since 2.8/2.8).
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed,
                n_startup_trials=STARTUP_TRIALS,
                multivariate=True,
                group=True,
                constant_liar=True,
            )
    return GPSampler(seed=seed, startup_trials=STARTUP_TRIALS)


def suggest(
    params: Sequence[Param],
    history: Sequence[Any],
    *,
    seed: int | None,
    run_number: int,
    goal: str,
    sampler: str = "gp",
) -> dict[str, Any]:
    """`sampler` gp (method bayes) or tpe. With conditional parameters the GP models the
    parameters that every run has (Optuna's intersection search space) and draws the
    conditional ones at random within their branch; TPE (group=True) models each branch."""
    derived = (0 if seed is None else seed) * 1_000_003 + run_number
    study = optuna.create_study(
        direction="maximize" if goal == "maximize" else "minimize",
        sampler=sampler_for(sampler, derived % (2**31)),
    )
    study.add_trials(told(params, history, goal))
    return ask(study, params)


def told_multi(params: Sequence[Param], history: Sequence[Any], objectives: int) -> list[FrozenTrial]:
    """The history of a sweep of several objectives as Optuna trials: finished runs that reported
    every objective with their values, Pending and Running runs as running trials (TPE's constant
    liar spreads parallel runs apart); the rest left out (nothing to impute a trade-off with)."""
    distributions = {p.key: _distribution(p) for p in params}
    out: list[FrozenTrial] = []
    for trial in history:
        internal = _internal_parameters(params, trial.parameters)
        if internal is None:
            continue
        values = trial.values
        if trial.state == "Finished" and values is not None and len(values) == objectives:
            state, told_values = TrialState.COMPLETE, [float(v) for v in values]
        elif trial.state in PENDING:
            state, told_values = TrialState.RUNNING, None
        else:
            continue
        out.append(
            create_trial(
                params=internal,
                distributions={k: distributions[k] for k in internal},
                values=told_values,
                state=state,
            )
        )
    return out


def suggest_multi(
    params: Sequence[Param],
    history: Sequence[Any],
    *,
    seed: int | None,
    run_number: int,
    goals: Sequence[str],
) -> dict[str, Any]:
    """Several objectives: Optuna's multi-objective TPE (MOTPE) over the whole history (it has no
    single best to keep the best of), with the options of method tpe."""
    derived = (0 if seed is None else seed) * 1_000_003 + run_number
    study = optuna.create_study(
        directions=["maximize" if g == "maximize" else "minimize" for g in goals],
        sampler=sampler_for("tpe", derived % (2**31)),
    )
    study.add_trials(told_multi(params, history, len(goals)))
    return ask(study, params)
