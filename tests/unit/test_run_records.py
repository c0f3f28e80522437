"""How a run's end is told (issue 14's "also" list): its status record says all its Job's
result says, a disruption is a crash, a Job suspended by hand waits, and a stopped run holds
its place until its pod is gone."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from kubesweep import api, reconcile, runs, slim
from kubesweep.api import RunState
from kubesweep.reconcile import ReleaseJob
from kubesweep.runs import Run, Stage

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
    recorded, on_job = kw.pop("recorded", False), kw.pop("record_on_job", False)
    kw.setdefault("stage", Stage.ON_JOB if on_job else Stage.IN_STATUS if recorded else Stage.OBSERVED)
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


# Item 1: a pod the cluster took away (drain, eviction, preemption) crashes its run.
def _job(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "s-0001", "annotations": {api.ANNOTATION_RUN_NUMBER: "1"}},
        "spec": {"backoffLimit": 0},
        "status": status,
    }


def _evicted_pod() -> dict[str, Any]:
    return {
        "metadata": {"name": "s-0001-x", "creationTimestamp": "2026-11-24T11:00:00Z"},
        "spec": {},
        "status": {
            "phase": "Failed",
            "conditions": [
                {"type": "Ready", "status": "False"},
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "EvictionByEvictionAPI",
                    "message": "Eviction API: evicting",
                },
            ],
            "containerStatuses": [
                {"name": "c", "state": {"terminated": {"exitCode": 143, "reason": "Error"}}}
            ],
        },
    }


def test_a_pod_taken_away_by_a_drain_or_eviction_crashes_its_run() -> None:
    # Seen before the Job says so, and after (the Job controller counts it a failure).
    failed_job = _job(
        failed=1,
        conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
    )
    # As the API server sends it, and as the operator keeps it (slim).
    for job, pod in itertools.product((_job(), failed_job), (_evicted_pod(), slim.pod(_evicted_pod()))):
        seen = runs.observe(job, [pod])
        assert (seen.state, seen.reason, seen.message) == (
            RunState.CRASHED,
            "EvictionByEvictionAPI",
            "Eviction API: evicting",
        )
    plain = _evicted_pod()
    plain["status"]["conditions"] = plain["status"]["conditions"][:1]
    assert runs.observe(_job(), [plain]).state == RunState.FAILED


# Item 5: a stopped run holds its place in parallelism until its pods have terminated.
def test_a_stopped_runs_replacement_waits_for_its_pod_to_terminate() -> None:
    running = run(
        1, RunState.RUNNING, has_pods=True, pods_alive=True, live_pods=("p",), unstopped_pods=("p",)
    )
    stopping = reconcile.decide(sweep(), [replace(running, stop_requested=True)], now=NOW)
    assert stopping.of(reconcile.StopPods) and not stopping.of(reconcile.CreateRun)
    # The next passes: its record on its Job, its pod in its grace period (being deleted, or not).
    killed = replace(running, state=RunState.KILLED, stage=Stage.ON_JOB, unstopped_pods=(), settled=False)
    for grace in (killed, replace(killed, pods_alive=False), replace(killed, deleting=True)):
        decision = reconcile.decide(sweep(stopping.status), [grace], now=NOW)
        assert not decision.of(reconcile.CreateRun) and not decision.of(ReleaseJob)
    # Its pod terminated: the next run starts.
    ended = replace(killed, pods_alive=False, live_pods=(), settled=True)
    assert [
        c.number for c in reconcile.decide(sweep(stopping.status), [ended], now=NOW).of(reconcile.CreateRun)
    ] == [2]
    gone = replace(ended, deleting=True)
    decision = reconcile.decide(sweep(stopping.status), [gone], now=NOW)
    assert [a.name for a in decision.of(ReleaseJob)] == ["s-0001"] and decision.of(reconcile.CreateRun)


# Item 3: a Job suspended by hand: its pods deleted by the suspend are no failure; the run waits.
def test_a_job_suspended_by_hand_waits_its_deleted_pod_no_failure() -> None:
    job = _job(conditions=[{"type": "Suspended", "status": "True", "reason": "JobSuspended"}])
    job["spec"]["suspend"] = True
    pod = _evicted_pod()
    pod["status"]["conditions"] = pod["status"]["conditions"][:1]
    pod["metadata"]["deletionTimestamp"] = "2026-11-24T11:59:00Z"
    for pods in ([pod], []):
        seen = runs.observe(job, pods)
        assert (seen.state, seen.queued, seen.recorded) == (RunState.PENDING, True, False)
    held = run(1, RunState.PENDING, suspended=True)
    first = reconcile.decide(sweep(), [held], now=NOW)
    progressing = next(c for c in first.status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == reconcile.RUNS_SUSPENDED and "s-0001" in progressing["message"]
    assert first.status["runs"]["queued"] == 1 and not first.of(reconcile.CreateRun)
    assert [e.reason for e in first.of(reconcile.Event) if e.type == "Warning"] == [reconcile.RUNS_SUSPENDED]
    again = reconcile.decide(sweep(first.status), [held], now=NOW)  # said once
    assert not [e for e in again.of(reconcile.Event) if e.reason == reconcile.RUNS_SUSPENDED]
    # A queue's suspend (the template's queue label) is the queue's business: not said.
    queued = sweep()
    queued["spec"]["template"]["metadata"] = {"labels": {api.LABEL_QUEUE: "q"}}
    decision = reconcile.decide(queued, [held], now=NOW)
    assert next(c for c in decision.status["conditions"] if c["type"] == "Progressing")["reason"] == "Running"


def test_a_run_whose_retry_failed_after_an_eviction_says_why_the_last_attempt_failed() -> None:
    job = _job()
    job["spec"]["backoffLimit"] = 1
    retry = _evicted_pod()
    retry["metadata"].update(name="s-0001-y", creationTimestamp="2026-11-24T11:05:00Z")
    retry["status"]["conditions"] = []
    retry["status"]["containerStatuses"][0]["state"]["terminated"] = {
        "exitCode": 1,
        "reason": "Error",
        "message": "boom",
        "finishedAt": "2026-11-24T11:06:00Z",
    }
    seen = runs.observe(job, [_evicted_pod(), retry])
    assert (seen.reason, seen.exit_code, seen.message) == ("Error", 1, "boom")
