"""Hostile and unlucky input (issue 14), with the real operator: names another object holds,
a sweep deleted and created again under its name, values Kubernetes would expand, names that
stretch the API's limits."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from kubesweep import api

from .conftest import Kube, Operator, python_run, wait_for

pytestmark = pytest.mark.integration

QUICK = "print('loss=1')"


def quick_sweep(values: list[Any], code: str = QUICK, **spec: Any) -> dict[str, Any]:
    return {
        "method": "grid",
        "parallelism": 2,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": values}},
        "template": python_run(code),
        **spec,
    }


def owner_uids(job: dict[str, Any]) -> list[str]:
    return [o["uid"] for o in job["metadata"].get("ownerReferences") or []]


def test_a_job_of_anyone_under_a_runs_name_is_not_taken_for_the_run(kube: Kube, ns: str) -> None:
    foreign = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "taken-0001"},
        **python_run(QUICK),
    }
    kube.batch.create_namespaced_job(ns, foreign)  # type: ignore[arg-type]
    sweep = kube.create_sweep(ns, "taken", quick_sweep([1, 2]))
    done = kube.wait_phase(ns, "taken", "Finished", timeout=60)
    assert done["status"]["runs"]["finished"] == 2
    assert sorted(r["name"] for r in done["status"]["recordedRuns"]) == ["taken-0002", "taken-0003"]
    assert all(owner_uids(j) == [sweep["metadata"]["uid"]] for j in kube.jobs(ns, "taken"))
    left = kube.api_client.sanitize_for_serialization(kube.batch.read_namespaced_job("taken-0001", ns))
    assert owner_uids(left) == [] and not left["metadata"].get("finalizers")


def test_a_sweep_deleted_and_created_again_under_its_name_runs(
    sandbox: Any, kube: Kube, tmp_path: Path
) -> None:
    # An operator of its own, stopped while the sweep is deleted and created again (as with
    # `kubectl replace --force` during a restart): the old Job waits in Terminating on our finalizer.
    op = Operator(Path(sandbox.kubeconfig_path), tmp_path / "operator.log", namespaces="h-*")
    ns = kube.namespace("h")
    op.start()
    try:
        old = kube.create_sweep(ns, "again", quick_sweep([1], "import time; time.sleep(600)", parallelism=1))
        wait_for(lambda: kube.jobs(ns, "again"), 60, "the first sweep's Job")
        op.stop()
        kube.custom.delete_namespaced_custom_object(api.GROUP, api.VERSION, ns, api.PLURAL, "again")
        wait_for(
            lambda: all(j["metadata"].get("deletionTimestamp") for j in kube.jobs(ns, "again")),
            60,
            "the garbage collector to delete the old Job",
            lambda: kube.jobs(ns, "again"),
        )
        new = kube.create_sweep(ns, "again", quick_sweep([1, 2]))
        op.start()
        done = kube.wait_phase(ns, "again", "Finished", timeout=90)
        # The old sweep's Job is let go: nothing holds it in Terminating.
        wait_for(
            lambda: not any(old["metadata"]["uid"] in owner_uids(j) for j in kube.jobs(ns, "again")),
            60,
            "the old sweep's Job to be gone",
            lambda: [
                (j["metadata"]["name"], j["metadata"].get("finalizers")) for j in kube.jobs(ns, "again")
            ],
        )
    finally:
        op.stop()
    assert done["status"]["runs"]["finished"] == 2
    assert all(owner_uids(j) == [new["metadata"]["uid"]] for j in kube.jobs(ns, "again"))


def test_parameter_values_reach_the_run_as_written(kube: Kube, ns: str) -> None:
    # Built without writing `$(` or `$$` in the template, which Kubernetes would expand there.
    code = (
        "import json, os, sys; d = chr(36); p = d + '(SECRET)'; q = 'a' + d + d + 'b'; "
        "ok = sys.argv[1:] == ['--p=' + p, '--q=' + q] and os.environ['P'] == p "
        "and json.loads(os.environ['KUBESWEEP_PARAMETERS']) == {'p': p, 'q': q}; "
        "print('ok=%d' % ok, sys.argv[1:], os.environ['P'])"
    )
    template = python_run(
        code, env=[{"name": "SECRET", "value": "leaked"}, {"name": "P", "value": "${params.p}"}]
    )
    template["spec"]["template"]["spec"]["containers"][0]["args"] = ["${args}"]
    spec = {
        "method": "grid",
        "metric": {"name": "ok", "goal": "maximize"},
        "parameters": {"p": {"value": "$(SECRET)"}, "q": {"value": "a$$b"}},
        "template": template,
    }
    kube.create_sweep(ns, "dollars", spec)
    done = kube.wait_phase(ns, "dollars", "Finished", timeout=60)
    record = done["status"]["recordedRuns"][0]
    assert record["parameters"] == {"p": "$(SECRET)", "q": "a$$b"}
    assert record["metrics"] == {"ok": 1.0}


def test_a_sweep_named_like_a_long_names_label_is_its_own(kube: Kube, ns: str) -> None:
    long = "h" * 70
    # What a 70-character name's label value was: a valid sweep name of its own.
    lookalike = f"{'h' * 56}-{hashlib.sha256(long.encode()).hexdigest()[:6]}"
    first = kube.create_sweep(ns, long, quick_sweep([1]))
    second = kube.create_sweep(ns, lookalike, quick_sweep([1, 2]))
    for sweep, runs in ((first, 1), (second, 2)):
        name = sweep["metadata"]["name"]
        done = kube.wait_phase(ns, name, "Finished", timeout=60)
        assert done["status"]["runs"]["finished"] == runs, name
    assert all(owner_uids(j) == [second["metadata"]["uid"]] for j in kube.jobs(ns, lookalike))


def test_a_sweep_with_the_longest_name_gets_its_events(kube: Kube, ns: str) -> None:
    name = ".".join(["e" * 63] * 3 + ["e" * 61])
    assert len(name) == 253
    kube.create_sweep(ns, name, quick_sweep([1]))
    kube.wait_phase(ns, name, "Finished", timeout=60)
    reasons = wait_for(
        lambda: (
            {
                e.reason
                for e in kube.core.list_namespaced_event(ns).items
                if e.involved_object.name == name and e.reason in ("SearchSpace", "Finished")
            }
            == {"SearchSpace", "Finished"}
        ),
        30,
        "the sweep's events",
    )
    assert reasons


SLEEP = "import time; time.sleep(600)"


def alive(pods: list[dict[str, Any]]) -> list[str]:
    return [
        p["metadata"]["name"]
        for p in pods
        if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        and not p["metadata"].get("deletionTimestamp")
    ]


def test_an_invalid_spec_still_stops_runs_lets_deleted_jobs_go_and_cancels(kube: Kube, ns: str) -> None:
    kube.create_sweep(ns, "broken", quick_sweep([1, 2, 3], SLEEP))
    wait_for(lambda: len(alive(kube.pods(ns, "broken"))) == 2, 60, "two runs executing")
    # `values` beside `min`/`max`: the API server takes it (no CEL rule sees it), the operator cannot.
    kube.custom.patch_namespaced_custom_object(
        api.GROUP, api.VERSION, ns, api.PLURAL, "broken",
        {"spec": {"parameters": {"a": {"values": [1, 2, 3], "min": 0, "max": 1}}}},
    )  # fmt: skip
    kube.wait_phase(ns, "broken", "Crashed", timeout=30)
    first, second = sorted(j["metadata"]["name"] for j in kube.jobs(ns, "broken"))
    kube.batch.delete_namespaced_job(first, ns, propagation_policy="Background")
    wait_for(
        lambda: first not in {j["metadata"]["name"] for j in kube.jobs(ns, "broken")},
        60,
        "the deleted Job to be let go",
        lambda: [(j["metadata"]["name"], j["metadata"].get("finalizers")) for j in kube.jobs(ns, "broken")],
    )
    kube.set_state(ns, "broken", "cancelled")
    done = kube.wait_phase(ns, "broken", "Cancelled", timeout=30)
    wait_for(
        lambda: not alive(kube.pods(ns, "broken")), 60, "every pod killed", lambda: kube.pods(ns, "broken")
    )
    # A killed run's record reaches the status as its Job is let go, once its pod ended.
    wait_for(
        lambda: (
            {n: r["state"] for n, r in kube.records(ns, "broken").items()}
            == {first: "Killed", second: "Killed"}
        ),
        60,
        "both runs recorded Killed",
        lambda: kube.records(ns, "broken"),
    )
    assert done["status"]["runs"]["total"] == 2


def test_reserved_keys_in_the_template_reach_no_run(kube: Kube, ns: str) -> None:
    template = python_run(QUICK)
    # As copied from an earlier run's Job (`kubectl get job -o yaml`).
    template["metadata"] = {
        "labels": {api.LABEL_RECORDED: "true"},
        "annotations": {api.ANNOTATION_RESULT: '{"metrics":{"loss":-5},"state":"Finished"}'},
    }
    template["spec"]["template"]["metadata"] = {"annotations": {api.ANNOTATION_STOP: "true"}}
    kube.create_sweep(ns, "copied", quick_sweep([1, 2], template=template))
    done = kube.wait_phase(ns, "copied", "Finished", timeout=60)
    assert [r["metrics"] for r in done["status"]["recordedRuns"]] == [{"loss": 1.0}, {"loss": 1.0}]
    assert done["status"]["runs"]["finished"] == 2
    messages = wait_for(
        lambda: [
            e.message
            for e in kube.core.list_namespaced_event(ns).items
            if e.involved_object.name == "copied" and e.reason == "ReservedKeysIgnored"
        ],
        30,
        "the ReservedKeysIgnored event",
    )
    assert len(messages) == 1 and api.ANNOTATION_RESULT in messages[0] and api.ANNOTATION_STOP in messages[0]


def test_the_operators_environment_variables_in_the_template_do_not_override_its_own(
    kube: Kube, ns: str
) -> None:
    # The run reports what the operator's variables say: its own name and parameter.
    code = (
        "import json, os\n"
        "p = json.loads(os.environ['KUBESWEEP_PARAMETERS'])\n"
        "print('loss=%d' % p['a'], 'mine=%d' % (os.environ['KUBESWEEP_RUN'] == 'env-000%d' % p['a']))\n"
    )
    template = python_run(
        code,
        env=[
            {"name": "KUBESWEEP_RUN", "value": "forged"},
            {"name": "KUBESWEEP_PARAMETERS", "value": '{"a": 99}'},
        ],
    )
    kube.create_sweep(ns, "env", quick_sweep([1, 2], template=template))
    done = kube.wait_phase(ns, "env", "Finished", timeout=60)
    assert [r["metrics"] for r in done["status"]["recordedRuns"]] == [
        {"loss": 1.0, "mine": 1.0},
        {"loss": 2.0, "mine": 1.0},
    ]
    messages = wait_for(
        lambda: [
            e.message
            for e in kube.core.list_namespaced_event(ns).items
            if e.involved_object.name == "env" and e.reason == "ReservedKeysIgnored"
        ],
        30,
        "the ReservedKeysIgnored event",
    )
    assert len(messages) == 1 and "env[KUBESWEEP_RUN]" in messages[0]


def test_objects_that_carry_a_sweeps_labels_are_not_its_runs(kube: Kube, ns: str) -> None:
    labels = {api.LABEL_SWEEP: "owned", api.LABEL_MANAGED_BY: api.MANAGED_BY}
    forged = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "owned-0099",
            "labels": {**labels, api.LABEL_RUN: "owned-0099"},
            "annotations": {
                api.ANNOTATION_RUN_NUMBER: "99",
                api.ANNOTATION_PARAMETERS: '{"a":1}',
                api.ANNOTATION_RESULT: '{"metrics":{"loss":-100},"state":"Finished"}',
            },
        },
        "spec": {**python_run(QUICK)["spec"], "suspend": True},
    }
    kube.batch.create_namespaced_job(ns, forged)  # type: ignore[arg-type]
    foreign_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bystander", "labels": {**labels, api.LABEL_RUN: "owned-0001"}},
        "spec": python_run(SLEEP)["spec"]["template"]["spec"],
    }
    kube.core.create_namespaced_pod(ns, foreign_pod)  # type: ignore[arg-type]
    kube.create_sweep(ns, "owned", quick_sweep([1, 2], SLEEP, parallelism=1))
    wait_for(
        lambda: len(alive(kube.pods(ns, "owned"))) == 2, 60, "the run and the bystander executing",
        lambda: kube.pods(ns, "owned"),
    )  # fmt: skip
    kube.set_state(ns, "owned", "cancelled")
    done = kube.wait_phase(ns, "owned", "Cancelled", timeout=30)
    wait_for(
        lambda: alive(kube.pods(ns, "owned")) == ["bystander"],
        60,
        "the run's pod killed",
        lambda: kube.pods(ns, "owned"),
    )
    wait_for(
        lambda: list(kube.records(ns, "owned")) == ["owned-0001"],
        60,
        "the run's record",
        lambda: kube.records(ns, "owned"),
    )
    done = kube.sweep(ns, "owned")
    assert done["status"].get("bestRun") is None
    assert done["status"]["runs"]["total"] == 1
    kube.core.delete_namespaced_pod("bystander", ns, grace_period_seconds=0)
