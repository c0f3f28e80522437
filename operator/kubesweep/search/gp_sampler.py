"""An Optuna sampler over the GP of gp.py, so bayes search keeps Optuna's ask-and-tell flow and
its distributions: floats (log-scaled where asked) and ints map to [0, 1], categoricals to one
column each (one-hot). Runs still executing enter as fantasies at the model's own prediction,
which lowers the uncertainty around them so parallel runs spread out."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna import Study
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from threadpoolctl import ThreadpoolController

from . import gp

logger = logging.getLogger(__name__)


class _Columns:
    """The map between a trial's parameters and a row of the GP's inputs."""

    def __init__(self, space: dict[str, BaseDistribution]) -> None:
        self.names = sorted(space)
        self.space = space
        self.offsets: dict[str, int] = {}
        groups: list[tuple[int, ...]] = []
        width = 0
        for name in self.names:
            self.offsets[name] = width
            dist = space[name]
            if isinstance(dist, CategoricalDistribution):
                groups.append(tuple(range(width, width + len(dist.choices))))
                width += len(dist.choices)
            else:
                width += 1
        self.encoding = gp.Encoding(width, tuple(groups))

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        row = np.zeros(self.encoding.dims)
        for name in self.names:
            dist, value, at = self.space[name], params[name], self.offsets[name]
            if isinstance(dist, CategoricalDistribution):
                row[at + dist.choices.index(value)] = 1.0
            elif isinstance(dist, IntDistribution):
                row[at] = (value - dist.low + 0.5) / (dist.high - dist.low + 1)
            elif isinstance(dist, FloatDistribution):
                low, high, v = dist.low, dist.high, value
                if dist.log:
                    low, high, v = math.log(low), math.log(high), math.log(v)
                row[at] = (v - low) / (high - low)
        return row

    def decode(self, row: np.ndarray) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name in self.names:
            dist, at = self.space[name], self.offsets[name]
            if isinstance(dist, CategoricalDistribution):
                params[name] = dist.choices[int(np.argmax(row[at : at + len(dist.choices)]))]
            elif isinstance(dist, IntDistribution):
                span = dist.high - dist.low + 1
                params[name] = min(dist.low + math.floor(float(row[at]) * span), dist.high)
            elif isinstance(dist, FloatDistribution):
                low, high = dist.low, dist.high
                if dist.log:
                    value = math.exp(math.log(low) + float(row[at]) * (math.log(high) - math.log(low)))
                else:
                    value = low + float(row[at]) * (high - low)
                params[name] = min(max(value, low), high)
        return params


SHARED_BELOW = 8  # complete trials per input column before each column gets its own lengthscale
# The GP's matrices are small: BLAS threads only contend with each other and the event loop.
_BLAS = ThreadpoolController()
_BLAS_ONCE = threading.Lock()
_blas_limited = False


def _limit_blas() -> None:
    """BLAS to one thread, once for the process. (A limit entered and left around each
    suggestion, by decisions in several threads at once, restores the others' out of order.)"""
    global _blas_limited
    with _BLAS_ONCE:
        if not _blas_limited:
            _BLAS.limit(limits=1, user_api="blas")  # applied as it is made, kept unless exited
            _blas_limited = True


class GPSampler(BaseSampler):
    """Random for the first `startup_trials` completed trials, then the point of highest
    expected improvement under a GP fitted to every completed trial."""

    def __init__(self, *, seed: int, startup_trials: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._random = RandomSampler(seed=seed)
        self._startup = startup_trials
        self._space = IntersectionSearchSpace()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {n: d for n, d in self._space.calculate(study).items() if not d.single()}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        _limit_blas()
        try:
            return self._sample(study, trial, search_space)
        except np.linalg.LinAlgError as exc:
            # A model that cannot be fitted must not stop the sweep: this point is random,
            # as W&B's engine falls back to when its fit is bad.
            logger.warning("Bayes model could not be fitted (%s); suggesting a random point", exc)
            return {}

    def _sample(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        complete = _with_params(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), search_space)
        if len(complete) < self._startup:
            return {}
        columns = _Columns(search_space)
        x = np.array([columns.encode(t.params) for t in complete])
        values = np.array([t.value for t in complete], dtype=float)
        if study.direction == StudyDirection.MAXIMIZE:
            values = -values
        # Scaled by the largest magnitude first, as W&B does: metrics near the float limit would
        # otherwise overflow the mean and the variance.
        values = values / max(float(np.abs(values).max()), 1.0)
        spread = values.std()
        y = (values - values.mean()) / (spread if spread > 0 else 1.0)
        model = gp.fit(x, y, shared=len(complete) < SHARED_BELOW * columns.encoding.dims)
        running = [
            t
            for t in _with_params(
                study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)), search_space
            )
            if t.number != trial.number
        ]
        if running:
            pending = np.array([columns.encode(t.params) for t in running])
            fantasies = model.predict(pending)[0]
            model = model.with_points(np.vstack([x, pending]), np.concatenate([y, fantasies]))
        best = gp.maximize_ei(model, float(y.min()), columns.encoding, self._rng)
        return columns.decode(best)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)


def _with_params(trials: Sequence[FrozenTrial], space: dict[str, BaseDistribution]) -> list[FrozenTrial]:
    return [t for t in trials if all(name in t.params for name in space)]
