"""Runs started again (issue 17): a run the cluster took away is retried with its parameters up
to spec.maxRetries, counted toward neither runCap nor maxFailedRuns; a rerun by hand starts
when the Sweep's kubesweep.io/reruns annotation asks for more reruns of a run than it has."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from kubesweep import api, folding, reconcile, runs, slim
from kubesweep.api import Phase, RunState
from kubesweep.reconcile import CreateRun, Event
from kubesweep.rules import restarts
from kubesweep.runs import Run, Stage

NOW = "2026-11-24T12:00:00Z"
GRID = {"a": {"values": [1, 2, 3, 4]}}


def sweep(
    status: Mapping[str, Any] | None = None, reruns: Any = None, generation: int = 1, **spec: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "s", "namespace": "ns", "uid": "u", "generation": generation}
    if reruns is not None:
        meta["annotations"] = {
            api.ANNOTATION_RERUNS: reruns if isinstance(reruns, str) else json.dumps(reruns)
        }
    return {
        "metadata": meta,
        "spec": {
            "method": "grid",
            "parameters": GRID,
            "parallelism": 1,
            "metric": {"name": "loss", "goal": "minimize"},
            "template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
            **spec,
        },
        "status": status or {},
    }


def run(number: int, state: RunState, *, stage: Stage = Stage.OBSERVED, **kw: Any) -> Run:
    kw.setdefault("parameters", {"a": number})
    return Run(name=f"s-{number:04d}", number=number, state=state, stage=stage, **kw)


def taken_away(number: int, **kw: Any) -> Run:
    """A run whose pod a drain evicted, observed ended and not yet recorded."""
    return run(
        number, RunState.CRASHED, disrupted=True, reason="EvictionByEvictionAPI", message="Eviction API: evicting",
        **kw,
    )  # fmt: skip


def finished(number: int, loss: float = 1.0, **kw: Any) -> Run:
    return run(number, RunState.FINISHED, metrics={"loss": loss}, stage=Stage.RELEASED, **kw)


def decide(s: dict[str, Any], observed: list[Run]) -> reconcile.Decision:
    return reconcile.decide(s, observed, now=NOW)


def creations(d: reconcile.Decision) -> list[tuple[int, dict[str, Any], dict[str, str]]]:
    """Each run created: its number, parameters, and the annotations that say it starts one again."""
    ours = (api.ANNOTATION_RETRY_OF, api.ANNOTATION_ATTEMPT, api.ANNOTATION_RERUN_OF)
    return [
        (
            c.number,
            dict(c.parameters),
            {k: v for k, v in c.job["metadata"]["annotations"].items() if k in ours},
        )
        for c in d.of(CreateRun)
    ]


def record(d: reconcile.Decision, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in d.status["recordedRuns"] if r["name"] == name)
    return found


def observed_retry(created: CreateRun, state: RunState = RunState.PENDING, **kw: Any) -> Run:
    """The retry as the next pass observes it: from the Job that was created."""
    annotations = created.job["metadata"]["annotations"]
    return Run(
        name=created.name, number=created.number, parameters=created.parameters, state=state,
        **runs.started_again(annotations), **kw,
    )  # fmt: skip


def test_a_run_taken_away_is_retried_with_its_parameters_as_a_new_run() -> None:
    d = decide(sweep(), [finished(1), taken_away(2)])
    assert creations(d) == [(3, {"a": 2}, {api.ANNOTATION_RETRY_OF: "s-0002", api.ANNOTATION_ATTEMPT: "1"})]
    crashed = record(d, "s-0002")
    assert crashed["state"] == "Crashed" and crashed["disrupted"] is True
    (told,) = [e for e in d.of(Event) if e.reason == "RunRetried"]
    assert "s-0002" in told.message and "s-0003" in told.message and "EvictionByEvictionAPI" in told.message
    # The next pass sees the retry's Job: the crash says it was retried, and nothing starts twice.
    retry = observed_retry(d.of(CreateRun)[0], RunState.RUNNING)
    again = decide(sweep(d.status), [retry])
    assert record(again, "s-0002")["retriedBy"] == "s-0003" and not again.of(CreateRun)
    assert again.status["runs"]["retries"] == 1 and again.status["runs"]["total"] == 3
    # The retry finishes: its record says which attempt of which run it is.
    done = replace(retry, state=RunState.FINISHED, metrics={"loss": 0.5})
    last = decide(sweep(again.status), [done])
    assert {k: record(last, "s-0003").get(k) for k in ("retryOf", "attempt", "state")} == {
        "retryOf": "s-0002",
        "attempt": 1,
        "state": "Finished",
    }


def test_a_retry_already_created_is_not_created_again_after_a_restart() -> None:
    # The operator created the retry, then died before the status said so: the crash is still
    # to be recorded, and the retry's Job is there.
    first = decide(sweep(), [taken_away(1)])
    (retry,) = first.of(CreateRun)
    after_restart = decide(sweep(), [taken_away(1), observed_retry(retry)])
    assert not after_restart.of(CreateRun)
    assert record(after_restart, "s-0001")["retriedBy"] == retry.name


def test_a_run_that_fails_on_its_own_is_not_retried() -> None:
    for ended in (
        run(1, RunState.FAILED, reason="Error", exit_code=1),
        run(1, RunState.CRASHED, reason="OOMKilled"),
    ):
        d = decide(sweep(maxFailedRuns=1), [ended])
        assert not d.of(CreateRun) and d.phase == Phase.FAILED
        assert "disrupted" not in record(d, "s-0001")


def test_retries_stop_at_max_retries_and_the_last_crash_is_a_failure() -> None:
    original = replace(taken_away(1), stage=Stage.RELEASED, retried_by="s-0002")
    second = replace(taken_away(2, parameters={"a": 1}), retry_of="s-0001", attempt=1)
    d = decide(sweep(maxRetries=2), [original, second])
    assert creations(d) == [(3, {"a": 1}, {api.ANNOTATION_RETRY_OF: "s-0002", api.ANNOTATION_ATTEMPT: "2"})]
    third = replace(taken_away(3, parameters={"a": 1}), retry_of="s-0002", attempt=2)
    done = decide(
        sweep(maxRetries=2, maxFailedRuns=1), [original, replace(second, stage=Stage.RELEASED), third]
    )
    assert not done.of(CreateRun)
    assert done.phase == Phase.FAILED and "1 run(s) failed" in _condition(done, "Ready")["message"]
    assert "retriedBy" not in record(done, "s-0003")


def test_max_retries_0_retries_nothing_and_the_crash_is_a_failure() -> None:
    d = decide(sweep(maxRetries=0, maxFailedRuns=1), [taken_away(1)])
    assert not d.of(CreateRun) and d.phase == Phase.FAILED


def test_a_crash_retried_or_to_be_retried_is_no_failure() -> None:
    # maxFailedRuns 1: the crash is about to be retried, then retried.
    d = decide(sweep(maxFailedRuns=1), [taken_away(1)])
    assert d.phase == Phase.RUNNING and len(d.of(CreateRun)) == 1
    retry = observed_retry(d.of(CreateRun)[0], RunState.FINISHED, metrics={"loss": 0.5})
    after = decide(sweep(d.status, maxFailedRuns=1), [retry])
    assert after.phase == Phase.RUNNING and after.status["runs"]["crashed"] == 1
    # Without maxFailedRuns, five crashes all retried are not "the first runs all failed".
    crashes = [replace(taken_away(n), stage=Stage.RELEASED, retried_by=f"s-{n + 5:04d}") for n in range(1, 6)]
    wide: dict[str, Any] = {"method": "random", "parameters": {"a": {"values": list(range(100))}}}
    assert decide(sweep(parallelism=5, **wide), crashes).phase == Phase.RUNNING


def test_retries_count_not_toward_run_cap_and_start_after_it_is_reached() -> None:
    d = decide(sweep(runCap=2, parallelism=2), [finished(1), taken_away(2)])
    assert [c[0] for c in creations(d)] == [3] and creations(d)[0][2][api.ANNOTATION_RETRY_OF] == "s-0002"
    retry = observed_retry(d.of(CreateRun)[0], RunState.FINISHED, metrics={"loss": 0.2})
    end = decide(sweep(d.status, runCap=2, parallelism=2), [retry])
    assert not end.of(CreateRun) and end.phase == Phase.FINISHED
    assert _condition(end, "Completed")["reason"] == "RunCapReached"
    assert end.status["bestRun"]["name"] == "s-0003"


def test_a_retry_comes_before_new_search_runs_and_waits_for_a_free_place() -> None:
    busy = run(1, RunState.RUNNING, has_pods=True, pods_alive=True, live_pods=("p",))
    assert not decide(sweep(), [busy, taken_away(2)]).of(CreateRun)
    freed = decide(sweep(parallelism=2), [busy, taken_away(2)])
    assert [c[2].get(api.ANNOTATION_RETRY_OF) for c in creations(freed)] == ["s-0002"]


def test_a_paused_sweep_withholds_its_retry_until_resumed() -> None:
    paused = decide(sweep(state="paused"), [taken_away(1)])
    assert not paused.of(CreateRun) and paused.phase == Phase.PAUSED
    resumed = decide(sweep(paused.status), [replace(taken_away(1), stage=Stage.IN_STATUS)])
    assert creations(resumed)[0][2] == {api.ANNOTATION_RETRY_OF: "s-0001", api.ANNOTATION_ATTEMPT: "1"}


def test_no_retry_once_the_target_is_reached() -> None:
    metric = {"name": "loss", "goal": "minimize", "target": 0.5}
    d = decide(sweep(metric=metric, parallelism=2), [finished(1, loss=0.1), taken_away(2)])
    assert not d.of(CreateRun) and d.phase == Phase.FINISHED


def test_a_run_waiting_for_its_retry_is_never_folded_and_a_retried_crash_folds_as_no_failure() -> None:
    old = [finished(n, loss=float(n)) for n in range(3, api.RUN_RECORDS_KEPT + 3)]
    waiting = replace(taken_away(1), stage=Stage.RELEASED)
    retried = replace(taken_away(2), stage=Stage.RELEASED, retried_by="s-9999")
    spec: dict[str, Any] = {
        "method": "random",
        "parameters": {"a": {"values": list(range(1000))}},
        "parallelism": 1,
    }
    d = decide(sweep(state="paused", maxFailedRuns=1, **spec), [waiting, retried, *old])
    names = {r["name"] for r in d.status["recordedRuns"]}
    assert "s-0001" in names and "s-0002" not in names
    assert d.status["foldedRuns"]["retried"] == 1 and d.status["foldedRuns"]["crashed"] == 1
    # Read back from the status: the folded crash is still no failure.
    fold = folding.Fold.from_status(d.status)
    assert fold.retried == 1
    resumed = decide(sweep(d.status, maxFailedRuns=1, **spec), [])
    assert resumed.phase == Phase.RUNNING
    assert [c[2] for c in creations(resumed)] == [
        {api.ANNOTATION_RETRY_OF: "s-0001", api.ANNOTATION_ATTEMPT: "1"}
    ]


def test_the_record_of_a_retry_comes_back_whole_from_the_status() -> None:
    d = decide(sweep(), [taken_away(1)])
    retry = observed_retry(d.of(CreateRun)[0], RunState.FINISHED, metrics={"loss": 0.5})
    after = decide(sweep(d.status), [retry])
    back = {r.name: r for r in reconcile.recorded_runs(after.status)}
    assert (back["s-0001"].disrupted, back["s-0001"].retried_by) == (True, "s-0002")
    assert (back["s-0002"].retry_of, back["s-0002"].attempt, back["s-0002"].started_again) == (
        "s-0001",
        1,
        True,
    )


# Reruns by hand.
def test_a_rerun_asked_for_starts_once_with_the_runs_parameters_and_no_run_cap() -> None:
    d = decide(sweep(reruns={"s-0001": 1}, runCap=2), [finished(1), finished(2)])
    assert creations(d) == [(3, {"a": 1}, {api.ANNOTATION_RERUN_OF: "s-0001"})]
    assert [e.reason for e in d.of(Event) if e.reason == "RunRerun"] == ["RunRerun"]
    # A finished sweep runs again while its rerun executes.
    assert d.phase == Phase.RUNNING
    rerun = observed_retry(d.of(CreateRun)[0], RunState.RUNNING)
    again = decide(sweep(d.status, reruns={"s-0001": 1}, runCap=2), [rerun])
    assert not again.of(CreateRun)
    done = replace(rerun, state=RunState.FINISHED, metrics={"loss": 0.3})
    end = decide(sweep(again.status, reruns={"s-0001": 1}, runCap=2), [done])
    assert end.phase == Phase.FINISHED and record(end, "s-0003")["rerunOf"] == "s-0001"
    assert end.status["runs"]["retries"] == 1
    # Asked for a second time: one more.
    twice = decide(sweep(end.status, reruns={"s-0001": 2}, runCap=2), [])
    assert creations(twice) == [(4, {"a": 1}, {api.ANNOTATION_RERUN_OF: "s-0001"})]


def test_a_rerun_of_a_run_still_executing_waits_for_its_end() -> None:
    busy = run(1, RunState.RUNNING, has_pods=True, pods_alive=True, live_pods=("p",))
    d = decide(sweep(reruns={"s-0001": 1}, parallelism=2), [busy])
    assert [c[2] for c in creations(d)] == [{}]  # the search's next run only
    assert not d.status.get("refusedReruns")


def test_a_rerun_waits_while_the_sweep_is_paused() -> None:
    d = decide(sweep(reruns={"s-0001": 1}, state="paused"), [finished(1)])
    assert not d.of(CreateRun) and d.phase == Phase.PAUSED


def test_reruns_that_cannot_be_done_are_refused_in_the_status_and_told_once() -> None:
    for asked, refused_run, says in (
        ({"s-0042": 1}, "s-0042", "no run s-0042"),
        ({"s-0001": "x"}, "s-0001", "not a number of reruns"),
        ("not json", api.ANNOTATION_RERUNS, "not a JSON object"),
    ):
        d = decide(sweep(reruns=asked), [finished(1)])
        (refusal,) = d.status["refusedReruns"]
        assert refusal["run"] == refused_run and says in refusal["message"]
        (told,) = [e for e in d.of(Event) if e.reason == "RerunRefused"]
        assert told.type == "Warning" and says in told.message
        assert not [c for c in creations(d) if c[2]]
        again = decide(sweep(d.status, reruns=asked), [finished(1)])
        assert again.status["refusedReruns"] == d.status["refusedReruns"]
        assert not [e for e in again.of(Event) if e.reason == "RerunRefused"]
    # Asked no more: the refusal goes.
    assert decide(sweep(d.status), [finished(1)]).status.get("refusedReruns") is None


def test_observing_a_run_says_it_was_taken_away_only_for_the_clusters_reasons() -> None:
    job = {
        "metadata": {
            "name": "s-0002",
            "annotations": {
                api.ANNOTATION_RUN_NUMBER: "2",
                api.ANNOTATION_RETRY_OF: "s-0001",
                api.ANNOTATION_ATTEMPT: "1",
            },
        },
        "spec": {"backoffLimit": 0},
        "status": {},
    }

    def pod(reason: str = "", condition: bool = False, terminated: str = "Error") -> dict[str, Any]:
        status: dict[str, Any] = {
            "phase": "Failed",
            "containerStatuses": [{"state": {"terminated": {"exitCode": 137, "reason": terminated}}}],
        }
        if reason:
            status["reason"] = reason
        if condition:
            status["conditions"] = [
                {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}
            ]
        return {
            "metadata": {"name": "p", "creationTimestamp": "2026-11-24T11:00:00Z"},
            "spec": {},
            "status": status,
        }

    seen = runs.observe(job, [pod(condition=True)])
    assert (seen.state, seen.disrupted, seen.retry_of, seen.attempt) == (RunState.CRASHED, True, "s-0001", 1)
    assert runs.observe(job, [pod(reason="Evicted")]).disrupted
    assert runs.observe(job, [pod(reason="NodeLost")]).disrupted
    oom = runs.observe(job, [pod(terminated="OOMKilled")])
    assert oom.state == RunState.CRASHED and not oom.disrupted
    assert not runs.observe(job, [pod()]).disrupted
    # Recorded on its Job, it says so again.
    on_job = json.loads(json.dumps(job))
    on_job["metadata"]["annotations"][api.ANNOTATION_RESULT] = runs.result_annotation(seen)
    assert runs.observe(on_job, []).disrupted


def _condition(d: reconcile.Decision, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in d.status["conditions"] if c["type"] == kind)
    return found


def test_a_hostile_reruns_annotation_costs_a_bounded_pass_and_status() -> None:
    many = {f"nope-{i}": 1 for i in range(5000)}
    d = decide(sweep(reruns={**many, "s-0001": 10**9}), [finished(1)])
    refused = d.status["refusedReruns"]
    assert len(refused) == restarts.MAX_REFUSALS_KEPT
    assert "more entries refused" in refused[-1]["message"]
    assert len([e for e in d.of(Event) if e.reason == "RerunRefused"]) == restarts.MAX_REFUSALS_KEPT
    assert not [c for c in creations(d) if c[2]]
    # Many reruns of one run: as many as parallelism leaves places for, in a pass.
    d = decide(sweep(reruns={"s-0001": 50}, parallelism=3), [finished(1)])
    assert [c[2] for c in creations(d)] == [{api.ANNOTATION_RERUN_OF: "s-0001"}] * 3


# A run's Job keeps the trace of a disruption even when its pod is gone: kubesweep's podFailurePolicy.
def _rendered(**template_spec: Any) -> dict[str, Any]:
    s = sweep()
    s["spec"]["template"]["spec"].update(template_spec)
    return runs.render_job(s, 1, {"a": 1})


def test_a_runs_job_gets_the_disruption_policy_only_where_it_changes_nothing_else() -> None:
    assert _rendered()["spec"]["podFailurePolicy"] == runs.DISRUPTION_POLICY
    # The template's own retries, its own policy, or a restartPolicy the policy does not allow.
    assert "podFailurePolicy" not in _rendered(backoffLimit=2)["spec"]
    own = {"rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}}]}
    assert _rendered(podFailurePolicy=own)["spec"]["podFailurePolicy"] == own
    on_failure = sweep()
    on_failure["spec"]["template"]["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    assert "podFailurePolicy" not in runs.render_job(on_failure, 1, {"a": 1})["spec"]


def test_a_job_failed_by_the_disruption_policy_is_a_run_taken_away_even_without_its_pod() -> None:
    message = "Pod ns/s-0001-x has condition DisruptionTarget matching FailJob rule at index 0"
    job = {
        "metadata": {"name": "s-0001", "annotations": {api.ANNOTATION_RUN_NUMBER: "1"}},
        "spec": {"backoffLimit": 0, "podFailurePolicy": runs.DISRUPTION_POLICY},
        "status": {
            "failed": 1,
            "conditions": [
                {"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "message": message,
                 "lastTransitionTime": "2026-11-24T11:00:00Z"},
            ],
        },
    }  # fmt: skip
    # As the API server sends it, and as the operator keeps it.
    for seen in (runs.observe(job, []), runs.observe(slim.job(job), [])):
        assert (seen.state, seen.disrupted, seen.reason, seen.message) == (
            RunState.CRASHED,
            True,
            "DisruptionTarget",
            message,
        )
    # Failed by a policy rule of the user's own, on an exit code: no disruption.
    own = json.loads(json.dumps(job))
    own["status"]["conditions"][0]["message"] = (
        "Container c for pod ns/p failed with exit code 3 matching FailJob rule at index 0"
    )
    assert not runs.observe(own, []).disrupted


def test_a_failed_pod_ends_its_run_at_once_under_kubesweeps_policy_not_under_another() -> None:
    pod = {
        "metadata": {"name": "p", "creationTimestamp": "2026-11-24T11:00:00Z"},
        "spec": {},
        "status": {"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 1}}}]},
    }
    job: dict[str, Any] = {
        "metadata": {"name": "s-0001"},
        "spec": {"podFailurePolicy": runs.DISRUPTION_POLICY},
    }
    assert runs.pod_outcome(job, [pod]) == RunState.FAILED
    assert runs.pod_outcome(slim.job(job), [pod]) == RunState.FAILED
    job["spec"]["podFailurePolicy"] = {
        "rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [1]}}]
    }
    assert runs.pod_outcome(job, [pod]) is None  # only the Job can tell whether it counts
