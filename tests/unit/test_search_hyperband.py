"""W&B's hyperband: bands and stop decisions."""

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


def test_bands_from_max_iter_and_s() -> None:
    assert hyperband_bands({"type": "hyperband", "maxIter": 81, "eta": 3, "s": 3}) == [3, 9, 27]
    assert hyperband_bands({"type": "hyperband", "maxIter": 27, "eta": 3, "s": 5}) == [1, 3, 9]


def test_bands_from_min_iter_grow_by_eta_and_ignore_s_as_wandb_does() -> None:
    assert hyperband_bands({"type": "hyperband", "minIter": 3, "eta": 3})[:4] == [3, 9, 27, 81]
    assert hyperband_bands({"type": "hyperband", "minIter": 2, "eta": 2, "s": 3})[:4] == [2, 4, 8, 16]
    assert len(hyperband_bands({"type": "hyperband", "minIter": 1, "eta": 2})) == 100
    # A fractional eta is allowed (W&B: a number above 1); bands are truncated to integers.
    assert hyperband_bands({"type": "hyperband", "minIter": 2, "eta": 1.5})[:4] == [2, 3, 4, 6]


def test_max_iter_wins_over_min_iter_as_in_wandb() -> None:
    assert hyperband_bands({"type": "hyperband", "minIter": 1, "maxIter": 81, "s": 3, "eta": 3}) == [3, 9, 27]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"type": "hyperband"}, "spec.earlyTerminate"),
        ({"type": "hyperband", "maxIter": 81}, "spec.earlyTerminate.s"),
        ({"type": "hyperband", "maxIter": 81, "s": 0}, "spec.earlyTerminate.s"),
        ({"type": "hyperband", "maxIter": 8.5, "s": 2}, "spec.earlyTerminate.maxIter"),
        ({"type": "hyperband", "minIter": 0}, "spec.earlyTerminate.minIter"),
        ({"type": "hyperband", "minIter": 3, "strict": "yes"}, "spec.earlyTerminate.strict"),
        ({"type": "hyperband", "minIter": 3, "min_iter": 3}, "spec.earlyTerminate.min_iter"),
        ({"type": "hyperband", "minIter": 3, "eta": 1}, "spec.earlyTerminate.eta"),
        ({"type": "bohb", "minIter": 3}, "spec.earlyTerminate.type"),
        ({"type": "hyperband", "maxIter": 2, "s": 2, "eta": 3}, "spec.earlyTerminate.maxIter"),
    ],
)
def test_invalid_configs_name_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        hyperband_validate(config)
    assert info.value.field == field


def curve(number: int, values: list[float], state: str = "Finished") -> Trial:
    return Trial(number, {}, state, steps=tuple((i + 1, v) for i, v in enumerate(values)))  # type: ignore[arg-type]


CONFIG = {"type": "hyperband", "minIter": 3, "eta": 3, "strict": True}


def test_the_threshold_is_the_value_at_index_n_over_eta_of_all_runs_at_the_band() -> None:
    trials = [
        curve(1, [5, 4, 1.0]),
        curve(2, [5, 4, 2.0], "Killed"),
        curve(3, [5, 4, 3.0], "Running"),
        curve(4, [5, 4, 0.5], "Running"),
        curve(5, [5, 4, 2.5], "Running"),
    ]
    # Band 3 sorted: 0.5, 1, 2, 2.5, 3 -> index int(5 / 3) = 1: threshold 1.0; worse runs stop.
    assert hyperband_to_stop(CONFIG, "minimize", trials) == [3, 5]
    # Three runs at the band: index 1, the second best, survives.
    assert hyperband_to_stop(CONFIG, "minimize", trials[:3]) == [3]


def test_maximize_flips_the_order() -> None:
    trials = [curve(1, [0, 0, 1.0]), curve(2, [0, 0, 2.0]), curve(3, [0, 0, 3.0], "Running")]
    assert hyperband_to_stop(CONFIG, "maximize", trials) == []
    assert hyperband_to_stop(CONFIG, "minimize", trials) == [3]
    trials = [curve(1, [0, 0, 3.0]), curve(2, [0, 0, 2.0]), curve(3, [0, 0, 1.0], "Running")]
    assert hyperband_to_stop(CONFIG, "maximize", trials) == [3]


def test_runs_that_have_not_reached_a_band_are_left_alone() -> None:
    trials = [curve(1, [1, 1, 1.0]), curve(2, [1, 1, 1.0]), curve(3, [9, 9], "Running")]
    assert hyperband_to_stop(CONFIG, "minimize", trials) == []


def test_only_running_runs_are_stopped_and_a_run_alone_is_its_own_threshold() -> None:
    assert hyperband_to_stop(CONFIG, "minimize", [curve(1, [9, 9, 9.0], "Running")]) == []
    assert hyperband_to_stop(CONFIG, "minimize", [curve(1, [1, 1, 1.0]), curve(2, [9, 9, 9.0])]) == []
    pending = [curve(1, [1, 1, 1.0]), curve(2, [1, 1, 1.0]), curve(3, [9, 9, 9.0], "Pending")]
    assert hyperband_to_stop(CONFIG, "minimize", pending) == []


def test_the_band_is_the_count_of_values_in_step_order_not_the_step_number() -> None:
    # Steps 10, 20, 30 are the run's 1st, 2nd and 3rd values; reported out of order.
    late = Trial(3, {}, "Running", steps=((30, 9.0), (10, 1.0), (20, 1.0)))
    others = [curve(1, [1, 1, 1.0]), curve(2, [1, 1, 1.0])]
    assert hyperband_to_stop(CONFIG, "minimize", [*others, late]) == [3]


def test_non_finite_values_are_not_counted() -> None:
    nan = Trial(3, {}, "Running", steps=((1, 9.0), (2, float("nan")), (3, 9.0)))
    others = [curve(1, [1, 1, 1.0]), curve(2, [1, 1, 1.0])]
    assert hyperband_to_stop(CONFIG, "minimize", [*others, nan]) == []  # only two values: no band yet


def test_only_the_last_band_reached_judges_and_non_strict_uses_the_best_value_so_far() -> None:
    # Bad at band 3, good by band 9: the last band reached (9) decides, strict or not.
    good_late = curve(3, [9, 9, 9.0, 1, 1, 1, 1, 1, 1.0], "Running")
    others = [
        curve(1, [1, 1, 1.0, 1, 1, 1, 1, 1, 5.0]),
        curve(2, [1, 1, 1.0, 1, 1, 1, 1, 1, 6.0]),
    ]
    assert hyperband_to_stop(CONFIG, "minimize", [*others, good_late]) == []
    # Good earlier, bad at its band: strict stops it, non-strict keeps it on its best value so far.
    fading = curve(3, [0.1, 0.1, 9.0], "Running")
    at_band = [curve(1, [1, 1, 1.0]), curve(2, [1, 1, 2.0])]
    assert hyperband_to_stop(CONFIG, "minimize", [*at_band, fading]) == [3]
    assert hyperband_to_stop({**CONFIG, "strict": False}, "minimize", [*at_band, fading]) == []


def test_strict_is_the_default_as_in_wandb_schema() -> None:
    fading = curve(3, [0.1, 0.1, 9.0], "Running")
    at_band = [curve(1, [1, 1, 1.0]), curve(2, [1, 1, 2.0])]
    config = {"type": "hyperband", "minIter": 3, "eta": 3}
    assert hyperband_to_stop(config, "minimize", [*at_band, fading]) == [3]


def test_max_iter_bands_judge_runs() -> None:
    config = {"type": "hyperband", "maxIter": 5, "eta": 2, "s": 2}  # W&B's docstring example: bands 1, 2
    trials = [
        curve(1, [10, 9], "Finished"),
        curve(2, [10, 10], "Running"),
        curve(3, [10, 8, 8], "Running"),
        curve(4, [10, 7, 7], "Running"),
        curve(5, [10, 6, 6], "Finished"),
    ]
    # Band 2 values 9, 10, 8, 7, 6 -> index int(5 / 2) = 2: threshold 8; only run 2 (10) is worse.
    assert hyperband_to_stop(config, "minimize", trials) == [2]


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_ended_runs_judge_through_their_band_values_as_through_their_whole_history(goal: str) -> None:
    # A recorded run keeps only its values at the bands; the decisions must not change.
    ended = [
        curve(n, [9 - n, 8 - n, 7 - n, 6 - n, 5 - n, 4 - n, 3 - n, 2 - n, 1 - n, 0.5]) for n in range(1, 6)
    ]
    running = [curve(10 + n, [9, 8, 7 + n, 6, 5, 4, 3, 2, 1.5 + n], "Running") for n in range(3)]
    config = {"type": "hyperband", "minIter": 3, "eta": 3}
    whole = hyperband_to_stop(config, goal, [*ended, *running])  # type: ignore[arg-type]
    banded = [Trial(t.number, {}, t.state, band_values=hyperband_band_values(config, t.steps)) for t in ended]
    assert banded[0].band_values == [6, 0]  # values 3 and 9 of run 1
    assert hyperband_to_stop(config, goal, [*banded, *running]) == whole  # type: ignore[arg-type]
    assert whole or goal == "maximize"  # minimizing, the ended runs' values stop these


def test_a_run_alone_is_judged_against_the_runs_that_ended_before_it() -> None:
    # Parallelism 1: no other run is executing, yet W&B stops a run worse than the earlier ones.
    config = {"type": "hyperband", "minIter": 2, "eta": 2}
    earlier = [Trial(n, {}, "Finished", band_values=[1.0, 0.5]) for n in (1, 2, 3)]
    assert hyperband_to_stop(config, "minimize", [*earlier, curve(4, [3, 2], "Running")]) == [4]
    assert hyperband_to_stop(config, "minimize", [curve(4, [3, 2], "Running")]) == []
