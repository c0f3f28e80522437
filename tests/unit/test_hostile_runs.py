"""Runs under hostile or unlucky conditions (issue 14): floods of metrics, Job retries, a
quota's refusal, and a SIGKILL right after a cancel."""

from __future__ import annotations

import json
from typing import Any

from kubesweep import api, reconcile, runs
from kubesweep.api import Phase, RunState
from kubesweep.reconcile import RecordRun, WriteStatus

NOW = "2026-11-24T12:00:00Z"
LATER = 1767225610.0 + 3600  # an hour past every time below: no wait for a pod's end is running


def _sweep(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    base = {
        "method": "random",
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "parallelism": 2,
        "metric": {"name": "loss", "goal": "minimize"},
        "template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
    }
    return {
        "metadata": {"name": "s", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {**base, **spec},
        "status": status or {},
    }


def _job(number: int, conditions: list[Any] | None = None, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"s-{number:04d}",
            "annotations": {
                api.ANNOTATION_PARAMETERS: '{"x":0.5}',
                api.ANNOTATION_RUN_NUMBER: str(number),
                **annotations,
            },
        },
        "spec": {"backoffLimit": 2},
        "status": {"conditions": conditions or []},
    }


def _pod(
    name: str,
    phase: str,
    created: str,
    finished: str | None = None,
    message: str | None = None,
    exit_code: int = 0,
    deleted: bool = False,
) -> dict[str, Any]:
    statuses = []
    if finished is not None:
        terminated = {"exitCode": exit_code, "finishedAt": finished, "message": message}
        statuses = [{"state": {"terminated": terminated}}]
    meta: dict[str, Any] = {"name": name, "creationTimestamp": created}
    if deleted:
        meta["deletionTimestamp"] = "2026-01-01T00:00:30Z"
    return {"metadata": meta, "status": {"phase": phase, "containerStatuses": statuses}}


def _records(decision: reconcile.Decision) -> list[dict[str, Any]]:
    return list(decision.status.get("recordedRuns") or [])


# ---------------------------------------------------------------------------------------------
# Item 3: what a record keeps of a run's metrics is bounded.


def test_a_record_keeps_the_sweeps_metric_and_a_bounded_number_of_others() -> None:
    flood = {f"m{i:05d}": float(i) for i in range(20_000)}
    flood["loss"] = 0.25  # printed last, after 20,000 others
    flood["x" * 100] = 1.0
    run = runs.Run(name="s-0001", number=1, parameters={"x": 0.5}, state=RunState.FINISHED, metrics=flood)
    decision = reconcile.decide(_sweep(), [run], now=NOW)
    (record,) = _records(decision)
    assert record["metrics"]["loss"] == 0.25
    assert next(iter(record["metrics"])) == "loss"
    assert len(record["metrics"]) == 1 + runs.MAX_OTHER_METRICS
    assert all(len(name) <= runs.MAX_METRIC_NAME for name in record["metrics"])
    # The first names the run reported are the ones kept.
    assert list(record["metrics"])[1:3] == ["m00000", "m00001"]
    assert decision.status["bestRun"]["metric"] == 0.25
    # The Job's result annotation and the run's event carry the same bounded metrics.
    (release,) = decision.of(reconcile.ReleaseJob)
    assert release.result is not None and len(json.loads(release.result)["metrics"]) == 11
    event = next(a for a in decision.actions if isinstance(a, reconcile.Event) and "s-0001" in a.message)
    assert len(event.message) < 1024


def test_the_status_stays_bounded_when_every_run_reports_many_long_metrics() -> None:
    """520 runs of 100 metrics each (long names, long values) once put ~1 MB in the status."""
    status: dict[str, Any] = {}
    number = 0
    for _ in range(4):  # a bounded number of records per pass: a few passes
        ended = []
        for _ in range(reconcile.RELEASES_PER_PASS):
            number += 1
            metrics = {
                f"metric_{i:03d}_{'n' * 36}"[: runs.MAX_METRIC_NAME]: -1.2345678901234567e-100
                for i in range(100)
            }
            metrics["loss"] = 1.0 / number
            ended.append(
                runs.Run(
                    name=f"s-{number:04d}",
                    number=number,
                    parameters={"x": 0.5},
                    state=RunState.FINISHED,
                    metrics=metrics,
                )
            )
        decision = reconcile.decide(_sweep(status), ended, now=NOW)
        (write,) = decision.of(WriteStatus)
        status = dict(write.status)
    assert number == 800
    assert len(status["recordedRuns"]) >= api.RUN_RECORDS_KEPT
    # The README's bound: under 500 KB whatever the runs print (etcd refuses 1.5 MB).
    assert len(json.dumps(status)) < 500_000


def test_records_of_old_runs_with_unbounded_metrics_are_bounded_as_they_are_kept() -> None:
    record = {
        "name": "s-0001",
        "number": 1,
        "state": "Finished",
        "parameters": {"x": 0.5},
        "metrics": {**{f"m{i}": 1.0 for i in range(500)}, "loss": 0.5},
    }
    decision = reconcile.decide(_sweep({"recordedRuns": [record], "startTime": NOW}), [], now=NOW)
    (kept,) = _records(decision)
    assert kept["metrics"]["loss"] == 0.5 and len(kept["metrics"]) == 11


# ---------------------------------------------------------------------------------------------
# Item 7: with Job retries, the successful attempt is the run's result.


def test_the_successful_attempt_is_the_runs_result_whatever_the_pod_names_and_times() -> None:
    # Both attempts created in the same second; the failed one sorts after the other by name.
    failed = _pod("s-0001-zzzzz", "Failed", "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z", "loss=9", 1)
    succeeded = _pod("s-0001-aaaaa", "Succeeded", "2026-01-01T00:00:00Z", "2026-01-01T00:00:04Z", "loss=0.1")
    complete = [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:00:06Z"}]
    for pods in ([failed, succeeded], [succeeded, failed]):
        run = runs.observe(_job(1, complete), pods, now=LATER)
        assert run.state == RunState.FINISHED
        assert run.metrics == {"loss": 0.1}
        # Before the Job is marked Complete too (the pods tell first).
        early = runs.observe(_job(1), pods, now=LATER)
        assert early.state == RunState.FINISHED and early.metrics == {"loss": 0.1}


def test_a_failed_runs_result_is_its_last_attempt_by_when_it_ended() -> None:
    # Created in the same second; the one that ended last sorts first by name.
    first = _pod("s-0001-zzzzz", "Failed", "2026-01-01T00:00:00Z", "2026-01-01T00:00:02Z", "loss=1", 1)
    last = _pod("s-0001-aaaaa", "Failed", "2026-01-01T00:00:00Z", "2026-01-01T00:00:09Z", "loss=2", 3)
    failed = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    run = runs.observe(_job(1, failed), [first, last], now=LATER)
    assert run.state == RunState.FAILED
    assert run.metrics == {"loss": 2.0} and run.exit_code == 3


def test_an_attempt_still_running_after_a_failed_one_is_the_run() -> None:
    first = _pod("s-0001-zzzzz", "Failed", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "loss=1", 1)
    retry = _pod("s-0001-aaaaa", "Running", "2026-01-01T00:00:01Z")
    assert runs.latest_pod([first, retry]) is retry
    assert runs.observe(_job(1), [first, retry], now=LATER).state == RunState.RUNNING


# ---------------------------------------------------------------------------------------------
# Item 9: a quota's 403 is waiting, not a permission error.

QUOTA = (
    'jobs.batch "s-0002" is forbidden: exceeded quota: jobs, requested: count/jobs.batch=1, '
    "used: count/jobs.batch=1, limited: count/jobs.batch=1"
)


def test_a_quota_refusal_is_its_own_condition_without_rbac_advice() -> None:
    decision = reconcile.decide(_sweep(), [], now=NOW, permission_denied=QUOTA)
    assert decision.phase == Phase.RUNNING
    ready = next(c for c in decision.status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == reconcile.QUOTA_EXCEEDED
    assert QUOTA in ready["message"]
    assert "sweeps/finalizers" not in ready["message"] and "RBAC" not in ready["message"]
    (event,) = [a for a in decision.actions if isinstance(a, reconcile.Event) and a.type == "Warning"]
    assert event.reason == reconcile.QUOTA_EXCEEDED
    assert not decision.of(reconcile.CreateRun)
    # Said once, as the condition appears: not one Warning per retry.
    again = reconcile.decide(_sweep(dict(decision.status)), [], now=NOW, permission_denied=QUOTA)
    assert not [a for a in again.actions if isinstance(a, reconcile.Event) and a.type == "Warning"]


def test_quota_refusals_are_told_from_permission_refusals() -> None:
    assert reconcile.is_quota_refusal(QUOTA)
    assert reconcile.is_quota_refusal('pods "p" is forbidden: failed quota: q: must specify limits.cpu')
    rbac = (
        'jobs.batch is forbidden: User "system:serviceaccount:k:k" cannot create resource "jobs" '
        'in API group "batch" in the namespace "ns"'
    )
    assert not reconcile.is_quota_refusal(rbac)
    assert reconcile.permission_retry_delay(1, QUOTA) == 1.0
    assert reconcile.permission_retry_delay(20, QUOTA) == reconcile.QUOTA_RETRY_MAX < 60.0
    assert reconcile.permission_retry_delay(20, rbac) == reconcile.PERMISSION_RETRY_MAX


# ---------------------------------------------------------------------------------------------
# Item 10: a restart right after a cancel still knows its runs were cancelled.


def test_after_a_restart_jobs_with_our_killed_record_and_no_pods_stay_killed() -> None:
    killed = json.dumps({"state": "Killed", "metrics": {}, "reason": "Cancelled"})
    failed = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    observed = [
        runs.observe(_job(n, failed, **{api.ANNOTATION_RESULT: killed}), [], now=LATER) for n in (1, 2)
    ]
    status = {"phase": "Running", "startTime": NOW}
    decision = reconcile.decide(_sweep(status, state="cancelled"), observed, now=NOW)
    assert decision.phase == Phase.CANCELLED
    assert [r["state"] for r in _records(decision)] == ["Killed", "Killed"]
    assert decision.status["runs"]["failed"] == 0


def test_a_run_whose_pods_a_cancel_deleted_before_its_record_is_killed_not_failed() -> None:
    failed = [
        {
            "type": "Failed",
            "status": "True",
            "reason": "BackoffLimitExceeded",
            "lastTransitionTime": "2026-01-01T00:00:20Z",
        }
    ]
    gone = runs.observe(_job(1, failed), [], now=LATER)  # its pod gone
    killed_pod = _pod("s-0002-a", "Failed", "2026-01-01T00:00:00Z", "2026-01-01T00:00:29Z", None, 137, True)
    being_deleted = runs.observe(_job(2, failed), [killed_pod], now=LATER)
    assert gone.state == being_deleted.state == RunState.FAILED  # what the Job says
    status = {"phase": "Running", "startTime": NOW}
    decision = reconcile.decide(
        _sweep(status, state="cancelled", maxFailedRuns=1), [gone, being_deleted], now=NOW
    )
    assert decision.phase == Phase.CANCELLED
    # Recorded Killed on their Jobs (as the cancel's own pass would have), not Failed.
    results = {a.name: json.loads(a.result) for a in decision.of(RecordRun)}
    assert {name: (r["state"], r["reason"]) for name, r in results.items()} == {
        "s-0001": ("Killed", "Cancelled"),
        "s-0002": ("Killed", "Cancelled"),
    }
    assert decision.status["runs"]["failed"] == 0 and decision.status["runs"]["killed"] == 2


def test_a_run_that_failed_by_itself_in_a_cancelled_sweep_stays_failed() -> None:
    failed = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    pod = _pod("s-0001-a", "Failed", "2026-01-01T00:00:00Z", "2026-01-01T00:00:09Z", None, 2)
    run = runs.observe(_job(1, failed), [pod], now=LATER)
    status = {"phase": "Running", "startTime": NOW}
    decision = reconcile.decide(_sweep(status, state="cancelled"), [run], now=NOW)
    assert [r["state"] for r in _records(decision)] == ["Failed"]
