"""The core lifecycle on a real cluster: the operator installed by the chart, real pods."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Kube, active_jobs, python_run, released_jobs, result_of, wait_for

pytestmark = pytest.mark.e2e

REPORT = (
    "import json, os, time; p = json.loads(os.environ['KUBESWEEP_PARAMETERS']); time.sleep(2); "
    "print('loss=%s' % (10 * p['a'] + ord(p['b']) - ord('x')))"
)


def spec(**extra: Any) -> dict[str, Any]:
    return {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": [1, 2]}, "b": {"values": ["x", "y", "z"]}},
        "parallelism": 2,
        "template": python_run(REPORT),
        **extra,
    }


def test_grid_finishes_with_the_best_run(real_kube: Kube, e2e_ns: str) -> None:
    real_kube.create_sweep(e2e_ns, "grid", spec())
    sweep = real_kube.wait_phase(e2e_ns, "grid", "Finished", timeout=600)
    assert len(real_kube.jobs(e2e_ns, "grid")) == 6
    assert sweep["status"]["bestRun"]["name"] == "grid-0001"


def test_pause_then_resume(real_kube: Kube, e2e_ns: str) -> None:
    real_kube.create_sweep(e2e_ns, "pause", spec())
    wait_for(lambda: len(real_kube.jobs(e2e_ns, "pause")) == 2, 120, "two runs")
    real_kube.set_state(e2e_ns, "pause", "paused")
    wait_for(lambda: not active_jobs(real_kube.jobs(e2e_ns, "pause")), 300, "runs to finish")
    # The pass that records the ended runs would be the one to start more; it creates Jobs
    # before the status write that releases these, so a wrong start is listed here.
    assert len(released_jobs(real_kube, e2e_ns, "pause", timeout=120)) == 2
    real_kube.set_state(e2e_ns, "pause", "running")
    real_kube.wait_phase(e2e_ns, "pause", "Finished", timeout=600)


def test_cancel_kills_the_pods(real_kube: Kube, e2e_ns: str) -> None:
    real_kube.create_sweep(
        e2e_ns, "cancel", {**spec(), "template": python_run("import time; time.sleep(600)")}
    )
    wait_for(
        lambda: sum(p["status"].get("phase") == "Running" for p in real_kube.pods(e2e_ns, "cancel")) == 2,
        300,
        "two running pods",
    )
    real_kube.set_state(e2e_ns, "cancel", "cancelled")
    wait_for(lambda: not real_kube.pods(e2e_ns, "cancel"), 10, "pods deleted")
    real_kube.wait_phase(e2e_ns, "cancel", "Cancelled", timeout=30)
    assert all(result_of(j)["state"] == "Killed" for j in real_kube.jobs(e2e_ns, "cancel"))
