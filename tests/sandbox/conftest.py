"""Helpers for driving the sandbox as a user would: the real kubectl against its kubeconfig."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from kubesweep.sandbox.server import SandboxThread

KUBECTL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"


class Kubectl:
    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.binary = str(KUBECTL) if KUBECTL.exists() else (shutil.which("kubectl") or "kubectl")

    def __call__(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 30) -> str:
        result = self.run(*args, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def run(
        self, *args: str, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        command = [self.binary, "--kubeconfig", str(self.kubeconfig), "-n", self.namespace, *args]
        return subprocess.run(
            command, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        command = [self.binary, "--kubeconfig", str(self.kubeconfig), "-n", self.namespace, *args]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def namespace(sandbox: SandboxThread) -> str:
    name = f"s-{uuid.uuid4().hex[:8]}"
    api = client.CoreV1Api(config.new_client_from_config(str(sandbox.kubeconfig_path)))
    api.create_namespace({"metadata": {"name": name}})  # type: ignore[arg-type]
    return name


@pytest.fixture
def kubectl(sandbox: SandboxThread, namespace: str) -> Kubectl:
    return Kubectl(Path(sandbox.kubeconfig_path), namespace)


@pytest.fixture
def core(sandbox: SandboxThread) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(sandbox.kubeconfig_path)))


@pytest.fixture
def batch(sandbox: SandboxThread) -> client.BatchV1Api:
    return client.BatchV1Api(config.new_client_from_config(str(sandbox.kubeconfig_path)))


def job_manifest(name: str, code: str, **spec: Any) -> str:
    """A Job whose container runs a Python snippet, as YAML for kubectl."""
    import yaml

    return yaml.safe_dump(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "labels": {"app": "sandbox-test", "tier": name}},
            "spec": {
                "backoffLimit": 0,
                **spec,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {"name": "main", "image": "python:3.11", "command": ["python", "-c", code]}
                        ],
                    }
                },
            },
        }
    )


Poll = Callable[[], Any]
