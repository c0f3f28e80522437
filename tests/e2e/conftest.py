"""The lifecycle scenarios against a real cluster.

- `KUBESWEEP_E2E_KUBECONFIG` names one with the operator installed from the chart (for example
  kind, set up by hack/e2e-kind.sh).
- Otherwise, on the real control plane tier (`KUBESWEEP_K8S_BIN`), the chart is installed with
  `helm install` (CRD, ServiceAccount, RBAC; no replica, since the control plane has no container
  runtime for the operator's image) and the operator runs as a local process authenticated as the
  chart's ServiceAccount, so every request it makes is authorized by the chart's RBAC alone.
- With neither, the suite is skipped with that reason.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesweep.sandbox.controlplane import kubeconfig
from tests.integration.conftest import Kube, Operator

ROOT = Path(__file__).resolve().parents[2]
KUBECONFIG = os.environ.get("KUBESWEEP_E2E_KUBECONFIG")
ON_CONTROL_PLANE = bool(os.environ.get("KUBESWEEP_K8S_BIN"))
REASON = "KUBESWEEP_E2E_KUBECONFIG is not set and this is not the real control plane tier: no real cluster to run the e2e suite against"
RELEASE, RELEASE_NAMESPACE = "kubesweep", "kubesweep-system"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if KUBECONFIG or ON_CONTROL_PLANE:
        return
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=REASON))


def pytest_report_header(config: pytest.Config) -> str:
    if KUBECONFIG:
        return f"e2e: against {KUBECONFIG}"
    if ON_CONTROL_PLANE:
        return "e2e: against the real control plane, the chart installed by helm, the operator as its ServiceAccount"
    return f"e2e: skipped: {REASON}"


def _tool(name: str) -> str:
    local = ROOT / ".venv" / "bin" / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def install_chart(admin_kubeconfig: Path) -> None:
    done = subprocess.run(
        [
            _tool("helm"),
            "upgrade",
            "--install",
            RELEASE,
            str(ROOT / "helm" / "kubesweep"),
            "--kubeconfig",
            str(admin_kubeconfig),
            "--namespace",
            RELEASE_NAMESPACE,
            "--create-namespace",
            "--post-renderer",
            sys.executable,
            "--post-renderer-args",
            str(Path(__file__).with_name("no_replicas.py")),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"helm install failed: {done.stderr}"


def service_account_kubeconfig(admin: Kube, admin_kubeconfig: Path, path: Path) -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount (a TokenRequest token)."""
    request: Any = {"spec": {"expirationSeconds": 7200}}
    token: Any = admin.core.create_namespaced_service_account_token(RELEASE, RELEASE_NAMESPACE, request)
    config = yaml.safe_load(admin_kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    ca = path.with_suffix(".ca")
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    path.write_text(yaml.safe_dump(kubeconfig(cluster["server"], ca, token.status.token)))
    return path


@pytest.fixture(scope="session")
def real_kube(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    if KUBECONFIG:
        yield Kube(Path(KUBECONFIG))
        return
    plane: Any = request.getfixturevalue("sandbox")
    admin_kubeconfig = Path(plane.kubeconfig_path)
    admin = Kube(admin_kubeconfig, service_accounts=True)
    install_chart(admin_kubeconfig)
    directory = tmp_path_factory.mktemp("e2e-operator")
    operator = Operator(
        service_account_kubeconfig(admin, admin_kubeconfig, directory / "kubeconfig"),
        directory / "operator.log",
        namespaces="e2e-*",
    )
    operator.start()
    yield admin
    operator.stop()
    if "Traceback" in operator.log:
        print(operator.log)


@pytest.fixture
def e2e_ns(real_kube: Kube) -> str:
    return real_kube.namespace("e2e")
