"""What happens to runs already executing when the cluster or a person acts on them (issue 14's
"also" list): a drain's eviction, a stop in its grace period, parallelism lowered, a Job
suspended by hand. On both backends."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from kubesweep import api

from .conftest import Kube, condition, grid, pods_of, running, wait_for

pytestmark = pytest.mark.integration

# Runs until stopped; on SIGTERM it takes 3 s to exit (a checkpoint written, say).
SLOW_TO_STOP = (
    "import signal, sys, time\n"
    "def stop(*_):\n"
    "    print('stopping', flush=True)\n"
    "    time.sleep(3)\n"
    "    sys.exit(143)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "print('step=1 loss=0.5', flush=True)\n"
    "time.sleep(120)\n"
)


def record(kube: Kube, ns: str, sweep: str, run: str) -> dict[str, Any] | None:
    return kube.records(ns, sweep).get(run)


class PodCounter(threading.Thread):
    """Samples the sweep's pods not yet terminated (running, or in their grace period) and keeps
    the most seen at once, with which they were."""

    def __init__(self, kube: Kube, ns: str, sweep: str) -> None:
        super().__init__(daemon=True)
        self.kube, self.ns, self.sweep = kube, ns, sweep
        self.done = threading.Event()
        self.most: list[str] = []

    def run(self) -> None:
        while not self.done.is_set():
            alive = [
                f"{p['metadata']['name']}:{p['status'].get('phase')}"
                + (":deleting" if p["metadata"].get("deletionTimestamp") else "")
                for p in self.kube.pods(self.ns, self.sweep)
                if p["status"].get("phase") not in ("Succeeded", "Failed")
            ]
            if len(alive) > len(self.most):
                self.most = alive
            self.done.wait(0.03)

    def stop(self) -> list[str]:
        self.done.set()
        self.join(5)
        return self.most


# Item 1: a pod taken away by a node drain (the eviction API) crashes its run, not fails it.
def test_a_run_whose_pod_is_evicted_by_a_drain_is_crashed(kube: Kube, ns: str) -> None:
    kube.create_sweep(ns, "drained", grid(SLOW_TO_STOP, [1, 2]))
    pod = wait_for(lambda: running(kube, ns, "drained-0001"), 30, "run 1 running")
    name = pod["metadata"]["name"]
    eviction: Any = {"metadata": {"name": name, "namespace": ns}}
    kube.core.create_namespaced_pod_eviction(name, ns, eviction)
    ended = wait_for(
        lambda: record(kube, ns, "drained", "drained-0001"),
        30,
        "run 1's record",
        lambda: kube.sweep(ns, "drained").get("status"),
    )
    assert (ended["state"], ended["reason"]) == ("Crashed", "EvictionByEvictionAPI"), ended
    assert "Eviction API" in ended.get("message", ""), ended
    kube.set_state(ns, "drained", "cancelled")


# Item 5: a stopped run's replacement starts once its pod has terminated, not in its grace period.
def test_a_stopped_runs_replacement_waits_for_its_pod_to_end(kube: Kube, ns: str) -> None:
    counter = PodCounter(kube, ns, "stops")
    kube.create_sweep(ns, "stops", grid(SLOW_TO_STOP, [1, 2, 3]))
    wait_for(lambda: running(kube, ns, "stops-0001"), 30, "run 1 running")
    counter.start()
    try:
        # Stopped by the annotation (stop-run), then by deleting its Job: either way its pod takes
        # 3 s to exit, and only then does the next run start.
        kube.batch.patch_namespaced_job(
            "stops-0001", ns, {"metadata": {"annotations": {api.ANNOTATION_STOP: "true"}}}
        )
        wait_for(lambda: running(kube, ns, "stops-0002"), 30, "run 2 in its place")
        kube.batch.delete_namespaced_job("stops-0002", ns, propagation_policy="Background")
        wait_for(lambda: running(kube, ns, "stops-0003"), 30, "run 3 in its place")
    finally:
        most = counter.stop()
    assert len(most) == 1, f"more pods executing at once than parallelism 1: {most}"
    records = kube.records(ns, "stops")
    assert {n: records[n]["state"] for n in ("stops-0001", "stops-0002")} == {
        "stops-0001": "Killed",
        "stops-0002": "Killed",
    }
    kube.set_state(ns, "stops", "cancelled")


# Item 4: lowering parallelism stops no run: the runs executing finish, and no new one starts
# until fewer than the new parallelism execute.
def test_lowering_parallelism_lets_the_runs_executing_finish(kube: Kube, ns: str) -> None:
    code = "import time\ntime.sleep(4)\nprint('loss=1')\n"
    kube.create_sweep(ns, "lower", grid(code, [1, 2, 3, 4], parallelism=2))
    wait_for(
        lambda: running(kube, ns, "lower-0001") and running(kube, ns, "lower-0002"),
        30,
        "runs 1 and 2 running",
    )
    counter = PodCounter(kube, ns, "lower")
    kube.custom.patch_namespaced_custom_object(
        api.GROUP, api.VERSION, ns, api.PLURAL, "lower", {"spec": {"parallelism": 1}}
    )
    time.sleep(0.5)  # the operator has seen the change
    counter.start()
    try:
        wait_for(lambda: pods_of(kube, ns, "lower-0003"), 30, "run 3 started")
        # Run 3 started only once runs 1 and 2 had both ended by themselves.
        for run in ("lower-0001", "lower-0002"):
            assert all(p["status"]["phase"] == "Succeeded" for p in pods_of(kube, ns, run))
    finally:
        counter.stop()
    done = kube.wait_phase(ns, "lower", "Finished", timeout=60)
    assert {r["state"] for r in done["status"]["recordedRuns"]} == {"Finished"}
    assert done["status"]["runs"]["finished"] == 4


# Item 3: a Job suspended by hand: its run waits, counted queued and said so, and resumes.
def test_a_run_whose_job_is_suspended_by_hand_waits_and_resumes(kube: Kube, ns: str) -> None:
    code = "import time\ntime.sleep(3)\nprint('loss=1')\n"
    kube.create_sweep(ns, "held", grid(code, [1, 2]))
    wait_for(lambda: running(kube, ns, "held-0001"), 30, "run 1 running")
    kube.batch.patch_namespaced_job("held-0001", ns, {"spec": {"suspend": True}})

    def waiting() -> dict[str, Any] | None:
        sweep = kube.sweep(ns, "held")
        progressing = condition(sweep, "Progressing")
        counts = sweep["status"]["runs"]
        return sweep if progressing.get("reason") == "RunsSuspended" and counts["queued"] == 1 else None

    held = wait_for(waiting, 30, "run 1 shown suspended", lambda: kube.sweep(ns, "held")["status"])
    assert "held-0001" in condition(held, "Progressing")["message"]
    time.sleep(4)  # longer than the run takes: it is neither recorded nor replaced meanwhile
    held = kube.sweep(ns, "held")
    assert not held["status"].get("recordedRuns") and held["status"]["runs"]["queued"] == 1, held["status"]
    assert not pods_of(kube, ns, "held-0002")
    assert wait_for(
        lambda: [
            e.message
            for e in kube.core.list_namespaced_event(ns).items
            if e.involved_object.name == "held" and e.reason == "RunsSuspended"
        ],
        10,
        "the RunsSuspended event",
    )
    kube.batch.patch_namespaced_job("held-0001", ns, {"spec": {"suspend": False}})
    done = kube.wait_phase(ns, "held", {"Finished", "Failed", "Crashed"}, timeout=60)
    assert {r["name"]: r["state"] for r in done["status"]["recordedRuns"]} == {
        "held-0001": "Finished",
        "held-0002": "Finished",
    }
