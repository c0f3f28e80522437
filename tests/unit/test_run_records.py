"""How a run's end is told (issue 14's "also" list): its status record says all its Job's
result says, a disruption is a crash, a Job suspended by hand waits, and a stopped run holds
its place until its pod is gone."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubesweep import api, reconcile
from kubesweep.api import RunState
from kubesweep.reconcile import ReleaseJob
from kubesweep.runs import Run

NOW = "2026-11-24T12:00:00Z"
HYPERBAND = {"earlyTerminate": {"type": "hyperband", "minIter": 2, "eta": 3}}


def sweep(status: Mapping[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "s", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {
            "method": "random",
            "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}},
            "parallelism": 1,
            "metric": {"name": "loss", "goal": "minimize"},
            "template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
            **spec,
        },
        "status": status or {},
    }


def run(number: int, state: RunState, **kw: Any) -> Run:
    return Run(name=f"s-{number:04d}", number=number, parameters={"x": 0.1 * number}, state=state, **kw)


# Item 2: earlyStopped and the reason are in the status record, and come back from it.
def test_a_run_stopped_early_says_so_in_its_status_record_and_on_its_job_from_it() -> None:
    steps = tuple((i, {"loss": v}) for i, v in enumerate([1.0, 0.5, 0.4], start=1))
    best = run(1, RunState.FINISHED, metrics={"loss": 0.4}, steps=steps, reason="Completed")
    first = reconcile.decide(sweep(**HYPERBAND), [best], now=NOW)
    worse = run(2, RunState.RUNNING, steps=((1, {"loss": 3.0}), (2, {"loss": 2.0})), has_pods=True)
    second = reconcile.decide(sweep(first.status, **HYPERBAND), [worse], now=NOW)
    (stop,) = second.of(reconcile.RecordRun)
    assert json.loads(stop.result)["earlyStopped"] is True
    # Its pod stopped, the Job carries that result: the run is released, its record in the status.
    carried = json.loads(stop.result)
    on_job = run(
        2, RunState.KILLED, metrics=carried["metrics"], reason=carried["reason"], early_stopped=True,
        recorded=True, record_on_job=True, band_values=tuple(carried["bands"]),
    )  # fmt: skip
    third = reconcile.decide(sweep(second.status, **HYPERBAND), [on_job], now=NOW)
    assert [a.name for a in third.of(ReleaseJob)] == ["s-0002"]
    (record,) = [r for r in third.status["recordedRuns"] if r["name"] == "s-0002"]
    assert (record["state"], record["reason"], record.get("earlyStopped")) == (
        "Killed",
        "EarlyTerminated",
        True,
    )
    assert api.RunRecord.model_validate(record).early_stopped
    # A Job without the result (its write was lost) gets it from the status record, whole.
    bare = run(2, RunState.KILLED, settled=True)
    fourth = reconcile.decide(sweep(third.status, **HYPERBAND), [bare], now=NOW)
    (release,) = fourth.of(ReleaseJob)
    assert release.result is not None and json.loads(release.result) == carried


def test_a_finished_runs_job_written_from_its_status_record_gets_its_reason() -> None:
    ended = run(1, RunState.FINISHED, metrics={"loss": 0.5}, reason="Completed", recorded=False)
    first = reconcile.decide(sweep(), [ended], now=NOW)
    (direct,) = [json.loads(a.result) for a in first.of(ReleaseJob)]
    # The same run's Job, released in a later pass from the status record alone.
    again = reconcile.decide(sweep(first.status), [ended], now=NOW)
    (from_status,) = [json.loads(a.result) for a in again.of(ReleaseJob)]
    assert direct["reason"] == "Completed" and from_status == direct
