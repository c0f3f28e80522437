"""The lifecycle scenarios against a real cluster named by KUBESWEEP_E2E_KUBECONFIG (for example
kind, set up by hack/e2e-kind.sh with the operator installed from the chart)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.conftest import Kube

KUBECONFIG = os.environ.get("KUBESWEEP_E2E_KUBECONFIG")
REASON = "KUBESWEEP_E2E_KUBECONFIG is not set: no real cluster to run the e2e suite against"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if KUBECONFIG:
        return
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=REASON))


def pytest_report_header(config: pytest.Config) -> str:
    return f"e2e: {'against ' + KUBECONFIG if KUBECONFIG else 'skipped: ' + REASON}"


@pytest.fixture(scope="session")
def real_kube() -> Kube:
    assert KUBECONFIG is not None
    return Kube(Path(KUBECONFIG))


@pytest.fixture
def e2e_ns(real_kube: Kube) -> str:
    return real_kube.namespace()
