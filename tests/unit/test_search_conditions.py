"""Conditional parameters (`when`): validation, and each method leaving inactive ones out."""

from __future__ import annotations

from typing import Any

import pytest

from kubesweep import runs, search
from kubesweep.search import SearchSpaceError, Trial, suggest

SPACE: dict[str, Any] = {
    "optimizer": {"values": ["sgd", "adam"]},
    "momentum": {"distribution": "uniform", "min": 0, "max": 0.99, "when": {"optimizer": "sgd"}},
    "beta2": {"values": [0.99, 0.999], "when": {"optimizer": "adam"}},
    "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
}


def consistent(p: dict[str, Any]) -> bool:
    """Exactly the parameters of the branch the run's optimizer picks."""
    expected = {"optimizer", "lr", "momentum" if p["optimizer"] == "sgd" else "beta2"}
    return set(p) == expected


@pytest.mark.parametrize(
    ("space", "field", "words"),
    [
        ({"a": {"values": [1]}, "b": {"values": [2], "when": {"c": 1}}}, "spec.parameters.b.when.c", "names no parameter: 'c'"),
        ({"a": {"values": [1, 2]}, "b": {"values": [2], "when": {"a": 3}}}, "spec.parameters.b.when.a", "a never takes the value 3: its values are [1, 2]"),
        ({"a": {"values": [1, 2]}, "b": {"values": [2], "when": {"a": [1, 5]}}}, "spec.parameters.b.when.a", "never takes the value 5"),
        ({"a": {"min": 0, "max": 3}, "b": {"values": [2], "when": {"a": 1}}}, "spec.parameters.b.when.a", "only name a parameter with values or value; a is int_uniform"),
        ({"a": {"values": [1], "when": {"a": 1}}}, "spec.parameters.a.when.a", "cannot depend on itself"),
        ({"a": {"values": [1], "when": {"b": 2}}, "b": {"values": [2], "when": {"a": 1}}}, "spec.parameters.a.when", "cycle"),
        ({"a": {"values": [1]}, "b": {"values": [2], "when": {}}}, "spec.parameters.b.when", "must name another parameter"),
        ({"a": {"values": [1]}, "b": {"values": [2], "when": "a"}}, "spec.parameters.b.when", "must name another parameter"),
    ],
)  # fmt: skip
def test_a_bad_condition_names_the_field(space: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        search.validate("random", space)
    assert info.value.field == field and words in info.value.message, info.value


def test_conditions_on_a_nested_group_and_on_a_nested_parameter() -> None:
    space = {
        "model": {"parameters": {"kind": {"values": ["cnn", "mlp"]}}},
        "cnn": {"when": {"model.kind": "cnn"}, "parameters": {"kernel": {"values": [3, 5]}}},
    }
    points = [suggest("random", space, [], seed=1, run_number=n, goal="minimize") for n in range(1, 30)]
    assert {("cnn" in p) for p in points if p} == {True, False}
    assert all(("cnn" in p) == (p["model"]["kind"] == "cnn") for p in points if p)
    assert "cnn.kernel: categorical [3, 5] when model.kind=cnn" in search.describe(space)


def test_grid_enumerates_only_the_active_branches() -> None:
    space = {
        "optimizer": {"values": ["sgd", "adam"]},
        "momentum": {"values": [0.0, 0.5, 0.9], "when": {"optimizer": "sgd"}},
        "nesterov": {"values": [True, False], "when": {"momentum": [0.5, 0.9]}},
        "lr": {"values": [0.01, 0.1]},
    }
    # sgd: momentum 0 (1) + momentum 0.5/0.9 with nesterov (4) = 5, adam: 1; times 2 lr.
    assert search.grid_size(space) == 12
    used: list[dict[str, Any]] = []
    while (p := suggest("grid", space, [Trial(i + 1, u, "Finished") for i, u in enumerate(used)],
                        seed=None, run_number=len(used) + 1, goal="minimize")) is not None:  # fmt: skip
        used.append(p)
    assert len(used) == 12 and len({str(sorted(p.items())) for p in used}) == 12
    assert all("momentum" not in p and "nesterov" not in p for p in used if p["optimizer"] == "adam")
    assert all(("nesterov" in p) == (p.get("momentum") in (0.5, 0.9)) for p in used)
    # A folded run known only by its position is not suggested again.
    assert search.grid_positions(space, used) == list(range(12))
    rest = suggest("grid", space, [], seed=None, run_number=1, goal="minimize", grid_points_used=range(11))
    assert rest == used[11]


def test_grid_without_conditions_is_unchanged() -> None:
    space = {"a": {"values": [1, 2]}, "b": {"values": ["x", "y"]}}
    assert [search.grid_positions(space, [{"a": a, "b": b}])[0] for a in (1, 2) for b in "xy"] == [0, 1, 2, 3]


@pytest.mark.parametrize("method", ["random", "bayes", "tpe", "cmaes", "qmc"])
def test_every_method_leaves_inactive_parameters_out(method: str) -> None:
    history: list[Trial] = []
    for n in range(1, 16):
        p = suggest(method, SPACE, history, seed=4, run_number=n, goal="minimize")
        assert p is not None and consistent(p), p
        value = p["lr"] * (p.get("momentum", 0.5) if p["optimizer"] == "sgd" else 2)
        history.append(Trial(number=n, parameters=p, state="Finished", metric=value))
    assert {t.parameters["optimizer"] for t in history} == {"sgd", "adam"}
    again = suggest(method, SPACE, history, seed=4, run_number=16, goal="minimize")
    assert again == suggest(method, SPACE, history, seed=4, run_number=16, goal="minimize")


def test_random_samples_the_condition_first() -> None:
    """Each branch as often as its controller's value is drawn: about half of the runs."""
    points = [suggest("random", SPACE, [], seed=9, run_number=n, goal="minimize") for n in range(1, 401)]
    sgd = sum(1 for p in points if p and p["optimizer"] == "sgd")
    assert 160 < sgd < 240


def test_bayes_learns_from_runs_of_both_branches() -> None:
    """Runs of either branch are told to the model (none skipped as 'from another space'):
    after 20 runs where adam is always far better, bayes and tpe mostly ask for adam."""
    for method in ("bayes", "tpe"):
        history: list[Trial] = []
        for n in range(1, 31):
            p = suggest(method, SPACE, history, seed=2, run_number=n, goal="minimize")
            assert p is not None
            history.append(
                Trial(
                    number=n, parameters=p, state="Finished", metric=10.0 if p["optimizer"] == "sgd" else 1.0
                )
            )
        late = [t.parameters["optimizer"] for t in history[15:]]
        assert late.count("adam") > len(late) / 2, (method, late)


def test_an_inactive_parameter_named_in_the_template_expands_to_nothing() -> None:
    sweep: dict[str, Any] = {
        "metadata": {"name": "s", "namespace": "d", "uid": "u"},
        "spec": {
            "parameters": SPACE,
            "template": {"spec": {"template": {"spec": {"containers": [
                {"name": "c", "image": "i", "args": ["--m=${params.momentum}", "${args}"]}
            ]}}}},
        },
    }  # fmt: skip
    job = runs.render_job(sweep, 1, {"optimizer": "adam", "lr": 0.01, "beta2": 0.99})
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["--m=", "--optimizer=adam", "--lr=0.01", "--beta2=0.99"]
    job = runs.render_job(sweep, 2, {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9})
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][0] == "--m=0.9"
    # A name that is no parameter at all is still the template's mistake.
    sweep["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["args"] = ["${params.nope}"]
    with pytest.raises(runs.UnknownParameterError):
        runs.render_job(sweep, 3, {"optimizer": "adam", "lr": 0.01, "beta2": 0.99})
