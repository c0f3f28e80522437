"""Warm start on the cluster: a bayes sweep learns from another sweep's recorded runs from its
first run on, and those runs are not its own."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kubesweep import api

from .conftest import Kube, python_run, wait_for

pytestmark = pytest.mark.integration

# loss = (x - 0.73)^2: its minimum lies between two points of the first sweep's grid.
LOSS = "import json, os\nx = json.loads(os.environ['KUBESWEEP_PARAMETERS'])['x']\nprint(f'loss={(x - 0.73) ** 2}')\n"


def test_bayes_starts_from_another_sweeps_runs(kube: Kube, ns: str) -> None:
    first = {
        "method": "grid",
        "parallelism": 4,
        "metric": {"name": "loss"},
        "parameters": {"x": {"values": [i / 10 for i in range(11)]}},
        "template": python_run(LOSS),
    }
    kube.create_sweep(ns, "first", first)
    assert (
        kube.wait_phase(ns, "first", {"Finished", "Failed", "Crashed"}, timeout=120)["status"]["phase"]
        == "Finished"
    )

    second = {
        "method": "bayes",
        "seed": 3,
        "runCap": 1,
        "metric": {"name": "loss"},
        # The same space as a continuous range: the grid's points all fit it.
        "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}},
        "warmStart": {"fromSweeps": ["first", "not-there"]},
        "template": python_run(LOSS),
    }
    kube.create_sweep(ns, "second", second)
    sweep = kube.wait_phase(ns, "second", {"Finished", "Failed", "Crashed"}, timeout=120)
    status = sweep["status"]
    assert status["phase"] == "Finished", status
    # One run of its own (runCap 1): the first sweep's eleven are not counted.
    assert status["runs"]["total"] == 1 and len(status["recordedRuns"]) == 1
    assert status["warmStart"] == {"runs": 11, "missing": ["not-there"]}
    # Without the first sweep's runs, bayes' first point is random (0.14 with seed 3); with them,
    # the model starts at once and lands near their minimum.
    x = status["recordedRuns"][0]["parameters"]["x"]
    assert abs(x - 0.73) < 0.15, x

    # Every named Sweep there: `missing` is kept as an empty list, and the finished sweep's status
    # stays still (a status the server stored otherwise than written would be written again each pass).
    kube.create_sweep(ns, "third", {**second, "warmStart": {"fromSweeps": ["first"]}})
    third = kube.wait_phase(ns, "third", {"Finished", "Failed", "Crashed"}, timeout=120)
    assert third["status"]["warmStart"] == {"runs": 11, "missing": []}
    time.sleep(1)  # the releases of its last Jobs may bring one more pass
    settled = kube.sweep(ns, "third")["metadata"]["resourceVersion"]
    time.sleep(3)
    assert kube.sweep(ns, "third")["metadata"]["resourceVersion"] == settled


def test_a_sweep_learns_at_once_when_a_sweep_it_names_is_created_records_runs_or_is_deleted(
    kube: Kube, ns: str
) -> None:
    # Paused, it starts no run and so gets no event of its own: only a change of the Sweep it
    # names can bring it a pass, or the operator's safety net every 30 s, which cannot meet the
    # two last waits: each is far shorter, and the second begins when the first is met.
    learner = {
        "method": "bayes",
        "state": "paused",
        "metric": {"name": "loss"},
        "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}},
        "warmStart": {"fromSweeps": ["source"]},
        "template": python_run(LOSS),
    }
    kube.create_sweep(ns, "learner", learner)
    kube.wait_phase(ns, "learner", "Paused")
    assert kube.sweep(ns, "learner")["status"]["warmStart"] == {"runs": 0, "missing": ["source"]}

    def warm() -> dict[str, Any]:
        status: dict[str, Any] = kube.sweep(ns, "learner").get("status") or {}
        return status.get("warmStart") or {}

    source = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"x": {"values": [0.2, 0.6]}},
        "template": python_run(LOSS),
    }
    kube.create_sweep(ns, "source", source)
    wait_for(lambda: warm().get("missing") == [], 10, "the learner to see the source created", warm)
    kube.wait_phase(ns, "source", "Finished")
    wait_for(lambda: warm() == {"runs": 2, "missing": []}, 10, "the learner to count the source's runs", warm)
    kube.custom.delete_namespaced_custom_object(api.GROUP, api.VERSION, ns, api.PLURAL, "source")
    wait_for(
        lambda: warm() == {"runs": 0, "missing": ["source"]}, 10, "the learner to see the source gone", warm
    )
