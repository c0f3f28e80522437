"""`kubectl sweep ...` as a user types it: the real kubectl finds the kubectl-sweep plugin on PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesweep import api
from tests import browser

from .conftest import Kube, python_run, wait_for

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent

# The columns of `kubectl sweep list` and of `kubectl get sweeps` alike.
COLUMNS = ["NAME", "STATE", "PHASE", "RUNNING", "FINISHED", "FAILED", "TOTAL", "BEST", "AGE"]


def kubectl_sweep(
    sandbox: Any, namespace: str, *args: str, flags_first: bool = False
) -> subprocess.CompletedProcess[str]:
    """`kubectl sweep ARGS -n NAMESPACE`, or with flags_first `kubectl sweep -n NAMESPACE ARGS`."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(sandbox.kubeconfig_path),
    }
    kubectl = str(BIN / "kubectl") if (BIN / "kubectl").exists() else "kubectl"
    argv = ["-n", namespace, *args] if flags_first else [*args, "-n", namespace]
    return subprocess.run(
        [kubectl, "sweep", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


SLOW = "import json, os, time; p = json.loads(os.environ['KUBESWEEP_PARAMETERS']); time.sleep(1.5); print('loss=%s' % p['a'])"


def test_pause_resume_stop_cancel_list_and_status(sandbox: Any, kube: Kube, ns: str) -> None:
    spec = {
        "method": "grid",
        "parallelism": 1,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": [3, 1, 2, 4]}},
        "template": python_run(SLOW),
    }
    kube.create_sweep(ns, "steer", spec)
    paused = kubectl_sweep(sandbox, ns, "pause", "steer")
    assert paused.returncode == 0 and paused.stdout.strip() == "sweep steer paused (was running)"
    again = kubectl_sweep(sandbox, ns, "pause", "steer")
    assert "already paused" in again.stdout
    assert kube.sweep(ns, "steer")["spec"]["state"] == "paused"
    kube.wait_phase(ns, "steer", "Paused", timeout=20)

    listed = kubectl_sweep(sandbox, ns, "list")
    assert listed.returncode == 0
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == COLUMNS
    assert row.split()[:3] == ["steer", "paused", "Paused"]
    as_json = json.loads(kubectl_sweep(sandbox, ns, "list", "-o", "json").stdout)
    assert [s["metadata"]["name"] for s in as_json["items"]] == ["steer"]

    assert "resumed (was paused)" in kubectl_sweep(sandbox, ns, "resume", "steer").stdout
    wait_for(lambda: kube.sweep(ns, "steer")["status"]["runs"]["finished"] >= 2, 30, "two finished runs")
    status = kubectl_sweep(sandbox, ns, "status", "steer")
    assert status.returncode == 0
    runs = [line.split()[0] for line in status.stdout.splitlines() if line.startswith("steer-")]
    assert runs[0] == "steer-0002"  # a=1: the best loss first
    # -o yaml and -o json print the Sweep object, as `kubectl get sweep -o yaml` does.
    document = yaml.safe_load(kubectl_sweep(sandbox, ns, "status", "steer", "-o", "yaml").stdout)
    assert (document["kind"], document["metadata"]["name"]) == ("Sweep", "steer")
    assert {"a": 1} in [r["parameters"] for r in document["status"]["recordedRuns"]]
    as_json = json.loads(kubectl_sweep(sandbox, ns, "status", "steer", "-o", "json", flags_first=True).stdout)
    assert as_json["metadata"]["uid"] == document["metadata"]["uid"] and as_json["spec"] == document["spec"]

    assert "stopped (was running)" in kubectl_sweep(sandbox, ns, "stop", "steer").stdout
    kube.wait_phase(ns, "steer", "Stopped", timeout=20)
    assert "cancelled (was stopped)" in kubectl_sweep(sandbox, ns, "cancel", "steer").stdout
    assert "already cancelled" in kubectl_sweep(sandbox, ns, "cancel", "steer").stdout


def test_stop_run_and_logs(sandbox: Any, kube: Kube, ns: str) -> None:
    spec = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": [1, 2]}},
        "template": python_run("import time; print('hello from the run', flush=True); time.sleep(60)"),
    }
    kube.create_sweep(ns, "byhand", spec)
    wait_for(
        lambda: any(p["status"].get("phase") == "Running" for p in kube.pods(ns, "byhand")),
        30,
        "a running pod",
    )
    wait_for(
        lambda: "hello from the run" in kubectl_sweep(sandbox, ns, "logs", "byhand-0001").stdout,
        10,
        "the log",
    )
    stopped = kubectl_sweep(sandbox, ns, "stop-run", "byhand-0001")
    assert stopped.returncode == 0 and "stopping" in stopped.stdout
    wait_for(lambda: len(kube.jobs(ns, "byhand")) == 2, 20, "the next run")
    job = next(j for j in kube.jobs(ns, "byhand") if j["metadata"]["name"] == "byhand-0001")
    assert json.loads(job["metadata"]["annotations"][api.ANNOTATION_RESULT])["state"] == "Killed"
    kubectl_sweep(sandbox, ns, "cancel", "byhand")


def test_errors_say_what_to_do(sandbox: Any, ns: str) -> None:
    missing = kubectl_sweep(sandbox, ns, "pause", "nope")
    assert missing.returncode == 1
    assert (
        f'sweep "nope" not found in namespace "{ns}"' in missing.stderr
        and "kubectl sweep list -A" in missing.stderr
    )
    assert kubectl_sweep(sandbox, ns, "stop-run", "nope-0001").returncode == 1
    usage = kubectl_sweep(sandbox, ns, "pause")
    assert usage.returncode == 2


def test_import_wandb_prints_a_sweep_the_cluster_accepts(
    sandbox: Any, kube: Kube, ns: str, tmp_path: Path
) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "program": "train.py",
                "method": "random",
                "run_cap": 2,
                "metric": {"name": "loss", "goal": "minimize"},
                "parameters": {"lr": {"min": 0.001, "max": 0.1}},
                "project": "demo",
            }
        )
    )
    result = kubectl_sweep(
        sandbox, ns, "import-wandb", str(config), "--image", "python:3.11", "--name", "imported"
    )
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["spec"]["wandb"] == {"mode": "offline", "project": "demo"}
    manifest = yaml.safe_load(result.stdout)
    created = kube.create_sweep(ns, "imported", manifest["spec"])
    assert created["spec"]["runCap"] == 2


# loss = x + 1/step, printed at each step for hyperband; the "bad" optimizer fails at once.
CURVE = (
    "import json, os, sys, time\n"
    "p = json.loads(os.environ['KUBESWEEP_PARAMETERS'])\n"
    "if p['opt'] == 'bad': sys.exit(3)\n"
    "for step in range(1, 9):\n"
    "    print(f'step={step} loss={p[\"x\"] + 1 / step}', flush=True)\n"
    "    time.sleep(0.3)\n"
    "print(f'loss={p[\"x\"] + 1 / 8}')\n"
)


def test_report_export_and_get_sweeps_of_a_hyperband_sweep(
    sandbox: Any, kube: Kube, ns: str, tmp_path: Path
) -> None:
    spec = {
        "method": "grid",
        "parallelism": 3,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": [0.123456789, 0.5, 0.9]}, "opt": {"values": ["adam", "bad"]}},
        "earlyTerminate": {"type": "hyperband", "minIter": 2, "eta": 2},
        "template": python_run(CURVE),
    }
    kube.create_sweep(ns, "hb", spec)
    sweep = kube.wait_phase(ns, "hb", {"Finished", "Failed", "Crashed"}, timeout=120)
    assert sweep["status"]["phase"] == "Finished", sweep["status"]
    # A run stopped early can be counted a moment before its record is in the status.
    sweep = wait_for(
        lambda: len((s := kube.sweep(ns, "hb"))["status"]["recordedRuns"]) == 6 and s, 20, "every record"
    )
    counts = sweep["status"]["runs"]
    assert counts["total"] == 6 and counts["failed"] == 3, counts
    records = {r["name"]: r for r in sweep["status"]["recordedRuns"]}
    assert any(r.get("bands") for r in records.values()), records

    # kubectl get sweeps: FAILED beside FINISHED, BEST to 4 significant digits (0.123456789 + 1/8).
    env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig_path)}
    got = subprocess.run(
        [str(BIN / "kubectl"), "get", "sweeps", "-n", ns], capture_output=True, text=True, env=env, check=True
    ).stdout.splitlines()
    assert got[0].split() == COLUMNS  # the same as kubectl sweep list
    row = dict(zip(got[0].split(), got[1].split(), strict=True))
    assert (row["FINISHED"], row["FAILED"], row["BEST"]) == (str(counts["finished"]), "3", "0.2485")
    wide = subprocess.run(
        [str(BIN / "kubectl"), "get", "sweeps", "-n", ns, "-o", "wide"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.split()
    assert {"QUEUED", "CRASHED", "KILLED", "RETRIES", "FRONT"} <= set(wide)

    # The report: one file, every run drawn in a real browser with no error and no request.
    page = tmp_path / "hb.html"
    made = kubectl_sweep(sandbox, ns, "report", "hb", "-o", str(page), flags_first=True)
    assert made.returncode == 0, made.stderr
    assert f"wrote {page} (6 runs)" in made.stdout
    browser.require()
    with browser.open_page(page) as loaded:
        assert loaded.errors == [] and loaded.requests == []
        drawn = loaded.evaluate(
            "[...document.querySelectorAll('#parallel polyline.run')].map(e => e.dataset.run)"
        )
        assert sorted(drawn) == sorted(records) and len(drawn) == 6
        marks = loaded.evaluate("[...document.querySelectorAll('#metric .point')].map(e => e.dataset.run)")
        assert sorted(marks) == sorted(records)
        banded = loaded.evaluate("[...document.querySelectorAll('#bands polyline')].map(e => e.dataset.run)")
        assert sorted(banded) == sorted(name for name, r in records.items() if r.get("bands"))
        best = loaded.evaluate("document.querySelector('#best tbody tr').dataset.run")
        assert best == sweep["status"]["bestRun"]["name"]


def test_export_csv_json_and_an_optuna_journal(sandbox: Any, kube: Kube, ns: str, tmp_path: Path) -> None:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    spec = {
        "method": "random",
        "runCap": 4,
        "seed": 3,
        "parallelism": 2,
        "metric": {"name": "loss", "goal": "maximize"},
        "parameters": {"x": {"values": [1, 2]}, "lr": {"distribution": "uniform", "min": 0, "max": 1}},
        "template": python_run(
            "import json, os; p = json.loads(os.environ['KUBESWEEP_PARAMETERS']); print(f'loss={p[\"x\"] * 10}')"
        ),
    }
    kube.create_sweep(ns, "ex", spec)
    sweep = kube.wait_phase(ns, "ex", {"Finished", "Failed"}, timeout=60)
    sweep = wait_for(
        lambda: len((s := kube.sweep(ns, "ex"))["status"]["recordedRuns"]) == 4 and s, 20, "every record"
    )
    names = sorted(r["name"] for r in sweep["status"]["recordedRuns"])
    assert len(names) == 4

    as_csv = kubectl_sweep(sandbox, ns, "export", "ex")
    assert as_csv.returncode == 0, as_csv.stderr
    lines = as_csv.stdout.splitlines()
    assert lines[0].startswith("run,number,state,loss,") and len(lines) == 5
    as_json = json.loads(kubectl_sweep(sandbox, ns, "export", "ex", "--format", "json").stdout)
    assert sorted(r["name"] for r in as_json["runs"]) == names

    journal = tmp_path / "ex.log"
    written = kubectl_sweep(sandbox, ns, "export", "ex", "--format", "optuna", "-o", str(journal))
    assert written.returncode == 0, written.stderr
    assert f"optuna-dashboard {journal}" in written.stdout
    study = optuna.load_study(study_name=f"{ns}/ex", storage=JournalStorage(JournalFileBackend(str(journal))))
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.user_attrs["run"] for t in trials) == names
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    by_run = {t.user_attrs["run"]: t for t in trials}
    for record in sweep["status"]["recordedRuns"]:
        trial = by_run[record["name"]]
        assert trial.params == record["parameters"] and trial.value == record["metrics"]["loss"]
        assert trial.distributions == {
            "x": CategoricalDistribution([1, 2]),
            "lr": FloatDistribution(0, 1),
        }
