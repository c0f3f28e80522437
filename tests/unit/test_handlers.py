"""Which watch events of a sweep's Jobs and pods bring a reconcile pass."""

from __future__ import annotations

from kubesweep import api
from kubesweep.handlers import Reconciler

KEY = ("ns", "s")
OURS = {api.LABEL_SWEEP: "s", api.LABEL_MANAGED_BY: api.MANAGED_BY}


def test_the_deleted_event_of_a_job_or_pod_we_let_go_brings_no_pass_whatever_labels_it_carries() -> None:
    reconciler = Reconciler()
    reconciler.note_released(KEY, jobs=["s-0001"], pods=["s-0001-abcde"])
    # The API server sends it with the object as it was before our label: without recorded.
    assert not reconciler.wants_pass(KEY, "DELETED", "jobs", "s-0001", OURS)
    assert not reconciler.wants_pass(KEY, "DELETED", "pods", "s-0001-abcde", OURS)
    # (The sandbox sends the object as it is after the change.)
    assert not reconciler.wants_pass(KEY, "DELETED", "jobs", "s-0002", {**OURS, api.LABEL_RECORDED: "true"})


def test_other_events_bring_a_pass() -> None:
    reconciler = Reconciler()
    reconciler.note_released(KEY, jobs=["s-0001"])
    assert reconciler.wants_pass(KEY, "MODIFIED", "jobs", "s-0001", OURS)
    assert reconciler.wants_pass(KEY, "DELETED", "jobs", "s-0003", OURS)  # deleted by someone
    assert reconciler.wants_pass(KEY, "DELETED", "pods", "s-0001", OURS)  # a pod, not the Job
    assert not reconciler.wants_pass(KEY, "DELETED", "jobs", "s-0001", OURS)
    assert reconciler.wants_pass(KEY, "DELETED", "jobs", "s-0001", OURS)  # only once: forgotten
