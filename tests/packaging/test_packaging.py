"""What cluster admins install: the chart, the kustomize base, the image, the examples. Rendered
with the real helm and kubectl, validated against a current Kubernetes with kubernetes-validate."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from kubesweep import api, crd

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
CHART = ROOT / "helm" / "kubesweep"
K8S_VERSION = "1.31.0"

VALUE_SETS: dict[str, list[str]] = {
    "defaults": [],
    "namespaced": ["--set", "watchNamespaces={ml,research}"],
    "ha": ["--set", "replicaCount=3"],
    "ha-namespaced": ["--set", "replicaCount=2", "--set", "watchNamespaces={ml}"],
    "metrics": [
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "extraEnv[0].name=X",
        "--set",
        "extraEnv[0].value=y",
    ],
    "no-metrics": ["--set", "metrics.enabled=false", "--set", "aggregateRoles=false"],
}

# Exactly the API the operator uses (README "Permissions"); anything else in a Role is a defect.
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("kubesweep.io", "sweeps"): {"get", "list", "watch"},
    ("kubesweep.io", "sweeps/status"): {"get", "patch"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "patch"},
    ("", "pods"): {"get", "list", "watch", "deletecollection"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"create"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
    ("", "namespaces"): {"list", "watch"},  # kopf, for namespace patterns
    ("kopf.dev", "kopfpeerings"): {"get", "list", "watch", "patch"},
    ("kopf.dev", "clusterkopfpeerings"): {"get", "list", "watch", "patch"},
}
# The aggregated user roles grant sweeps to people, not to the operator.
USER_ROLES = ("-edit", "-view")


def tool(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: `make test` fetches it into .venv/bin")
    return path


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(values: list[str]) -> list[dict[str, Any]]:
    out = run(
        tool("helm"),
        "template",
        "ks",
        str(CHART),
        "--namespace",
        "kubesweep-system",
        "--include-crds",
        *values,
    )
    return [d for d in yaml.safe_load_all(out) if d]


def kustomized() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(run(tool("kubectl"), "kustomize", str(ROOT / "manifests"))) if d]


def validate(obj: dict[str, Any]) -> None:
    if obj.get("apiVersion") == "monitoring.coreos.com/v1" or obj.get("kind") == api.KIND:
        return  # not a built-in kind: checked by their own schemas
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_helm_lint_passes() -> None:
    run(tool("helm"), "lint", "--strict", str(CHART))


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_object_is_valid_kubernetes(name: str) -> None:
    objects = render(VALUE_SETS[name])
    assert any(o["kind"] == "Deployment" for o in objects)
    for obj in objects:
        validate(obj)


def test_values_are_checked_by_the_schema() -> None:
    result = subprocess.run(
        [tool("helm"), "template", "ks", str(CHART), "--set", "replicaCount=0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "replicaCount" in result.stderr


def test_namespaced_install_uses_roles_and_watches_only_those_namespaces() -> None:
    objects = render(VALUE_SETS["namespaced"])
    roles = [o for o in objects if o["kind"] == "Role"]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["ml", "research"]
    operator_cluster_roles = [
        o
        for o in objects
        if o["kind"] == "ClusterRole" and not o["metadata"]["name"].endswith(("-edit", "-view", "-discovery"))
    ]
    assert operator_cluster_roles == []
    args = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0][
        "args"
    ]
    assert args[args.index("--namespace") + 1] == "ml" and "research" in args


def test_ha_runs_kopf_peering() -> None:
    objects = render(VALUE_SETS["ha"])
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert "--peering" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    crds = {o["metadata"]["name"] for o in objects if o["kind"] == "CustomResourceDefinition"}
    assert {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev", "sweeps.kubesweep.io"} <= crds


def rules_of(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (o["metadata"]["name"], rule)
        for o in objects
        if o["kind"] in ("Role", "ClusterRole") and not o["metadata"]["name"].endswith(USER_ROLES)
        for rule in o.get("rules") or []
    ]


@pytest.mark.parametrize("source", [*sorted(VALUE_SETS), "kustomize"])
def test_rbac_has_no_wildcard_and_nothing_the_operator_does_not_use(source: str) -> None:
    objects = kustomized() if source == "kustomize" else render(VALUE_SETS[source])
    rules = rules_of(objects)
    assert rules
    for name, rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule.get(field, []), f"{name}: wildcard in {field}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                allowed = ALLOWED.get((group, resource))
                assert allowed is not None, (
                    f"{name}: {group or 'core'}/{resource} is not used by the operator"
                )
                extra = set(rule["verbs"]) - allowed
                assert not extra, f"{name}: {group or 'core'}/{resource} verbs {sorted(extra)} are not used"


def test_user_roles_aggregate_into_edit_and_view() -> None:
    objects = render([])
    labels = {
        o["metadata"]["name"]: o["metadata"].get("labels", {}) for o in objects if o["kind"] == "ClusterRole"
    }
    assert labels["ks-kubesweep-edit"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert labels["ks-kubesweep-view"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"


def test_the_deployment_is_hardened() -> None:
    for objects in (render([]), kustomized()):
        pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        container = pod["containers"][0]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["requests"] and container["resources"]["limits"]


def test_every_kustomize_object_is_valid_kubernetes() -> None:
    objects = kustomized()
    assert {o["kind"] for o in objects} >= {
        "Namespace",
        "CustomResourceDefinition",
        "Deployment",
        "ClusterRole",
    }
    for obj in objects:
        validate(obj)


def test_the_crd_copies_are_identical_to_the_generated_one() -> None:
    generated = (ROOT / "crds" / "sweeps.kubesweep.io.yaml").read_text()
    assert generated == crd.render_yaml()
    assert (CHART / "crds" / "sweeps.kubesweep.io.yaml").read_text() == generated
    assert (ROOT / "manifests" / "crd.yaml").read_text() == generated


def examples() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in sorted((ROOT / "examples").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def test_every_example_is_valid() -> None:
    found = examples()
    assert found
    schema = crd.render()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for name, doc in found:
        if doc.get("kind") == api.KIND:
            jsonschema.validate(doc, schema)
        else:
            validate(doc)
        assert doc["metadata"].get("name"), name


def test_the_image_runs_kubesweep_as_non_root_from_a_pinned_base() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    bases = [line.split()[1] for line in lines if line.startswith("FROM")]
    assert len(bases) >= 2 and all(":" in b and not b.endswith(":latest") for b in bases)
    user = [line for line in lines if line.startswith("USER")][-1]
    assert user.split()[1].split(":")[0] not in ("0", "root")
    assert 'ENTRYPOINT ["kubesweep", "run"]' in lines
