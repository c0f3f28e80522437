"""Search on the cluster: a bayes sweep with hyperband runs to Finished and stops poor runs early."""

from __future__ import annotations

import json

import pytest

from kubesweep import api

from .conftest import Kube, python_run, released_jobs

pytestmark = pytest.mark.integration

# loss = x + 1/step: runs with a large x stay worse at every step.
CURVE = (
    "import json, os, time\n"
    "x = json.loads(os.environ['KUBESWEEP_PARAMETERS'])['x']\n"
    "for step in range(1, 9):\n"
    "    print(f'step={step} loss={x + 1 / step}', flush=True)\n"
    "    time.sleep(0.4)\n"
    "print(f'loss={x + 1 / 8}')\n"
)


def test_bayes_with_hyperband_finishes_and_stops_poor_runs_early(kube: Kube, ns: str) -> None:
    spec = {
        "method": "bayes",
        "seed": 7,
        "runCap": 8,
        "parallelism": 4,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}},
        "earlyTerminate": {"type": "hyperband", "minIter": 2, "eta": 2},
        "template": python_run(CURVE),
    }
    kube.create_sweep(ns, "hb", spec)
    sweep = kube.wait_phase(ns, "hb", {"Finished", "Failed", "Crashed"}, timeout=120)
    assert sweep["status"]["phase"] == "Finished", sweep["status"]
    jobs = released_jobs(kube, ns, "hb")
    results = [json.loads(j["metadata"]["annotations"][api.ANNOTATION_RESULT]) for j in jobs]
    # The status record of each run says what its Job's result says, earlyStopped and reason too.
    records = kube.records(ns, "hb")
    for job, result in zip(jobs, results, strict=True):
        record = records[job["metadata"]["name"]]
        assert record.get("earlyStopped") == result.get("earlyStopped"), (record, result)
        if result["state"] != "Finished":
            assert record.get("reason") == result.get("reason"), (record, result)
    early = [r for r in results if r.get("earlyStopped")]
    assert early, f"no run was stopped early: {results}"
    assert all(r["state"] == "Killed" and r.get("reason") == "EarlyTerminated" for r in early)
    # A run stopped early keeps its last intermediate value as its metric.
    assert all("loss" in r["metrics"] for r in early)
    finished = [r for r in results if r["state"] == "Finished"]
    assert finished and sweep["status"]["bestRun"]["metric"] == min(
        r["metrics"]["loss"] for r in finished + early
    )


def test_hyperband_stops_a_run_alone_in_its_sweep(kube: Kube, ns: str) -> None:
    """With parallelism 1 no other run's events come while one runs: its log is read every
    second all the same, and it is stopped at the band where it is worse than the runs before."""
    spec = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        # In this order no good run is worse than the threshold of those before it.
        "parameters": {"x": {"values": [0.2, 0.1, 0.0, 5.0]}},
        "earlyTerminate": {"type": "hyperband", "minIter": 2, "eta": 2},
        # It prints its steps only after the events of its start (pod Running, Job ready) are over.
        "template": python_run("import time\ntime.sleep(2)\n" + CURVE),
    }
    kube.create_sweep(ns, "alone", spec)
    kube.wait_phase(ns, "alone", {"Finished", "Failed", "Crashed"}, timeout=180)
    results = {
        j["metadata"]["name"]: json.loads(j["metadata"]["annotations"][api.ANNOTATION_RESULT])
        for j in released_jobs(kube, ns, "alone")
    }
    assert [r["state"] for _, r in sorted(results.items())] == ["Finished", "Finished", "Finished", "Killed"]
    assert results["alone-0004"].get("earlyStopped"), results
