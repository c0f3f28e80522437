"""The lifecycle rules of the pure decision, one by one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from kubesweep import api, reconcile, runs
from kubesweep.api import Phase, RunState
from kubesweep.reconcile import CreateRun, DeletePods, RecordRun, ReleaseJob, StopPods, WriteStatus
from kubesweep.runs import Run, Stage

NOW = "2026-11-24T12:00:00Z"
GRID = {"a": {"values": [1, 2]}, "b": {"values": ["x", "y", "z"]}}


def sweep(generation: int = 1, status: Mapping[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    base = {
        "method": "grid",
        "parameters": GRID,
        "parallelism": 2,
        "metric": {"name": "loss", "goal": "minimize"},
        "template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
    }
    return {
        "metadata": {"name": "s", "namespace": "ns", "uid": "u", "generation": generation},
        "spec": {**base, **spec},
        "status": status or {},
    }


def run(number: int, state: RunState, params: dict[str, Any] | None = None, **kw: Any) -> Run:
    """A run of sweep `s`, its stage given as (recorded, record_on_job, awaiting_pod): by default
    an ended run observed with its record on its Job."""
    recorded = kw.pop("recorded", state not in (RunState.PENDING, RunState.RUNNING))
    on_job = kw.pop("record_on_job", recorded)
    awaiting = kw.pop("awaiting_pod", False)
    kw.setdefault("stage", stage_of(recorded, on_job, awaiting))
    return Run(name=f"s-{number:04d}", number=number, parameters=params or {}, state=state, **kw)


def stage_of(recorded: bool, on_job: bool, awaiting_pod: bool = False) -> Stage:
    if awaiting_pod:
        return Stage.AWAITING_POD
    if on_job:
        return Stage.ON_JOB
    return Stage.IN_STATUS if recorded else Stage.OBSERVED


def decide(s: dict[str, Any], runs: list[Run], **kw: Any) -> reconcile.Decision:
    return reconcile.decide(s, runs, now=NOW, **kw)


def created(d: reconcile.Decision) -> list[tuple[int, dict[str, Any]]]:
    return [(a.number, dict(a.parameters)) for a in d.of(CreateRun)]


def test_running_fills_parallelism_with_the_grid_in_order() -> None:
    d = decide(sweep(), [])
    assert created(d) == [(1, {"a": 1, "b": "x"}), (2, {"a": 1, "b": "y"})]
    assert d.phase == Phase.RUNNING
    assert d.of(CreateRun)[0].job["metadata"]["name"] == "s-0001"


def test_never_more_active_runs_than_parallelism() -> None:
    active = [run(1, RunState.RUNNING, {"a": 1, "b": "x"}), run(2, RunState.PENDING, {"a": 1, "b": "y"})]
    assert created(decide(sweep(), active)) == []
    one_done = [run(1, RunState.FINISHED, {"a": 1, "b": "x"}, metrics={"loss": 1.0}), active[1]]
    assert created(decide(sweep(), one_done)) == [(3, {"a": 1, "b": "z"})]


def test_an_ended_run_is_recorded_in_the_status_then_its_job_released_with_its_result() -> None:
    done = run(1, RunState.FINISHED, {"a": 1, "b": "x"}, metrics={"loss": 0.5}, recorded=False)
    d = decide(sweep(), [done])
    assert not d.of(RecordRun)
    assert d.status["recordedRuns"] == [
        {
            "name": "s-0001",
            "number": 1,
            "state": "Finished",
            "parameters": {"a": 1, "b": "x"},
            "metrics": {"loss": 0.5},
        }
    ]
    (release,) = d.of(ReleaseJob)
    assert release.name == "s-0001" and release.result is not None and '"loss":0.5' in release.result
    kinds = [type(a) for a in d.actions]
    assert kinds.index(WriteStatus) < kinds.index(ReleaseJob)  # the status holds it first


def test_the_status_record_stands_when_the_job_was_not_released() -> None:
    done = run(1, RunState.FINISHED, {"a": 1, "b": "x"}, metrics={"loss": 0.5}, recorded=False)
    first = decide(sweep(), [done])
    # The release failed; by the next pass the run's pods are gone and it reads as Failed.
    later = run(1, RunState.FAILED, {"a": 1, "b": "x"}, recorded=False)
    again = decide(sweep(status=first.status), [later])
    assert again.status["recordedRuns"] == first.status["recordedRuns"]
    assert again.status["runs"]["finished"] == 1 and again.status["runs"]["failed"] == 0
    (release,) = again.of(ReleaseJob)
    assert release.result is not None and '"state":"Finished"' in release.result
    # A Job that carries its record is released without writing it again.
    carried = run(1, RunState.FINISHED, {"a": 1, "b": "x"}, metrics={"loss": 0.5}, record_on_job=True)
    assert decide(sweep(status=first.status), [carried]).of(ReleaseJob) == [ReleaseJob("s-0001", None)]


def test_a_killed_run_is_recorded_on_its_job_at_once_and_released_once_its_pods_are_gone() -> None:
    active = run(1, RunState.RUNNING, {"a": 1, "b": "x"}, pods_alive=True)
    d = decide(sweep(state="cancelled"), [active])
    assert [r.name for r in d.of(RecordRun)] == ["s-0001"] and not d.of(ReleaseJob)
    assert d.status["runs"]["killed"] == 1 and not d.status["recordedRuns"]  # on its Job for now
    killed = run(1, RunState.KILLED, {"a": 1, "b": "x"}, record_on_job=True, suspended=True, pods_alive=True)
    assert not decide(sweep(state="cancelled", status=d.status), [killed]).of(ReleaseJob)
    gone = run(1, RunState.KILLED, {"a": 1, "b": "x"}, record_on_job=True, suspended=True)
    assert decide(sweep(state="cancelled", status=d.status), [gone]).of(ReleaseJob) == [
        ReleaseJob("s-0001", None)
    ]


def test_exhausted_grid_drains_then_finishes_with_best_run() -> None:
    points = [{"a": a, "b": b} for a in (1, 2) for b in ("x", "y", "z")]
    history = [run(i + 1, RunState.FINISHED, p, metrics={"loss": 10 - i}) for i, p in enumerate(points[:5])]
    draining = decide(sweep(), [*history, run(6, RunState.RUNNING, points[5])])
    assert created(draining) == [] and draining.phase == Phase.RUNNING
    done = decide(sweep(), [*history, run(6, RunState.FINISHED, points[5], metrics={"loss": 3.0})])
    assert done.phase == Phase.FINISHED
    assert done.status["bestRun"] == {
        "name": "s-0006",
        "metric": 3.0,
        "metricText": "3",
        "parameters": points[5],
    }
    assert done.status["runs"]["total"] == 6 and done.status["runs"]["finished"] == 6
    assert done.status["completionTime"] == NOW


def test_best_run_follows_the_goal() -> None:
    r = [run(1, RunState.FINISHED, metrics={"loss": 1.0}), run(2, RunState.FINISHED, metrics={"loss": 2.0})]
    s = sweep(metric={"name": "loss", "goal": "maximize"}, parallelism=1)
    assert decide(s, r).status["bestRun"]["name"] == "s-0002"


def test_paused_withholds_new_runs_and_leaves_running_ones() -> None:
    d = decide(sweep(state="paused"), [run(1, RunState.RUNNING, {"a": 1, "b": "x"})])
    assert created(d) == [] and not d.of(DeletePods) and not d.of(RecordRun)
    assert d.phase == Phase.PAUSED


def test_stopped_is_stopping_until_runs_finish() -> None:
    active = [run(1, RunState.RUNNING, {"a": 1, "b": "x"})]
    d = decide(sweep(state="stopped"), active)
    assert d.phase == Phase.STOPPING and created(d) == [] and not d.of(DeletePods)
    d = decide(sweep(state="stopped"), [run(1, RunState.FINISHED, {"a": 1, "b": "x"})])
    assert d.phase == Phase.STOPPED


def test_cancel_kills_every_pod_at_once_and_records_active_runs_killed() -> None:
    active = [
        run(1, RunState.RUNNING, {"a": 1, "b": "x"}, has_pods=True, pod_failures=0, live_pods=("p1",)),
        run(2, RunState.PENDING, {"a": 1, "b": "y"}, suspended=True),
    ]
    d = decide(sweep(state="cancelled"), active)
    assert d.phase == Phase.CANCELLED
    # Each pod of the sweep's runs by name (only its Jobs' pods), still alive at the delete.
    assert d.actions[0] == DeletePods(
        "kubesweep.io/run=s-0001", 0, f"metadata.name=p1,{reconcile.ALIVE_PODS}"
    )
    records = d.of(RecordRun)
    assert all('"state":"Killed"' in r.result for r in records)
    # Never a suspend, which a queue (Kueue) undoes: the deleted pod is the Job's last failure,
    # and a Job still waiting in its queue gets no pod and fails as soon as it is admitted.
    assert [(r.name, r.job_spec) for r in records] == [
        ("s-0001", {"backoffLimit": 0}),
        ("s-0002", {"backoffLimit": 0, "parallelism": 0, "activeDeadlineSeconds": 1}),
    ]
    assert created(d) == []


def test_resume_after_cancel_continues_with_the_next_grid_point() -> None:
    killed = [run(1, RunState.KILLED, {"a": 1, "b": "x"}), run(2, RunState.KILLED, {"a": 1, "b": "y"})]
    d = decide(sweep(), killed)
    assert created(d) == [(3, {"a": 1, "b": "z"}), (4, {"a": 2, "b": "x"})]


def test_run_cap_counts_all_but_killed_runs_without_metric() -> None:
    history = [
        run(1, RunState.FINISHED, {"a": 1, "b": "x"}, metrics={"loss": 1.0}),
        run(2, RunState.KILLED, {"a": 1, "b": "y"}),  # no metric: does not count
        run(3, RunState.KILLED, {"a": 1, "b": "z"}, metrics={"loss": 2.0}),  # counts
    ]
    d = decide(sweep(runCap=3), history)
    assert created(d) == [(4, {"a": 2, "b": "x"})]
    d = decide(sweep(runCap=2), history)
    assert created(d) == [] and d.phase == Phase.FINISHED
    assert next(c for c in d.status["conditions"] if c["type"] == "Completed")["reason"] == "RunCapReached"


def test_run_cap_limits_a_single_pass() -> None:
    assert len(created(decide(sweep(runCap=1, parallelism=4), []))) == 1


def test_max_failed_runs_fails_the_sweep() -> None:
    failed = [run(1, RunState.FAILED, {"a": 1, "b": "x"}), run(2, RunState.CRASHED, {"a": 1, "b": "y"})]
    d = decide(sweep(maxFailedRuns=2), failed)
    assert d.phase == Phase.FAILED and created(d) == []
    ready = next(c for c in d.status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "maxFailedRuns" in ready["message"]
    assert decide(sweep(maxFailedRuns=3), failed).phase == Phase.RUNNING


def test_metric_target_finishes() -> None:
    s = sweep(metric={"name": "loss", "goal": "minimize", "target": 0.1})
    d = decide(s, [run(1, RunState.FINISHED, {"a": 1, "b": "x"}, metrics={"loss": 0.05})])
    assert d.phase == Phase.FINISHED and created(d) == []
    assert "s-0001" in next(c for c in d.status["conditions"] if c["type"] == "Completed")["message"]


def test_a_run_stopped_by_hand_is_killed_and_replaced() -> None:
    stopping = run(
        1, RunState.RUNNING, {"a": 1, "b": "x"}, stop_requested=True, has_pods=True,
        pod_failures=2, unstopped_pods=("s-0001-abcde",),
    )  # fmt: skip
    d = decide(sweep(parallelism=1), [stopping])
    # Its pod is stopped by its deadline, gracefully, and kept with its log; never deleted.
    assert d.of(StopPods) == [StopPods(("s-0001-abcde",))] and d.of(DeletePods) == []
    assert [(r.name, '"Killed"' in r.result, r.job_spec) for r in d.of(RecordRun)] == [
        ("s-0001", True, {"backoffLimit": 2})
    ]
    assert created(d) == [(2, {"a": 1, "b": "y"})]
    # Recorded Killed on its Job, a pod the stop did not reach (a restart in between) is stopped
    # in the next pass; one stopped already is not patched again.
    killed = run(1, RunState.KILLED, {"a": 1, "b": "x"}, unstopped_pods=("s-0001-abcde",))
    assert decide(sweep(parallelism=1), [killed]).of(StopPods) == [StopPods(("s-0001-abcde",))]
    assert decide(sweep(parallelism=1), [replace(killed, unstopped_pods=())]).of(StopPods) == []
    # A pod no node started has no log, and no deadline reaches it: deleted.
    pending = run(
        1, RunState.PENDING, {"a": 1, "b": "x"}, stop_requested=True, has_pods=True, pending_pods=("p1",)
    )
    assert decide(sweep(parallelism=1), [pending]).of(DeletePods) == [
        DeletePods("kubesweep.io/run=s-0001", None, "metadata.name=p1,status.phase=Pending")
    ]


def test_a_deleted_job_is_killed_then_its_record_moves_into_status_and_it_is_released() -> None:
    finished = run(1, RunState.FINISHED, {"a": 1, "b": "x"}, metrics={"loss": 1})
    deleting = run(2, RunState.RUNNING, {"a": 1, "b": "y"}, deleting=True, pods_alive=True)
    d = decide(sweep(parallelism=1), [finished, deleting])
    assert [r.name for r in d.of(RecordRun)] == ["s-0002"]
    assert [r.name for r in d.of(ReleaseJob)] == ["s-0001"]  # not the Job the record just changed
    # The next pass: the deleted Job carries its record (its pods still stopping) and is let go.
    killed = run(2, RunState.KILLED, {"a": 1, "b": "y"}, deleting=True, pods_alive=True)
    d = decide(sweep(parallelism=1, status=d.status), [killed])
    records = d.status["recordedRuns"]
    assert [(r["name"], r["state"]) for r in records] == [("s-0001", "Finished"), ("s-0002", "Killed")]
    assert d.of(ReleaseJob) == [ReleaseJob("s-0002", None)]
    kinds = [type(a) for a in d.actions]
    assert kinds.index(WriteStatus) < kinds.index(ReleaseJob)
    # Once gone, the records still keep their numbers and grid points from coming back.
    later = decide(sweep(parallelism=1, status=d.status), [])
    assert created(later) == [(3, {"a": 1, "b": "z"})]


def test_invalid_spec_crashes_with_the_field_and_starts_nothing() -> None:
    d = decide(sweep(method="bayes", metric=None), [])
    assert d.phase == Phase.CRASHED and created(d) == []
    ready = next(c for c in d.status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidSpec" and "spec.metric" in ready["message"]


def test_grid_over_a_continuous_range_is_refused_with_the_parameter_named() -> None:
    d = decide(sweep(parameters={"lr": {"min": 0.1, "max": 1.0}}), [])
    assert d.phase == Phase.CRASHED
    assert "lr" in next(c for c in d.status["conditions"] if c["type"] == "Ready")["message"]


def test_template_rejection_crashes_until_the_spec_changes() -> None:
    d = decide(sweep(), [], template_error='Job.batch "s-0001" is invalid: spec.template: Required value')
    assert d.phase == Phase.CRASHED
    again = decide(sweep(status=d.status), [])
    assert again.phase == Phase.CRASHED and created(again) == []
    fixed = decide(sweep(generation=2, status=d.status), [])
    assert fixed.phase == Phase.RUNNING and len(created(fixed)) == 2


def test_condition_times_move_only_on_change() -> None:
    first = decide(sweep(), [])
    later = reconcile.decide(sweep(status=first.status), [], now="2026-11-24T13:00:00Z")
    assert [c["lastTransitionTime"] for c in later.status["conditions"]] == [NOW, NOW, NOW]
    paused = reconcile.decide(sweep(state="paused", status=first.status), [], now="2026-11-24T13:00:00Z")
    progressing = next(c for c in paused.status["conditions"] if c["type"] == "Progressing")
    assert progressing["status"] == "False" and progressing["lastTransitionTime"] == "2026-11-24T13:00:00Z"


def test_phase_changes_raise_events() -> None:
    d = decide(sweep(state="paused", status={"phase": "Running"}), [])
    assert reconcile.Event("Normal", "Paused", "0 run(s) still executing") in d.actions


def test_kept_jobs_are_released_a_bounded_number_per_pass_and_the_status_stays_small() -> None:
    import json

    # 3,000 Jobs that carry their records (kept from before an upgrade, say), of a sweep that
    # finished: it stays Finished while they are let go.
    watched = {
        f"s-{i:04d}": run(i, RunState.FINISHED, {"a": 1, "b": "x"}, metrics={"loss": float(i)})
        for i in range(1, 3001)
    }
    s = sweep(
        method="random", parameters={"a": {"values": [1, 2]}}, runCap=3000, status={"phase": "Finished"}
    )
    passes = 0
    while watched:
        d = decide(s, list(watched.values()))
        released = [r.name for r in d.of(ReleaseJob)]
        assert len(released) == reconcile.RELEASES_PER_PASS or len(released) == len(watched)
        assert d.status["runs"]["total"] == 3000 and d.phase == Phase.FINISHED
        assert len(json.dumps(d.status)) < 120_000  # 1.5 MB is etcd's limit
        for name in released:
            del watched[name]
        s = sweep(method="random", parameters={"a": {"values": [1, 2]}}, runCap=3000, status=d.status)
        passes += 1
    assert passes == 15
    folded = d.status["foldedRuns"]
    assert len(d.status["recordedRuns"]) == api.RUN_RECORDS_KEPT and folded["finished"] == 2500
    assert d.status["bestRun"]["name"] == "s-0001"


def test_a_template_naming_an_unknown_parameter_crashes_with_the_field() -> None:
    template = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "c", "image": "i", "args": ["--lr=${params.lr}"]}]}}
        }
    }
    d = decide(sweep(template=template), [])
    assert d.of(CreateRun) == []
    assert d.phase == Phase.CRASHED
    ready = next(c for c in d.status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "InvalidSpec"
    assert "spec.template" in ready["message"] and "${params.lr}" in ready["message"]


def test_a_rejected_template_names_the_sweep_field_to_fix() -> None:
    message = (
        'Job.batch "s-0001" is invalid: spec.template.spec.restartPolicy: Required value: '
        'valid values: "OnFailure", "Never"'
    )
    d = decide(sweep(), [], template_error=message)
    assert d.phase == Phase.CRASHED
    ready = next(c for c in d.status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "TemplateRejected"
    assert "in the Sweep: spec.template.spec.template.spec.restartPolicy)" in ready["message"]


def test_a_rejection_without_a_template_field_is_kept_as_the_server_said_it() -> None:
    assert reconcile.with_sweep_field("jobs.batch is forbidden") == "jobs.batch is forbidden"


def test_a_run_whose_creation_failed_is_filled_in_so_numbers_stay_dense() -> None:
    points = [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}]
    history = [
        run(n, RunState.FINISHED, p, metrics={"loss": 1.0}) for n, p in zip((1, 2, 4), points, strict=True)
    ]
    numbers = [number for number, _ in created(decide(sweep(), history))]
    assert numbers == [3, 5]


def test_a_released_run_keeps_its_hyperband_values_and_later_runs_are_judged_against_them() -> None:
    spec: dict[str, Any] = {
        "method": "random",
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "parallelism": 1,
        "earlyTerminate": {"type": "hyperband", "minIter": 2, "eta": 3},
    }
    steps = tuple((i, {"loss": v}) for i, v in enumerate([1.0, 0.5, 0.4], start=1))
    ended = run(1, RunState.FINISHED, {"x": 0.1}, metrics={"loss": 0.4}, recorded=False, steps=steps)
    first = decide(sweep(**spec), [ended])
    assert first.status["recordedRuns"][0]["bands"] == [0.5]
    (release,) = first.of(ReleaseJob)
    assert release.result is not None and '"bands":[0.5]' in release.result
    # Its Job released, a worse run alone at the band is stopped by it, as W&B would.
    worse = run(2, RunState.RUNNING, {"x": 0.9}, steps=((1, {"loss": 3.0}), (2, {"loss": 2.0})))
    later = decide(sweep(status=first.status, **spec), [worse])
    assert [(r.name, '"earlyStopped":true' in r.result) for r in later.of(RecordRun)] == [("s-0002", True)]


@pytest.mark.parametrize(
    "early_terminate",
    [{"type": "asha", "minIter": 2, "eta": 3}, {"type": "median", "minIter": 2, "minRuns": 1}],
)
def test_asha_and_median_stop_through_hyperbands_path(early_terminate: dict[str, Any]) -> None:
    """Released with its values at the bands, a run is the yardstick of later ones, which are
    Killed with earlyStopped as hyperband's are."""
    spec: dict[str, Any] = {
        "method": "random",
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "parallelism": 1,
        "earlyTerminate": early_terminate,
    }
    steps = tuple((i, {"loss": v}) for i, v in enumerate([1.0, 0.5, 0.4], start=1))
    ended = run(1, RunState.FINISHED, {"x": 0.1}, metrics={"loss": 0.4}, recorded=False, steps=steps)
    first = decide(sweep(**spec), [ended])
    assert first.status["recordedRuns"][0]["bands"] == [0.5]
    worse = run(2, RunState.RUNNING, {"x": 0.9}, steps=((1, {"loss": 3.0}), (2, {"loss": 2.0})))
    later = decide(sweep(status=first.status, **spec), [worse])
    assert [(r.name, '"earlyStopped":true' in r.result) for r in later.of(RecordRun)] == [("s-0002", True)]
    better = run(2, RunState.RUNNING, {"x": 0.9}, steps=((1, {"loss": 3.0}), (2, {"loss": 0.3})))
    assert decide(sweep(status=first.status, **spec), [better]).of(RecordRun) == []


@pytest.mark.parametrize("method", ["tpe", "cmaes"])
def test_adaptive_methods_need_a_metric(method: str) -> None:
    d = decide(sweep(method=method, metric=None), [])
    ready = next(c for c in d.status["conditions"] if c["type"] == "Ready")
    assert d.phase == Phase.CRASHED and ready["reason"] == "InvalidSpec"
    assert f"{method} search needs a metric" in ready["message"]


def test_a_bad_condition_is_an_invalid_spec() -> None:
    parameters = {"a": {"values": [1, 2]}, "b": {"values": [1], "when": {"a": 3}}}
    d = decide(sweep(method="random", parameters=parameters), [])
    ready = next(c for c in d.status["conditions"] if c["type"] == "Ready")
    assert d.phase == Phase.CRASHED and ready["reason"] == "InvalidSpec"
    assert "spec.parameters.b.when.a: a never takes the value 3" in ready["message"]


def test_the_search_space_is_told_once_when_the_sweep_starts() -> None:
    parameters = {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1},
        "batch_size": {"values": [32, 64, 128]},
        "x": {"min": 0, "max": 1},  # `min: 0.0, max: 1.0` as the API server stores it
    }
    first = decide(sweep(method="random", parameters=parameters), [])
    told = [e for e in first.of(reconcile.Event) if e.reason == "SearchSpace"]
    assert told == [
        reconcile.Event(
            "Normal",
            "SearchSpace",
            "lr: log_uniform_values [1e-05, 0.1], batch_size: categorical [32, 64, 128], "
            "x: int_uniform [0, 1] (integers: write distribution: uniform for a continuous range)",
        )
    ]
    # Not at later passes, nor after a restart: the status says the sweep has started.
    later = decide(sweep(method="random", parameters=parameters, status=first.status), [])
    assert [e for e in later.of(reconcile.Event) if e.reason == "SearchSpace"] == []


def test_a_sweep_whose_first_spec_is_invalid_tells_its_search_space_once_fixed() -> None:
    invalid = decide(sweep(method="bayes", metric=None), [])
    assert invalid.phase == Phase.CRASHED and invalid.status["startTime"] is None
    assert [e for e in invalid.of(reconcile.Event) if e.reason == "SearchSpace"] == []
    fixed = decide(sweep(generation=2, status=invalid.status), [])
    assert [e.message for e in fixed.of(reconcile.Event) if e.reason == "SearchSpace"] == [
        "a: categorical [1, 2], b: categorical [x, y, z]"
    ]
    assert fixed.status["startTime"] == NOW


FORBIDDEN = (
    'jobs.batch "s-0001" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a '
    "resource you can't set finalizers on"
)


def test_a_permission_denied_keeps_the_sweep_running_and_says_which_permission_is_missing() -> None:
    d = decide(sweep(), [], permission_denied=FORBIDDEN)
    assert d.phase == Phase.RUNNING and created(d) == []
    ready = next(c for c in d.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PermissionDenied")
    assert FORBIDDEN in ready["message"] and "update on sweeps/finalizers" in ready["message"]
    warnings = [e for e in d.of(reconcile.Event) if e.type == "Warning"]
    assert [(e.reason, e.message) for e in warnings] == [("PermissionDenied", ready["message"])]
    # While the retry waits, passes say the same and warn no more.
    waiting = decide(sweep(status=d.status), [], permission_denied=FORBIDDEN)
    assert waiting.phase == Phase.RUNNING and created(waiting) == []
    assert [e for e in waiting.of(reconcile.Event) if e.type == "Warning"] == []
    assert (
        next(c for c in waiting.status["conditions"] if c["type"] == "Ready")["reason"] == "PermissionDenied"
    )
    # Granted: the same spec (no new generation) starts its runs.
    granted = decide(sweep(status=waiting.status), [])
    assert granted.phase == Phase.RUNNING and len(created(granted)) == 2
    assert next(c for c in granted.status["conditions"] if c["type"] == "Ready")["status"] == "True"


def test_a_permission_denied_holds_nothing_back_but_new_runs() -> None:
    active = [run(1, RunState.RUNNING, {"a": 1, "b": "x"}), run(2, RunState.RUNNING, {"a": 1, "b": "y"})]
    d = decide(sweep(), active, permission_denied=FORBIDDEN)  # parallelism is full: nothing to create
    assert next(c for c in d.status["conditions"] if c["type"] == "Ready")["status"] == "True"
    paused = decide(sweep(state="paused"), [], permission_denied=FORBIDDEN)
    assert paused.phase == Phase.PAUSED


def test_permission_retries_back_off_from_1_s_doubling_to_60_s() -> None:
    assert [reconcile.permission_retry_delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def _job(number: int, params: dict[str, Any], **spec: Any) -> dict[str, Any]:
    annotations = {api.ANNOTATION_RUN_NUMBER: str(number), api.ANNOTATION_PARAMETERS: json.dumps(params)}
    return {"metadata": {"name": f"s-{number:04d}", "annotations": annotations}, "spec": spec, "status": {}}


def _pod(phase: str, message: str | None = None) -> dict[str, Any]:
    ended = [{"state": {"terminated": {"exitCode": 0, "message": message}}}] if message else []
    return {
        "metadata": {"name": "p", "creationTimestamp": NOW},
        "status": {"phase": phase, "containerStatuses": ended},
    }


def test_cancel_in_the_second_before_the_job_is_complete_records_the_run_that_ended_finished() -> None:
    # Run 1's pod exited 0 and its Job is not marked Complete yet; run 2 still runs.
    done = runs.observe(_job(1, {"a": 1, "b": "x"}), [_pod("Succeeded", "loss=0.5")])
    going = runs.observe(_job(2, {"a": 1, "b": "y"}), [_pod("Running")])
    specs: list[dict[str, Any]] = [{"state": "cancelled"}, {}]  # cancel; stop-run with its Job deleted
    for spec in specs:
        stopped = replace(going, stop_requested=not spec)
        d = decide(sweep(**spec), [replace(done, stop_requested=not spec, deleting=not spec), stopped])
        assert [r.name for r in d.of(RecordRun)] == ["s-0002"]
        record = next(r for r in d.status["recordedRuns"] if r["name"] == "s-0001")
        assert (record["state"], record["metrics"]) == ("Finished", {"loss": 0.5})
        assert d.status["runs"]["killed"] == 1 and d.status["runs"]["finished"] == 1


def test_cancel_kills_only_the_pods_still_alive_so_ended_runs_keep_their_logs() -> None:
    ended = run(1, RunState.FINISHED, {"a": 1, "b": "x"}, metrics={"loss": 1.0})
    active = run(2, RunState.RUNNING, {"a": 1, "b": "y"}, pods_alive=True, live_pods=("p2",))
    (kill,) = decide(sweep(state="cancelled"), [ended, active]).of(DeletePods)
    assert kill.grace_period_seconds == 0
    assert kill.field_selector == "metadata.name=p2,status.phase!=Succeeded,status.phase!=Failed"


def test_a_job_is_released_only_once_the_job_controller_is_done_with_it() -> None:
    # Ended by its pod: recorded at once, released once its Job is marked Complete.
    done = runs.observe(_job(1, {"a": 1, "b": "x"}), [_pod("Succeeded", "loss=0.5")])
    first = decide(sweep(parallelism=1), [done])
    assert [r["name"] for r in first.status["recordedRuns"]] == ["s-0001"] and not first.of(ReleaseJob)
    complete = _job(1, {"a": 1, "b": "x"})
    complete["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    marked = runs.observe(complete, [_pod("Succeeded", "loss=0.5")])
    (release,) = decide(sweep(parallelism=1, status=first.status), [marked]).of(ReleaseJob)
    assert release.name == "s-0001" and release.result is not None and '"Finished"' in release.result
    # Killed: released once its pods are gone, not while they are being deleted.
    killed = _job(1, {"a": 1, "b": "x"}, suspend=True)
    killed["metadata"]["annotations"][api.ANNOTATION_RESULT] = '{"state":"Killed","metrics":{}}'
    dying = _pod("Running")
    dying["metadata"]["deletionTimestamp"] = NOW
    s = sweep(state="cancelled")
    assert not decide(s, [runs.observe(killed, [dying])]).of(ReleaseJob)
    assert decide(s, [runs.observe(killed, [])]).of(ReleaseJob) == [ReleaseJob("s-0001", None)]


def test_runs_waiting_in_a_queue_are_counted_queued_not_pending_and_fill_parallelism() -> None:
    waiting = [
        run(1, RunState.PENDING, {"a": 1, "b": "x"}, suspended=True),
        run(2, RunState.RUNNING, {"a": 1, "b": "y"}),
    ]
    d = decide(sweep(parallelism=2), waiting)
    assert created(d) == []
    counts = d.status["runs"]
    assert (counts["queued"], counts["pending"], counts["running"], counts["total"]) == (1, 0, 1, 2)
    # Cancelled, a queued run is Killed like any other: its Job never makes a pod.
    cancelled = decide(sweep(state="cancelled"), waiting)
    assert cancelled.status["runs"]["queued"] == 0 and cancelled.status["runs"]["killed"] == 2


def test_a_run_awaiting_its_pods_end_is_not_recorded_and_holds_the_sweep() -> None:
    waiting = run(1, RunState.FINISHED, {"a": 1, "b": "x"}, recorded=False, awaiting_pod=True)
    d = decide(sweep(parallelism=1, parameters={"a": {"values": [1]}}), [waiting])
    assert d.status["recordedRuns"] == [] and not d.of(ReleaseJob) and not d.of(CreateRun)
    assert d.phase == Phase.RUNNING  # draining: the sweep waits for its record
    cancelled = decide(sweep(state="cancelled"), [waiting])
    assert not cancelled.of(RecordRun) and cancelled.status["recordedRuns"] == []


def test_unseeded_sweeps_draw_points_of_their_own_and_the_same_again() -> None:
    def points(uid: str, **spec: Any) -> list[dict[str, Any]]:
        s = sweep(method="random", parameters={"x": {"distribution": "uniform", "min": 0, "max": 1}}, **spec)
        s["metadata"]["uid"] = uid
        return [p for _, p in created(decide(s, []))]

    assert points("uid-1") != points("uid-2")
    assert points("uid-1") == points("uid-1")  # a restart reproduces it
    assert points("uid-1", seed=7) == points("uid-2", seed=7)


def test_a_run_that_cannot_start_is_recorded_failed_on_its_job_and_its_pod_deleted() -> None:
    stuck = run(
        1,
        RunState.FAILED,
        {"a": 1, "b": "x"},
        recorded=False,
        stuck=True,
        reason="ErrImagePull",
        has_pods=True,
        live_pods=("p1",),
    )
    d = decide(sweep(parallelism=1), [stuck])
    (record,) = d.of(RecordRun)
    # Never a suspend (a queue undoes it): its deleted pod is the Job's last failure, no replacement.
    assert record.job_spec == {"backoffLimit": 0} and '"reason":"ErrImagePull"' in record.result
    assert DeletePods(f"{api.LABEL_RUN}=s-0001", 0, f"metadata.name=p1,{reconcile.ALIVE_PODS}") in d.of(
        DeletePods
    )
    assert d.status["runs"]["failed"] == 1  # its record reaches the status with its Job's release


def test_a_failed_runs_record_and_event_say_why() -> None:
    failed = run(
        1,
        RunState.FAILED,
        {"a": 1, "b": "x"},
        recorded=False,
        reason="StartError",
        exit_code=128,
        message="no trian",
    )
    d = decide(sweep(), [failed])
    record = d.status["recordedRuns"][0]
    assert (record["reason"], record["exitCode"], record["message"]) == ("StartError", 128, "no trian")
    (event,) = [e for e in d.of(reconcile.Event) if e.reason == "RunFailed"]
    assert event.type == "Warning" and "StartError (exit code 128): no trian" in event.message
    # The record survives its Job's release: read back from the status.
    (again,) = reconcile.recorded_runs(d.status)
    assert (again.reason, again.exit_code, again.message) == ("StartError", 128, "no trian")


def _failures(count: int, **kw: Any) -> list[Run]:
    return [run(i, RunState.FAILED, {"a": i}, reason="Error", **kw) for i in range(1, count + 1)]


def test_a_sweep_whose_first_five_runs_failed_ends_failed_without_max_failed_runs() -> None:
    many = {"a": {"values": list(range(1, 20))}}
    assert decide(sweep(parameters=many), _failures(4)).phase == Phase.RUNNING
    d = decide(sweep(parameters=many), _failures(5))
    assert d.phase == Phase.FAILED and not d.of(CreateRun)
    ready = next(c for c in d.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "FirstRunsFailed")
    # A run that finished: failures no longer stop it, unless maxFailedRuns says so.
    one_done = [*_failures(5), run(6, RunState.FINISHED, {"a": 6}, metrics={"loss": 1.0})]
    assert decide(sweep(parameters=many), one_done).phase == Phase.RUNNING
    assert decide(sweep(parameters=many, maxFailedRuns=10), _failures(5)).phase == Phase.RUNNING


def test_a_finished_sweep_without_a_result_is_not_completed() -> None:
    one = {"a": {"values": [1]}}
    quiet = run(1, RunState.FINISHED, {"a": 1}, recorded=False)
    d = decide(sweep(parameters=one, parallelism=1), [quiet])
    assert d.phase == Phase.FINISHED
    completed = next(c for c in d.status["conditions"] if c["type"] == "Completed")
    assert (completed["status"], completed["reason"]) == ("False", "NoMetricReported")
    (warning,) = [e for e in d.of(reconcile.Event) if e.reason == "MetricMissing"]
    assert warning.type == "Warning" and "loss" in warning.message
    failed = decide(sweep(parameters=one, parallelism=1, maxFailedRuns=5), _failures(1))
    completed = next(c for c in failed.status["conditions"] if c["type"] == "Completed")
    assert (failed.phase, completed["status"], completed["reason"]) == (
        Phase.FINISHED,
        "False",
        "NoRunFinished",
    )
    good = run(1, RunState.FINISHED, {"a": 1}, metrics={"loss": 1.0})
    completed = next(
        c for c in decide(sweep(parameters=one), [good]).status["conditions"] if c["type"] == "Completed"
    )
    assert completed["status"] == "True"


def test_the_best_metric_is_shown_to_4_significant_digits() -> None:
    assert [reconcile.metric_text(v) for v in (0.08312345678901234, 3.0, 1234567.0, 1.5e-7, None)] == [
        "0.08312", "3", "1.235e+06", "1.5e-07", None,
    ]  # fmt: skip


def test_no_reason_is_repeated_inside_its_own_message() -> None:
    # `kubectl sweep status` prints a condition as "REASON: MESSAGE", kubectl describe an event
    # beside its reason: a message that starts with its reason reads "Cancelled: Cancelled: ...".
    busy = [run(1, RunState.RUNNING, {"a": 1, "b": "x"})]
    seen: list[tuple[str, str]] = []
    for state in ("cancelled", "paused", "stopped", "running"):
        for observed in (busy, []):
            d = decide(sweep(state=state, status={"phase": "Running"}), observed)
            seen += [(c["reason"], c["message"]) for c in d.status["conditions"] if c.get("reason")]
            seen += [(e.reason, e.message) for e in d.of(reconcile.Event)]
    invalid = decide(sweep(method="bayes", metric=None, status={"phase": "Running"}), [])
    seen += [(e.reason, e.message) for e in invalid.of(reconcile.Event)]
    assert {reason for reason, _ in seen} >= {"Cancelled", "Paused", "Stopping", "Stopped", "InvalidSpec"}
    repeated = [(r, m) for r, m in seen if m.lower().startswith(r.lower())]
    assert repeated == []


def test_an_invalid_spec_is_warned_of_once_per_change_of_the_spec() -> None:
    first = decide(sweep(method="bayes", metric=None), [])
    warnings = [e for e in first.of(reconcile.Event) if e.reason == reconcile.INVALID_SPEC]
    assert len(warnings) == 1
    # Every later pass of the same generation (a pod's event, a wake-up) finds it invalid again.
    again = decide(sweep(method="bayes", metric=None, status=first.status), [])
    assert again.phase == Phase.CRASHED
    assert [e for e in again.of(reconcile.Event) if e.reason == reconcile.INVALID_SPEC] == []
    changed = decide(sweep(generation=2, method="bayes", metric=None, status=again.status), [])
    assert [e.reason for e in changed.of(reconcile.Event)].count(reconcile.INVALID_SPEC) == 1


def test_a_template_naming_an_unknown_parameter_is_warned_of_once_per_change() -> None:
    template = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "c", "image": "i", "args": ["--lr=${params.lr}"]}]}}
        }
    }
    first = decide(sweep(template=template), [])
    again = decide(sweep(template=template, status=first.status), [])
    changed = decide(sweep(generation=2, template=template, status=again.status), [])
    counts = [
        [e.reason for e in d.of(reconcile.Event)].count(reconcile.INVALID_SPEC)
        for d in (first, again, changed)
    ]
    assert counts == [1, 0, 1]


def test_a_sweep_finishes_only_once_its_status_holds_every_ended_runs_record() -> None:
    # Hyperband stopped run 2: recorded Killed on its Job, its pod terminated, but the Job
    # controller has not marked the Job Failed yet, so it is not released and the status does
    # not hold its record. The sweep drains until it does: Finished means every run it counts
    # is in recordedRuns.
    finished = run(1, RunState.FINISHED, {"a": 1, "b": "x"}, metrics={"loss": 1.0})
    stopped = run(
        2, RunState.KILLED, {"a": 1, "b": "y"}, metrics={"loss": 3.0}, early_stopped=True,
        reason="EarlyTerminated", settled=False,
    )  # fmt: skip
    d = decide(sweep(runCap=2), [finished, stopped])
    assert d.status["runs"]["killed"] == 1 and [r.name for r in d.of(ReleaseJob)] == ["s-0001"]
    assert [r["name"] for r in d.status["recordedRuns"]] == ["s-0001"]
    assert d.phase == Phase.RUNNING and created(d) == []
    progressing = next(c for c in d.status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "Draining"
    # The Job controller marks it Failed: it is released, its record in the status, and only now
    # the sweep is Finished.
    d = decide(sweep(runCap=2, status=d.status), [replace(stopped, settled=True)])
    assert d.of(ReleaseJob) == [ReleaseJob("s-0002", None)]
    assert [r["name"] for r in d.status["recordedRuns"]] == ["s-0001", "s-0002"]
    assert d.phase == Phase.FINISHED


def test_a_stopped_sweep_is_stopped_only_once_its_status_holds_every_ended_runs_record() -> None:
    killed = run(1, RunState.KILLED, {"a": 1, "b": "x"}, reason="StoppedByUser", settled=False)
    d = decide(sweep(state="stopped"), [killed])
    assert d.phase == Phase.STOPPING and d.status["recordedRuns"] == []
    d = decide(sweep(state="stopped", status=d.status), [replace(killed, settled=True)])
    assert d.phase == Phase.STOPPED and [r["name"] for r in d.status["recordedRuns"]] == ["s-0001"]
