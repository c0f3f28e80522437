"""Helpers for driving the sandbox as a user would: the real kubectl against its kubeconfig."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
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


def open_request(
    sandbox: SandboxThread,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    timeout: float = 10,
) -> Any:
    """A raw HTTP request to the cluster with the kubeconfig's credentials (the sandbox's plain
    HTTP, or a real API server's CA and token): the open response, as `urllib.request.urlopen`
    returns it; an error status raises `urllib.error.HTTPError`."""
    kubeconfig = yaml.safe_load(Path(sandbox.kubeconfig_path).read_text())
    cluster = kubeconfig["clusters"][0]["cluster"]
    token = (kubeconfig["users"][0].get("user") or {}).get("token") if kubeconfig.get("users") else None
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    context = None
    if ca := cluster.get("certificate-authority-data"):
        context = ssl.create_default_context(cadata=base64.b64decode(ca).decode())
    request = urllib.request.Request(
        f"{cluster['server']}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers=headers,
    )
    return urllib.request.urlopen(request, timeout=timeout, context=context)


def raw(
    sandbox: SandboxThread, method: str, path: str, body: Any = None, content_type: str = "application/json"
) -> Any:
    """A request as JSON text over HTTP: what the server stores, without the client's typing."""
    with open_request(sandbox, method, path, body, content_type) as response:
        return json.loads(response.read())


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
