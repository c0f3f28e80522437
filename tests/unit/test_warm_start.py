"""Warm start, rule by rule: which runs of other sweeps fit, that bayes and tpe learn from them,
and that they are not runs of this sweep."""

from __future__ import annotations

from typing import Any

import pytest

from kubesweep import reconcile, runs, warm_start
from kubesweep.api import Phase, RunState
from kubesweep.reconcile import CreateRun
from kubesweep.runs import Run, Stage

NOW = "2026-11-24T12:00:00Z"
TEMPLATE = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}
X = {"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}}


def sweep(name: str = "s", status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "method": "bayes",
        "seed": 3,
        "parameters": X,
        "parallelism": 1,
        "metric": {"name": "loss"},
        "warmStart": {"fromSweeps": ["old"]},
        "template": TEMPLATE,
    }
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {k: v for k, v in {**base, **spec}.items() if v is not None},
        "status": status or {},
    }


def record(
    number: int, parameters: dict[str, Any], state: str = "Finished", **metrics: float
) -> dict[str, Any]:
    return {
        "name": f"old-{number:04d}",
        "number": number,
        "state": state,
        "parameters": parameters,
        "metrics": metrics,
    }


def old(records: list[dict[str, Any]]) -> dict[str, Any]:
    return sweep("old", status={"recordedRuns": records}, warmStart=None)


# loss = (x - 0.73)^2 over eleven runs of another sweep: its minimum is between two of them.
PRIOR = [record(i + 1, {"x": i / 10}, loss=(i / 10 - 0.73) ** 2) for i in range(11)]


def spec(**change: Any) -> Any:
    return reconcile.parse_spec(sweep(**change)["spec"])


def test_sources_are_the_names_given_once_and_never_the_sweep_itself() -> None:
    s = sweep(warmStart={"fromSweeps": ["a", "s", "a", "b"]})
    assert warm_start.sources(s) == ["a", "b"]
    assert warm_start.sources(sweep(warmStart=None)) == []


@pytest.mark.parametrize(
    ("point", "fits"),
    [
        ({"x": 0.5}, True),
        ({"x": 1.5}, False),  # outside the range
        ({"x": "a"}, False),
        ({}, False),  # a parameter missing
        ({"x": 0.5, "y": 1}, False),  # a parameter this sweep does not have
    ],
)
def test_a_point_fits_when_it_has_exactly_the_parameters_each_within_its_distribution(
    point: dict[str, Any], fits: bool
) -> None:
    assert warm_start.fits(X, point) is fits


def test_categorical_constant_integer_and_conditional_parameters_fit_by_their_values() -> None:
    space = {
        "opt": {"values": ["sgd", "adam"]},
        "momentum": {"values": [0.0, 0.9], "when": {"opt": "sgd"}},
        "layers": {"min": 1, "max": 4},
        "seed": {"value": 3},
    }
    assert warm_start.fits(space, {"opt": "sgd", "momentum": 0.9, "layers": 2, "seed": 3})
    assert warm_start.fits(space, {"opt": "adam", "layers": 4, "seed": 3})
    assert not warm_start.fits(space, {"opt": "adam", "momentum": 0.9, "layers": 4, "seed": 3})  # inactive
    assert not warm_start.fits(space, {"opt": "sgd", "layers": 2, "seed": 3})  # momentum missing
    assert not warm_start.fits(space, {"opt": "rmsprop", "layers": 2, "seed": 3})
    assert not warm_start.fits(space, {"opt": "adam", "layers": 2.5, "seed": 3})
    assert not warm_start.fits(space, {"opt": "adam", "layers": 2, "seed": 4})


def test_only_finished_runs_that_fit_and_reported_the_metric_are_learned_from() -> None:
    records: list[Any] = [
        record(1, {"x": 0.1}, loss=1.0),
        record(2, {"x": 0.2}, state="Failed", loss=0.5),
        record(3, {"x": 2.0}, loss=0.1),  # outside this space
        record(4, {"x": 0.4}, acc=0.1),  # another metric
        record(5, {"x": 0.5}, loss=float("nan")),
        record(6, {"x": 0.6}, loss=0.3),
        {"junk": True},
        "not a record",
    ]
    trials = warm_start.prior_trials(spec(), {"old": old(records)})
    assert [(t.parameters, t.metric, t.number) for t in trials] == [
        ({"x": 0.6}, 0.3, 0),
        ({"x": 0.1}, 1.0, -1),
    ]


def test_several_objectives_learn_from_runs_that_reported_each() -> None:
    records = [record(1, {"x": 0.1}, loss=1.0, acc=0.5), record(2, {"x": 0.2}, loss=1.0)]
    s = spec(metric=None, metrics=[{"name": "loss"}, {"name": "acc", "goal": "maximize"}])
    trials = warm_start.prior_trials(s, {"old": old(records)})
    assert [(t.parameters, t.values) for t in trials] == [({"x": 0.1}, (1.0, 0.5))]


def test_a_missing_source_gives_nothing() -> None:
    assert warm_start.prior_trials(spec(), {}) == []


def test_warm_start_needs_bayes_or_tpe() -> None:
    with pytest.raises(reconcile.InvalidSweep) as caught:
        reconcile.parse_spec(sweep(method="random")["spec"])
    assert caught.value.field == "spec.warmStart" and "bayes or tpe" in caught.value.message


@pytest.mark.parametrize("method", ["bayes", "tpe"])
def test_the_first_run_already_draws_from_what_the_other_sweep_learned(method: str) -> None:
    """Without a history, the first runs are random; with the other sweep's eleven runs, the
    model starts at once and its first suggestion lands near their minimum (0.73)."""
    cold = reconcile.decide(sweep(method=method, warmStart=None), [], now=NOW)
    warm = reconcile.decide(sweep(method=method), [], now=NOW, warm_from={"old": old(PRIOR)})
    (cold_run,) = cold.of(CreateRun)
    (warm_run,) = warm.of(CreateRun)
    assert abs(warm_run.parameters["x"] - 0.73) < 0.15, warm_run.parameters
    assert abs(cold_run.parameters["x"] - 0.73) > 0.3, cold_run.parameters  # seed 3 draws far from it


def test_the_other_sweeps_runs_are_not_runs_of_this_one() -> None:
    done = Run(name="s-0001", number=1, parameters={"x": 0.7}, state=RunState.FINISHED, metrics={"loss": 0.1},
               stage=Stage.ON_JOB)  # fmt: skip
    d = reconcile.decide(sweep(runCap=2), [done], now=NOW, warm_from={"old": old(PRIOR)})
    # runCap counts this sweep's run only: one more starts, numbered 2.
    assert [a.number for a in d.of(CreateRun)] == [2]
    assert d.status["runs"]["total"] == 2 and d.phase == Phase.RUNNING
    assert [r["name"] for r in d.status["recordedRuns"]] == ["s-0001"]
    assert d.status["bestRun"]["name"] == "s-0001"


def test_the_status_says_how_many_runs_it_learns_from_and_which_sweeps_are_missing() -> None:
    s = sweep(warmStart={"fromSweeps": ["old", "typo"]})
    d = reconcile.decide(s, [], now=NOW, warm_from={"old": old([*PRIOR, record(99, {"x": 7.0}, loss=0.0)])})
    assert d.status["warmStart"] == {"runs": 11, "missing": ["typo"]}
    assert reconcile.decide(sweep(warmStart=None), [], now=NOW).status["warmStart"] is None
    # An invalid spec keeps what the status said.
    broken = sweep(method="random", status={"warmStart": {"runs": 3, "missing": []}})
    assert reconcile.decide(broken, [], now=NOW).status["warmStart"] == {"runs": 3, "missing": []}


def test_the_reverse_map_points_from_each_named_sweep_to_the_one_that_learns_from_it() -> None:
    learner = sweep("new", warmStart={"fromSweeps": ["old", "older", "new", "old"]})
    assert warm_start.learners("ns", learner) == {
        ("ns", "old"): ("ns", "new"),
        ("ns", "older"): ("ns", "new"),
    }
    assert warm_start.learners("ns", old(PRIOR)) == {}  # it names none: no entry (kopf drops its old ones)
    long = "a" * 70  # keys are label values, as the sweeps' keys are everywhere else
    (key,) = warm_start.learners("ns", sweep("new", warmStart={"fromSweeps": [long]}))
    assert key == ("ns", runs.label_value(long)) and key[1] != long


LEARNERS = [("ns", "a"), ("ns", "b"), ("ns", "a")]


def test_the_learners_wake_when_the_sweep_they_name_comes_goes_or_records_a_run() -> None:
    before = old(PRIOR[:2])
    wake, seen = warm_start.to_wake(None, before, LEARNERS)  # created, or first seen
    assert wake == [("ns", "a"), ("ns", "b")] and seen is not None
    more = old(PRIOR[:3])
    wake, now = warm_start.to_wake(seen, more, LEARNERS)  # a run recorded
    assert wake == [("ns", "a"), ("ns", "b")] and now != seen
    assert warm_start.to_wake(now, old(PRIOR[1:3]), LEARNERS)[0]  # an old record folded away
    killed = [*PRIOR[:2], {**PRIOR[2], "state": "Killed"}]
    assert warm_start.to_wake(now, old(killed), LEARNERS)[0]  # a record made again otherwise
    assert warm_start.to_wake(now, None, LEARNERS) == (LEARNERS[:2], None)  # deleted
    assert warm_start.to_wake(None, None, LEARNERS)[0]  # deleted, not seen before


def test_no_learner_wakes_when_the_rest_of_the_sweep_changes() -> None:
    _, seen = warm_start.to_wake(None, old(PRIOR[:2]), LEARNERS)
    busier = old(PRIOR[:2])
    busier["status"] |= {"phase": "Running", "runs": {"running": 3}, "observedGeneration": 4}
    busier["spec"]["parallelism"] = 8
    assert warm_start.to_wake(seen, busier, LEARNERS) == ([], seen)
    assert warm_start.to_wake(seen, old(PRIOR[:3]), [])[0] == []  # nobody learns from it
