"""Which watch events of a sweep's Jobs and pods bring a reconcile pass (the reconciler the
handlers tell of each event)."""

from __future__ import annotations

from typing import Any

from kubesweep import api
from kubesweep.reconciler import Reconciler
from tests.unit.fake_cluster import FakeCluster

KEY = ("ns", "s")
OURS = {api.LABEL_SWEEP: "s", api.LABEL_MANAGED_BY: api.MANAGED_BY}


def test_the_deleted_event_of_a_job_or_pod_we_let_go_brings_no_pass_whatever_labels_it_carries() -> None:
    reconciler = Reconciler(FakeCluster())
    reconciler.expectations.released(KEY, jobs=["s-0001"], pods=["s-0001-abcde"])
    # The API server sends it with the object as it was before our label: without recorded.
    assert not reconciler.wants_pass(KEY, "DELETED", "jobs", "s-0001", OURS)
    assert not reconciler.wants_pass(KEY, "DELETED", "pods", "s-0001-abcde", OURS)
    # (The sandbox sends the object as it is after the change.)
    assert not reconciler.wants_pass(KEY, "DELETED", "jobs", "s-0002", {**OURS, api.LABEL_RECORDED: "true"})


def test_other_events_bring_a_pass() -> None:
    reconciler = Reconciler(FakeCluster())
    reconciler.expectations.released(KEY, jobs=["s-0001"])
    assert reconciler.wants_pass(KEY, "MODIFIED", "jobs", "s-0001", OURS)
    assert reconciler.wants_pass(KEY, "DELETED", "jobs", "s-0003", OURS)  # deleted by someone
    assert reconciler.wants_pass(KEY, "DELETED", "pods", "s-0001", OURS)  # a pod, not the Job
    assert not reconciler.wants_pass(KEY, "DELETED", "jobs", "s-0001", OURS)
    assert reconciler.wants_pass(KEY, "DELETED", "jobs", "s-0001", OURS)  # only once: forgotten


def _pod(name: str, phase: str, *conditions: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {**OURS, api.LABEL_RUN: "s-0001"},
            "deletionTimestamp": "2026-11-24T12:00:00Z",
            "ownerReferences": [{"kind": "Job", "uid": "job-uid"}],
        },
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": phase, "conditions": list(conditions)},
    }


def test_a_pod_deleted_after_it_succeeded_or_was_disrupted_is_remembered_as_it_was_last() -> None:
    reconciler = Reconciler(FakeCluster())
    disrupted = {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
    reconciler.note_gone(KEY, _pod("ok", "Succeeded"))
    reconciler.note_gone(KEY, _pod("evicted", "Failed", disrupted))
    # A pod a suspend deleted (no failure of the run), or one still running, says nothing of an end.
    reconciler.note_gone(KEY, _pod("suspended", "Failed"))
    reconciler.note_gone(KEY, _pod("killed", "Running", disrupted))
    gone = reconciler._gone_pods[KEY]
    assert sorted(gone) == ["evicted", "ok"]
    assert all(p["gone"] and p["ownerUid"] == "job-uid" for p in gone.values())
    assert gone["evicted"]["status"]["conditions"][0]["reason"] == "EvictionByEvictionAPI"
