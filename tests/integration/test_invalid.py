"""Bad sweeps are refused by the schema or end with a condition a person can act on, and
never stop the operator from serving the others."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from .conftest import Kube, Operator, condition, python_run, wait_for

pytestmark = pytest.mark.integration

VALID: dict[str, Any] = {
    "method": "grid",
    "parameters": {"a": {"values": [1, 2]}},
    "template": python_run("print('loss=1')"),
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"state": "paused-ish"}, "spec.state"),
        ({"parallelism": -1}, "spec.parallelism"),
        ({"method": "hill-climb"}, "spec.method"),
        ({"metric": {"goal": "minimize"}}, "spec.metric.name"),
        ({"parameters": {}}, "spec.parameters"),
        (
            {"template": {"spec": {"template": {"spec": {"containers": []}}}}},
            "spec.template.spec.template.spec.containers",
        ),
        ({"runCap": 0}, "spec.runCap"),
        # The CRD's CEL rules: what used to crash the sweep after a successful apply.
        ({"parameters": {"lr": {"min": 0.1, "max": 1.0}}}, "spec.parameters"),
        (
            {"parameters": {"lr": {"distribution": "int_uniform", "min": 9, "max": 1}}},
            "spec.parameters[lr].max",
        ),
        ({"method": "bayes"}, "spec.metric"),
        (
            {"parameters": {"lr": {"distribution": "log_uniform", "min": -5, "max": 0}}},
            "spec.parameters[lr].distribution",
        ),
    ],
)
def test_schema_refuses_with_the_field(kube: Kube, ns: str, change: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiException) as info:
        kube.create_sweep(ns, "bad", {**VALID, **change})
    assert info.value.status == 422
    assert field in str(info.value.body)


def test_a_grid_over_a_continuous_range_is_refused_at_apply_naming_it(kube: Kube, ns: str) -> None:
    with pytest.raises(ApiException) as info:
        kube.create_sweep(ns, "continuous", {**VALID, "parameters": {"lr": {"min": 0.1, "max": 1.0}}})
    assert info.value.status == 422
    cause = json.loads(str(info.value.body))["details"]["causes"][0]
    assert cause["field"] == "spec.parameters"
    assert "lr is not: give it values, or use method random or bayes" in cause["message"]
    assert not kube.jobs(ns, "continuous")


def test_what_the_rules_cannot_see_gets_a_condition_naming_it_and_fixing_it_resumes(
    kube: Kube, ns: str
) -> None:
    # values beside min and max: CEL cannot see values (free JSON), the operator refuses it.
    kube.create_sweep(ns, "conflict", {**VALID, "parameters": {"lr": {"values": [1, 2], "min": 0, "max": 3}}})
    sweep = kube.wait_phase(ns, "conflict", "Crashed", timeout=10)
    ready = condition(sweep)
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert "spec.parameters.lr" in ready["message"]
    assert not kube.jobs(ns, "conflict")
    # Fixing the spec brings it back to life.
    kube.custom.patch_namespaced_custom_object(
        "kubesweep.io",
        "v1alpha1",
        ns,
        "sweeps",
        "conflict",
        {"spec": {"parameters": {"lr": {"min": None, "max": None}}}},
    )
    kube.wait_phase(ns, "conflict", "Finished", timeout=30)


def test_a_template_the_api_server_rejects_crashes_with_its_message(kube: Kube, ns: str) -> None:
    template = python_run("print('loss=1')")
    template["spec"]["template"]["spec"]["restartPolicy"] = "Always"  # Jobs refuse it
    kube.create_sweep(ns, "rejected", {**VALID, "template": template})
    sweep = kube.wait_phase(ns, "rejected", "Crashed", timeout=10)
    ready = condition(sweep)
    assert ready["reason"] == "TemplateRejected"
    assert "restartPolicy" in ready["message"]


def test_bad_sweeps_do_not_disturb_good_ones(kube: Kube, ns: str, operator: Operator) -> None:
    kube.create_sweep(
        ns,
        "bad-probabilities",
        {**VALID, "method": "random", "parameters": {"a": {"values": [1, 2], "probabilities": [0.2, 0.2]}}},
    )
    kube.create_sweep(ns, "good", VALID)
    kube.wait_phase(ns, "good", "Finished", timeout=30)
    crashed = kube.wait_phase(ns, "bad-probabilities", "Crashed", timeout=10)
    assert "spec.parameters.a.probabilities" in condition(crashed)["message"]
    assert "Traceback" not in operator.log


def test_an_invalid_spec_is_warned_of_once_per_change_of_the_spec(kube: Kube, ns: str) -> None:
    def warnings() -> list[Any]:
        events = kube.core.list_namespaced_event(ns).items
        return [e for e in events if e.reason == "InvalidSpec" and e.involved_object.name == "warned"]

    def poke(value: str) -> None:  # a watch event, and so a pass, without a change of the spec
        body = {"metadata": {"annotations": {"example.com/poke": value}}}
        kube.custom.patch_namespaced_custom_object("kubesweep.io", "v1alpha1", ns, "sweeps", "warned", body)

    kube.create_sweep(ns, "warned", {**VALID, "parameters": {"lr": {"values": [1, 2], "min": 0, "max": 3}}})
    kube.wait_phase(ns, "warned", "Crashed", timeout=10)
    for i in range(5):
        poke(str(i))
    kube.set_state(ns, "warned", "paused")  # a change of the spec, still invalid
    wait_for(
        lambda: kube.sweep(ns, "warned").get("status", {}).get("observedGeneration") == 2,
        10,
        "the pass of the changed spec",
    )
    found = wait_for(lambda: len(w := warnings()) >= 2 and w, 10, "its warnings")
    assert sorted(e.message for e in found) == 2 * [found[0].message]
    assert "spec.parameters.lr" in found[0].message
