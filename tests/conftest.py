"""Fixtures shared by every test directory: one sandbox cluster for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubesweep.sandbox.server import SandboxThread


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxThread]:
    """The embedded cluster (API server, job controller, kubelet running pod commands as local
    processes), with the Sweep CRD installed."""
    thread = SandboxThread(executor="process")
    thread.start()
    yield thread
    thread.stop()
