"""Faults and load: the operator SIGKILLed at random moments across a batch of sweeps, and many
sweeps created at once in several namespaces. Every sweep must end exactly as without faults."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from .conftest import Kube, Operator, python_run, released_jobs, result_of

pytestmark = pytest.mark.integration

REPORT = "import json, os; p = json.loads(os.environ['KUBESWEEP_PARAMETERS']); print('loss=%s' % p['g'])"


def grid_sweep(points: int, parallelism: int, **extra: Any) -> dict[str, Any]:
    return {
        "method": "grid",
        "parallelism": parallelism,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"g": {"values": list(range(points))}},
        "template": python_run(REPORT),
        **extra,
    }


def assert_ran_exactly(kube: Kube, ns: str, name: str, points: int, cap: int | None = None) -> None:
    expected = min(points, cap) if cap else points
    sweep = kube.wait_phase(ns, name, "Finished", timeout=120)
    jobs = released_jobs(kube, ns, name)
    numbers = sorted(int(j["metadata"]["name"].rsplit("-", 1)[1]) for j in jobs)
    assert numbers == list(range(1, expected + 1)), f"{name}: runs {numbers}"
    seen = [json.loads(j["metadata"]["annotations"]["kubesweep.io/parameters"])["g"] for j in jobs]
    assert len(set(seen)) == len(seen) == expected, f"{name}: a grid point ran twice: {sorted(seen)}"
    assert all(result_of(j).get("state") == "Finished" for j in jobs), name
    assert sweep["status"]["runs"]["finished"] == expected
    records = sweep["status"]["recordedRuns"]
    assert sorted(r["name"] for r in records) == sorted(j["metadata"]["name"] for j in jobs), name
    assert sweep["status"]["bestRun"]["metric"] == 0


def test_sigkill_at_random_moments_across_a_batch_of_sweeps(sandbox: Any, kube: Kube, tmp_path: Path) -> None:
    op = Operator(Path(sandbox.kubeconfig_path), tmp_path / "operator.log", namespaces="k-*")
    namespaces = [kube.namespace("k") for _ in range(2)]
    sweeps = [
        (ns, f"batch-{i}", 4 + i, 1 + i % 3, 5 if i % 2 else None) for i, ns in enumerate(namespaces * 3)
    ]
    for ns, name, points, parallelism, cap in sweeps:
        extra = {"runCap": cap} if cap else {}
        kube.create_sweep(ns, name, grid_sweep(points, parallelism, **extra))
    rng = random.Random(2026)
    try:
        op.kill_at_random(rng, 5, 0.2, 1.2)
        for ns, name, points, _, cap in sweeps:
            assert_ran_exactly(kube, ns, name, points, cap)
    finally:
        op.stop()
    assert "Traceback" not in op.log


def test_fifty_sweeps_created_at_once_in_several_namespaces(kube: Kube, operator: Operator) -> None:
    namespaces = [kube.namespace() for _ in range(5)]
    sweeps = [(namespaces[i % 5], f"many-{i}") for i in range(50)]
    for ns, name in sweeps:
        kube.create_sweep(ns, name, grid_sweep(2, 2))
    for ns, name in sweeps:
        assert_ran_exactly(kube, ns, name, 2)
    assert "Traceback" not in operator.log
