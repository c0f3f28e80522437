"""Fixtures shared by every test directory: one cluster for the session.

By default the cluster is the sandbox (the emulated API server with its job controller and
kubelet). With `KUBESWEEP_K8S_BIN` naming a directory of `etcd`, `kube-apiserver` and
`kube-controller-manager` binaries, it is a real control plane with the sandbox's kubelet as its
node; tests marked `emulator` (they inject faults into, or read the request record of, the
emulator) are skipped there with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubesweep.sandbox.controlplane import ENV_BIN, ControlPlane, missing_binaries
from kubesweep.sandbox.server import SandboxThread

K8S_BIN = os.environ.get(ENV_BIN)
EMULATOR_ONLY = (
    "needs the sandbox emulator (fault injection or its request record); this run is on a real control plane"
)


def real_backend() -> bool:
    return bool(K8S_BIN)


def pytest_configure(config: pytest.Config) -> None:
    if K8S_BIN and (reason := missing_binaries(K8S_BIN)):
        raise pytest.UsageError(f"{ENV_BIN}={K8S_BIN}: {reason}")


def pytest_report_header(config: pytest.Config) -> str:
    if K8S_BIN:
        return f"cluster: a real control plane from {K8S_BIN} (etcd, kube-apiserver, kube-controller-manager)"
    return "cluster: the sandbox (emulated API server); set KUBESWEEP_K8S_BIN for a real control plane"


TESTS = Path(__file__).parent
# Each directory is a tier, with its markers given here so that no test can miss them: `make
# test-unit` runs `-m unit`, `make test-real` runs `-m real` on a real control plane.
TIERS = {
    "unit": ("unit",),
    "packaging": ("packaging",),
    "sandbox": ("sandbox", "real"),
    "integration": ("integration", "real"),
    "e2e": ("e2e", "real"),
}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: tests/{tier} is no tier; add it to TIERS in {__file__}")
        for marker in TIERS[tier]:
            item.add_marker(marker)
        if K8S_BIN and item.get_closest_marker("emulator"):
            item.add_marker(pytest.mark.skip(reason=EMULATOR_ONLY))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Any]:
    """The cluster the tests run on: the embedded sandbox, or a real control plane (see above),
    with the Sweep CRD installed and a node that runs pod commands as local processes."""
    if K8S_BIN:
        plane = ControlPlane(K8S_BIN)
        plane.start()
        yield plane
        plane.stop()
        return
    thread = SandboxThread(executor="process")
    thread.start()
    yield thread
    thread.stop()
