"""The operator's in-memory copies of Jobs and pods: a run observed from them is the very run
observed from the full objects, at a fraction of their size."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubesweep import api, runs, slim

T0 = "2026-11-24T12:00:00Z"


def full_job(conditions: list[dict[str, Any]], **annotations: str) -> dict[str, Any]:
    """A Job as the API server returns it, with the fields a real one carries."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "lr-0003",
            "namespace": "ml",
            "uid": "0b6f4f7e-1",
            "resourceVersion": "4711",
            "generation": 1,
            "creationTimestamp": T0,
            "finalizers": [api.JOB_FINALIZER],
            "labels": {
                api.LABEL_SWEEP: "lr",
                api.LABEL_RUN: "lr-0003",
                api.LABEL_MANAGED_BY: api.MANAGED_BY,
                "batch.kubernetes.io/controller-uid": "0b6f4f7e-1",
                "team": "vision",
            },
            "annotations": {
                api.ANNOTATION_PARAMETERS: '{"lr": 0.01}',
                api.ANNOTATION_RUN_NUMBER: "3",
                "batch.kubernetes.io/job-tracking": "",
                **annotations,
            },
            "ownerReferences": [{"kind": "Sweep", "name": "lr", "uid": "s-1", "controller": True}],
            "managedFields": [{"manager": "kubesweep-operator", "fieldsV1": {"f:metadata": {}}}] * 3,
        },
        "spec": {
            "backoffLimit": 0,
            "completions": 1,
            "parallelism": 1,
            "suspend": False,
            "template": {
                "metadata": {"labels": {api.LABEL_RUN: "lr-0003"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "train",
                            "image": "python:3.11",
                            "command": ["python", "train.py"],
                            "env": [{"name": f"KUBESWEEP_{i}", "value": "x" * 20} for i in range(6)],
                        }
                    ],
                },
            },
        },
        "status": {"startTime": T0, "active": 0, "conditions": conditions, "uncountedTerminatedPods": {}},
    }


def condition(kind: str, status: str = "True", reason: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": "Reached expected number of succeeded pods",
        "lastProbeTime": T0,
        "lastTransitionTime": T0,
    }


def with_status(body: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {**body, "status": {**body["status"], **status}}


def full_pod(phase: str, state: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "lr-0003-x7k2p",
            "generateName": "lr-0003-",
            "namespace": "ml",
            "uid": "p-1",
            "resourceVersion": "4712",
            "creationTimestamp": T0,
            "labels": {api.LABEL_SWEEP: "lr", api.LABEL_RUN: "lr-0003", "job-name": "lr-0003"},
            "ownerReferences": [{"kind": "Job", "name": "lr-0003", "uid": "0b6f4f7e-1"}],
        },
        "spec": {"containers": [{"name": "train", "image": "python:3.11"}], "nodeName": "node-1"},
        "status": {
            "phase": phase,
            **({"reason": reason} if reason else {}),
            "hostIP": "10.0.0.1",
            "podIP": "10.1.0.7",
            "conditions": [condition("Ready", "False")],
            "containerStatuses": [
                {
                    "name": "train",
                    "image": "python:3.11",
                    "imageID": "sha256:abc",
                    "ready": False,
                    "state": state,
                }
            ],
        },
    }


def ended(code: int, reason: str, message: str | None = None) -> dict[str, Any]:
    terminated = {
        "exitCode": code,
        "reason": reason,
        "startedAt": T0,
        "finishedAt": T0,
        "containerID": "c://1",
    }
    if message is not None:
        terminated["message"] = message
    return {"terminated": terminated}


CASES = {
    "pending, image pulling": (
        full_job([]),
        [full_pod("Pending", {"waiting": {"reason": "ContainerCreating"}})],
    ),
    "running": (full_job([]), [full_pod("Running", {"running": {"startedAt": T0}})]),
    "finished with a message": (
        full_job([condition("SuccessCriteriaMet"), condition("Complete")]),
        [full_pod("Succeeded", ended(0, "Completed", "loss=0.25\nacc=0.9"))],
    ),
    "finished, metrics in the log": (
        full_job([condition("Complete")]),
        [full_pod("Succeeded", ended(0, "Completed"))],
    ),
    "failed": (
        full_job(
            [
                condition("FailureTarget", reason="BackoffLimitExceeded"),
                condition("Failed", reason="BackoffLimitExceeded"),
            ]
        ),
        [full_pod("Failed", ended(1, "Error", "loss=nan"))],
    ),
    "out of memory": (
        full_job([condition("Failed", reason="BackoffLimitExceeded")]),
        [full_pod("Failed", ended(137, "OOMKilled"))],
    ),
    "evicted": (
        full_job([condition("Failed", reason="BackoffLimitExceeded")]),
        [full_pod("Failed", {}, reason="Evicted")],
    ),
    "suspended and stopped by hand": (
        {**full_job([condition("Suspended")], **{api.ANNOTATION_STOP: "true"}), "spec": {"suspend": True}},
        [],
    ),
    "stopped by the operator, its pod kept": (
        with_status(full_job([condition("Failed", reason="BackoffLimitExceeded")]), failed=1),
        [
            {
                **full_pod("Failed", ended(143, "Error"), reason="DeadlineExceeded"),
                "spec": {"containers": [{"name": "train"}], "activeDeadlineSeconds": runs.STOP_DEADLINE},
            }
        ],
    ),
    "recorded": (
        full_job(
            [condition("Complete")],
            **{api.ANNOTATION_RESULT: '{"state": "Finished", "metrics": {"loss": 0.25}}'},
        ),
        [full_pod("Succeeded", ended(0, "Completed", "loss=0.25"))],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_run_observed_from_the_slim_copies_is_the_same_run(case: str) -> None:
    job, pods = CASES[case]
    deleting = copy.deepcopy(job)
    deleting["metadata"]["deletionTimestamp"] = T0
    for body in (job, deleting):
        for log in (None, "loss=0.5 step=1\nloss=0.3\n"):
            expected = runs.observe(body, pods, log)
            assert runs.observe(slim.job(body), [slim.pod(p) for p in pods], log) == expected


def test_the_slim_copies_keep_what_a_release_needs_and_drop_the_rest() -> None:
    job, pods = CASES["finished with a message"]
    kept = slim.job(job)
    assert (
        kept["metadata"]["finalizers"] == [api.JOB_FINALIZER]
        and kept["metadata"]["resourceVersion"] == "4711"
    )
    assert set(kept["metadata"]["labels"]) == {api.LABEL_SWEEP, api.LABEL_RUN}
    assert "batch.kubernetes.io/job-tracking" not in kept["metadata"]["annotations"]
    assert len(json.dumps(kept)) < len(json.dumps(job)) / 4
    assert len(json.dumps(slim.pod(pods[0]))) < len(json.dumps(pods[0])) / 2


def test_a_recorded_job_keeps_only_whether_it_ended() -> None:
    # A killed run's Job is let go once the Job controller marked it Failed: that must show.
    job, _ = CASES["recorded"]
    assert slim.job(job)["status"]["conditions"] == [{"type": "Complete", "status": "True", "reason": ""}]
    running = full_job([condition("Suspended", "False")], **{api.ANNOTATION_RESULT: '{"state": "Killed"}'})
    assert slim.job(running)["status"]["conditions"] == []


def test_a_sweep_decided_from_its_slim_copy_decides_the_same_and_compares_equal() -> None:
    from kubesweep import reconcile

    from .test_folding import removed_status, sweep

    full = sweep(status=removed_status(40))
    copy_ = slim.sweep(full)
    assert isinstance(copy_["status"]["recordedRuns"], slim.PackedRecords)
    assert reconcile.decide(copy_, [], now=T0) == reconcile.decide(full, [], now=T0)
    # The handler skips a status write equal to what the index holds: packed or not.
    written = reconcile.decide(full, [], now=T0).status
    assert slim.sweep({**full, "status": written})["status"] == written
    assert slim.sweep({**full, "status": written})["status"] != {**written, "recordedRuns": []}
    assert (
        not slim.PackedRecords([]) and list(copy_["status"]["recordedRuns"]) == full["status"]["recordedRuns"]
    )


def test_a_slim_job_keeps_what_tells_from_its_pods_whether_its_run_ended() -> None:
    body = {
        "metadata": {"name": "s-0001", "annotations": {}},
        "spec": {"backoffLimit": 2, "completions": 1, "podFailurePolicy": {"rules": []}},
        "status": {},
    }
    assert slim.job(body)["spec"] == {"backoffLimit": 2, "podFailurePolicy": True}
    assert slim.job({**body, "spec": {"backoffLimit": 0, "completions": 3}})["spec"] == {"completions": 3}


def test_a_slim_pod_keeps_how_often_its_container_restarted() -> None:
    # A restarted container's log is a new one: the operator reads it from its start.
    body = full_pod("Running", {"running": {"startedAt": T0}})
    assert "restartCount" not in slim.pod(body)["status"]["containerStatuses"][0]
    body["status"]["containerStatuses"][0]["restartCount"] = 2
    assert slim.pod(body)["status"]["containerStatuses"][0]["restartCount"] == 2
