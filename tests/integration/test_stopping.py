"""How runs are stopped: gracefully, keeping their pods and logs, and for good, even when a
queueing controller (Kueue) owns the Jobs' spec.suspend. On both backends: the queue below is
just a client of the API."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kubesweep import api

from .conftest import Kube, pods_of, python_run, wait_for

pytestmark = pytest.mark.integration

QUEUE = "team-a"
# Prints, then waits to be stopped; says so when it gets SIGTERM (a graceful stop).
LONG_RUN = (
    "import signal, sys, time\n"
    "def stop(*_):\n"
    "    print('got SIGTERM', flush=True)\n"
    "    sys.exit(143)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "print('step=1 loss=0.5', flush=True)\n"
    "time.sleep(120)\n"
)


class FakeQueue(threading.Thread):
    """What Kueue does to the Jobs it manages, as a plain API client: every suspended Job that
    carries the queue label is unsuspended (admitted) quickly, while `admitting` is set."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        super().__init__(daemon=True)
        self.kube, self.namespace = kube, namespace
        self.admitting = threading.Event()
        self.done = threading.Event()
        self.admitted: list[str] = []

    def run(self) -> None:
        while not self.done.is_set():
            if self.admitting.is_set():
                found = self.kube.batch.list_namespaced_job(self.namespace, label_selector=api.LABEL_QUEUE)
                for job in self.kube.api_client.sanitize_for_serialization(found.items):
                    if job["spec"].get("suspend"):
                        name = job["metadata"]["name"]
                        self.kube.batch.patch_namespaced_job(
                            name, self.namespace, {"spec": {"suspend": False}}
                        )
                        self.admitted.append(name)
            self.done.wait(0.05)


@pytest.fixture
def queue(kube: Kube, ns: str) -> Any:
    fake = FakeQueue(kube, ns)
    fake.start()
    yield fake
    fake.done.set()
    fake.join(5)


def queued_spec(parallelism: int = 2) -> dict[str, Any]:
    template = python_run(LONG_RUN)
    template["metadata"] = {"labels": {api.LABEL_QUEUE: QUEUE}}
    return {
        "method": "grid",
        "parameters": {"x": {"values": [1, 2, 3, 4, 5]}},
        "parallelism": parallelism,
        "template": template,
    }


def job_failed(kube: Kube, ns: str, name: str) -> str | None:
    job = kube.api_client.sanitize_for_serialization(kube.batch.read_namespaced_job(name, ns))
    return next(
        (
            c.get("reason")
            for c in job.get("status", {}).get("conditions") or []
            if c["type"] == "Failed" and c["status"] == "True"
        ),
        None,
    )


def record(kube: Kube, ns: str, sweep: str, run: str) -> dict[str, Any] | None:
    records = kube.sweep(ns, sweep).get("status", {}).get("recordedRuns") or []
    return next((r for r in records if r["name"] == run), None)


def started(kube: Kube, ns: str, run: str) -> bool:
    pods = pods_of(kube, ns, run)
    return bool(pods) and all(p["status"].get("phase") == "Running" for p in pods)


def test_a_stopped_run_keeps_its_pod_and_log_and_gets_no_replacement(kube: Kube, ns: str) -> None:
    spec = queued_spec(parallelism=1)
    spec["template"] = python_run(LONG_RUN)
    spec["template"]["spec"]["backoffLimit"] = 3  # a template that retries: the stop is final anyway
    kube.create_sweep(ns, "keep", spec)
    wait_for(lambda: started(kube, ns, "keep-0001"), 30, "run 1 running")
    (pod,) = pods_of(kube, ns, "keep-0001")
    kube.batch.patch_namespaced_job(
        "keep-0001", ns, {"metadata": {"annotations": {api.ANNOTATION_STOP: "true"}}}
    )
    # Stopped by the kubelet with its grace period (its SIGTERM handler ran), and kept.
    wait_for(lambda: job_failed(kube, ns, "keep-0001"), 30, "run 1's Job Failed")
    wait_for(lambda: started(kube, ns, "keep-0002"), 30, "run 2 in its place")
    (kept,) = pods_of(kube, ns, "keep-0001")
    assert kept["metadata"]["uid"] == pod["metadata"]["uid"] and not kept["metadata"].get("deletionTimestamp")
    assert (kept["status"]["phase"], kept["status"].get("reason")) == ("Failed", "DeadlineExceeded")
    log = kube.core.read_namespaced_pod_log(kept["metadata"]["name"], ns)
    assert "step=1 loss=0.5" in log and "got SIGTERM" in log
    assert wait_for(lambda: record(kube, ns, "keep", "keep-0001"), 10, "run 1's record")["state"] == "Killed"
    # Deleting a run's Job stops it too; its record stays in the status (its pods go with the Job).
    kube.batch.delete_namespaced_job("keep-0002", ns)
    assert wait_for(lambda: record(kube, ns, "keep", "keep-0002"), 20, "run 2's record")["state"] == "Killed"
    wait_for(lambda: started(kube, ns, "keep-0003"), 30, "run 3 in its place")
    assert len(pods_of(kube, ns, "keep-0001")) == 1  # the retrying template made no second pod
    kube.set_state(ns, "keep", "cancelled")


def test_runs_waiting_in_a_queue_are_counted_queued_and_start_once_admitted(
    kube: Kube, ns: str, queue: FakeQueue
) -> None:
    kube.create_sweep(ns, "waits", queued_spec())
    counts = wait_for(
        lambda: (c := kube.sweep(ns, "waits").get("status", {}).get("runs") or {}).get("queued") == 2 and c,
        30,
        "two runs queued",
        lambda: kube.sweep(ns, "waits").get("status"),
    )
    assert counts["running"] == 0 and counts["pending"] == 0 and counts["total"] == 2
    assert not pods_of(kube, ns, "waits-0001") and not pods_of(kube, ns, "waits-0002")
    queue.admitting.set()
    wait_for(
        lambda: (c := kube.sweep(ns, "waits")["status"]["runs"])["running"] == 2 and c["queued"] == 0,
        30,
        "both runs admitted and running",
        lambda: kube.sweep(ns, "waits")["status"]["runs"],
    )
    kube.set_state(ns, "waits", "cancelled")
    kube.wait_phase(ns, "waits", "Cancelled", timeout=30)


def test_stop_and_cancel_hold_against_a_queue_that_unsuspends_jobs(
    kube: Kube, ns: str, queue: FakeQueue
) -> None:
    queue.admitting.set()
    kube.create_sweep(ns, "kueue", queued_spec())
    wait_for(lambda: started(kube, ns, "kueue-0001") and started(kube, ns, "kueue-0002"), 30, "two runs")
    # stop-run: the run's pod is stopped and kept; the queue gets nothing to bring back.
    kube.batch.patch_namespaced_job(
        "kueue-0001", ns, {"metadata": {"annotations": {api.ANNOTATION_STOP: "true"}}}
    )
    wait_for(lambda: job_failed(kube, ns, "kueue-0001"), 30, "run 1's Job Failed")
    wait_for(lambda: started(kube, ns, "kueue-0003"), 30, "run 3 in run 1's place")
    # Run 4 waits in the queue when the sweep is cancelled: it never gets a pod.
    queue.admitting.clear()
    kube.batch.patch_namespaced_job(
        "kueue-0003", ns, {"metadata": {"annotations": {api.ANNOTATION_STOP: "true"}}}
    )
    wait_for(lambda: kube.sweep(ns, "kueue")["status"]["runs"]["queued"] == 1, 30, "run 4 queued")
    kube.set_state(ns, "kueue", "cancelled")
    kube.wait_phase(ns, "kueue", "Cancelled", timeout=30)
    queue.admitting.set()
    for name in ("kueue-0002", "kueue-0004"):
        wait_for(lambda name=name: job_failed(kube, ns, name), 30, f"{name}'s Job Failed")  # type: ignore[misc]
    threading.Event().wait(2.0)  # the queue keeps unsuspending: long enough for a pod to come back
    assert not pods_of(kube, ns, "kueue-0004")
    assert [p["status"]["phase"] for p in pods_of(kube, ns, "kueue-0001")] == ["Failed"]
    assert all(len(pods_of(kube, ns, f"kueue-000{i}")) <= 1 for i in (1, 2, 3))
    alive = [
        p for i in (1, 2, 3) for p in pods_of(kube, ns, f"kueue-000{i}") if p["status"]["phase"] == "Running"
    ]
    assert alive == []
    sweep = kube.sweep(ns, "kueue")["status"]
    assert sweep["runs"]["killed"] == 4 and sweep["runs"]["queued"] == 0 and sweep["runs"]["running"] == 0
    assert "got SIGTERM" in kube.core.read_namespaced_pod_log(
        pods_of(kube, ns, "kueue-0001")[0]["metadata"]["name"], ns
    )


def test_a_pods_deadline_can_be_lowered_never_raised_or_removed(kube: Kube, ns: str) -> None:
    # What makes a stop final: the API server's own rule (ValidatePodUpdate).
    spec = queued_spec(parallelism=1)
    spec["template"] = python_run(LONG_RUN)
    kube.create_sweep(ns, "rule", spec)
    wait_for(lambda: started(kube, ns, "rule-0001"), 30, "run 1 running")
    name = pods_of(kube, ns, "rule-0001")[0]["metadata"]["name"]
    kube.core.patch_namespaced_pod(name, ns, {"spec": {"activeDeadlineSeconds": 3600}})
    for value, message in (
        (
            7200,
            "spec.activeDeadlineSeconds: Invalid value: 7200: must be less than or equal to previous value",
        ),
        (
            None,
            "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value",
        ),
    ):
        with pytest.raises(ApiException) as refused:
            kube.core.patch_namespaced_pod(name, ns, {"spec": {"activeDeadlineSeconds": value}})
        assert refused.value.status == 422 and message in str(refused.value.body)
    kube.core.patch_namespaced_pod(name, ns, {"spec": {"activeDeadlineSeconds": 60}})
    kube.set_state(ns, "rule", "cancelled")
