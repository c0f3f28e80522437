"""How runs end is never lost or hidden: metrics reported only in the termination message
survive the Job watch outrunning the pod watch, a failed run's record says why, a template is
judged by the API server alone, and a sweep without a result does not say Completed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kubesweep import api

from .conftest import Kube, condition, metric_grid, python_run, released_jobs, wait_for

pytestmark = pytest.mark.integration

# Reports its loss only in the termination message (no log line) and exits at once.
MESSAGE_ONLY = (
    "import json, os; p = json.loads(os.environ['KUBESWEEP_PARAMETERS']); "
    "open('/dev/termination-log', 'w').write(json.dumps({'loss': p['a']}))"
)


def events(kube: Kube, ns: str, reason: str) -> list[Any]:
    return [e for e in kube.core.list_namespaced_event(ns).items if e.reason == reason]


def container_of(template: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = template["spec"]["template"]["spec"]["containers"][0]
    return container


def test_metrics_of_the_termination_message_are_recorded_for_every_run(kube: Kube, ns: str) -> None:
    # Many runs that end at once: the operator sees Jobs Complete while the pods' terminated
    # state (their termination message) is still on its way. No record may lack its metric.
    names = [f"race{i}" for i in range(4)]
    for name in names:
        kube.create_sweep(ns, name, metric_grid(MESSAGE_ONLY, list(range(1, 11)), parallelism=5))
    for name in names:
        kube.wait_phase(ns, name, "Finished", timeout=120)
    for name in names:
        done = kube.records(ns, name)
        assert len(done) == 10
        lost = {
            n: r["metrics"] for n, r in done.items() if r["metrics"] != {"loss": float(r["parameters"]["a"])}
        }
        assert not lost, f"records without their metric: {lost}"


def test_two_unseeded_random_sweeps_draw_different_points(kube: Kube, ns: str) -> None:
    spec = {
        "method": "random",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}},
        "runCap": 2,
        "template": python_run("print('loss=1')"),
    }
    points = []
    for name in ("unseeded-a", "unseeded-b"):
        kube.create_sweep(ns, name, spec)
    for name in ("unseeded-a", "unseeded-b"):
        kube.wait_phase(ns, name, "Finished", timeout=60)
        points.append(sorted(r["parameters"]["x"] for r in kube.records(ns, name).values()))
    assert points[0] != points[1]


def test_integer_resource_quantities_reach_the_api_server(kube: Kube, ns: str) -> None:
    template = python_run("print('loss=1')", resources={"limits": {"cpu": 2, "nvidia.com/gpu": 1}})
    kube.create_sweep(ns, "quantities", {**metric_grid("", [1]), "template": template})
    kube.wait_phase(ns, "quantities", "Finished", timeout=60)
    (job,) = kube.jobs(ns, "quantities")
    assert container_of(job)["resources"]["limits"] == {"cpu": "2", "nvidia.com/gpu": "1"}


def test_a_typo_in_the_template_is_refused_with_the_field_named(kube: Kube, ns: str) -> None:
    template = python_run("print('loss=1')")
    container_of(template)["comand"] = container_of(template).pop("command")
    kube.create_sweep(ns, "typo", {**metric_grid("", [1]), "template": template})
    sweep = kube.wait_phase(ns, "typo", "Crashed", timeout=30)
    ready = condition(sweep, "Ready")
    assert ready["reason"] == "TemplateRejected" and "comand" in ready["message"], ready
    warned = wait_for(lambda: events(kube, ns, "TemplateRejected"), 10, "a TemplateRejected event")
    assert warned[0].type == "Warning" and "comand" in warned[0].message
    assert not kube.jobs(ns, "typo")


def test_a_run_whose_command_does_not_exist_records_why_it_failed(kube: Kube, ns: str) -> None:
    template = python_run("")
    container_of(template)["command"] = ["kubesweep-no-such-command"]
    kube.create_sweep(ns, "nocommand", {**metric_grid("", [1]), "template": template})
    sweep = kube.wait_phase(ns, "nocommand", {"Finished", "Failed"}, timeout=60)
    (record,) = sweep["status"]["recordedRuns"]
    assert (record["state"], record["reason"], record["exitCode"]) == ("Failed", "StartError", 128), record
    assert "kubesweep-no-such-command" in record["message"]
    (event,) = wait_for(lambda: events(kube, ns, "RunFailed"), 10, "the RunFailed event")
    assert "StartError" in event.message and "128" in event.message, event.message
    (job,) = released_jobs(kube, ns, "nocommand")
    assert '"exitCode":128' in job["metadata"]["annotations"][api.ANNOTATION_RESULT]


def test_a_pod_that_cannot_start_fails_its_run_past_the_start_timeout(kube: Kube, ns: str) -> None:
    # No kubelet runs this pod (its node does not exist): the test writes its status as a kubelet
    # that cannot pull the image would.
    template = python_run("print('loss=1')")
    template["spec"]["template"]["spec"]["nodeName"] = "kubesweep-test-no-such-node"
    template["spec"]["backoffLimit"] = 3  # retries: only the stop keeps a replacement pod away
    kube.create_sweep(ns, "noimage", {**metric_grid("", [1]), "template": template, "startTimeoutSeconds": 1})
    (pod,) = wait_for(lambda: kube.pods(ns, "noimage"), 30, "the run's pod")
    waiting = {"reason": "ErrImagePull", "message": 'pull access denied for "python:3.11-slim"'}
    status = {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": "train",
                "image": "python:3.11-slim",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": waiting},
            }
        ],
    }
    kube.core.patch_namespaced_pod_status(pod["metadata"]["name"], ns, {"status": status})
    done = wait_for(lambda: kube.records(ns, "noimage").get("noimage-0001"), 30, "the run's record")
    assert (done["state"], done["reason"]) == ("Failed", "ErrImagePull"), done
    assert "pull access denied" in done["message"]
    wait_for(lambda: not kube.pods(ns, "noimage"), 30, "the pod that could not start deleted")
    # Never suspended (a queue such as Kueue would undo it): the deleted pod is the Job's last
    # failure, so it ends Failed and makes no other pod.
    (job,) = wait_for(
        lambda: (
            (jobs := kube.jobs(ns, "noimage"))
            and any(
                c["type"] == "Failed" and c["status"] == "True"
                for c in jobs[0]["status"].get("conditions") or []
            )
            and jobs
        ),
        30,
        "the Job Failed",
    )
    assert not job["spec"].get("suspend") and job["spec"]["backoffLimit"] == 0, job["spec"]
    time.sleep(1.0)  # a replacement would come within the Job controller's next sync
    assert not kube.pods(ns, "noimage")


def test_a_sweep_whose_first_runs_all_fail_ends_failed_not_completed(kube: Kube, ns: str) -> None:
    kube.create_sweep(ns, "allfail", metric_grid("import sys; sys.exit(3)", list(range(1, 9)), parallelism=2))
    sweep = kube.wait_phase(ns, "allfail", {"Failed", "Finished"}, timeout=60)
    assert sweep["status"]["phase"] == "Failed", sweep["status"]
    assert condition(sweep, "Ready")["reason"] == "FirstRunsFailed"
    assert condition(sweep, "Completed")["status"] == "False"
    assert sweep["status"]["runs"]["failed"] >= 5 and sweep["status"]["runs"]["finished"] == 0


def test_a_sweep_where_no_run_reported_the_metric_is_not_completed(kube: Kube, ns: str) -> None:
    kube.create_sweep(ns, "nometric", metric_grid("print('accuracy=0.5')", [1, 2]))
    sweep = kube.wait_phase(ns, "nometric", "Finished", timeout=60)
    completed = condition(sweep, "Completed")
    assert (completed["status"], completed["reason"]) == ("False", "NoMetricReported"), completed
    warned = wait_for(
        lambda: len(e := events(kube, ns, "MetricMissing")) == 2 and e, 10, "2 MetricMissing events"
    )
    assert all(e.type == "Warning" and "loss" in e.message for e in warned)


def test_a_sweep_where_every_run_failed_is_not_completed(kube: Kube, ns: str) -> None:
    spec = metric_grid("import sys; sys.exit(1)", [1, 2], maxFailedRuns=10)
    kube.create_sweep(ns, "nonefinished", spec)
    sweep = kube.wait_phase(ns, "nonefinished", "Finished", timeout=60)
    completed = condition(sweep, "Completed")
    assert (completed["status"], completed["reason"]) == ("False", "NoRunFinished"), completed
    assert all(r["reason"] == "Error" and r["exitCode"] == 1 for r in sweep["status"]["recordedRuns"])
