"""The README's first command: `kubesweep sandbox examples/quickstart.yaml` starts a cluster of its
own, runs the operator, applies the example and follows it to its end. On the real control plane
tier it runs with `--k8s-bin` on the same binaries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_the_sandbox_command_runs_the_quickstart_sweep_to_its_end(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "kubesweep.main", "sandbox", str(ROOT / "examples" / "quickstart.yaml")]
    if bins := os.environ.get("KUBESWEEP_K8S_BIN"):
        command += ["--k8s-bin", bins]
    command += ["--kubeconfig", str(tmp_path / "kubeconfig")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "sweep/quickstart created" in lines
    final = [line for line in lines if line.startswith("quickstart ")][-1]
    assert "Finished" in final and "6 finished" in final and "best" in final, done.stdout
    assert lines[-1].startswith("All sweeps ended in "), done.stdout
    assert (tmp_path / "kubeconfig").exists()
