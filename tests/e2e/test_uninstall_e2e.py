"""docs/install.md's uninstall, run as written (scoped to one namespace instead of every one):
sweeps first, with the operator running, leaves no Job and no pod; with the operator already
gone, the Jobs wait on its finalizer with their pods running until the documented loop removes it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ON_CONTROL_PLANE, ROOT, service_account_kubeconfig
from tests.integration.conftest import Kube, Operator, python_run, wait_for

pytestmark = pytest.mark.e2e

LONG = "import time; print('working', flush=True); time.sleep(600)"


def uninstall_blocks() -> list[str]:
    text = (ROOT / "docs" / "install.md").read_text()
    section = text.split("### Uninstall", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def scoped(script: str, namespace: str) -> str:
    """The documented commands for one namespace: the other tests' sweeps are not ours to delete."""
    return script.replace("--all-namespaces", f"-n {namespace}").replace(" -A ", f" -n {namespace} ")


def run(script: str, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    return done


def running_pods(kube: Kube, ns: str) -> list[dict[str, Any]]:
    return [p for p in kube.pods(ns, "gone") if p["status"].get("phase") == "Running"]


@pytest.fixture
def setup(real_kube: Kube, sandbox: Any, tmp_path: Path) -> tuple[Kube, Path, Operator, str]:
    if not ON_CONTROL_PLANE:
        pytest.skip("stops the operator: only on the real control plane tier, where it is a local process")
    admin_kubeconfig = Path(sandbox.kubeconfig_path)
    ns = real_kube.namespace("uninstall")
    operator = Operator(
        service_account_kubeconfig(real_kube, admin_kubeconfig, tmp_path / "kubeconfig"),
        tmp_path / "operator.log",
        namespaces=ns,
    )
    operator.start()
    spec = {
        "method": "grid",
        "parallelism": 2,
        "parameters": {"a": {"values": [1, 2, 3]}},
        "template": python_run(LONG),
    }
    real_kube.create_sweep(ns, "gone", spec)
    wait_for(lambda: len(running_pods(real_kube, ns)) == 2, 120, "two running pods")
    return real_kube, admin_kubeconfig, operator, ns


def test_sweeps_first_with_the_operator_running_leaves_no_job_and_no_pod(
    setup: tuple[Kube, Path, Operator, str],
) -> None:
    kube, kubeconfig, operator, ns = setup
    steps = uninstall_blocks()[0]
    sweeps_first = "\n".join(line for line in steps.splitlines() if line.startswith("kubectl "))
    assert "kubectl delete sweeps" in sweeps_first.splitlines()[0]
    try:
        run(scoped(sweeps_first.split("kubectl delete crd")[0], ns), kubeconfig)
        assert kube.jobs(ns, "gone") == []
        wait_for(lambda: not kube.pods(ns, "gone"), 60, "the runs' pods deleted")
    finally:
        operator.stop()


def test_with_the_operator_gone_the_documented_loop_lets_the_jobs_and_pods_go(
    setup: tuple[Kube, Path, Operator, str],
) -> None:
    kube, kubeconfig, operator, ns = setup
    operator.stop()
    run(f"kubectl delete sweeps --all -n {ns}", kubeconfig)
    # Nobody lets go of the Jobs: they stay Terminating, and their pods keep running.
    wait_for(
        lambda: all(j["metadata"].get("deletionTimestamp") for j in kube.jobs(ns, "gone")),
        30,
        "Jobs deleting",
    )
    assert len(kube.jobs(ns, "gone")) == 2 and len(running_pods(kube, ns)) == 2
    run(scoped(uninstall_blocks()[1], ns), kubeconfig)
    wait_for(lambda: not kube.jobs(ns, "gone"), 60, "the Jobs gone")
    wait_for(lambda: not kube.pods(ns, "gone"), 60, "their pods deleted")
