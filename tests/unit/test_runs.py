"""Rendering a run's Job and reading a run back from its Job and pods."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from kubesweep import api, runs
from kubesweep.api import RunState


def sweep(name: str = "lr-search", **spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"team": "vision"}, "annotations": {"note": "x"}},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "train",
                            "image": "registry.example/train:1.4",
                            "command": ["python", "train.py"],
                            "args": ["${args}", "--out=/runs/${params.optimizer}"],
                            "env": [{"name": "LR", "value": "${params.lr}"}],
                        }
                    ]
                }
            }
        },
    }
    return {
        "metadata": {"name": name, "namespace": "ml", "uid": "u-1"},
        "spec": {"method": "grid", "parameters": {}, "template": template, **spec},
    }


PARAMS = {"lr": 0.001, "batch_size": 64, "optimizer": "adam"}


def test_job_name_is_sweep_and_four_digit_number() -> None:
    assert runs.job_name("lr-search", 7) == "lr-search-0007"
    assert runs.job_name("lr-search", 12345) == "lr-search-12345"


def test_long_sweep_names_are_shortened_with_a_hash_and_stay_distinct() -> None:
    a = runs.job_name("a" * 80, 1)
    b = runs.job_name("a" * 79 + "b", 1)
    assert len(a) <= 63 and len(b) <= 63
    assert a != b
    assert a.endswith("-0001")
    assert len(runs.label_value("x" * 100)) <= 63
    assert runs.label_value("short") == "short"


def test_render_job_carries_labels_annotations_owner_and_finalizer() -> None:
    job = runs.render_job(sweep(), 7, PARAMS)
    meta = job["metadata"]
    assert meta["name"] == "lr-search-0007"
    assert meta["namespace"] == "ml"
    assert meta["labels"] == {
        "team": "vision",
        "kubesweep.io/sweep": "lr-search",
        "kubesweep.io/run": "lr-search-0007",
        "app.kubernetes.io/managed-by": "kubesweep",
    }
    assert json.loads(meta["annotations"][api.ANNOTATION_PARAMETERS]) == PARAMS
    assert meta["annotations"]["note"] == "x"
    assert meta["annotations"][api.ANNOTATION_RUN_NUMBER] == "7"
    owner = meta["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Sweep",
        "lr-search",
        "u-1",
        True,
    )
    assert meta["finalizers"] == [api.JOB_FINALIZER]
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["kubesweep.io/sweep"] == "lr-search"
    assert pod_labels["kubesweep.io/run"] == "lr-search-0007"
    assert job["spec"]["backoffLimit"] == 0


def test_render_job_expands_w_and_b_macros_and_params() -> None:
    container = runs.render_job(sweep(), 1, PARAMS)["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--lr=0.001", "--batch_size=64", "--optimizer=adam", "--out=/runs/adam"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["LR"] == "0.001"
    assert env["KUBESWEEP_SWEEP"] == "lr-search"
    assert env["KUBESWEEP_RUN"] == "lr-search-0001"
    assert json.loads(env["KUBESWEEP_PARAMETERS"]) == PARAMS


def test_macros_inside_strings_and_json() -> None:
    assert runs.expand_args(["${args_no_hyphens}"], {"a": 1, "b": True}) == ["a=1", "b=True"]
    assert runs.expand_args(["run ${args}"], {"a": 1, "b": "x"}) == ["run --a=1 --b=x"]
    assert json.loads(runs.expand_string("${args_json}", {"a": [1, 2]})) == {"a": [1, 2]}
    assert runs.expand_string("${params.opt.name}", {"opt": {"name": "sgd"}}) == "sgd"


def test_unknown_param_macro_is_an_error_naming_it() -> None:
    with pytest.raises(runs.UnknownParameterError, match="nope"):
        runs.expand_string("${params.nope}", {"a": 1})


def test_termination_message_json_or_lines() -> None:
    assert runs.parse_termination_message('{"val_loss": 0.25, "acc": "0.9", "tag": "x"}') == {
        "val_loss": 0.25,
        "acc": 0.9,
    }
    assert runs.parse_termination_message("val_loss=0.5\nacc=0.75\n") == {"val_loss": 0.5, "acc": 0.75}
    assert runs.parse_termination_message("") == {}
    assert runs.parse_termination_message("{not json") == {}


def test_log_gives_last_values_and_steps() -> None:
    log = "starting\nstep=1 val_loss=0.9\nstep=2 val_loss=0.7 acc=0.5\nval_loss=0.65\n"
    final, steps = runs.parse_log(log)
    assert final == {"val_loss": 0.65, "acc": 0.5}
    assert steps == [(1, {"val_loss": 0.9}), (2, {"val_loss": 0.7, "acc": 0.5})]
    assert runs.metric_steps(steps, "val_loss") == ((1, 0.9), (2, 0.7))


def _fed(chunks: list[bytes], metric: str | Sequence[str] | None = None) -> runs.LogParser:
    parser = runs.LogParser(metric)
    for chunk in chunks:
        parser.feed(chunk)
    return parser


def test_a_log_fed_in_chunks_parses_as_the_whole_log() -> None:
    log = "héllo\nstep=1 loss=0.9\r\nloss=0.8 acc=0.1\rstep=2 loss=0.7\n\nacc=0.25 lr=1e-3\nloss=0.5"
    whole = runs.parse_log(log)
    data = log.encode()
    for size in range(1, 9):
        parser = _fed([data[i : i + size] for i in range(0, len(data), size)])
        # The unfinished last line counts, and is kept for the chunk that may continue it.
        assert parser.result() == whole
        parser.feed(b"5\n")
        assert parser.result()[0]["loss"] == 0.55
    assert whole[0] == {"loss": 0.5, "acc": 0.25, "lr": 1e-3}


# Measured in a process of its own: tracemalloc counts every thread's allocations, and in a
# whole test run the session's sandbox serves other tests from a thread of this process.
HUGE_LOG = """
import json, tracemalloc
from kubesweep import runs

noise = b"".join(b"epoch %d batch %d of 1000 done, no pairs here\\n" % (i, i) for i in range(1000))
pairs = b"".join(b"step=%d loss=%d other_%d=1\\n" % (i, i, i) for i in range(1000))
tracemalloc.start()
parser = runs.LogParser("loss")
for _ in range(60):  # ~6.6 MB, fed as a stream of 64 KB chunks
    block = (noise + pairs) * 2
    for at in range(0, len(block), 65536):
        parser.feed(block[at : at + 65536])
parser.feed(b"loss=-1 other_5")  # over a chunk's edge and without its newline
parser.feed(b"=2")
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
final, steps = parser.result()
print(json.dumps({"consumed": parser.consumed, "peak": peak, "final": final, "steps": steps[:2],
                  "names": len(final), "kept": len(steps)}))
"""


def test_a_huge_log_is_parsed_in_bounded_memory_and_the_last_value_wins() -> None:
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", HUGE_LOG], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout)
    assert out["consumed"] > 6_000_000
    assert out["peak"] < 4_000_000
    assert out["final"]["loss"] == -1 and out["final"]["other_5"] == 2
    assert out["names"] <= runs.MAX_LOG_NAMES + 1
    assert out["kept"] == runs.MAX_LOG_STEPS and out["steps"] == [[0, {"loss": 0.0}], [1, {"loss": 1.0}]]


def test_an_endless_line_is_parsed_in_pieces_cut_at_whitespace() -> None:
    line = b" ".join(b"name_%d=%d" % (i % 5000, i) for i in range(200_000)) + b" loss=7"
    parser = _fed([line[i : i + 10_000] for i in range(0, len(line), 10_000)], metric="loss")
    final, _ = parser.result()
    assert final["loss"] == 7 and final["name_0"] == 195_000  # its last value, from the line's end
    assert len(final) == runs.MAX_LOG_NAMES + 1  # the metric kept beyond the other names' bound


def test_each_objective_is_kept_beyond_the_names_bound_as_a_single_metric_is() -> None:
    junk = b"".join(b"junk_%d=%d\n" % (i, i) for i in range(3 * runs.MAX_LOG_NAMES))
    log = junk + b"step=1 loss=0.9 cost=0.1 junk_0=5\nloss=0.5 cost=0.25 acc=0.75\n"
    final, steps = _fed([log], metric=("loss", "cost")).result()
    assert final["loss"] == 0.5 and final["cost"] == 0.25 and "acc" not in final
    assert len(final) == runs.MAX_LOG_NAMES + 2
    assert steps == [(1, {"loss": 0.9, "cost": 0.1})]  # a step keeps the objectives only
    # One name as a string or in a list: the same parser.
    assert _fed([log], metric="loss").result() == _fed([log], metric=["loss"]).result()
    assert "cost" not in _fed([log], metric="loss").result()[0]


def _job(
    name: str = "s-0001", conditions: list[Any] | None = None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "annotations": {
                api.ANNOTATION_PARAMETERS: '{"a": 1}',
                api.ANNOTATION_RUN_NUMBER: "1",
                **(annotations or {}),
            },
        },
        "spec": {},
        "status": {"conditions": conditions or []},
    }


def _pod(phase: str, terminated: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    container_statuses = [{"state": {"terminated": terminated}}] if terminated else []
    return {
        "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"phase": phase, "containerStatuses": container_statuses, **status},
    }


COMPLETE = [{"type": "Complete", "status": "True"}]
FAILED = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]


def test_observe_pending_running_finished() -> None:
    assert runs.observe(_job(), []).state == RunState.PENDING
    assert runs.observe(_job(), [_pod("Pending")]).state == RunState.PENDING
    assert runs.observe(_job(), [_pod("Running")]).state == RunState.RUNNING
    done = runs.observe(
        _job(conditions=COMPLETE), [_pod("Succeeded", {"exitCode": 0, "message": "loss=0.1"})]
    )
    assert done.state == RunState.FINISHED
    assert done.metrics == {"loss": 0.1}
    assert not done.needs_log
    assert done.parameters == {"a": 1} and done.number == 1


def test_observe_finished_without_message_needs_the_log() -> None:
    run = runs.observe(_job(conditions=COMPLETE), [_pod("Succeeded", {"exitCode": 0})])
    assert run.needs_log
    run = runs.observe(_job(conditions=COMPLETE), [_pod("Succeeded", {"exitCode": 0})], log="loss=0.3\n")
    assert run.metrics == {"loss": 0.3} and not run.needs_log


def test_observe_failed_and_crashed() -> None:
    failed = runs.observe(_job(conditions=FAILED), [_pod("Failed", {"exitCode": 1, "reason": "Error"})])
    assert failed.state == RunState.FAILED
    oom = runs.observe(_job(conditions=FAILED), [_pod("Failed", {"exitCode": 137, "reason": "OOMKilled"})])
    assert oom.state == RunState.CRASHED
    evicted = runs.observe(_job(conditions=FAILED), [_pod("Failed", reason="Evicted")])
    assert evicted.state == RunState.CRASHED


def test_recorded_result_wins_over_job_state() -> None:
    result = json.dumps({"state": "Killed", "metrics": {"loss": 0.4}, "earlyStopped": True})
    run = runs.observe(_job(conditions=COMPLETE, annotations={api.ANNOTATION_RESULT: result}), [])
    assert run.state == RunState.KILLED and run.recorded and run.early_stopped
    assert run.metrics == {"loss": 0.4}
    # A garbled annotation is ignored rather than trusted.
    assert not runs.observe(_job(annotations={api.ANNOTATION_RESULT: "{bad"}), []).recorded


def test_stop_annotation_and_deletion_are_seen() -> None:
    job = _job(annotations={api.ANNOTATION_STOP: "true"})
    job["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    run = runs.observe(job, [_pod("Running")])
    assert run.stop_requested and run.deleting and run.pods_alive


def test_result_annotation_round_trips() -> None:
    run = runs.Run(name="s-0001", number=1, parameters={}, state=RunState.FINISHED, metrics={"loss": 0.2})
    job = _job(annotations={api.ANNOTATION_RESULT: runs.result_annotation(run)})
    back = runs.observe(job, [])
    assert (back.state, back.metrics) == (RunState.FINISHED, {"loss": 0.2})


def _attempt(name: str, phase: str, at: str, terminated: dict[str, Any] | None = None) -> dict[str, Any]:
    pod = _pod(phase, terminated)
    pod["metadata"] = {"name": name, "creationTimestamp": at}
    return pod


def test_a_pod_that_succeeded_ends_the_run_before_its_job_is_marked_complete() -> None:
    # The Job controller marks the Job Complete about 1 s after its pod succeeded.
    run = runs.observe(_job(), [_pod("Succeeded", {"exitCode": 0, "message": "loss=0.1"})])
    assert run.state == RunState.FINISHED and not run.active
    assert run.metrics == {"loss": 0.1}
    quiet = runs.observe(_job(), [_pod("Succeeded", {"exitCode": 0})])
    assert quiet.state == RunState.FINISHED and quiet.needs_log
    assert runs.observe(_job(), [_pod("Succeeded", {"exitCode": 0})], log="loss=0.3\n").metrics == {
        "loss": 0.3
    }


def test_a_failed_pod_ends_the_run_only_past_the_jobs_backoff_limit() -> None:
    failed = _attempt("p-1", "Failed", "2026-01-01T00:00:00Z", {"exitCode": 1, "reason": "Error"})
    assert runs.observe(_job(), [failed]).state == RunState.FAILED
    oom = _attempt("p-1", "Failed", "2026-01-01T00:00:00Z", {"exitCode": 137, "reason": "OOMKilled"})
    assert runs.observe(_job(), [oom]).state == RunState.CRASHED
    # backoffLimit 1: the first failure is followed by a retry, and the run goes on.
    job = _job()
    job["spec"]["backoffLimit"] = 1
    assert runs.observe(job, [failed]).active
    retry = _attempt("p-2", "Running", "2026-01-01T00:00:05Z")
    assert runs.observe(job, [failed, retry]).state == RunState.RUNNING
    done = _attempt("p-2", "Succeeded", "2026-01-01T00:00:05Z", {"exitCode": 0, "message": "loss=2"})
    finished = runs.observe(job, [failed, done])
    assert (finished.state, finished.metrics) == (RunState.FINISHED, {"loss": 2.0})
    again = _attempt("p-2", "Failed", "2026-01-01T00:00:05Z", {"exitCode": 1, "reason": "Error"})
    assert runs.observe(job, [failed, again]).state == RunState.FAILED
    # A podFailurePolicy decides which failures count: only the Job can tell.
    job["spec"] = {"backoffLimit": 0, "podFailurePolicy": True}
    assert runs.observe(job, [failed]).active


def test_a_run_is_settled_once_the_job_controller_is_done_with_its_job() -> None:
    succeeded = _pod("Succeeded", {"exitCode": 0})
    assert not runs.observe(_job(), [succeeded]).settled  # Complete not yet written
    assert runs.observe(_job(conditions=COMPLETE), [succeeded]).settled
    killed = _job(annotations={api.ANNOTATION_RESULT: '{"state":"Killed","metrics":{}}'})
    dying = _pod("Running")
    dying["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
    run = runs.observe(killed, [dying])
    assert not run.pods_alive and not run.settled  # its pods wait for the controller
    assert runs.observe(killed, []).settled


def test_a_killed_runs_job_settles_once_failed_or_without_pods() -> None:
    # A stopped pod stays (with its log): the Job is let go once the Job controller marked it
    # Failed, not while a replacement could still be made.
    killed = _job(annotations={api.ANNOTATION_RESULT: '{"state":"Killed","metrics":{}}'})
    stopped = _pod("Failed", {"exitCode": 143, "reason": "Error"}, reason="DeadlineExceeded")
    assert not runs.observe(killed, [stopped]).settled
    assert runs.observe({**killed, "status": {"conditions": FAILED}}, [stopped]).settled


def test_a_pod_stopped_by_its_deadline_is_a_kill_not_a_failure() -> None:
    # The pods' watch may show the stopped pod before the Jobs' watch shows the Killed result.
    stopped = _pod("Failed", {"exitCode": 143, "reason": "Error"}, reason="DeadlineExceeded")
    stopped["spec"] = {"activeDeadlineSeconds": runs.STOP_DEADLINE}
    run = runs.observe({**_job(), "status": {"conditions": FAILED, "failed": 1}}, [stopped])
    assert run.state == RunState.KILLED and not run.active
    # The template's own deadline is the run's failure, as before.
    timed_out = {**stopped, "spec": {"activeDeadlineSeconds": 3600}}
    assert runs.observe(_job(conditions=FAILED), [timed_out]).state == RunState.FAILED


def test_what_a_stop_needs_to_know_of_a_run() -> None:
    running, stopping = _pod("Running"), _pod("Running")
    running["metadata"]["name"] = "s-0001-a"
    stopping["metadata"]["name"] = "s-0001-b"
    stopping["spec"] = {"activeDeadlineSeconds": runs.STOP_DEADLINE}
    job = {**_job(), "status": {"failed": 2}}
    run = runs.observe(job, [running, stopping])
    assert (run.unstopped_pods, run.pod_failures, run.has_pods) == (("s-0001-a",), 2, True)
    # Stopping it: the next failure ends the Job (no replacement pod), whatever its backoffLimit.
    assert runs.stop_job_patch(run) == {"backoffLimit": 2}
    # A Job with no pod yet (in a queue): never a pod, and Failed as soon as it is admitted.
    queued = runs.observe({**_job(), "spec": {"suspend": True}}, [])
    assert queued.queued and queued.state == RunState.PENDING
    assert runs.stop_job_patch(queued) == {"backoffLimit": 0, "parallelism": 0, "activeDeadlineSeconds": 1}
    # Suspended once its pod existed (a queue preempting it): not waiting for admission yet.
    assert not runs.observe({**_job(), "spec": {"suspend": True}}, [_pod("Running")]).queued


def test_a_job_with_a_queue_label_is_created_suspended_as_kueues_webhook_would() -> None:
    s = sweep()
    s["spec"]["template"]["metadata"]["labels"][api.LABEL_QUEUE] = "team-a"
    job = runs.render_job(s, 1, PARAMS)
    assert job["spec"]["suspend"] is True and job["metadata"]["labels"][api.LABEL_QUEUE] == "team-a"
    assert job["spec"]["template"]["metadata"]["labels"][api.LABEL_QUEUE] == "team-a"
    assert "suspend" not in runs.render_job(sweep(), 1, PARAMS)["spec"]


T_END = "2026-01-01T00:00:10Z"
T_END_S = 1767225610.0  # T_END in seconds since the epoch
COMPLETE_AT = [{"type": "Complete", "status": "True", "lastTransitionTime": T_END}]
FAILED_AT = [
    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "lastTransitionTime": T_END}
]


def test_a_job_marked_complete_before_its_pod_is_seen_terminated_waits_for_the_pod() -> None:
    # Jobs and pods come on separate watches: the Job's Complete can arrive first. Its metrics
    # are in the pod's termination message: the run is not taken as ended without it.
    job = _job(conditions=COMPLETE_AT)
    early = runs.observe(job, [_pod("Running")], now=T_END_S + 1)
    assert early.awaiting_pod and not early.active and not early.needs_log
    assert early.deadline == T_END_S + runs.POD_VIEW_TIMEOUT
    seen = runs.observe(job, [_pod("Succeeded", {"exitCode": 0, "message": "loss=0.1"})], now=T_END_S + 1)
    assert not seen.awaiting_pod and (seen.state, seen.metrics) == (RunState.FINISHED, {"loss": 0.1})
    # Its pod gone for good: past the bound the run ends with what is known.
    gone = runs.observe(job, [], now=T_END_S + runs.POD_VIEW_TIMEOUT)
    assert not gone.awaiting_pod and gone.state == RunState.FINISHED and not gone.needs_log
    assert runs.observe(job, [], now=T_END_S + 1).awaiting_pod


def test_a_failed_run_keeps_its_exit_code_reason_and_message() -> None:
    missing = {"exitCode": 128, "reason": "StartError", "message": 'exec: "trian": executable file not found'}
    run = runs.observe(_job(conditions=FAILED_AT), [_pod("Failed", missing)], now=T_END_S)
    assert (run.state, run.reason, run.exit_code) == (RunState.FAILED, "StartError", 128)
    assert "trian" in run.message
    back = runs.observe(_job(annotations={api.ANNOTATION_RESULT: runs.result_annotation(run)}), [])
    assert (back.reason, back.exit_code, back.message) == (run.reason, 128, run.message)
    oom = runs.observe(_job(), [_pod("Failed", {"exitCode": 137, "reason": "OOMKilled"})])
    assert (oom.state, oom.reason, oom.exit_code) == (RunState.CRASHED, "OOMKilled", 137)
    evicted = runs.observe(
        _job(conditions=FAILED_AT), [_pod("Failed", reason="Evicted", message="low memory")]
    )
    assert (evicted.state, evicted.reason, evicted.message) == (RunState.CRASHED, "Evicted", "low memory")
    deadline = [
        {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "lastTransitionTime": T_END}
    ]
    killed = runs.observe(_job(conditions=deadline), [_pod("Failed", {"exitCode": 143, "reason": "Error"})])
    assert (killed.reason, killed.exit_code) == ("DeadlineExceeded", 143)


def test_a_pod_that_cannot_start_fails_its_run_past_the_start_timeout() -> None:
    pod = _pod("Pending")
    pod["status"]["containerStatuses"] = [
        {"state": {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x"'}}}
    ]
    created = 1767225600.0  # the pod's creationTimestamp
    waiting = runs.observe(_job(), [pod], now=created + 10, start_timeout=60)
    assert waiting.state == RunState.PENDING and waiting.deadline == created + 60 and not waiting.stuck
    stuck = runs.observe(_job(), [pod], now=created + 60, start_timeout=60)
    assert (stuck.state, stuck.reason, stuck.stuck) == (RunState.FAILED, "ImagePullBackOff", True)
    assert "Back-off" in stuck.message
    pulling = _pod("Pending")
    pulling["status"]["containerStatuses"] = [{"state": {"waiting": {"reason": "ContainerCreating"}}}]
    assert runs.observe(_job(), [pulling], now=created + 3600).state == RunState.PENDING
