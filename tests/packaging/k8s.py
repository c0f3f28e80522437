"""Rendering the chart and the kustomize base with the real helm and kubectl, and validating what
they produce: built-in kinds against the Kubernetes schemas (kubernetes-validate), custom kinds
against the openAPIV3Schema of their CRD (jsonschema). Everything works offline."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
CHART = ROOT / "helm" / "kubesweep"
CRD_FILE = ROOT / "crds" / "sweeps.kubesweep.io.yaml"
RELEASE = "ks"
RELEASE_NAMESPACE = "kubesweep-system"

# The oldest Kubernetes the kubectl we test with supports, and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())

Obj = dict[str, Any]


def tool(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: `make test` fetches it into .venv/bin (tools/fetch_k8s_binaries.py)")
    return path


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"
    return result.stdout


def run_failing(*command: str) -> str:
    """Run a command that must fail; return what it said on stderr."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0, f"{' '.join(command)} succeeded: {result.stdout[:500]}"
    return result.stderr


def documents(text: str) -> list[Obj]:
    return [d for d in yaml.safe_load_all(text) if d]


@cache
def _render(values: tuple[str, ...]) -> str:
    return run(
        tool("helm"),
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        RELEASE_NAMESPACE,
        "--include-crds",
        *values,
    )


def render(values: list[str]) -> list[Obj]:
    """The chart's objects (with its crds/ and hooks) for `helm template` arguments."""
    return documents(_render(tuple(values)))


@cache
def _kustomize() -> str:
    return run(tool("kubectl"), "kustomize", str(ROOT / "manifests"))


def kustomized() -> list[Obj]:
    return documents(_kustomize())


def sweep_crd() -> Obj:
    crd: Obj = yaml.safe_load(CRD_FILE.read_text())
    return crd


def crd_schemas(crds: list[Obj]) -> dict[tuple[str, str], Obj]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version of these CRDs."""
    return {
        (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"]): version["schema"][
            "openAPIV3Schema"
        ]
        for crd in crds
        for version in crd["spec"]["versions"]
        if version.get("served")
    }


def validate_custom(obj: Obj, schema: Obj) -> None:
    jsonschema.validate(obj, schema, cls=jsonschema.Draft4Validator)
    name = obj.get("metadata", {}).get("name")
    assert isinstance(name, str) and name, f"{obj.get('kind')} without a name"


def check_service_monitor(obj: Obj) -> None:
    """The prometheus-operator CRD is not ours to carry: check the fields Prometheus relies on."""
    spec = obj["spec"]
    assert spec["selector"]["matchLabels"], "a ServiceMonitor must select the metrics Service"
    for endpoint in spec["endpoints"]:
        assert isinstance(endpoint["port"], str), "ServiceMonitor endpoints name the Service port"


def validate(objects: list[Obj]) -> None:
    """Every object valid for its kind; fails on a kind nobody defines."""
    schemas = crd_schemas([sweep_crd(), *(o for o in objects if o["kind"] == "CustomResourceDefinition")])
    for obj in objects:
        key = (obj.get("apiVersion", ""), obj.get("kind", ""))
        if key in schemas:
            validate_custom(obj, schemas[key])
        elif key == ("monitoring.coreos.com/v1", "ServiceMonitor"):
            check_service_monitor(obj)
        else:
            for version in K8S_VERSIONS:
                kubernetes_validate.validate(obj, version, strict=True)


def deployment(objects: list[Obj]) -> Obj:
    found = [o for o in objects if o["kind"] == "Deployment"]
    assert len(found) == 1, f"{len(found)} Deployments"
    return found[0]


def container(objects: list[Obj]) -> Obj:
    """The operator's one container in the Deployment."""
    spec = deployment(objects)["spec"]["template"]["spec"]
    assert len(spec["containers"]) == 1
    c: Obj = spec["containers"][0]
    return c
