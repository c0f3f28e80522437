"""Bad sweeps are refused by the schema or end with a condition a person can act on, and
never stop the operator from serving the others."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from .conftest import Kube, Operator, python_run

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
    ],
)
def test_schema_refuses_with_the_field(kube: Kube, ns: str, change: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiException) as info:
        kube.create_sweep(ns, "bad", {**VALID, **change})
    assert info.value.status == 422
    assert field in str(info.value.body)


def _ready(sweep: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in sweep["status"]["conditions"] if c["type"] == "Ready")


def test_grid_over_a_continuous_range_gets_a_condition_naming_it(kube: Kube, ns: str) -> None:
    kube.create_sweep(ns, "continuous", {**VALID, "parameters": {"lr": {"min": 0.1, "max": 1.0}}})
    sweep = kube.wait_phase(ns, "continuous", "Crashed", timeout=10)
    ready = _ready(sweep)
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert "spec.parameters.lr" in ready["message"]
    assert not kube.jobs(ns, "continuous")
    # Fixing the spec brings it back to life.
    kube.custom.patch_namespaced_custom_object(
        "kubesweep.io",
        "v1alpha1",
        ns,
        "sweeps",
        "continuous",
        {"spec": {"parameters": {"lr": {"min": None, "max": None, "values": [0.1, 1.0]}}}},
    )
    kube.wait_phase(ns, "continuous", "Finished", timeout=30)


def test_a_template_the_api_server_rejects_crashes_with_its_message(kube: Kube, ns: str) -> None:
    template = python_run("print('loss=1')")
    template["spec"]["template"]["spec"]["restartPolicy"] = "Always"  # Jobs refuse it
    kube.create_sweep(ns, "rejected", {**VALID, "template": template})
    sweep = kube.wait_phase(ns, "rejected", "Crashed", timeout=10)
    ready = _ready(sweep)
    assert ready["reason"] == "TemplateRejected"
    assert "restartPolicy" in ready["message"]


def test_bad_sweeps_do_not_disturb_good_ones(kube: Kube, ns: str, operator: Operator) -> None:
    kube.create_sweep(ns, "bayes-no-metric", {**VALID, "method": "bayes"})
    kube.create_sweep(ns, "good", VALID)
    kube.wait_phase(ns, "good", "Finished", timeout=30)
    crashed = kube.wait_phase(ns, "bayes-no-metric", "Crashed", timeout=10)
    assert "spec.metric" in _ready(crashed)["message"]
    assert "Traceback" not in operator.log
