"""asha and median early stopping: rungs, cutoffs and decisions, case by case."""

from __future__ import annotations

from typing import Any

import pytest

from kubesweep.search import (
    SearchSpaceError,
    Trial,
    hyperband_band_values,
    hyperband_bands,
    hyperband_to_stop,
    hyperband_validate,
)
from kubesweep.search.stopping import quantile

ASHA: dict[str, Any] = {"type": "asha", "minIter": 1, "eta": 3, "strict": True}
MEDIAN: dict[str, Any] = {"type": "median", "minIter": 2, "eta": 3, "strict": True}


def run(number: int, values: list[float], state: str = "Running") -> Trial:
    return Trial(number=number, parameters={}, state=state, steps=[(i, v) for i, v in enumerate(values)])  # type: ignore[arg-type]


def ended(number: int, band_values: list[float]) -> Trial:
    return Trial(number=number, parameters={}, state="Finished", band_values=band_values)


def test_asha_rungs_grow_by_eta_below_max_iter() -> None:
    assert hyperband_bands({"type": "asha", "minIter": 1, "eta": 3, "maxIter": 30}) == [1, 3, 9, 27]
    assert hyperband_bands({"type": "asha", "minIter": 2, "eta": 2, "maxIter": 16}) == [2, 4, 8]
    # 1, 1.5 (no new rung: int 1), 2.25, 3.375, 5.06
    assert hyperband_bands({"type": "asha", "minIter": 1, "eta": 1.5})[:4] == [1, 2, 3, 5]
    assert len(hyperband_bands({"type": "asha", "minIter": 1, "eta": 2})) == 100


def test_median_judges_every_min_iter_values() -> None:
    assert hyperband_bands(MEDIAN)[:4] == [2, 4, 6, 8]


def test_quantile_is_numpys_linear_percentile() -> None:
    assert quantile([1.0], 1 / 3) == 1.0
    assert quantile([1.0, 4.0], 1 / 3) == 2.0
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"type": "asha"}, "spec.earlyTerminate.minIter"),
        ({"type": "asha", "minIter": 0}, "spec.earlyTerminate.minIter"),
        ({"type": "asha", "minIter": 3, "maxIter": 3}, "spec.earlyTerminate.maxIter"),
        ({"type": "asha", "minIter": 3, "eta": 1}, "spec.earlyTerminate.eta"),
        ({"type": "asha", "minIter": 3, "s": 2}, "spec.earlyTerminate.s"),
        ({"type": "median", "minIter": 3, "maxIter": 9}, "spec.earlyTerminate.maxIter"),
        ({"type": "median", "minIter": 3, "minRuns": 0}, "spec.earlyTerminate.minRuns"),
        ({"type": "asha", "minIter": 3, "minRuns": 2}, "spec.earlyTerminate.minRuns"),
    ],
)
def test_invalid_configs_name_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        hyperband_validate(config)
    assert info.value.field == field


def test_valid_configs_with_the_schemas_defaults() -> None:
    hyperband_validate(ASHA)
    hyperband_validate({**ASHA, "maxIter": 27})
    hyperband_validate({**MEDIAN, "minRuns": 5})


def test_asha_the_first_run_at_a_rung_continues() -> None:
    assert hyperband_to_stop(ASHA, "minimize", [run(1, [5.0])]) == []


def test_asha_keeps_the_top_third_at_a_rung() -> None:
    # Rung 1 (value 1): 1.0, 2.0, 3.0 reached it; the 1/3 quantile is 1.667: only run 1 continues.
    trials = [run(1, [1.0]), run(2, [2.0]), run(3, [3.0])]
    assert hyperband_to_stop(ASHA, "minimize", trials) == [2, 3]
    assert hyperband_to_stop(ASHA, "maximize", trials) == [1, 2]


def test_asha_judges_a_run_at_its_last_rung_against_ended_runs_too() -> None:
    # Run 3 reached rung 3 (3 values) with 0.5; ended runs reached rung 3 with 0.1 and 0.2 (their
    # band values: rungs 1 and 3). Rung 3's quantile of [0.1, 0.2, 0.5] is 0.167: run 3 stops.
    trials = [ended(1, [1.0, 0.1]), ended(2, [1.0, 0.2]), run(3, [9.0, 9.0, 0.5])]
    assert hyperband_to_stop(ASHA, "minimize", trials) == [3]
    # Its value at the rung counts, not its best: 0.05 at rung 3 keeps it going.
    assert hyperband_to_stop(ASHA, "minimize", [*trials[:2], run(3, [9.0, 9.0, 0.05])]) == []


def test_asha_a_run_between_rungs_is_judged_at_the_last_it_reached() -> None:
    # Run 2 has 2 values: its last rung is 1, where it was the worse of two.
    assert hyperband_to_stop(ASHA, "minimize", [run(1, [1.0]), run(2, [2.0, 0.0])]) == [2]


def test_asha_ended_runs_keep_their_rung_values() -> None:
    steps = [(i, float(10 - i)) for i in range(10)]
    assert hyperband_band_values(ASHA, steps) == [10.0, 8.0, 2.0]  # rungs 1, 3, 9


def test_median_stops_a_run_whose_best_is_worse_than_the_median() -> None:
    others = [ended(n, [v, v]) for n, v in ((1, 1.0), (2, 2.0), (3, 3.0))]  # at bands 2 and 4
    assert hyperband_to_stop(MEDIAN, "minimize", [*others, run(4, [9.0, 2.5])]) == [4]
    # Its best so far counts: 1.5 at its first value is better than the median 2.0.
    assert hyperband_to_stop(MEDIAN, "minimize", [*others, run(4, [1.5, 2.5])]) == []
    # Maximizing, the same values: best 9.0 is above the median.
    assert hyperband_to_stop(MEDIAN, "maximize", [*others, run(4, [9.0, 2.5])]) == []


def test_median_waits_for_min_runs_and_min_iter() -> None:
    two = [ended(1, [1.0]), ended(2, [1.0])]
    assert hyperband_to_stop(MEDIAN, "minimize", [*two, run(3, [9.0, 9.0])]) == []  # 2 < minRuns 3
    assert hyperband_to_stop({**MEDIAN, "minRuns": 2}, "minimize", [*two, run(3, [9.0, 9.0])]) == [3]
    three = [*two, ended(3, [1.0])]
    assert hyperband_to_stop(MEDIAN, "minimize", [*three, run(4, [9.0])]) == []  # before minIter


def test_median_compares_at_the_runs_own_step() -> None:
    """At band 4, only runs that reached 4 values count (two ended early at band 2)."""
    trials = [
        ended(1, [1.0]),
        ended(2, [1.0]),
        ended(3, [5.0, 5.0]),
        ended(4, [5.0, 5.0]),
        ended(5, [5.0, 5.0]),
    ]
    assert hyperband_to_stop(MEDIAN, "minimize", [*trials, run(6, [9.0, 4.0, 9.0, 4.5])]) == []
    assert hyperband_to_stop(MEDIAN, "minimize", [*trials, run(6, [9.0, 6.0, 9.0, 6.0])]) == [6]


def test_only_running_runs_are_stopped() -> None:
    trials = [run(1, [1.0]), run(2, [2.0], state="Finished"), run(3, [3.0], state="Pending")]
    assert hyperband_to_stop(ASHA, "minimize", trials) == []
