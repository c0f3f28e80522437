"""The README's first command: `kubesweep sandbox examples/quickstart.yaml` starts a cluster of its
own, runs the operator, applies the example and follows it to its end, then shows the best run.
On the real control plane tier it runs with `--k8s-bin` on the same binaries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def sandbox_command(*args: str) -> list[str]:
    command = [sys.executable, "-m", "kubesweep.main", "sandbox", *args]
    if bins := os.environ.get("KUBESWEEP_K8S_BIN"):
        command += ["--k8s-bin", bins]
    return command


def test_the_sandbox_command_runs_the_quickstart_sweep_to_its_end(tmp_path: Path) -> None:
    command = sandbox_command(
        str(ROOT / "examples" / "quickstart.yaml"), "--kubeconfig", str(tmp_path / "kubeconfig")
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "sweep/quickstart created" in lines
    assert f"Operator log: {tmp_path / 'operator.log'}" in lines
    assert "Operator is stopping" in (tmp_path / "operator.log").read_text()  # kopf wrote there
    final = [line for line in lines if line.startswith("quickstart ")][-1]
    assert "Finished" in final and "6 finished" in final and "best" in final, done.stdout
    # It ends with the result: the best run and its parameters (the grid's best point).
    assert lines[-3].startswith("All sweeps ended in "), done.stdout
    assert lines[-2].startswith("quickstart: best run quickstart-"), done.stdout
    assert "val_loss=" in lines[-2]
    assert lines[-1] == "  parameters: batch_size=64 lr=0.01 optimizer=adam", done.stdout
    assert (tmp_path / "kubeconfig").exists()


def test_a_run_command_finds_a_script_relative_to_where_the_sandbox_started(tmp_path: Path) -> None:
    # `python train.py`, as a user types it beside their script: the pod runs in the directory
    # `kubesweep sandbox` was started from, not in a directory of its own.
    (tmp_path / "train.py").write_text(
        textwrap.dedent(
            """
            import sys
            x = float(sys.argv[1].split("=", 1)[1])
            print(f"loss={(x - 2) ** 2}")
            """
        )
    )
    (tmp_path / "sweep.yaml").write_text(
        textwrap.dedent(
            """
            apiVersion: kubesweep.io/v1alpha1
            kind: Sweep
            metadata: {name: relative}
            spec:
              method: grid
              metric: {name: loss, goal: minimize}
              parameters: {x: {values: [1, 2]}}
              template:
                spec:
                  backoffLimit: 0
                  template:
                    spec:
                      restartPolicy: Never
                      containers:
                      - {name: train, image: python:3.11-slim, command: [python, train.py, "${args}"]}
            """
        )
    )
    command = sandbox_command("sweep.yaml", "--kubeconfig", str(tmp_path / "kubeconfig"))
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    final = [line for line in done.stdout.splitlines() if line.startswith("relative ")][-1]
    assert "Finished" in final and "2 finished" in final and "0 failed" in final, done.stdout
    assert done.stdout.splitlines()[-1] == "  parameters: x=2", done.stdout


def test_the_served_sandbox_says_where_the_operators_log_is(tmp_path: Path) -> None:
    command = sandbox_command("--serve", "--kubeconfig", str(tmp_path / "kubeconfig"))
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=tmp_path) as served:
        assert served.stdout is not None
        lines = []
        try:
            for line in served.stdout:  # the banner ends with how to stop it
                lines.append(line.rstrip("\n"))
                if "Ctrl-C stops it" in line:
                    break
        finally:
            served.send_signal(signal.SIGINT)
            served.wait(60)
    assert f"Operator log: {tmp_path / 'operator.log'}" in lines, lines
    assert (tmp_path / "operator.log").exists()
