"""W&B's parameter syntax: type inference, validation errors with their field, grid rules."""

from __future__ import annotations

from typing import Any

import pytest

from kubesweep import search
from kubesweep.search import SearchSpaceError, Trial, grid_size, suggest, validate
from kubesweep.search.space import canonical, parse


def kinds(parameters: dict[str, Any]) -> dict[str, str]:
    return {p.path: p.kind for p in parse(parameters)}


def test_the_distribution_is_inferred_as_wandb_does() -> None:
    assert kinds(
        {
            "i": {"min": 1, "max": 5},
            "f": {"min": 0.1, "max": 1},
            "c": {"values": [1, 2]},
            "k": {"value": "adam"},
            "n": {"distribution": "normal"},
        }
    ) == {"i": "int_uniform", "f": "uniform", "c": "categorical", "k": "constant", "n": "normal"}


def test_nested_parameters_are_flattened_by_path_and_nested_again_for_the_run() -> None:
    params = {"opt": {"parameters": {"lr": {"values": [0.1]}, "name": {"value": "sgd"}}}}
    assert kinds(params) == {"opt.lr": "categorical", "opt.name": "constant"}
    assert suggest("grid", params, [], seed=None, run_number=1, goal="minimize") == {
        "opt": {"lr": 0.1, "name": "sgd"}
    }


@pytest.mark.parametrize(
    ("method", "parameters", "field", "words"),
    [
        (
            "random",
            {"lr": {"distribution": "log_uniform", "min": -5, "max": 0}},
            "spec.parameters.lr.distribution",
            "log_uniform_values",
        ),
        (
            "random",
            {"lr": {"distribution": "q_log_uniform", "min": -5, "max": 0}},
            "spec.parameters.lr.distribution",
            "q_log_uniform_values",
        ),
        ("random", {"lr": {"distribution": "gaussian"}}, "spec.parameters.lr.distribution", "unknown"),
        ("random", {"lr": {"min": 0.1}}, "spec.parameters.lr", "max is missing"),
        ("random", {"lr": {}}, "spec.parameters.lr", "give value"),
        ("random", {"lr": {"min": 1.0, "max": 0.1}}, "spec.parameters.lr.max", "above min"),
        (
            "random",
            {"lr": {"distribution": "log_uniform_values", "min": 0, "max": 1}},
            "spec.parameters.lr.min",
            "above 0",
        ),
        (
            "random",
            {"lr": {"distribution": "int_uniform", "min": 0.5, "max": 3}},
            "spec.parameters.lr.min",
            "integer",
        ),
        (
            "random",
            {"lr": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0}},
            "spec.parameters.lr.q",
            "above 0",
        ),
        (
            "random",
            {"o": {"values": [1, 2], "probabilities": [0.5]}},
            "spec.parameters.o.probabilities",
            "one probability per value",
        ),
        (
            "random",
            {"o": {"values": [1, 2], "probabilities": [0.5, 0.2]}},
            "spec.parameters.o.probabilities",
            "sum to 1",
        ),
        ("random", {"o": {"values": [1, 2], "min": 0, "max": 3}}, "spec.parameters.o", "conflict"),
        ("random", {"o": {"values": [1], "colour": "red"}}, "spec.parameters.o.colour", "unknown key"),
        ("random", {"o": {"parameters": {"x": {"value": 1}}, "value": 2}}, "spec.parameters.o", "nested"),
        ("random", {"o": {"parameters": {}}}, "spec.parameters.o", "at least one"),
        ("random", {"o": {"distribution": "normal", "sigma": -1}}, "spec.parameters.o.sigma", "above 0"),
        ("random", {"o": {"min": "a", "max": 1}}, "spec.parameters.o.min", "number"),
        ("grid", {"lr": {"min": 0.1, "max": 1.0}}, "spec.parameters.lr", "grid"),
        ("grid", {"lr": {"distribution": "normal"}}, "spec.parameters.lr", "normal"),
        (
            "grid",
            {"lr": {"distribution": "log_uniform_values", "min": 0.1, "max": 1}},
            "spec.parameters.lr",
            "random or bayes",
        ),
        ("hill-climb", {"lr": {"value": 1}}, "spec.method", "unknown method"),
    ],
)
def test_invalid_spaces_name_the_field_to_fix(
    method: str, parameters: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(SearchSpaceError) as info:
        validate(method, parameters)
    assert info.value.field == field
    assert words in info.value.message
    assert str(info.value) == f"{field}: {info.value.message}"


def test_valid_spaces_of_every_distribution_pass() -> None:
    validate(
        "random",
        {
            "a": {"value": 1},
            "b": {"values": ["x", "y"], "probabilities": [0.3, 0.7]},
            "c": {"distribution": "int_uniform", "min": 1, "max": 3},
            "d": {"distribution": "uniform", "min": 0, "max": 1},
            "e": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.1},
            "f": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1},
            "g": {"distribution": "q_log_uniform_values", "min": 1, "max": 1000, "q": 1},
            "h": {"distribution": "inv_log_uniform_values", "min": 1e-3, "max": 1},
            "i": {"distribution": "normal", "mu": 1, "sigma": 2},
            "j": {"distribution": "q_normal", "q": 2},
            "k": {"distribution": "log_normal"},
            "l": {"distribution": "q_log_normal", "q": 0.5},
            "m": {"distribution": "beta", "a": 2, "b": 5},
            "n": {"distribution": "q_beta", "q": 0.1},
            "o": {"distribution": "categorical", "values": [[1, 2], {"k": 1}]},
            "p": {"distribution": "constant", "value": None},
        },
    )


def test_values_are_compared_by_value() -> None:
    assert canonical(3e6) == canonical(3000000)
    assert canonical(True) != canonical(1)
    assert canonical({"b": 1.0, "a": [2.0]}) == canonical({"a": [2], "b": 1})


def grid_points(parameters: dict[str, Any], used: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    history = [Trial(number=i + 1, parameters=p, state="Finished") for i, p in enumerate(used or [])]
    out = []
    while (
        point := suggest("grid", parameters, history, seed=None, run_number=len(history) + 1, goal="minimize")
    ) is not None:
        out.append(point)
        history.append(Trial(number=len(history) + 1, parameters=point, state="Pending"))
    return out


def test_grid_orders_parameters_by_name_the_first_changing_slowest() -> None:
    points = grid_points({"b": {"values": [1, 2]}, "a": {"values": ["x", "y", "z"]}})
    assert points == [{"a": a, "b": b} for a in ("x", "y", "z") for b in (1, 2)]
    assert grid_size({"b": {"values": [1, 2]}, "a": {"values": ["x", "y", "z"]}}) == 6


def test_grid_expands_int_uniform_inclusive_and_q_uniform_up_to_max() -> None:
    assert [p["n"] for p in grid_points({"n": {"min": 2, "max": 5}})] == [2, 3, 4, 5]
    q = [p["x"] for p in grid_points({"x": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25}})]
    assert q == [0, 0.25, 0.5, 0.75]
    ints = [p["x"] for p in grid_points({"x": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 3}})]
    assert ints == [0, 3, 6, 9]
    tenths = [
        p["x"] for p in grid_points({"x": {"distribution": "q_uniform", "min": 0, "max": 0.5, "q": 0.1}})
    ]
    assert tenths == [0, 0.1, 0.2, 0.3, 0.4]


def test_grid_dedups_its_values_and_skips_points_any_run_had_in_any_state() -> None:
    params = {"a": {"values": [1, 1.0, True, 3e6, 3000000]}}
    points = [p["a"] for p in grid_points(params)]
    # W&B's order of first appearance, each value as its last spelling: 1.0 and 3000000 (an int).
    assert points == [1.0, True, 3000000] and isinstance(points[0], float) and isinstance(points[2], int)
    used = [{"a": 1}, {"a": 3000000}]
    assert grid_points(params, used) == [{"a": True}]
    history = [Trial(1, {"a": 1}, "Killed"), Trial(2, {"a": True}, "Failed"), Trial(3, {"a": 3e6}, "Running")]
    assert suggest("grid", params, history, seed=None, run_number=4, goal="minimize") is None


def test_grid_dedup_compares_only_the_searched_parameters_as_wandb_hashes_them() -> None:
    params = {"a": {"values": [1, 2]}, "opt": {"value": "adam"}}
    # A constant is not part of a point's identity, and a run's extra keys are ignored.
    used = [{"a": 1, "opt": "sgd", "old": 5}]
    assert grid_points(params, used) == [{"a": 2, "opt": "adam"}]
    # A run lacking a searched parameter matches no point.
    assert grid_points(params, [{"opt": "adam"}]) == [{"a": 1, "opt": "adam"}, {"a": 2, "opt": "adam"}]


def test_grid_values_keep_numpy_arange_types() -> None:
    floats = [p["x"] for p in grid_points({"x": {"distribution": "q_uniform", "min": 0, "max": 4.5, "q": 2}})]
    assert floats == [0.0, 2.0, 4.0] and all(isinstance(x, float) for x in floats)
    default_q = [p["x"] for p in grid_points({"x": {"distribution": "q_uniform", "min": 0, "max": 3}})]
    assert default_q == [0.0, 1.0, 2.0] and all(isinstance(x, float) for x in default_q)


def test_grid_rejects_probabilities_and_continuous_parameters_naming_them() -> None:
    with pytest.raises(SearchSpaceError) as info:
        validate("grid", {"a": {"values": [1, 2], "probabilities": [0.5, 0.5]}})
    assert info.value.field == "spec.parameters.a.probabilities"
    with pytest.raises(SearchSpaceError) as info:
        validate("grid", {"a": {"values": [1]}, "lr": {"min": 0.1, "max": 1.0}})
    assert info.value.field == "spec.parameters.lr"
    assert "uniform" in info.value.message and str(info.value) == f"{info.value.field}: {info.value.message}"


def test_bayes_needs_a_parameter_to_search_as_in_wandb() -> None:
    with pytest.raises(SearchSpaceError) as info:
        validate("bayes", {"a": {"value": 1}, "b": {"parameters": {"c": {"value": 2}}}})
    assert info.value.field == "spec.parameters"
    validate("bayes", {"a": {"value": 1}, "b": {"values": [1, 2]}})
    validate("random", {"a": {"value": 1}})


def test_categorical_w_probabilities_is_wandbs_explicit_name() -> None:
    spec = {"distribution": "categorical_w_probabilities", "values": [1, 2], "probabilities": [0.2, 0.8]}
    assert kinds({"a": spec}) == {"a": "categorical"}
    with pytest.raises(SearchSpaceError) as info:
        validate("random", {"a": {"distribution": "categorical_w_probabilities", "values": [1, 2]}})
    assert info.value.field == "spec.parameters.a.probabilities"


def test_a_grid_of_a_billion_points_costs_nothing_up_front() -> None:
    params = {"a": {"min": 1, "max": 1000}, "b": {"min": 1, "max": 1000}, "c": {"min": 1, "max": 1000}}
    assert grid_size(params) == 10**9
    history = [Trial(1, {"a": 1, "b": 1, "c": 1}, "Finished")]
    assert suggest("grid", params, history, seed=None, run_number=2, goal="minimize") == {
        "a": 1,
        "b": 1,
        "c": 2,
    }


def test_the_public_api_is_what_reconcile_uses() -> None:
    assert set(search.__all__) >= {"Trial", "SearchSpaceError", "validate", "suggest", "hyperband_to_stop"}


def test_a_summary_names_each_distribution_and_calls_out_integers_inferred_from_a_range() -> None:
    parameters = {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1},
        "batch_size": {"values": [32, 64, 128]},
        # What the API server keeps of `min: 0.0, max: 1.0`.
        "x": {"min": 0, "max": 1},
        "y": {"distribution": "int_uniform", "min": 0, "max": 9},
        "opt": {
            "parameters": {
                "name": {"value": "adam"},
                "momentum": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.1},
            }
        },
    }
    assert search.describe(parameters) == (
        "lr: log_uniform_values [1e-05, 0.1], batch_size: categorical [32, 64, 128], "
        "x: int_uniform [0, 1] (integers: write distribution: uniform for a continuous range), "
        "y: int_uniform [0, 9], opt.name: constant adam, opt.momentum: q_uniform [0, 1] q=0.1"
    )


def test_a_summary_of_many_values_stays_short() -> None:
    assert (
        search.describe({"seed": {"values": list(range(100))}})
        == "seed: categorical [0, 1, 2, 3, 4, ... 100 values]"
    )
