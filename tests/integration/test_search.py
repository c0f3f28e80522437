"""Search on the cluster: a bayes sweep with hyperband runs to Finished and stops poor runs early."""

from __future__ import annotations

import json
from typing import Any

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


def _runs(kube: Kube, ns: str, name: str) -> list[tuple[dict[str, Any], dict[str, Any], list[str]]]:
    """Each run's parameters, result and container args, from its released Job."""
    out = []
    for job in released_jobs(kube, ns, name):
        annotations = job["metadata"]["annotations"]
        container = job["spec"]["template"]["spec"]["containers"][0]
        out.append(
            (
                json.loads(annotations[api.ANNOTATION_PARAMETERS]),
                json.loads(annotations[api.ANNOTATION_RESULT]),
                list(container.get("args") or []),
            )
        )
    return out


# loss = x + 1/step for sgd (x only exists with sgd), 0.3 + 1/step for adam; the run also
# checks that it got exactly its branch's parameters, as --name=value arguments.
BRANCHED = (
    "import json, os, sys, time\n"
    "p = json.loads(os.environ['KUBESWEEP_PARAMETERS'])\n"
    "args = {a[2:].split('=')[0] for a in sys.argv[1:] if a.startswith('--')}\n"
    "assert args == set(p) | {'m'}, (args, p)\n"
    "assert ('x' in p) == (p['optimizer'] == 'sgd'), p\n"
    "x = p.get('x', 0.3)\n"
    "for step in range(1, {steps}):\n"
    "    print(f'step={step} loss={x + 1 / step}', flush=True)\n"
    "    time.sleep({sleep})\n"
    "print(f'loss={x}')\n"
)
BRANCHES = {
    "optimizer": {"values": ["sgd", "adam"]},
    "x": {"distribution": "uniform", "min": 0.0, "max": 1.0, "when": {"optimizer": "sgd"}},
}


def test_tpe_with_conditional_parameters_and_asha_finishes_and_stops_poor_runs(kube: Kube, ns: str) -> None:
    """Seed 2 makes the first four runs adam, then sgd with x 0.16, 0.44 and 0.67: at the first
    rung the worst of them is below the top half and is stopped; adam's runs lack x."""
    spec = {
        "method": "tpe",
        "seed": 2,
        "runCap": 6,
        "parallelism": 4,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": BRANCHES,
        "earlyTerminate": {"type": "asha", "minIter": 2, "eta": 2},
        "template": python_run(
            BRANCHED.replace("{steps}", "13").replace("{sleep}", "0.4"), args=["${args}", "--m=${params.x}"]
        ),
    }
    kube.create_sweep(ns, "tpe", spec)
    sweep = kube.wait_phase(ns, "tpe", {"Finished", "Failed", "Crashed"}, timeout=120)
    assert sweep["status"]["phase"] == "Finished", sweep["status"]
    found = _runs(kube, ns, "tpe")
    assert len(found) == 6 and all(r["state"] in ("Finished", "Killed") for _, r, _ in found), found
    assert {p["optimizer"] for p, _, _ in found} == {"sgd", "adam"}
    assert all(("x" in p) == (p["optimizer"] == "sgd") for p, _, _ in found)
    assert all(f"--m={p['x']}" in args if "x" in p else "--m=" in args for p, _, args in found)
    early = [(p, r) for p, r, _ in found if r.get("earlyStopped")]
    assert early and all(r["state"] == "Killed" and r["reason"] == "EarlyTerminated" for _, r in early)
    worst = max((p["x"] for p, _, _ in found[:4] if "x" in p), default=None)
    assert worst is not None and any(p.get("x") == worst for p, _ in early), (worst, early)


def test_cmaes_with_median_stopping_finishes_and_stops_a_run_worse_than_the_median(
    kube: Kube, ns: str
) -> None:
    """Seed 5 gives runs 1-3 x+y of 1.02, 1.36 and 1.28: when run 3 reaches a band, runs 1 and 2
    are there, and its best is worse than their median (and than any median with run 4's 0.75)."""
    curve = (
        "import json, os, time\n"
        "p = json.loads(os.environ['KUBESWEEP_PARAMETERS'])\n"
        "for step in range(1, 13):\n"
        '    print(f\'step={step} loss={p["x"] + p["y"] + 1 / step}\', flush=True)\n'
        "    time.sleep(0.3)\n"
        'print(f\'loss={p["x"] + p["y"]}\')\n'
    )
    spec = {
        "method": "cmaes",
        "seed": 5,
        "runCap": 6,
        "parallelism": 2,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x": {"distribution": "uniform", "min": 0.0, "max": 1.0},
            "y": {"distribution": "uniform", "min": 0.0, "max": 1.0},
        },
        "earlyTerminate": {"type": "median", "minIter": 2, "minRuns": 2},
        "template": python_run(curve),
    }
    kube.create_sweep(ns, "cma", spec)
    sweep = kube.wait_phase(ns, "cma", {"Finished", "Failed", "Crashed"}, timeout=120)
    assert sweep["status"]["phase"] == "Finished", sweep["status"]
    found = [(p, r) for p, r, _ in _runs(kube, ns, "cma")]
    assert len(found) == 6
    third = next(r for p, r in found if round(p["x"] + p["y"], 2) == 1.28)
    assert third["state"] == "Killed" and third.get("earlyStopped") and third["reason"] == "EarlyTerminated"


def test_grid_and_qmc_over_conditional_parameters_give_each_run_its_branch(kube: Kube, ns: str) -> None:
    """`when` survives the API server (its schema keeps it), grid runs only the active branches
    (sgd with 2 momentum values, adam alone) and qmc leaves inactive parameters out."""
    quick = BRANCHED.replace("{steps}", "2").replace("{sleep}", "0")
    grid = {
        "method": "grid",
        "parallelism": 3,
        "parameters": {
            "optimizer": {"values": ["sgd", "adam"]},
            "x": {"values": [0.1, 0.2], "when": {"optimizer": "sgd"}},
        },
        "template": python_run(quick, args=["${args}", "--m=${params.x}"]),
    }
    created = kube.create_sweep(ns, "branches", grid)
    assert created["spec"]["parameters"]["x"]["when"] == {"optimizer": "sgd"}
    sweep = kube.wait_phase(ns, "branches", {"Finished", "Failed", "Crashed"}, timeout=60)
    assert sweep["status"]["phase"] == "Finished", sweep["status"]
    points = sorted(json.dumps(p, sort_keys=True) for p, _, _ in _runs(kube, ns, "branches"))
    assert points == sorted(
        json.dumps(p, sort_keys=True)
        for p in ({"optimizer": "sgd", "x": 0.1}, {"optimizer": "sgd", "x": 0.2}, {"optimizer": "adam"})
    )
    qmc = {**grid, "method": "qmc", "seed": 1, "runCap": 6, "parameters": BRANCHES}
    kube.create_sweep(ns, "sobol", qmc)
    sweep = kube.wait_phase(ns, "sobol", {"Finished", "Failed", "Crashed"}, timeout=60)
    assert sweep["status"]["phase"] == "Finished", sweep["status"]
    found = _runs(kube, ns, "sobol")
    assert len(found) == 6 and all(r["state"] == "Finished" for _, r, _ in found)
    assert {p["optimizer"] for p, _, _ in found} == {"sgd", "adam"}
