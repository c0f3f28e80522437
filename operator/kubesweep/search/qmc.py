"""Quasi-random search: run n gets the n-th point of a scrambled Sobol sequence (scipy), so the
runs cover the space more evenly than random ones. Not adaptive (it reads no results), and a
pure function of the seed and the run number: a restart suggests the same point."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from scipy.stats import qmc

from .space import Param, active, nest
from .unit import point

MAX_SEED = 2**31


def suggest(params: Sequence[Param], *, seed: int | None, run_number: int) -> dict[str, Any]:
    # One dimension per parameter, inactive ones included (then left out): the sequence does
    # not depend on which branch a run falls in.
    searched = [p for p in params if p.kind != "constant"]
    sobol = qmc.Sobol(d=max(1, len(searched)), scramble=True, seed=(seed or 0) % MAX_SEED)
    if run_number > 1:  # scipy refuses to skip 0 points
        sobol.fast_forward(run_number - 1)
    with warnings.catch_warnings():
        # Sobol warns when a sample's size is not a power of 2: this takes them one at a time.
        warnings.simplefilter("ignore", UserWarning)
        row = sobol.random(1)[0]
    coordinates = {p.key: float(row[i]) for i, p in enumerate(searched)}
    values = {p.key: p["value"] for p in params if p.kind == "constant"}
    values.update(point(searched, coordinates))
    return nest(active(list(params), {p.key: values[p.key] for p in params}))
