"""spec.wandb on the cluster: a script that only talks to wandb (offline, the real SDK) gets its
parameters in wandb.config, its wandb.log values become the run's metrics, and hyperband stops a
bad run from its logged steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubesweep import api

from .conftest import Kube, python_run, released_jobs

pytestmark = pytest.mark.integration

# No kubesweep in it: W&B's API only. loss = x + 1/step, so a large x is worse at every step.
SCRIPT = """
import time
import wandb

run = wandb.init(config={"x": 100.0})
for step in range(1, 11):
    wandb.log({"loss": wandb.config.x + 1 / step, "epoch": step})
    time.sleep(0.5)
run.summary["best_epoch"] = 10
run.finish()
"""


def test_a_wandb_script_runs_unchanged_and_hyperband_stops_the_bad_run(
    kube: Kube, ns: str, tmp_path: Path
) -> None:
    template = python_run(SCRIPT, env=[{"name": "WANDB_DIR", "value": str(tmp_path)}])
    spec = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        # In this order no good run is worse than the threshold of those before it (W&B's rule).
        "parameters": {"x": {"values": [0.2, 0.1, 0.0, 5.0]}},
        "earlyTerminate": {"type": "hyperband", "minIter": 2, "eta": 2},
        "wandb": {"mode": "offline", "project": "demo"},
        "template": template,
    }
    kube.create_sweep(ns, "wb", spec)
    sweep = kube.wait_phase(ns, "wb", {"Finished", "Failed", "Crashed"}, timeout=180)
    assert sweep["status"]["phase"] == "Finished", sweep["status"]
    jobs = released_jobs(kube, ns, "wb")  # every record in the status
    records = {r["parameters"]["x"]: r for r in kube.sweep(ns, "wb")["status"]["recordedRuns"]}
    for x in (0.0, 0.1, 0.2):
        assert records[x]["state"] == "Finished", records[x]
        # The sweep's value reached wandb.config (the script's default is 100).
        assert records[x]["metrics"]["loss"] == pytest.approx(x + 1 / 10)
        assert records[x]["metrics"]["best_epoch"] == 10
    # At the band of 2 steps its value is the worst of four: stopped from what it logged.
    bad = records[5.0]
    assert bad["state"] == "Killed", bad
    # Judged at its first band (its log is read about every second, so a loaded machine may read
    # it only at the next one): stopped before its last step all the same.
    assert bad["bands"][0] == pytest.approx(5.5), bad
    assert bad["metrics"]["loss"] > 5.1, bad
    results = [json.loads(j["metadata"]["annotations"][api.ANNOTATION_RESULT]) for j in jobs]
    assert sum(1 for r in results if r.get("earlyStopped")) == 1
    # W&B itself kept working: an offline run per run, under the id kubesweep gave it.
    uid = sweep["metadata"]["uid"][:8]
    offline = sorted(p.name for p in (tmp_path / "wandb").glob("offline-run-*"))
    assert len(offline) == 4 and all(name.endswith(f"-{uid}") for name in offline), offline
    assert any(name.endswith(f"wb-0004-{uid}") for name in offline)
