"""What the operator does around a decision, decided in the core: Jobs let go, pods labelled
recorded, a refused creation decided again, how a record counts in the metrics."""

from __future__ import annotations

from typing import Any

from kubesweep import api, housekeeping, reconcile
from kubesweep.api import Phase, RunState
from kubesweep.reconcile import Decision, RecordRun

SWEEP: dict[str, Any] = {
    "metadata": {"name": "s", "namespace": "ns", "uid": "u", "generation": 1},
    "spec": {
        "method": "grid",
        "parameters": {"a": {"values": [1, 2]}},
        "parallelism": 2,
        "template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
    },
}


def _job(name: str, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": "r", **meta}}


def _pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}}


def test_only_a_job_being_deleted_that_only_our_finalizer_keeps_is_let_go() -> None:
    jobs = [
        _job("a", deletionTimestamp="t", finalizers=[api.JOB_FINALIZER, "other/one"]),
        _job("b", deletionTimestamp="t", finalizers=["other/one"]),
        _job("c", finalizers=[api.JOB_FINALIZER]),
    ]
    assert housekeeping.let_go(jobs) == [housekeeping.LetGo("a", (api.JOB_FINALIZER, "other/one"), "r")]


def test_pods_labelled_are_those_of_jobs_released_and_those_left_behind_by_recorded_runs() -> None:
    decision = Decision([], Phase.RUNNING, {"recordedRuns": [{"name": "s-0001"}, {"name": "s-0003"}]})
    released = [_job("s-0001"), _job("s-0002", deletionTimestamp="t")]
    pods_by_run = {"s-0001": [_pod("p1")], "s-0002": [_pod("p2")]}
    left_behind = {
        **pods_by_run,
        "s-0003": [_pod("p3"), _pod("p1")],  # its Job is gone from the cache
        "s-0004": [_pod("p4")],  # not recorded
        "s-0005": [_pod("p5")],  # recorded? no
    }
    names = housekeeping.pods_to_label(decision, released, ["s-0001", "s-0002"], pods_by_run, left_behind)
    # Not the pods of a Job being deleted (they go with it); each pod once.
    assert names == ["p1", "p3"]
    # A recorded run whose Job is still watched keeps its pods until its Job is released.
    assert housekeeping.pods_to_label(decision, [], ["s-0001", "s-0003"], pods_by_run, left_behind) == []


def test_a_403_is_told_before_a_rejection() -> None:
    assert housekeeping.refusal("no", "bad") == housekeeping.Refusal(True, "no")
    assert housekeeping.refusal(None, "bad") == housekeeping.Refusal(False, "bad")
    assert housekeeping.refusal(None, None) is None


def test_a_refused_creation_is_decided_again() -> None:
    denied = housekeeping.after_refusal(SWEEP, [], housekeeping.Refusal(True, 'jobs is forbidden: User "x"'))
    assert denied.phase == Phase.RUNNING
    assert not denied.of(reconcile.CreateRun)
    assert any(c["reason"] == reconcile.PERMISSION_DENIED for c in denied.status["conditions"])
    rejected = housekeeping.after_refusal(SWEEP, [], housekeeping.Refusal(False, "spec.template: Required"))
    assert rejected.phase == Phase.CRASHED
    assert not rejected.of(reconcile.CreateRun)


def test_a_record_counts_as_killed_or_failed_by_its_state_not_its_text() -> None:
    def record(result: str) -> RecordRun:
        return RecordRun("s-0001", result)

    assert housekeeping.counted_as(record('{"state":"Killed"}')) == RunState.KILLED
    assert housekeeping.counted_as(record('{"metrics":{},"state":"Crashed"}')) == RunState.FAILED
    assert housekeeping.counted_as(record('{"state": "Failed"}')) == RunState.FAILED  # spaced JSON too
    assert housekeeping.counted_as(record('{"reason":"\\"state\\":\\"Killed\\"","state":"Finished"}')) is None
    assert housekeeping.counted_as(record("not json")) is None
    assert housekeeping.counted_as(record("[]")) is None


def test_a_deleted_pod_tells_how_its_run_ended_if_it_succeeded_or_was_disrupted() -> None:
    def pod(phase: str, *conditions: dict[str, str]) -> dict[str, Any]:
        return {"metadata": {"name": "p"}, "status": {"phase": phase, "conditions": list(conditions)}}

    disrupted = {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
    assert housekeeping.tells_an_end(pod("Succeeded"))
    assert housekeeping.tells_an_end(pod("Failed", disrupted))
    assert not housekeeping.tells_an_end(pod("Failed"))  # a suspend's deletion, say
    assert not housekeeping.tells_an_end(pod("Running", disrupted))
