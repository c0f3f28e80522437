"""A sweep of several objectives on the cluster: tpe learns from both, the status keeps the
Pareto front, and `kubectl sweep status` shows it."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kubesweep.search import pareto

from .conftest import Kube, python_run
from .test_plugin import BIN, kubectl_sweep

pytestmark = pytest.mark.integration

# Two objectives that trade off along x: loss is least at 0.2, cost at 0.7.
TWO = (
    "import json, os\n"
    "x = json.loads(os.environ['KUBESWEEP_PARAMETERS'])['x']\n"
    "print(f'loss={(x - 0.2) ** 2} cost={(x - 0.7) ** 2}')\n"
)


def test_tpe_with_two_objectives_finishes_with_the_pareto_front(sandbox: Any, kube: Kube, ns: str) -> None:
    spec = {
        "method": "tpe",
        "seed": 3,
        "runCap": 8,
        "parallelism": 4,
        "metrics": [{"name": "loss", "goal": "minimize"}, {"name": "cost", "goal": "minimize"}],
        "parameters": {"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}},
        "template": python_run(TWO),
    }
    kube.create_sweep(ns, "two", spec)
    sweep = kube.wait_phase(ns, "two", {"Finished", "Failed", "Crashed"}, timeout=120)
    status = sweep["status"]
    assert status["phase"] == "Finished", status
    assert "bestRun" not in status
    records = kube.records(ns, "two")
    finished = {n: r["metrics"] for n, r in records.items() if r["state"] == "Finished"}
    assert len(finished) == 8
    expected = pareto.front(
        [(n, (m["loss"], m["cost"])) for n, m in sorted(finished.items())], ["minimize", "minimize"]
    )
    front = status["paretoFront"]
    assert [r["name"] for r in front] == expected and status["paretoFrontSize"] == len(expected)
    assert all(
        r["metrics"] == {"loss": finished[r["name"]]["loss"], "cost": finished[r["name"]]["cost"]}
        for r in front
    )

    shown = kubectl_sweep(sandbox, ns, "status", "two")
    assert shown.returncode == 0, shown.stderr
    assert f"Pareto front: {len(expected)} run(s)" in shown.stdout
    assert all(name in shown.stdout.split("Pareto front")[1] for name in expected)

    # kubectl get sweeps -o wide: no BEST (no single best among trade-offs), the front's size.
    env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig_path)}
    wide = subprocess.run(
        [str(BIN / "kubectl"), "get", "sweeps", "-n", ns, "-o", "wide"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert wide.returncode == 0, wide.stderr
    header, row = wide.stdout.splitlines()[:2]
    # An empty cell prints as blanks: the column is read where its header stands.
    at = header.index("FRONT")
    assert row[at:].split()[0] == str(len(expected)), wide.stdout
    assert row[header.index("BEST") : at].split() == [], wide.stdout


def test_the_cluster_refuses_metric_beside_metrics(kube: Kube, ns: str) -> None:
    spec = {
        "method": "random",
        "metric": {"name": "loss"},
        "metrics": [{"name": "loss"}, {"name": "cost"}],
        "parameters": {"x": {"values": [1]}},
        "template": python_run("print('loss=1 cost=1')"),
    }
    with pytest.raises(ApiException, match="not both"):
        kube.create_sweep(ns, "both", spec)
