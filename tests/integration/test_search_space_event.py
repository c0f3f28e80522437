"""A sweep says, once, when it starts, which distribution each parameter samples from: a range
written with bare integers (as the API server stores `min: 0.0, max: 1.0`) is int_uniform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Kube, Operator, python_run, wait_for

pytestmark = pytest.mark.integration


def search_space_events(kube: Kube, ns: str) -> list[Any]:
    return [e for e in kube.core.list_namespaced_event(ns).items if e.reason == "SearchSpace"]


def test_the_search_space_event_names_each_distribution_once_across_a_restart(
    sandbox: Any, kube: Kube, tmp_path: Path
) -> None:
    op = Operator(Path(sandbox.kubeconfig_path), tmp_path / "operator.log", namespaces="ss-*")
    ns = kube.namespace("ss")
    spec = {
        "method": "random",
        "runCap": 4,
        "parallelism": 2,
        "seed": 3,
        "parameters": {
            "x": {"min": 0, "max": 1},
            "y": {"distribution": "uniform", "min": 0, "max": 1},
        },
        "template": python_run("print('loss=1')"),
    }
    kube.create_sweep(ns, "space", spec)
    op.start()
    try:
        kube.wait_phase(ns, "space", "Finished", timeout=60)
        events = wait_for(lambda: search_space_events(kube, ns), 5, "the SearchSpace event")
        assert [(e.type, e.message) for e in events] == [
            (
                "Normal",
                "x: int_uniform [0, 1] (integers: write distribution: uniform for a continuous range), "
                "y: uniform [0, 1]",
            )
        ]
        points = [
            json.loads(j["metadata"]["annotations"]["kubesweep.io/parameters"])
            for j in kube.jobs(ns, "space")
        ]
        assert all(p["x"] in (0, 1) for p in points)
        assert all(0 < p["y"] < 1 and p["y"] not in (0, 1) for p in points)

        # A restarted operator rebuilds the sweep from the API server, which says it started.
        op.stop()
        op.start()
        kube.set_state(ns, "space", "paused")
        kube.wait_phase(ns, "space", "Paused", timeout=30)
        assert len(search_space_events(kube, ns)) == 1
    finally:
        op.stop()
    assert "Traceback" not in op.log
