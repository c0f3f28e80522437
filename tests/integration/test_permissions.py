"""The operator needs nothing beyond the permissions the chart grants: every request it sent to
the sandbox (kopf's and its own) is checked against the chart's RBAC rules."""

from __future__ import annotations

from typing import Any

import pytest

from kubesweep.sandbox.request_log import from_operator

from ..packaging.test_packaging import ALLOWED
from .conftest import Kube, Operator, api_requests, python_run, released_jobs, wait_for

pytestmark = pytest.mark.integration


def test_every_request_of_the_operator_is_within_the_chart_rbac(
    sandbox: Any, kube: Kube, ns: str, operator: Operator
) -> None:
    # A lifecycle with every kind of action: runs created, recorded, stopped by hand, deleted,
    # cancelled, events posted, logs read.
    spec = {
        "method": "grid",
        "parallelism": 2,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": [1, 2, 3, 4]}},
        # The third run ends at once (its Job and pod are released), the others wait.
        "template": python_run(
            "import os, time; print('loss=1'); time.sleep(0 if '\"a\":3' in os.environ['KUBESWEEP_PARAMETERS'] else 30)"
        ),
    }
    kube.create_sweep(ns, "perms", spec)
    wait_for(lambda: len(kube.jobs(ns, "perms")) == 2, 30, "two runs")
    kube.batch.patch_namespaced_job(
        "perms-0001", ns, {"metadata": {"annotations": {"kubesweep.io/stop": "true"}}}
    )
    kube.batch.delete_namespaced_job("perms-0002", ns)
    wait_for(
        lambda: (
            {"perms-0002", "perms-0003"}
            <= {r["name"] for r in kube.sweep(ns, "perms").get("status", {}).get("recordedRuns") or []}
        ),
        30,
        "a deleted and a finished run recorded",
    )

    def third_run_pods() -> list[dict[str, Any]]:
        return [
            p for p in kube.pods(ns, "perms") if p["metadata"]["labels"]["kubesweep.io/run"] == "perms-0003"
        ]

    wait_for(
        lambda: (
            third_run_pods()
            and all(p["metadata"]["labels"].get("kubesweep.io/recorded") == "true" for p in third_run_pods())
        ),
        10,
        "the finished run's pod released",
    )
    kube.set_state(ns, "perms", "cancelled")
    kube.wait_phase(ns, "perms", "Cancelled", timeout=20)
    # The cancel's last writes: its Killed runs' Jobs released.
    released_jobs(kube, ns, "perms")

    used = {(r.group, r.resource, r.verb) for r in api_requests(sandbox) if from_operator(r)}
    assert any(verb == "deletecollection" for _, _, verb in used)  # the operator was seen at work
    assert ("", "pods", "patch") in used  # a released run's pod
    outside = sorted(p for p in used if p[2] not in ALLOWED.get((p[0], p[1]), set()))
    assert outside == [], f"the operator used permissions the chart does not grant: {outside}"


def test_the_operator_watches_only_its_own_jobs_and_pods(
    sandbox: Any, kube: Kube, ns: str, operator: Operator
) -> None:
    """A cluster's other workloads never reach the operator: the API server filters its Job and
    pod watches by the managed-by label, so kopf holds no memory of foreign objects."""
    foreign: Any = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "not-a-run", "labels": {"team": "web"}},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "x", "command": ["true"]}],
                }
            }
        },
    }
    kube.batch.create_namespaced_job(ns, foreign)
    kube.create_sweep(
        ns,
        "mine",
        {
            "method": "grid",
            "parameters": {"a": {"values": [1]}},
            "template": python_run("print('loss=1')"),
        },
    )
    kube.wait_phase(ns, "mine", "Finished", timeout=30)
    reads = [
        request
        for request in api_requests(sandbox)
        if request.agent.startswith("kopf")
        and request.resource in ("jobs", "pods")
        and request.verb in ("list", "watch")
    ]
    assert reads, "kopf was expected to list and watch Jobs and pods"
    assert all(
        request.label_selector == "app.kubernetes.io/managed-by=kubesweep,!kubesweep.io/recorded"
        for request in reads
    ), sorted({str(request) for request in reads})
