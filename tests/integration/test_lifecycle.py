"""spec.state drives a sweep through its lifecycle: the operator against the sandbox, runs as
real local processes."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
from kubernetes import watch

from kubesweep import api

from .conftest import (
    Kube,
    Operator,
    active_jobs,
    failed,
    python_run,
    released_jobs,
    result_of,
    wait_for,
)

pytestmark = pytest.mark.integration

GRID = {"a": {"values": [1, 2]}, "b": {"values": ["x", "y", "z"]}}
# loss = 10*a + (ord(b) - ord("x")): the best point is a=1, b=x with loss 10.
REPORT = (
    "import json, os, time; p = json.loads(os.environ['KUBESWEEP_PARAMETERS']); "
    "time.sleep(float(os.environ.get('SLEEP', '0.2'))); "
    "print('loss=%s' % (10 * p['a'] + ord(p['b']) - ord('x')))"
)


def grid_spec(sleep: float = 0.2, **spec: Any) -> dict[str, Any]:
    return {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": GRID,
        "parallelism": 2,
        "template": python_run(REPORT, env=[{"name": "SLEEP", "value": str(sleep)}]),
        **spec,
    }


class ActiveWatcher(threading.Thread):
    """Samples the sweep's Jobs while it runs and remembers the most ever active at once."""

    def __init__(self, kube: Kube, ns: str, sweep: str) -> None:
        super().__init__(daemon=True)
        self.kube, self.ns, self.sweep = kube, ns, sweep
        self.most = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            jobs = self.kube.jobs(self.ns, self.sweep)
            self.most = max(self.most, len(active_jobs(jobs, self.kube.pods(self.ns, self.sweep))))
            time.sleep(0.02)


def test_grid_runs_every_point_within_parallelism_and_finds_the_best(kube: Kube, ns: str) -> None:
    kube.create_sweep(ns, "grid", grid_spec())
    watcher = ActiveWatcher(kube, ns, "grid")
    watcher.start()
    sweep = kube.wait_phase(ns, "grid", "Finished", timeout=90)
    watcher.done.set()
    jobs = released_jobs(kube, ns, "grid")
    assert sorted(j["metadata"]["name"] for j in jobs) == [f"grid-000{i}" for i in range(1, 7)]
    assert watcher.most <= 2
    assert sweep["status"]["runs"]["finished"] == 6 and sweep["status"]["runs"]["total"] == 6
    assert sweep["status"]["bestRun"] == {
        "name": "grid-0001",
        "metric": 10.0,
        "metricText": "10",
        "parameters": {"a": 1, "b": "x"},
    }
    assert all(result_of(j)["state"] == "Finished" for j in jobs)
    completed = next(c for c in sweep["status"]["conditions"] if c["type"] == "Completed")
    assert completed["status"] == "True" and completed["reason"] == "SearchExhausted"


def test_recorded_runs_are_let_go_and_deleting_their_jobs_loses_nothing(kube: Kube, ns: str) -> None:
    kube.create_sweep(ns, "letgo", grid_spec(sleep=0.05))
    finished = kube.wait_phase(ns, "letgo", "Finished", timeout=90)
    jobs = released_jobs(kube, ns, "letgo")
    assert {r["name"] for r in finished["status"]["recordedRuns"]} == {j["metadata"]["name"] for j in jobs}
    assert all(result_of(j)["state"] == "Finished" for j in jobs)
    wait_for(
        lambda: all(
            p["metadata"]["labels"].get(api.LABEL_RECORDED) == "true" for p in kube.pods(ns, "letgo")
        ),
        10,
        "the runs' pods labelled recorded",
    )
    # No finalizer of ours holds a released Job; the status keeps every run without them.
    for job in jobs:
        kube.batch.delete_namespaced_job(job["metadata"]["name"], ns, propagation_policy="Background")
    wait_for(lambda: not kube.jobs(ns, "letgo"), 10, "the Jobs gone")
    # Resumed, the exhausted grid goes straight back to Finished: no point runs twice. A pass
    # creates its Jobs before it writes the status, so none of these passes started a run once
    # Finished is written.
    kube.set_state(ns, "letgo", "stopped")
    kube.wait_phase(ns, "letgo", "Stopped", timeout=10)
    kube.set_state(ns, "letgo", "running")
    kube.wait_phase(ns, "letgo", "Finished", timeout=10)
    assert not kube.jobs(ns, "letgo")
    # Through those passes, which saw the Jobs gone, the status kept every run.
    after = kube.sweep(ns, "letgo")["status"]
    assert after["runs"] == finished["status"]["runs"]
    assert after["recordedRuns"] == finished["status"]["recordedRuns"] and after["bestRun"]["metric"] == 10


def test_pause_lets_runs_finish_and_resume_continues_the_grid(kube: Kube, ns: str) -> None:
    kube.create_sweep(ns, "pause", grid_spec(sleep=1.5))
    wait_for(lambda: len(kube.jobs(ns, "pause")) == 2, 30, "two runs")
    kube.set_state(ns, "pause", "paused")
    kube.wait_phase(ns, "pause", "Paused", timeout=5)
    wait_for(lambda: not active_jobs(kube.jobs(ns, "pause")), 30, "both runs to finish")
    # The pass that records the ended runs is the one that would start the next; it creates its
    # Jobs before its status write, which releases the Jobs: a wrong start is listed here.
    jobs = released_jobs(kube, ns, "pause")
    assert len(jobs) == 2
    assert all(result_of(j)["state"] == "Finished" for j in jobs)
    kube.set_state(ns, "pause", "running")
    wait_for(lambda: len(kube.jobs(ns, "pause")) >= 3, 10, "the next run after resume")
    third = next(j for j in kube.jobs(ns, "pause") if j["metadata"]["name"] == "pause-0003")
    assert third["metadata"]["annotations"][api.ANNOTATION_PARAMETERS] == '{"a":1,"b":"z"}'


def test_stop_lets_active_runs_finish_and_starts_no_more(kube: Kube, ns: str) -> None:
    kube.create_sweep(ns, "stop", grid_spec(sleep=1.5))
    wait_for(lambda: len(kube.jobs(ns, "stop")) == 2, 30, "two runs")
    kube.set_state(ns, "stop", "stopped")
    kube.wait_phase(ns, "stop", "Stopping", timeout=5)
    sweep = kube.wait_phase(ns, "stop", "Stopped", timeout=30)
    jobs = released_jobs(kube, ns, "stop")
    assert len(jobs) == 2
    assert all(result_of(j)["state"] == "Finished" for j in jobs)
    assert sweep["status"]["runs"]["finished"] == 2


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_cancel_kills_every_pod_at_once_and_leaves_other_sweeps_alone(kube: Kube, ns: str) -> None:
    # The runs ignore SIGTERM and have a 600 s grace period: only a delete with grace 0 (a kill
    # at once, not a graceful stop) ends them within the test's timeouts, and the pods' watch
    # shows the grace period of every deletion.
    sleeper = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    template = python_run(sleeper)
    template["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 600
    spec = {**grid_spec(), "template": template}
    kube.create_sweep(ns, "doomed", spec)
    kube.create_sweep(ns, "bystander", spec)

    def running_pids(sweep: str) -> list[int]:
        pods = [p for p in kube.pods(ns, sweep) if p["status"].get("phase") == "Running"]
        pids = [int(p["metadata"].get("annotations", {}).get("sandbox.kubesweep.io/pid", 0)) for p in pods]
        return pids if len(pids) == 2 and all(pids) else []

    pids = wait_for(lambda: running_pids("doomed"), 30, "two running pods")
    wait_for(lambda: running_pids("bystander"), 30, "the bystander's pods")
    selector = f"{api.LABEL_SWEEP}=doomed"
    listed = kube.core.list_namespaced_pod(ns, label_selector=selector).metadata
    assert listed is not None
    since = listed.resource_version
    graces: list[int | None] = []

    def watch_deletions() -> None:
        deleted = 0
        stream = watch.Watch().stream(
            kube.core.list_namespaced_pod,
            ns,
            label_selector=selector,
            resource_version=since,
            timeout_seconds=60,
        )
        for event in stream:
            meta = event["object"].metadata
            if meta.deletion_timestamp is not None:
                graces.append(meta.deletion_grace_period_seconds)
            deleted += event["type"] == "DELETED"
            if deleted == 2:
                return

    watcher = threading.Thread(target=watch_deletions, daemon=True)
    watcher.start()
    kube.set_state(ns, "doomed", "cancelled")
    wait_for(lambda: not kube.pods(ns, "doomed"), 30, "every pod deleted")
    watcher.join(30)
    assert graces and set(graces) == {0}, f"the pods were deleted with grace periods {graces}"
    wait_for(lambda: not any(_alive(pid) for pid in pids), 30, "the processes to be gone")
    sweep = kube.wait_phase(ns, "doomed", "Cancelled", timeout=30)
    # No pod comes back: each Job has failed (its deleted pod was its last), so the Job
    # controller makes no other.
    wait_for(lambda: all(failed(j) for j in kube.jobs(ns, "doomed")), 30, "the Jobs failed")
    assert not kube.pods(ns, "doomed")
    sweep = kube.sweep(ns, "doomed")
    assert sweep["status"]["runs"]["killed"] == 2
    assert all(result_of(j)["state"] == "Killed" for j in kube.jobs(ns, "doomed"))
    assert len(kube.jobs(ns, "doomed")) == 2
    assert len(running_pids("bystander")) == 2
    assert kube.sweep(ns, "bystander")["status"]["phase"] == "Running"
    kube.set_state(ns, "bystander", "cancelled")


def test_stopping_one_run_by_hand_starts_the_next(kube: Kube, ns: str) -> None:
    spec = {**grid_spec(), "parallelism": 1, "template": python_run("import time; time.sleep(60)")}
    kube.create_sweep(ns, "handstop", spec)
    wait_for(lambda: kube.jobs(ns, "handstop"), 30, "the first run")
    kube.batch.patch_namespaced_job(
        "handstop-0001", ns, {"metadata": {"annotations": {api.ANNOTATION_STOP: "true"}}}
    )
    wait_for(lambda: len(kube.jobs(ns, "handstop")) == 2, 10, "the next run")
    first = next(j for j in kube.jobs(ns, "handstop") if j["metadata"]["name"] == "handstop-0001")
    assert result_of(first)["state"] == "Killed"
    # Deleting a run's Job stops it too, and its record survives in the status.
    kube.batch.delete_namespaced_job("handstop-0002", ns)
    wait_for(
        lambda: (
            len(kube.jobs(ns, "handstop")) == 2
            and "handstop-0003" in {j["metadata"]["name"] for j in kube.jobs(ns, "handstop")}
        ),
        10,
        "the run after the deleted one",
    )
    records = wait_for(
        lambda: {
            r["name"]: r["state"] for r in kube.sweep(ns, "handstop")["status"].get("recordedRuns") or []
        }.get("handstop-0002"),
        10,
        "the deleted run's record",
    )
    assert records == "Killed"
    third = next(j for j in kube.jobs(ns, "handstop") if j["metadata"]["name"] == "handstop-0003")
    assert third["metadata"]["annotations"][api.ANNOTATION_PARAMETERS] == '{"a":1,"b":"z"}'
    kube.set_state(ns, "handstop", "cancelled")


def test_max_failed_runs_ends_failed_after_exactly_that_many(kube: Kube, ns: str) -> None:
    spec = {
        **grid_spec(),
        "parallelism": 1,
        "maxFailedRuns": 2,
        "template": python_run("raise SystemExit(3)"),
    }
    kube.create_sweep(ns, "failing", spec)
    sweep = kube.wait_phase(ns, "failing", "Failed", timeout=30)
    # The pass that wrote Failed created any Job it started before that write.
    assert len(kube.jobs(ns, "failing")) == 2
    assert sweep["status"]["runs"]["failed"] == 2
    ready = next(c for c in sweep["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "MaxFailedRunsReached"


def test_run_cap_finishes_with_exactly_that_many_runs(kube: Kube, ns: str) -> None:
    kube.create_sweep(ns, "capped", grid_spec(runCap=3))
    sweep = kube.wait_phase(ns, "capped", "Finished", timeout=30)
    assert len(kube.jobs(ns, "capped")) == 3
    assert sweep["status"]["runs"]["total"] == 3


def test_metric_target_finishes_the_sweep(kube: Kube, ns: str) -> None:
    # Termination message this time: the metric is written to the file the kubelet gives.
    code = (
        "import json, os; p = json.loads(os.environ['KUBESWEEP_PARAMETERS']); "
        "open('/dev/termination-log', 'w').write(json.dumps({'loss': p['a'] * 10 + ord(p['b']) - ord('x')}))"
    )
    spec = {
        **grid_spec(),
        "parallelism": 1,
        "metric": {"name": "loss", "goal": "minimize", "target": 11},
        "template": python_run(code),
    }
    kube.create_sweep(ns, "target", spec)
    sweep = kube.wait_phase(ns, "target", "Finished", timeout=30)
    # Run 1 scores 10, which meets the target at once.
    assert len(kube.jobs(ns, "target")) == 1
    assert sweep["status"]["bestRun"]["metric"] == 10.0
    completed = next(c for c in sweep["status"]["conditions"] if c["type"] == "Completed")
    assert completed["reason"] == "TargetReached"


def test_events_tell_the_story(kube: Kube, ns: str) -> None:
    kube.create_sweep(ns, "story", grid_spec(runCap=1))
    kube.wait_phase(ns, "story", "Finished", timeout=30)

    def reasons() -> set[str | None]:
        return {e.reason for e in kube.core.list_namespaced_event(ns).items}

    wait_for(lambda: {"RunsStarted", "RunFinished", "Finished"} <= reasons(), 5, "events", reasons)


def test_operator_log_has_no_traceback(operator: Operator) -> None:
    assert "Traceback" not in operator.log
