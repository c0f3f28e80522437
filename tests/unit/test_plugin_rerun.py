"""`kubectl sweep rerun`'s decisions, and how `kubectl sweep status` shows runs started again."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubesweep import api, plugin, plugin_rerun, runs
from kubesweep.plugin_cluster import PluginError


def record(name: str, number: int, state: str = "Finished", **extra: Any) -> dict[str, Any]:
    return {"name": name, "number": number, "state": state, "parameters": {"a": number}, **extra}


def sweep(records: list[dict[str, Any]], annotation: str | None = None, **status: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "lr", "namespace": "ml", "resourceVersion": "7"}
    if annotation is not None:
        meta["annotations"] = {api.ANNOTATION_RERUNS: annotation}
    return {
        "metadata": meta,
        "spec": {"state": "running"},
        "status": {"phase": "Finished", "recordedRuns": records, **status},
    }


def job(name: str, annotations: dict[str, str] | None = None, *, result: bool = False) -> dict[str, Any]:
    annotations = dict(annotations or {})
    if result:
        annotations[api.ANNOTATION_RESULT] = '{"state":"Finished"}'
    return {"metadata": {"name": name, "labels": {api.LABEL_SWEEP: "lr"}, "annotations": annotations}}


ENDED = [record("lr-0003", 3), record("lr-0004", 4, "Crashed")]


def test_the_sweep_of_a_run_is_its_jobs_owner_else_its_label_unless_shortened() -> None:
    owned = {
        "metadata": {
            "labels": {api.LABEL_SWEEP: "x"},
            "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "Job", "name": "not-it"},
                {"apiVersion": api.API_VERSION, "kind": api.KIND, "name": "lr"},
            ],
        }
    }
    assert plugin_rerun.sweep_of_job(owned) == "lr"
    assert plugin_rerun.sweep_of_job(job("lr-0001")) == "lr"
    long = "s" * 80
    label = runs.label_value(long)
    assert (
        label != long
        and plugin_rerun.sweep_of_job({"metadata": {"labels": {api.LABEL_SWEEP: label}}}) is None
    )


def test_a_runs_number_is_read_from_its_name_only_when_the_sweep_makes_that_name() -> None:
    assert plugin_rerun.run_number("lr", "lr-0012", None) == 12
    assert plugin_rerun.run_number("lr", "lr-x-0012", None) is None
    assert plugin_rerun.run_number("lr-x", "lr-0012", None) is None
    long = "s" * 70
    shortened = runs.job_name(long, 3)
    assert not shortened.startswith(long) and plugin_rerun.run_number(long, shortened, None) == 3
    assert (
        plugin_rerun.run_number("other", "lr-0012", job("lr-0012", {api.ANNOTATION_RUN_NUMBER: "12"})) == 12
    )


def test_the_sweep_holding_a_run_is_the_one_recording_it_or_making_its_name() -> None:
    sweeps = [sweep(ENDED), {"metadata": {"name": "l"}, "status": {"recordedRuns": [record("odd", 1)]}}]
    assert plugin_rerun.sweeps_holding("lr-0003", sweeps) == ["lr"]
    assert plugin_rerun.sweeps_holding("lr-0099", sweeps) == ["lr"]  # folded or unknown: said later
    assert plugin_rerun.sweeps_holding("odd", sweeps) == ["l"]
    assert plugin_rerun.sweeps_holding("nope-0001", sweeps) == []


def asked_for(s: dict[str, Any], run: str = "lr-0003", jobs: list[dict[str, Any]] | None = None) -> Any:
    target = next((j for j in jobs or [] if j["metadata"]["name"] == run), None)
    return plugin_rerun.request(run, s, target, jobs or [])


def test_a_first_rerun_asks_for_one_and_keeps_the_other_runs_requests() -> None:
    asked = asked_for(sweep(ENDED, '{"lr-0004":2}'))
    assert (asked.wanted, asked.existing) == (1, 0)
    assert json.loads(asked.annotation) == {"lr-0004": 2, "lr-0003": 1}


def test_a_second_rerun_of_a_run_rerun_once_asks_for_two() -> None:
    rerun = record("lr-0005", 5, rerunOf="lr-0003")
    assert asked_for(sweep([*ENDED, rerun], '{"lr-0003":1}')).wanted == 2
    # Also when the annotation is gone (removed by hand): the reruns there are count.
    assert asked_for(sweep([*ENDED, rerun])).wanted == 2
    # A rerun still executing (its Job, no record yet) counts as well.
    live = job("lr-0005", {api.ANNOTATION_RERUN_OF: "lr-0003"})
    assert asked_for(sweep(ENDED, '{"lr-0003":1}'), jobs=[live]).wanted == 2
    both = asked_for(sweep([*ENDED, rerun], '{"lr-0003":1}'), jobs=[live])
    assert (both.wanted, both.existing) == (2, 1)  # its Job and its record are one rerun


def test_a_request_while_an_earlier_one_has_not_started_counts_up() -> None:
    asked = asked_for(sweep(ENDED, '{"lr-0003":1}'))
    assert (asked.wanted, asked.existing) == (2, 0)
    assert json.loads(asked.annotation) == {"lr-0003": 2}
    # A count that is no count (the operator refuses it) is started over.
    assert asked_for(sweep(ENDED, '{"lr-0003":"x"}')).wanted == 1
    # The operator does at most 100 reruns of a run: the 101st is refused here already.
    assert asked_for(sweep(ENDED, '{"lr-0003":99}')).wanted == 100
    with pytest.raises(PluginError, match="100 reruns asked for; the operator does at most 100"):
        asked_for(sweep(ENDED, '{"lr-0003":100}'))


def test_an_annotation_that_is_no_json_object_is_refused_with_how_to_remove_it() -> None:
    with pytest.raises(PluginError, match=r"kubectl annotate sweep lr kubesweep.io/reruns-"):
        asked_for(sweep(ENDED, "[1]"))


def test_a_run_not_ended_folded_or_unknown_cannot_run_again() -> None:
    folded = sweep(ENDED, foldedRuns={"numbers": "1-2", "finished": 2})
    with pytest.raises(PluginError, match=r"lr-0002's record is folded .* parameters are no longer kept"):
        asked_for(folded, "lr-0002")
    # Its Job still there does not bring its record back.
    with pytest.raises(PluginError, match="folded"):
        asked_for(folded, "lr-0001", jobs=[job("lr-0001", result=True)])
    with pytest.raises(PluginError, match=r"run lr-0006 has not ended yet.*kubectl sweep stop-run lr-0006"):
        asked_for(folded, "lr-0006", jobs=[job("lr-0006")])
    with pytest.raises(PluginError, match=r"sweep lr has no run lr-0009; `kubectl sweep status lr`"):
        asked_for(folded, "lr-0009")
    # Ended, its record not in the status yet: it can.
    assert asked_for(folded, "lr-0006", jobs=[job("lr-0006", result=True)]).wanted == 1


def test_what_next_says_a_rerun_waits_for_a_paused_or_failed_sweep() -> None:
    s = sweep(ENDED)
    one = plugin_rerun.Request("{}", wanted=1, existing=0)
    assert plugin_rerun.what_next("lr-0003", s, one) == (
        "lr-0003 runs again as a new run with the same parameters; `kubectl sweep status lr` shows it"
    )
    assert "(3 reruns of it asked for in all, 1 started so far)" in plugin_rerun.what_next(
        "lr-0003", s, plugin_rerun.Request("{}", wanted=3, existing=1)
    )
    s["spec"]["state"] = "paused"
    assert "it waits while the sweep is paused: `kubectl sweep resume lr`" in plugin_rerun.what_next(
        "lr-0003", s, one
    )
    s["spec"]["state"], s["status"]["phase"] = "running", "Failed"
    assert "it waits while the sweep is Failed" in plugin_rerun.what_next("lr-0003", s, one)
    s["status"]["phase"] = "Crashed"
    assert "it waits while the sweep is Crashed: fix what its Ready condition names" in (
        plugin_rerun.what_next("lr-0003", s, one)
    )


def test_status_shows_retries_reruns_and_disrupted_runs_only_in_a_sweep_that_has_some() -> None:
    s = sweep(
        [
            record("lr-0001", 1, "Crashed", disrupted=True, retriedBy="lr-0003"),
            record("lr-0002", 2),
            record("lr-0003", 3, retryOf="lr-0001", attempt=1),
        ],
        runs={"total": 5, "running": 2, "finished": 2, "crashed": 1, "retries": 3},
        refusedReruns=[{"run": "lr-0009", "message": "no such run"}],
    )
    live = [
        job("lr-0004", {api.ANNOTATION_RERUN_OF: "lr-0002"}),
        job("lr-0005", {api.ANNOTATION_RETRY_OF: "lr-0003", api.ANNOTATION_ATTEMPT: "2"}),
    ]
    text = plugin.status_text(s, plugin.run_records(s, live))
    lines = text.splitlines()
    assert "  Runs: 5 (2 running, 2 finished, 1 crashed; 3 of them retries or reruns)" in lines
    assert "  Rerun refused: lr-0009: no such run" in lines
    header = next(line for line in lines if line.startswith("RUN"))
    assert header.split() == ["RUN", "STATE", "METRIC", "PARAMETERS", "AGAIN", "WHY"]
    at = header.index("AGAIN")
    again = {line.split()[0]: line[at:].strip() for line in lines if line.startswith("lr-")}
    assert again == {
        "lr-0001": "disrupted, retried by lr-0003",
        "lr-0002": "",
        "lr-0003": "retry 1 of lr-0001",
        "lr-0004": "rerun of lr-0002",
        "lr-0005": "retry 2 of lr-0003",
    }
    plain = sweep([record("lr-0001", 1)], runs={"total": 1, "finished": 1})
    text = plugin.status_text(plain, plugin.run_records(plain, []))
    assert "AGAIN" not in text and "retries" not in text and "refused" not in text
