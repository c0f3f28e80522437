"""A sweep of several objectives (spec.metrics), rule by rule: the spec, the Pareto front in the
status instead of bestRun, and the search learning from every objective."""

from __future__ import annotations

from typing import Any

import pytest

from kubesweep import api, reconcile, search
from kubesweep.api import Phase, RunState
from kubesweep.reconcile import CreateRun
from kubesweep.runs import Run, Stage

NOW = "2026-11-24T12:00:00Z"
METRICS = [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}]
TEMPLATE = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}


def sweep(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "method": "random",
        "parameters": {"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}},
        "parallelism": 1,
        "metrics": METRICS,
        "template": TEMPLATE,
    }
    return {
        "metadata": {"name": "s", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {k: v for k, v in {**base, **spec}.items() if v is not None},
        "status": status or {},
    }


def run(number: int, state: RunState = RunState.FINISHED, **metrics: float) -> Run:
    return Run(
        name=f"s-{number:04d}",
        number=number,
        parameters={"x": number / 100},
        state=state,
        metrics=metrics,
        stage=Stage.OBSERVED if state in (RunState.PENDING, RunState.RUNNING) else Stage.ON_JOB,
    )


def decide(s: dict[str, Any], observed: list[Run]) -> reconcile.Decision:
    return reconcile.decide(s, observed, now=NOW)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"metric": {"name": "loss"}}, "spec.metrics", "not both"),
        ({"method": "cmaes"}, "spec.method", "cmaes optimizes a single metric"),
        ({"earlyTerminate": {"type": "hyperband", "minIter": 3}}, "spec.earlyTerminate", "single metric"),
        ({"metrics": [{"name": "loss"}, {"name": "loss", "goal": "maximize"}]}, "spec.metrics", "different"),
        ({"metrics": [{"name": "loss"}]}, "spec.metrics", "at least 2"),
        ({"metrics": [{"name": "loss", "target": 0.1}, {"name": "acc"}]}, "spec.metrics.0.target", "Extra"),
    ],
)
def test_what_a_sweep_of_several_objectives_cannot_do(change: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(reconcile.InvalidSweep) as caught:
        reconcile.parse_spec(sweep(**change)["spec"])
    assert caught.value.field == field and words in caught.value.message


@pytest.mark.parametrize("method", ["grid", "random", "qmc", "bayes", "tpe"])
def test_each_method_but_cmaes_takes_several_objectives(method: str) -> None:
    extra = {"parameters": {"x": {"values": [1, 2]}}} if method == "grid" else {}
    reconcile.parse_spec(sweep(method=method, **extra)["spec"])


def test_the_status_keeps_the_front_instead_of_a_best_run() -> None:
    observed = [
        run(1, loss=1.0, acc=0.5),
        run(2, loss=2.0, acc=0.9),  # a trade-off with run 1
        run(3, loss=2.0, acc=0.4),  # dominated by both
        run(4, loss=0.5),  # lacks acc: not complete, on no front
        run(5, RunState.FAILED, loss=0.1, acc=0.99),  # failed: on no front
    ]
    status = decide(sweep(), observed).status
    assert status["paretoFront"] == [
        {"name": "s-0001", "metrics": {"loss": 1.0, "acc": 0.5}},
        {"name": "s-0002", "metrics": {"loss": 2.0, "acc": 0.9}},
    ]
    assert status["paretoFrontSize"] == 2 and status["bestRun"] is None
    api.SweepStatus.model_validate(status)


def test_the_front_in_the_status_is_capped_and_spread_along_it() -> None:
    count = api.PARETO_FRONT_KEPT * 2
    observed = [run(i, loss=float(i), acc=float(i)) for i in range(1, count + 1)]  # all trade off
    status = decide(sweep(runCap=count), observed).status
    names = [r["name"] for r in status["paretoFront"]]
    assert status["paretoFrontSize"] == count and len(names) == api.PARETO_FRONT_KEPT
    assert names[0] == "s-0001" and names[-1] == f"s-{count:04d}"


def test_a_sweep_of_one_metric_has_no_front() -> None:
    s = sweep(metrics=None, metric={"name": "loss"}, status={"paretoFront": [], "paretoFrontSize": 0})
    status = decide(s, [run(1, loss=1.0)]).status
    # None: the merge patch removes a front left from when the sweep had several objectives.
    assert status["paretoFront"] is None and status["paretoFrontSize"] is None
    assert status["bestRun"]["name"] == "s-0001"


def test_an_invalid_spec_keeps_the_front_it_had() -> None:
    front = [{"name": "s-0001", "metrics": {"loss": 1.0, "acc": 0.5}}]
    s = sweep(method="cmaes", status={"paretoFront": front, "paretoFrontSize": 1})
    d = decide(s, [run(1, loss=1.0, acc=0.5)])
    assert d.phase == Phase.CRASHED and d.status["paretoFront"] == front


def test_the_front_is_kept_in_full_when_old_records_are_folded() -> None:
    count = api.RUN_RECORDS_KEPT + 20
    records = [
        {"name": f"s-{i:04d}", "number": i, "state": "Finished", "parameters": {"x": 0.5},
         "metrics": {"loss": 0.0, "acc": 0.0} if i == 1 else {"loss": 1.0, "acc": 1.0} if i == 2
         else {"loss": 5.0, "acc": 0.0}}
        for i in range(1, count + 1)
    ]  # fmt: skip
    d = decide(sweep(status={"recordedRuns": records}, state="paused"), [])
    kept = {r["name"] for r in d.status["recordedRuns"]}
    assert {"s-0001", "s-0002"} <= kept and len(kept) == api.RUN_RECORDS_KEPT
    assert [r["name"] for r in d.status["paretoFront"]] == ["s-0001", "s-0002"]


def test_trials_carry_every_objective_or_none() -> None:
    spec = reconcile.parse_spec(sweep()["spec"])
    complete, partial = reconcile.trials([run(1, loss=1.0, acc=0.5), run(2, loss=1.0)], spec)
    assert complete.values == (1.0, 0.5) and complete.metric is None
    assert partial.values is None


@pytest.mark.parametrize("method", ["bayes", "tpe"])
def test_bayes_and_tpe_learn_from_several_objectives(method: str) -> None:
    """Past the random start, multi-objective TPE draws near the front's region: here both
    objectives are best at x near 0.2 and x near 0.3, and points far from them are worse."""
    observed = [run(i, loss=abs(i / 100 - 0.2), acc=1 - abs(i / 100 - 0.3)) for i in range(1, 100, 7)]
    s = sweep(method=method, parallelism=1)
    d = decide(s, observed)
    (action,) = d.of(CreateRun)
    assert 0.0 <= action.parameters["x"] <= 1.0
    # Deterministic: the same history gives the same point (a restart suggests it again).
    assert decide(s, observed).of(CreateRun)[0].parameters == action.parameters


def test_multi_objective_tpe_concentrates_on_the_trade_off() -> None:
    params = search.space.parse({"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}})
    history: list[search.Trial] = []
    for number in range(1, 41):
        point = search.suggest(
            "tpe", {"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}}, history,
            seed=3, run_number=number, goal="minimize", goals=["minimize", "minimize"],
        )  # fmt: skip
        assert point is not None and params
        x = point["x"]
        history.append(search.Trial(number, point, "Finished", values=((x - 0.2) ** 2, (x - 0.4) ** 2)))
    # The front is x in [0.2, 0.4]: most of the later suggestions fall in or near it.
    late = [t.parameters["x"] for t in history[20:]]
    assert sum(0.1 <= x <= 0.5 for x in late) >= 14, late


def test_running_runs_are_told_as_running_and_incomplete_ones_are_left_out() -> None:
    from kubesweep.search import bayes

    params = search.space.parse({"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}})
    history = [
        search.Trial(1, {"x": 0.1}, "Finished", values=(1.0, 2.0)),
        search.Trial(2, {"x": 0.2}, "Finished"),  # lacks an objective
        search.Trial(3, {"x": 0.3}, "Failed"),
        search.Trial(4, {"x": 0.4}, "Running"),
    ]
    told = bayes.told_multi(params, history, 2)
    assert [(t.params["x"], t.values, t.state.name) for t in told] == [
        (0.1, [1.0, 2.0], "COMPLETE"),
        (0.4, None, "RUNNING"),
    ]


def test_a_finished_sweep_whose_runs_lacked_an_objective_is_not_completed() -> None:
    d = decide(sweep(runCap=2), [run(1, loss=1.0), run(2, acc=0.5)])
    assert d.phase == Phase.FINISHED
    completed = next(c for c in d.status["conditions"] if c["type"] == "Completed")
    assert completed["status"] == "False" and completed["reason"] == "NoMetricReported"
    assert "no finished run reported every objective (loss, acc)" in completed["message"]
    done = decide(sweep(runCap=2), [run(1, loss=1.0, acc=0.2), run(2, acc=0.5)])
    assert next(c for c in done.status["conditions"] if c["type"] == "Completed")["status"] == "True"


def test_a_run_that_finished_without_an_objective_brings_a_warning() -> None:
    ended = Run(
        name="s-0001", number=1, parameters={"x": 0.1}, state=RunState.FINISHED, metrics={"loss": 1.0}
    )
    d = decide(sweep(), [ended])
    warnings = [e for e in d.of(reconcile.Event) if e.reason == reconcile.METRIC_MISSING]
    assert [e.message for e in warnings] == [
        "Run s-0001 finished without reporting acc (a sweep of several objectives needs every one): "
        "print 'acc=VALUE' or write them to /dev/termination-log"
    ]
    complete = Run(
        name="s-0001",
        number=1,
        parameters={"x": 0.1},
        state=RunState.FINISHED,
        metrics={"loss": 1.0, "acc": 0.1},
    )
    assert not [
        e for e in decide(sweep(), [complete]).of(reconcile.Event) if e.reason == reconcile.METRIC_MISSING
    ]


def test_a_best_run_left_from_a_single_metric_goes_once_the_sweep_has_several() -> None:
    before = {"bestRun": {"name": "s-0001", "metric": 1.0, "parameters": {}}}
    status = decide(sweep(status=before), [run(1, loss=1.0, acc=0.5)]).status
    assert status["bestRun"] is None and [r["name"] for r in status["paretoFront"]] == ["s-0001"]


def test_a_record_keeps_every_objective_however_many_other_metrics_the_run_printed() -> None:
    # A record keeps the sweep's metric and the first 10 others: with several objectives there is
    # no `metric`, and objectives printed after 10 other names were lost from the record.
    noise = {f"aux_{i:02d}": float(i) for i in range(15)}
    observed = [
        run(1, RunState.FINISHED, **noise, loss=1.0, acc=0.5),
        run(2, RunState.FINISHED, **noise, loss=2.0, acc=0.9),
    ]
    status = decide(sweep(), observed).status
    for record in status["recordedRuns"]:
        assert {"loss", "acc"} <= set(record["metrics"]), record
        assert len(record["metrics"]) == 2 + 10
    assert [r["name"] for r in status["paretoFront"]] == ["s-0001", "s-0002"]
