"""Several objectives: dominance, the front, its cap, and the hypervolume, case by case."""

from __future__ import annotations

import math

import pytest

from kubesweep.search import pareto

MIN2 = ["minimize", "minimize"]


def test_better_in_one_and_equal_in_the_other_dominates() -> None:
    assert pareto.dominates((1, 2), (2, 2), MIN2)
    assert not pareto.dominates((2, 2), (1, 2), MIN2)


def test_an_equal_point_does_not_dominate() -> None:
    assert not pareto.dominates((1, 2), (1, 2), MIN2)


def test_a_trade_off_dominates_neither_way() -> None:
    assert not pareto.dominates((1, 3), (2, 2), MIN2)
    assert not pareto.dominates((2, 2), (1, 3), MIN2)


def test_the_goal_of_each_objective_decides() -> None:
    goals = ["minimize", "maximize"]  # loss down, accuracy up
    assert pareto.dominates((0.1, 0.9), (0.2, 0.8), goals)
    assert not pareto.dominates((0.1, 0.8), (0.2, 0.9), goals)


def test_dominance_needs_one_value_per_goal() -> None:
    with pytest.raises(ValueError, match="length"):
        pareto.dominates((1,), (2,), MIN2)


def test_front_keeps_the_non_dominated_points_in_the_order_given() -> None:
    points = [("a", (3, 1)), ("b", (2, 2)), ("c", (3, 3)), ("d", (1, 3)), ("e", (2.5, 2.5))]
    assert pareto.front(points, MIN2) == ["a", "b", "d"]


def test_equal_points_are_all_on_the_front() -> None:
    assert pareto.front([("a", (1, 1)), ("b", (1, 1)), ("c", (2, 2))], MIN2) == ["a", "b"]


def test_a_point_with_nan_or_infinity_or_missing_values_is_left_out() -> None:
    points = [("a", (math.nan, 0)), ("b", (-math.inf, 5)), ("c", (1,)), ("d", (2, 2))]
    assert pareto.front(points, MIN2) == ["d"]


def test_front_of_nothing_is_empty() -> None:
    assert pareto.front([], MIN2) == []


def test_one_objective_front_is_the_best_points() -> None:
    assert pareto.front([("a", (2,)), ("b", (1,)), ("c", (1,))], ["minimize"]) == ["b", "c"]


def test_three_objectives() -> None:
    goals = ["minimize", "maximize", "minimize"]
    points = [("a", (1, 1, 1)), ("b", (1, 2, 1)), ("c", (0, 0, 5)), ("d", (1, 2, 2))]
    assert pareto.front(points, goals) == ["b", "c"]


def test_spread_keeps_everything_below_the_cap() -> None:
    assert pareto.spread(["a", "b"], [(1,), (2,)], 3) == ["a", "b"]


def test_spread_keeps_both_ends_and_spaces_the_rest_evenly() -> None:
    keys = [f"r{i}" for i in range(10)]
    values = [(float(9 - i), float(i)) for i in range(10)]  # r9 has the lowest first objective
    chosen = pareto.spread(keys, values, 4)
    assert chosen == ["r0", "r3", "r6", "r9"]


def test_spread_of_a_cap_of_one_or_none() -> None:
    assert pareto.spread(["a", "b"], [(2,), (1,)], 1) == ["b"]
    assert pareto.spread(["a", "b"], [(2,), (1,)], 0) == []


def test_hypervolume_of_a_staircase() -> None:
    # Points (1,3), (2,2), (3,1) up to (4,4): 3 + 2 + 1 unit squares.
    assert pareto.hypervolume_2d([(1, 3), (2, 2), (3, 1)], (4, 4), MIN2) == 6.0


def test_hypervolume_ignores_dominated_points_and_points_beyond_the_reference() -> None:
    assert pareto.hypervolume_2d([(1, 1), (2, 2), (5, 0)], (4, 4), MIN2) == 9.0


def test_hypervolume_with_a_maximized_objective() -> None:
    assert pareto.hypervolume_2d([(1, 3)], (4, 0), ["minimize", "maximize"]) == 9.0
