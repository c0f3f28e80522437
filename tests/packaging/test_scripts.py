"""hack/e2e-kind.sh cannot run here (no docker, no kind): check that bash accepts it and that it
installs the chart with the image it built and loaded."""

from __future__ import annotations

import os
import shutil

import pytest

from .k8s import ROOT, run

SCRIPT = ROOT / "hack" / "e2e-kind.sh"


def test_the_kind_script_parses_and_is_executable() -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash on this machine")
    run(bash, "-n", str(SCRIPT))
    assert os.access(SCRIPT, os.X_OK)


def test_the_kind_script_installs_the_chart_with_the_image_it_loaded() -> None:
    text = SCRIPT.read_text()
    assert "set -euo pipefail" in text
    for step in ("kind create cluster", "docker build", "kind load docker-image", "helm upgrade --install"):
        assert step in text, step
    assert "helm/kubesweep" in text and "image.pullPolicy=Never" in text
    assert "KUBESWEEP_E2E_KUBECONFIG=" in text
