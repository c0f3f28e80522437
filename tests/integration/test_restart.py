"""Kill the operator with SIGKILL mid-sweep, again and again: no run duplicated, none lost."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from kubesweep import search

from .conftest import Kube, Operator, python_run, released_jobs, result_of

pytestmark = pytest.mark.integration

REPORT = (
    "import json, os, time; p = json.loads(os.environ['KUBESWEEP_PARAMETERS']); time.sleep(0.3); "
    "print('loss=%s' % p['x'])"
)


def test_sigkill_mid_sweep_loses_and_duplicates_nothing(sandbox: Any, kube: Kube, tmp_path: Path) -> None:
    # An operator of its own: the session's shared one is not to be killed.
    op = Operator(Path(sandbox.kubeconfig_path), tmp_path / "operator.log", namespaces="r-*")
    ns = kube.namespace("r")
    spec: dict[str, Any] = {
        "method": "random",
        "seed": 3,
        "runCap": 10,
        "parallelism": 3,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}},
        "template": python_run(REPORT),
    }
    grid_spec = {**spec, "method": "grid", "parameters": {"g": {"values": list(range(7))}}, "runCap": None}
    grid_spec["template"] = python_run(REPORT.replace("p['x']", "p['g']"))
    kube.create_sweep(ns, "restarts", spec)
    kube.create_sweep(ns, "grid-restarts", {k: v for k, v in grid_spec.items() if v is not None})
    rng = random.Random(11)
    try:
        op.kill_at_random(rng, 4, 0.5, 1.5)
        sweep = kube.wait_phase(ns, "restarts", "Finished", timeout=90)
        grid = kube.wait_phase(ns, "grid-restarts", "Finished", timeout=90)
        # A run is released once its Job controller is done with it too (about a second after
        # its pod ended): the operator must be there for that.
        jobs = released_jobs(kube, ns, "restarts")
    finally:
        op.stop()
    assert sorted(j["metadata"]["name"] for j in jobs) == [f"restarts-{i:04d}" for i in range(1, 11)]
    assert all(result_of(j)["state"] == "Finished" for j in jobs)
    assert sweep["status"]["runs"]["total"] == 10
    points = sorted(
        j["metadata"]["annotations"]["kubesweep.io/parameters"] for j in kube.jobs(ns, "grid-restarts")
    )
    assert points == sorted(f'{{"g":{g}}}' for g in range(7))
    assert grid["status"]["runs"]["finished"] == 7
    # Restarted operators rebuild from the cluster: the same random points as without faults.
    for job in jobs:
        number = int(job["metadata"]["name"].rsplit("-", 1)[1])
        expected = search.suggest(
            "random", spec["parameters"], [], seed=3, run_number=number, goal="minimize"
        )
        assert json.loads(job["metadata"]["annotations"]["kubesweep.io/parameters"]) == expected
