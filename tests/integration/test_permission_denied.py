"""A 403 on Job creation (RBAC, or OwnerReferencesPermissionEnforcement without update on
sweeps/finalizers) is a permission error, not a template error: the sweep keeps running with a
PermissionDenied condition, a Warning event and a WARNING log line, and recovers by itself once
the permission is there. The 403 is injected with the emulator's fault DSL (kmock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    JobCreateRefusal,
    Kube,
    Operator,
    condition,
    forbidden,
    python_run,
    released_jobs,
    result_of,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.emulator]

REFUSAL = (
    'jobs.batch "granted-0001" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers '
    "to a resource you can't set finalizers on: , <nil>"
)


def test_a_forbidden_job_create_is_reported_as_such_and_the_sweep_recovers_once_permitted(
    sandbox: Any, kube: Kube, tmp_path: Path
) -> None:
    op = Operator(Path(sandbox.kubeconfig_path), tmp_path / "operator.log", namespaces="pd-*")
    ns = kube.namespace("pd")
    refusal = JobCreateRefusal(ns)
    sandbox.emulator[refusal] << 403 << forbidden(REFUSAL)
    spec = {
        "method": "grid",
        "parallelism": 2,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"g": {"values": [1, 2, 3]}},
        "template": python_run("print('loss=1')"),
    }
    kube.create_sweep(ns, "granted", spec)
    op.start()
    try:
        denied = wait_for(
            lambda: (
                (s := kube.sweep(ns, "granted")) and condition(s).get("reason") == "PermissionDenied" and s
            ),
            30,
            "the PermissionDenied condition",
            lambda: kube.sweep(ns, "granted").get("status"),
        )
        # Running, not a terminal Crashed: nothing is wrong with the sweep.
        assert denied["status"]["phase"] == "Running"
        message = condition(denied)["message"]
        assert condition(denied)["status"] == "False"
        assert REFUSAL in message and "update on sweeps/finalizers" in message
        assert "TemplateRejected" not in str(denied["status"]["conditions"])

        def warnings() -> list[Any]:
            events = kube.core.list_namespaced_event(ns).items
            return [e for e in events if e.type == "Warning" and e.reason == "PermissionDenied"]

        event = wait_for(warnings, 10, "a PermissionDenied Warning event")[0]
        assert REFUSAL in event.message
        line = wait_for(
            lambda: next((ln for ln in op.log.splitlines() if "permission denied" in ln), None),
            10,
            "the operator's log line",
        )
        assert "WARNING" in line and f"{ns}/granted" in line and "sweeps/finalizers" in line

        # It retries by itself (the first retry after 1 s), and backs off rather than hammering.
        wait_for(lambda: refusal.refused >= 4, 15, "a retry of the refused creates")
        assert kube.jobs(ns, "granted") == []
        assert len(warnings()) == 1  # one event as the condition appears, not one per retry
    finally:
        refusal.lift()
    try:
        # The permission is granted: the same spec (no change, no new generation) runs.
        sweep = kube.wait_phase(ns, "granted", "Finished", timeout=90)
        assert sweep["metadata"]["generation"] == 1
        assert condition(sweep)["status"] == "True"
        jobs = released_jobs(kube, ns, "granted")
        assert sorted(j["metadata"]["name"] for j in jobs) == [f"granted-{i:04d}" for i in (1, 2, 3)]
        assert all(result_of(j)["state"] == "Finished" for j in jobs)
    finally:
        op.stop()
    # 1 s, 2 s, 4 s...: a handful of attempts (two creates each), not a hot loop.
    assert refusal.refused <= 2 * 8
    assert "Traceback" not in op.log
