"""A Gaussian process over the unit cube and the expected improvement it predicts: the model
behind bayes search (it found better points than Optuna's TPE and W&B's own GP at equal
budgets, bench/bayes_vs_wandb.py). numpy and scipy only; Optuna's own GP sampler needs torch.

Matern 5/2 kernel with one lengthscale shared by every input or one per input column,
hyperparameters fitted by maximizing the marginal likelihood with priors (log-normal
lengthscales scaled with the dimension, so many inputs do not overfit a few runs; a gamma prior
on the noise), observations standardized by the caller; minimization throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import linalg, optimize, special

Array = npt.NDArray[np.float64]

SQRT5 = math.sqrt(5.0)
MIN_NOISE = 1e-6  # of the standardized variance: deterministic functions are near-interpolated
MAX_NOISE = 1.0
FIT_ITERATIONS = 60  # L-BFGS-B steps on the hyperparameters: enough to converge, bounded in time


@dataclass(frozen=True)
class Model:
    x: Array  # (n, d) inputs in [0, 1]
    lengthscales: Array  # (d,)
    signal: float  # kernel variance
    noise: float
    chol: Array  # lower Cholesky factor of K + noise I
    alpha: Array  # (K + noise I)^-1 y

    def predict(self, points: Array) -> tuple[Array, Array]:
        """Posterior mean and standard deviation at each row of `points`."""
        cross = _matern(_scaled_distance(points, self.x, self.lengthscales), self.signal)
        mean = cross @ self.alpha
        v = linalg.solve_triangular(self.chol, cross.T, lower=True, check_finite=False)
        variance = np.maximum(self.signal - np.einsum("ij,ij->j", v, v), 1e-12)
        return mean, np.sqrt(variance)

    def with_points(self, x: Array, y: Array) -> Model:
        """The same hyperparameters conditioned on (x, y): how pending runs enter as fantasies."""
        return _condition(x, y, self.lengthscales, self.signal, self.noise)


def _scaled_distance(a: Array, b: Array, lengthscales: Array) -> Array:
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: one matrix product instead of an (m, n, d) array
    a, b = a / lengthscales, b / lengthscales
    squared = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    distances: Array = np.sqrt(np.maximum(squared, 0.0))
    return distances


def _matern(r: Array, signal: float) -> Array:
    s = SQRT5 * r
    return signal * (1.0 + s + s * s / 3.0) * np.exp(-s)


def _condition(x: Array, y: Array, lengthscales: Array, signal: float, noise: float) -> Model:
    k = _matern(_scaled_distance(x, x, lengthscales), signal)
    for jitter in (0.0, 1e-8, 1e-6, 1e-4, 1e-2):
        # Repeated points (a small categorical space) can leave K + noise I numerically singular.
        try:
            chol = linalg.cholesky(
                k + (noise + jitter * signal) * np.eye(len(x)), lower=True, check_finite=False
            )
            break
        except linalg.LinAlgError:
            continue
    else:
        raise linalg.LinAlgError("the GP's covariance is singular even with jitter")
    alpha = linalg.cho_solve((chol, True), y, check_finite=False)
    return Model(x, lengthscales, signal, noise, chol, alpha)


def _prior_location(dims: int) -> float:
    # Log-normal lengthscale prior centred higher as dimensions grow (Hvarfner et al., 2024,
    # "Vanilla Bayesian optimization performs great in high dimensions").
    return math.sqrt(2.0) + 0.5 * math.log(dims)


PRIOR_SCALE = math.sqrt(3.0)
NOISE_SHAPE = 1.1
NOISE_RATE = 30.0


def _negative_log_posterior(theta: Array, y: Array, sq_diffs: Array, dims: int) -> tuple[float, Array]:
    """-log p(y | theta) - log p(theta), and its gradient; theta = (log lengthscales, log
    signal, log noise), one lengthscale per group of input columns whose squared differences
    `sq_diffs` sums (one group per column, or all columns in one)."""
    d = len(sq_diffs)
    lengthscales = np.exp(theta[:d])
    signal, noise = math.exp(theta[d]), math.exp(theta[d + 1])
    scaled = np.einsum("kij,k->ij", sq_diffs, 1.0 / lengthscales**2)
    r = np.sqrt(np.maximum(scaled, 0.0))
    s = SQRT5 * r
    decay = np.exp(-s)
    kernel = signal * (1.0 + s + s * s / 3.0) * decay
    k = kernel + noise * np.eye(len(y))
    try:
        chol = linalg.cholesky(k, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return 1e10, np.zeros_like(theta)
    alpha = linalg.cho_solve((chol, True), y, check_finite=False)
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(chol)).sum()) + 0.5 * len(y) * math.log(2 * math.pi)
    inverse = linalg.cho_solve((chol, True), np.eye(len(y)), check_finite=False)
    w = np.outer(alpha, alpha) - inverse  # d nll / d K = -w / 2
    # dK/d log l_k = signal * 5/3 (1 + s) exp(-s) * (x_k - x'_k)^2 / l_k^2
    common = signal * (5.0 / 3.0) * (1.0 + s) * decay * w
    grad = np.empty_like(theta)
    grad[:d] = -0.5 * np.einsum("kij,ij->k", sq_diffs, common) / lengthscales**2
    grad[d] = -0.5 * float(np.sum(w * kernel))
    grad[d + 1] = -0.5 * noise * float(np.trace(w))
    # priors: log-normal on each lengthscale, a weak log-normal on the signal variance around 1
    mu = _prior_location(dims)
    z = (theta[:d] - mu) / PRIOR_SCALE
    nll += 0.5 * float(z @ z)
    grad[:d] += z / PRIOR_SCALE
    nll += 0.5 * theta[d] ** 2
    grad[d] += theta[d]
    # a gamma(1.1, 30) prior on the noise (mean ~0.04 of the variance): without it a few sharp
    # peaks among flat values are explained away as noise and the search stops modelling them
    nll += -(NOISE_SHAPE - 1.0) * theta[d + 1] + NOISE_RATE * noise
    grad[d + 1] += -(NOISE_SHAPE - 1.0) + NOISE_RATE * noise
    return nll, grad


def fit(x: Array, y: Array, *, shared: bool = False) -> Model:
    """The GP with maximum a posteriori hyperparameters for observations y (standardized) at
    inputs x in [0, 1]^d; `shared`: one lengthscale for every input."""
    dims = x.shape[1]
    sq_diffs = np.stack([(x[:, None, k] - x[None, :, k]) ** 2 for k in range(dims)])
    if shared:
        sq_diffs = sq_diffs.sum(axis=0, keepdims=True)
    d = len(sq_diffs)
    start = np.concatenate([np.full(d, _prior_location(dims)), [0.0, math.log(1e-3)]])
    bounds = [(math.log(1e-3), math.log(1e3))] * d + [
        (math.log(1e-2), math.log(1e2)),
        (math.log(MIN_NOISE), math.log(MAX_NOISE)),
    ]
    result = optimize.minimize(
        _negative_log_posterior,
        start,
        args=(y, sq_diffs, dims),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": FIT_ITERATIONS},
    )
    theta = result.x
    lengthscales = np.broadcast_to(np.exp(theta[:d]), (dims,)).copy()
    return _condition(x, y, lengthscales, math.exp(theta[d]), math.exp(theta[d + 1]))


def log_expected_improvement(mean: Array, std: Array, best: float) -> Array:
    """log E[max(best - f, 0)], stable far below the incumbent where EI itself underflows (so
    the search still ranks candidates there)."""
    z = (best - mean) / std
    # Above z = -1 the closed form EI / std = z Phi(z) + phi(z) is exact; below it cancels, so
    # there it is phi(z) (1 + z sqrt(pi/2) erfcx(-z / sqrt 2)), whose bracket tends to 1/z^2.
    upper = np.maximum(z, -1.0)
    exact = np.log(upper * special.ndtr(upper) + np.exp(-0.5 * upper * upper) / math.sqrt(2 * math.pi))
    lower = np.minimum(z, -1.0)
    log_phi = -0.5 * lower * lower - 0.5 * math.log(2 * math.pi)
    bracket = 1.0 + lower * math.sqrt(math.pi / 2) * special.erfcx(-lower / math.sqrt(2))
    tail = np.where(lower < -25, -2.0 * np.log(-lower), np.log(np.maximum(bracket, 1e-300)))
    return np.log(std) + np.where(z >= -1.0, exact, log_phi + tail)


@dataclass(frozen=True)
class Encoding:
    """Which input columns are continuous (searched locally) and which one-hot groups belong to
    one categorical parameter (exactly one column set)."""

    dims: int
    one_hot_groups: tuple[tuple[int, ...], ...] = ()

    def random(self, rng: np.random.Generator, count: int) -> Array:
        points = rng.random((count, self.dims))
        for group in self.one_hot_groups:
            points[:, group] = 0.0
            chosen = rng.integers(0, len(group), size=count)
            points[np.arange(count), np.asarray(group)[chosen]] = 1.0
        return points

    def continuous(self) -> Array:
        mask = np.ones(self.dims, dtype=bool)
        for group in self.one_hot_groups:
            mask[list(group)] = False
        return mask


RANDOM_CANDIDATES = 2048
LOCAL_STARTS = 8
LOCAL_CANDIDATES = 128
LOCAL_SCALES = (0.1, 0.03, 0.01, 0.003)


def maximize_ei(model: Model, best: float, encoding: Encoding, rng: np.random.Generator) -> Array:
    """The point with the highest expected improvement found by a random sweep of the cube and
    the incumbents' neighbourhoods, refined by shrinking local searches around the leaders (all
    batched: a few thousand predictions instead of one optimizer call per point)."""
    observed = model.x[np.argsort(model.predict(model.x)[0])[:LOCAL_STARTS]]
    candidates = np.vstack([encoding.random(rng, RANDOM_CANDIDATES), observed])
    mask = encoding.continuous()
    scores = log_expected_improvement(*model.predict(candidates), best)
    for scale in LOCAL_SCALES:
        leaders = candidates[np.argsort(-scores)[:LOCAL_STARTS]]
        moved = np.repeat(leaders, LOCAL_CANDIDATES, axis=0)
        moved[:, mask] += rng.normal(0.0, scale, size=(len(moved), int(mask.sum())))
        moved = np.clip(moved, 0.0, 1.0)
        candidates = np.vstack([leaders, moved])
        scores = log_expected_improvement(*model.predict(candidates), best)
    best_point: Array = candidates[int(np.argmax(scores))]
    return best_point
