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

from .conftest import Kube, python_run, wait_for

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def kubectl_sweep(sandbox: Any, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(sandbox.kubeconfig_path),
    }
    kubectl = str(BIN / "kubectl") if (BIN / "kubectl").exists() else "kubectl"
    return subprocess.run(
        [kubectl, "sweep", *args, "-n", namespace],
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
    assert header.split() == ["NAME", "STATE", "PHASE", "RUNNING", "FINISHED", "TOTAL", "BEST", "AGE"]
    assert row.split()[:3] == ["steer", "paused", "Paused"]
    as_json = json.loads(kubectl_sweep(sandbox, ns, "list", "-o", "json").stdout)
    assert [s["metadata"]["name"] for s in as_json["items"]] == ["steer"]

    assert "resumed (was paused)" in kubectl_sweep(sandbox, ns, "resume", "steer").stdout
    wait_for(lambda: kube.sweep(ns, "steer")["status"]["runs"]["finished"] >= 2, 30, "two finished runs")
    status = kubectl_sweep(sandbox, ns, "status", "steer")
    assert status.returncode == 0
    runs = [line.split()[0] for line in status.stdout.splitlines() if line.startswith("steer-")]
    assert runs[0] == "steer-0002"  # a=1: the best loss first
    document = yaml.safe_load(kubectl_sweep(sandbox, ns, "status", "steer", "-o", "yaml").stdout)
    assert document["runs"][0]["parameters"] == {"a": 1}

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
