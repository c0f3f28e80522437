"""W&B's hyperband: bands and stop decisions."""

from __future__ import annotations

from typing import Any

import pytest

from kubesweep.search import SearchSpaceError, Trial, hyperband_bands, hyperband_to_stop, hyperband_validate


def test_bands_from_max_iter_and_s() -> None:
    assert hyperband_bands({"type": "hyperband", "maxIter": 81, "eta": 3, "s": 3}) == [3, 9, 27]
    assert hyperband_bands({"type": "hyperband", "maxIter": 27, "eta": 3, "s": 5}) == [1, 3, 9]


def test_bands_from_min_iter_grow_by_eta() -> None:
    assert hyperband_bands({"type": "hyperband", "minIter": 3, "eta": 3})[:4] == [3, 9, 27, 81]
    assert hyperband_bands({"type": "hyperband", "minIter": 2, "eta": 2, "s": 3}) == [2, 4, 8]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"type": "hyperband"}, "spec.earlyTerminate"),
        ({"type": "hyperband", "maxIter": 81}, "spec.earlyTerminate.s"),
        ({"type": "hyperband", "minIter": 3, "maxIter": 81, "s": 2}, "spec.earlyTerminate"),
        ({"type": "hyperband", "minIter": 3, "eta": 1}, "spec.earlyTerminate.eta"),
        ({"type": "median", "minIter": 3}, "spec.earlyTerminate.type"),
        ({"type": "hyperband", "maxIter": 2, "s": 2, "eta": 3}, "spec.earlyTerminate.maxIter"),
    ],
)
def test_invalid_configs_name_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        hyperband_validate(config)
    assert info.value.field == field


def curve(number: int, values: list[float], state: str = "Finished") -> Trial:
    return Trial(number, {}, state, steps=tuple((i + 1, v) for i, v in enumerate(values)))  # type: ignore[arg-type]


CONFIG = {"type": "hyperband", "minIter": 3, "eta": 3}


def test_a_running_run_outside_the_best_third_at_a_band_is_stopped() -> None:
    trials = [
        curve(1, [5, 4, 1.0]),
        curve(2, [5, 4, 2.0]),
        curve(3, [5, 4, 3.0], "Running"),
        curve(4, [5, 4, 0.5], "Running"),
    ]
    # Band 3: values 1, 2, 3, 0.5 -> keep the best 4 // 3 = 1: threshold 0.5.
    assert hyperband_to_stop(CONFIG, "minimize", trials) == [3]


def test_maximize_flips_the_threshold() -> None:
    trials = [curve(1, [0, 0, 1.0]), curve(2, [0, 0, 2.0]), curve(3, [0, 0, 3.0], "Running")]
    assert hyperband_to_stop(CONFIG, "maximize", trials) == []
    assert hyperband_to_stop(CONFIG, "minimize", trials) == [3]


def test_runs_that_have_not_reached_a_band_are_left_alone() -> None:
    trials = [curve(1, [1, 1, 1.0]), curve(2, [1, 1, 1.0]), curve(3, [9, 9], "Running")]
    assert hyperband_to_stop(CONFIG, "minimize", trials) == []


def test_finished_runs_are_never_stopped_and_one_run_alone_is_not_judged() -> None:
    assert hyperband_to_stop(CONFIG, "minimize", [curve(1, [9, 9, 9.0], "Running")]) == []
    assert hyperband_to_stop(CONFIG, "minimize", [curve(1, [1, 1, 1.0]), curve(2, [9, 9, 9.0])]) == []


def test_strict_judges_every_band_reached_not_only_the_last() -> None:
    good_late = curve(3, [9, 9, 9.0, 1, 1, 1, 1, 1, 1.0], "Running")
    others = [
        curve(1, [1, 1, 1.0, 1, 1, 1, 1, 1, 5.0]),
        curve(2, [1, 1, 1.0, 1, 1, 1, 1, 1, 6.0]),
    ]
    config = {"type": "hyperband", "minIter": 3, "eta": 3, "s": 2}
    assert hyperband_to_stop(config, "minimize", [*others, good_late]) == []
    assert hyperband_to_stop({**config, "strict": True}, "minimize", [*others, good_late]) == [3]
