"""Run records beyond api.RUN_RECORDS_KEPT are folded: the status stays small whatever the
number of runs, and no number, grid point, cap or failure count is lost."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubesweep import api, reconcile, search
from kubesweep.api import Phase, RunState
from kubesweep.folding import format_ranges, parse_ranges
from kubesweep.reconcile import CreateRun
from kubesweep.runs import Run
from kubesweep.search import grid, space

from .test_reconcile import sweep as reconcile_sweep

NOW = "2026-11-24T12:00:00Z"
KEPT = api.RUN_RECORDS_KEPT
BIG_GRID = {"a": {"min": 1, "max": 100_000}}


def sweep(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    """The reconcile tests' sweep, on a grid large enough that folding never exhausts it."""
    return reconcile_sweep(status=status, **{"parameters": BIG_GRID, **spec})


def removed_status(
    count: int, state: RunState = RunState.FINISHED, best: int | None = None
) -> dict[str, Any]:
    """A status whose recordedRuns remember `count` runs whose Jobs are released or gone."""
    records = []
    for n in range(1, count + 1):
        loss = 0.0 if n == best else 1e6 - n  # newer runs better: the best is the newest
        metrics = {} if state in (RunState.FAILED, RunState.KILLED) else {"loss": loss}
        records.append(
            {
                "name": f"s-{n:04d}",
                "number": n,
                "state": str(state),
                "parameters": {"a": n},
                "metrics": metrics,
            }
        )
    return {"phase": "Running", "recordedRuns": records}


def decide(s: dict[str, Any], observed: list[Run] | None = None) -> reconcile.Decision:
    return reconcile.decide(s, observed or [], now=NOW)


def test_ranges_round_trip_and_refuse_garbage() -> None:
    for numbers in ([], [1], [1, 2, 3, 5, 7, 8], [10, 3, 1, 2]):
        assert parse_ranges(format_ranges(numbers)) == set(numbers)
    assert format_ranges([1, 2, 3, 5, 7, 8]) == "1-3,5,7-8"
    for bad in ("x", "5-2", "1-2-3"):
        with pytest.raises(ValueError):
            parse_ranges(bad)


@pytest.mark.parametrize(
    "parameters",
    [
        {"a": {"values": [1, 2, 3]}, "b": {"min": 0, "max": 4}, "c": {"value": "x"}},
        {
            "lr": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.1},
            "n": {"parameters": {"k": {"values": [True, 1, "1"]}}},
        },
    ],
)
def test_a_grid_point_is_found_again_from_its_parameters(parameters: dict[str, Any]) -> None:
    params = space.parse(parameters)
    axes = grid.axes(params)
    for index in range(grid.size(params)):
        assert grid.index_of(params, space.nest(grid.point(axes, index))) == index


def test_a_point_off_the_grid_has_no_position() -> None:
    params = space.parse({"a": {"values": [1, 2]}, "b": {"min": 0, "max": 4}})
    assert grid.index_of(params, {"a": 3, "b": 0}) is None
    assert grid.index_of(params, {"a": 1}) is None
    assert grid.index_of(params, {"a": 1, "b": 1.5}) is None
    assert grid.index_of(params, {"a": True, "b": 0}) is None  # true and 1 differ, as in W&B


def test_old_removed_runs_fold_and_the_status_stays_small() -> None:
    count = 10_000
    d = decide(sweep(status=removed_status(count)))
    status = d.status
    assert len(status["recordedRuns"]) == KEPT
    assert [r["number"] for r in status["recordedRuns"]] == list(range(count - KEPT + 1, count + 1))
    folded = status["foldedRuns"]
    assert folded["numbers"] == f"1-{count - KEPT}"
    assert folded["gridPoints"] == f"0-{count - KEPT - 1}"
    assert folded["finished"] == count - KEPT and folded["countedTowardRunCap"] == count - KEPT
    assert status["runs"]["finished"] == count and status["runs"]["total"] == count + 2  # + 2 started
    assert len(json.dumps(status)) < 100_000  # etcd's limit is 1.5 MB
    # The next runs take new numbers and new grid points.
    assert [(a.number, dict(a.parameters)) for a in d.of(CreateRun)] == [
        (count + 1, {"a": count + 1}),
        (count + 2, {"a": count + 2}),
    ]


def test_folding_is_stable_from_pass_to_pass() -> None:
    first = decide(sweep(status=removed_status(KEPT + 50), state="paused"))
    second = decide(sweep(status=dict(first.status), state="paused"))
    assert second.status["foldedRuns"] == first.status["foldedRuns"]
    assert second.status["recordedRuns"] == first.status["recordedRuns"]
    assert second.status["runs"] == first.status["runs"]


def test_the_best_run_is_kept_in_full_and_stays_best() -> None:
    d = decide(sweep(status=removed_status(KEPT + 10, best=1)))
    names = [r["name"] for r in d.status["recordedRuns"]]
    assert "s-0001" in names and len(names) == KEPT
    assert d.status["bestRun"]["name"] == "s-0001"
    assert d.status["foldedRuns"]["numbers"] == "2-11"


def test_the_best_runs_bayes_learns_from_are_kept_in_full() -> None:
    status = removed_status(KEPT + 100)
    for record in status["recordedRuns"][:40]:  # the oldest 40 are the best
        record["metrics"] = {"loss": float(record["number"])}
    d = decide(sweep(status=status, method="bayes", parameters={"a": {"min": 0.0, "max": 1.0}}))
    numbers = {r["number"] for r in d.status["recordedRuns"]}
    assert set(range(1, search.BAYES_KEEP_BEST + 1)) <= numbers and len(numbers) == KEPT
    assert d.status["foldedRuns"]["finished"] == 100 and d.status["bestRun"]["name"] == "s-0001"


def test_folded_runs_count_toward_run_cap() -> None:
    d = decide(sweep(status=removed_status(KEPT + 100), runCap=KEPT + 100))
    assert d.phase == Phase.FINISHED and not d.of(CreateRun)
    # A pass on the folded status still sees the cap reached.
    again = decide(sweep(status=dict(d.status), runCap=KEPT + 100, state="running"))
    assert again.phase == Phase.FINISHED and not again.of(CreateRun)


def test_folded_failures_count_toward_max_failed_runs() -> None:
    first = decide(sweep(status=removed_status(KEPT + 5, RunState.FAILED), state="paused"))
    assert first.status["foldedRuns"]["failed"] == 5
    d = decide(sweep(status=dict(first.status), maxFailedRuns=KEPT + 5))
    assert d.phase == Phase.FAILED and not d.of(CreateRun)


def test_killed_runs_without_metric_fold_without_counting_toward_the_cap() -> None:
    d = decide(sweep(status=removed_status(KEPT + 7, RunState.KILLED), state="paused"))
    assert d.status["foldedRuns"]["killed"] == 7
    assert d.status["foldedRuns"]["countedTowardRunCap"] == 0


def test_nothing_is_folded_while_the_spec_is_invalid() -> None:
    d = decide(sweep(status=removed_status(KEPT + 5), method="sideways"))
    assert d.phase == Phase.CRASHED
    assert len(d.status["recordedRuns"]) == KEPT + 5 and not d.status.get("foldedRuns")


def test_a_folded_grid_point_is_not_repeated_on_a_small_grid() -> None:
    small = {"a": {"min": 1, "max": KEPT + 3}}
    d = decide(sweep(status=removed_status(KEPT + 1), parameters=small, parallelism=5))
    assert d.status["foldedRuns"]["gridPoints"] == "0"
    # Points 1..KEPT+1 were used; only KEPT+2 and KEPT+3 are left.
    assert [dict(a.parameters) for a in d.of(CreateRun)] == [{"a": KEPT + 2}, {"a": KEPT + 3}]
