"""tpe, cmaes and qmc: seeded and reproducible from the sweep's runs, in bounds, learning."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest

from kubesweep import search
from kubesweep.search import SearchSpaceError, Trial, suggest

SPACE: dict[str, Any] = {
    "x": {"distribution": "uniform", "min": -5, "max": 10},
    "y": {"distribution": "uniform", "min": 0, "max": 15},
    "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
    "layers": {"min": 1, "max": 4},
    "act": {"values": ["relu", "tanh", "gelu"]},
    "batch": {"value": 32},
}
METHODS = ("tpe", "cmaes", "qmc")


def loss(p: dict[str, Any]) -> float:
    return float(
        (p["x"] - 2) ** 2 + (p["y"] - 3) ** 2 + (math.log10(p["lr"]) + 2) ** 2 + (p["act"] != "gelu")
    )


def sweep(method: str, seed: int, runs: int, space: dict[str, Any] = SPACE) -> list[Trial]:
    history: list[Trial] = []
    for n in range(1, runs + 1):
        p = suggest(method, space, history, seed=seed, run_number=n, goal="minimize")
        assert p is not None
        history.append(Trial(number=n, parameters=p, state="Finished", metric=loss(p)))
    return history


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_and_history_give_the_same_suggestions(method: str) -> None:
    first, second = sweep(method, 7, 12), sweep(method, 7, 12)
    assert [t.parameters for t in first] == [t.parameters for t in second]
    other = sweep(method, 8, 12)
    assert [t.parameters for t in other] != [t.parameters for t in first]


@pytest.mark.parametrize("method", METHODS)
def test_suggestions_are_in_the_space_as_plain_json(method: str) -> None:
    for t in sweep(method, 3, 15):
        p = t.parameters
        assert -5 <= p["x"] <= 10 and 0 <= p["y"] <= 15 and 1e-4 <= p["lr"] <= 1e-1
        assert type(p["x"]) is float and type(p["layers"]) is int and 1 <= p["layers"] <= 4
        assert p["act"] in ("relu", "tanh", "gelu") and p["batch"] == 32


@pytest.mark.parametrize("method", METHODS)
def test_runs_asked_together_get_distinct_points(method: str) -> None:
    """Parallel runs: Pending ones are in the history when the next is asked."""
    history = sweep(method, 5, 10)
    for n in range(11, 15):
        p = suggest(method, SPACE, history, seed=5, run_number=n, goal="minimize")
        assert p is not None
        history.append(Trial(number=n, parameters=p, state="Pending"))
    points = [tuple(sorted(t.parameters.items())) for t in history[10:]]
    assert len(set(points)) == len(points)


@pytest.mark.parametrize("method", ["tpe", "cmaes"])
def test_adaptive_methods_beat_their_first_runs(method: str) -> None:
    """They learn from the runs: the best of runs 21-40 is better than the median of 1-10."""
    history = sweep(method, 11, 40)
    early = sorted(t.metric for t in history[:10] if t.metric is not None)
    late = min(t.metric for t in history[20:] if t.metric is not None)
    assert late < early[len(early) // 2]


def test_qmc_covers_the_space_more_evenly_than_random() -> None:
    """16 Sobol points put one in each quarter of x and of y (a random draw rarely does)."""
    space = {
        "x": {"distribution": "uniform", "min": 0, "max": 1},
        "y": {"distribution": "uniform", "min": 0, "max": 1},
    }
    points = [suggest("qmc", space, [], seed=1, run_number=n, goal="minimize") for n in range(1, 17)]
    for axis in ("x", "y"):
        quarters = sorted(int(p[axis] * 4) for p in points if p is not None)
        assert quarters == [q for q in range(4) for _ in range(4)]


def test_cmaes_maximizes_too() -> None:
    space = {"x": {"distribution": "uniform", "min": -5, "max": 5}}
    history: list[Trial] = []
    for n in range(1, 41):
        p = suggest("cmaes", space, history, seed=2, run_number=n, goal="maximize")
        assert p is not None
        history.append(Trial(number=n, parameters=p, state="Finished", metric=-((p["x"] - 3) ** 2)))
    assert abs(history[-1].parameters["x"] - 3) < 1


def test_cmaes_without_its_package_is_an_invalid_spec_not_a_crash() -> None:
    """Run where `import cmaes` fails, as in an operator installed without kubesweep[cmaes]
    (a subprocess: the package is hidden from its imports, not from this test's)."""
    script = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'cmaes' or name.startswith('cmaes.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from kubesweep import search\n"
        "try:\n"
        "    search.validate('cmaes', {'x': {'min': 0.0, 'max': 1.0}})\n"
        "except search.SearchSpaceError as exc:\n"
        "    print(exc.field, '|', exc.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("spec.method | method cmaes needs the cmaes package"), out
    assert "kubesweep[cmaes]" in out.stdout


def test_adaptive_methods_need_something_to_search() -> None:
    for method in ("tpe", "cmaes"):
        with pytest.raises(SearchSpaceError, match=f"{method} needs at least one parameter"):
            search.validate(method, {"a": {"value": 1}})
    search.validate("qmc", {"a": {"value": 1}})


def test_unknown_method_lists_them_all() -> None:
    with pytest.raises(SearchSpaceError, match="use grid, random, bayes, tpe, cmaes or qmc"):
        search.validate("hillclimb", SPACE)
