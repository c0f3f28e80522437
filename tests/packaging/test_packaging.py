"""What cluster admins install: the Helm chart and the kustomize base, rendered with the real helm
and kubectl and validated against current Kubernetes schemas; their RBAC held to exactly the API
the operator uses."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .k8s import (
    CHART,
    CRD_FILE,
    RELEASE_NAMESPACE,
    ROOT,
    Obj,
    container,
    deployment,
    kustomized,
    render,
    run,
    run_failing,
    tool,
    validate,
)

VALUE_SETS: dict[str, list[str]] = {
    "defaults": [],
    "namespaced": ["--set", "watchNamespaces={ml,research}"],
    "ha": ["--set", "replicaCount=3"],
    "ha-namespaced": ["--set", "replicaCount=2", "--set", "watchNamespaces={ml}"],
    "metrics": [
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.serviceMonitor.labels.release=prometheus",
    ],
    "no-metrics": ["--set", "metrics.enabled=false", "--set", "aggregateRoles=false"],
    "scheduling": [
        "--set",
        "nodeSelector.pool=system",
        "--set",
        "tolerations[0].key=dedicated,tolerations[0].operator=Exists,tolerations[0].effect=NoSchedule",
        "--set",
        "extraEnv[0].name=HTTPS_PROXY,extraEnv[0].value=http://proxy:3128",
        "--set",
        "imagePullSecrets[0].name=regcred",
        "--set",
        "image.tag=0.1.0-rc1",
        "--set",
        "serviceAccount.name=sweeper",
    ],
}

# Exactly the API the operator and kopf use (docs/install.md "Permissions"). A grant outside it
# is a defect; so is a missing one.
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("kubesweep.io", "sweeps"): {"get", "list", "watch"},
    ("kubesweep.io", "sweeps/status"): {"get", "patch"},
    # Never requested: the OwnerReferencesPermissionEnforcement admission plugin (OpenShift's
    # default) asks for it when a Job is created with blockOwnerDeletion on its Sweep owner.
    ("kubesweep.io", "sweeps/finalizers"): {"update"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "patch"},
    ("", "pods"): {"get", "list", "watch", "patch", "deletecollection"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"create"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
    ("", "namespaces"): {"list", "watch"},
    ("kopf.dev", "clusterkopfpeerings"): {"get", "list", "watch", "patch"},
    ("kopf.dev", "kopfpeerings"): {"get", "list", "watch", "patch"},
}
PEERING = {("kopf.dev", "clusterkopfpeerings"), ("kopf.dev", "kopfpeerings")}
# The aggregated user roles grant sweeps to people, not to the operator.
USER_ROLE_SUFFIXES = ("-edit", "-view")
PEERING_NAME = "kubesweep"


def operator_roles(objects: list[Obj]) -> list[Obj]:
    return [
        o
        for o in objects
        if o["kind"] in ("Role", "ClusterRole") and not o["metadata"]["name"].endswith(USER_ROLE_SUFFIXES)
    ]


def rbac_violations(objects: list[Obj]) -> list[str]:
    """Wildcards and grants outside ALLOWED in the operator's roles, one message each."""
    problems = []
    for role in operator_roles(objects):
        name = f"{role['kind']} {role['metadata']['name']}"
        for rule in role.get("rules") or []:
            if rule.get("nonResourceURLs") or rule.get("resourceNames"):
                problems.append(f"{name}: unexpected nonResourceURLs/resourceNames")
            for field in ("apiGroups", "resources", "verbs"):
                if any("*" in item for item in rule.get(field, [])):
                    problems.append(f"{name}: wildcard in {field}")
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    allowed = ALLOWED.get((group, resource))
                    if allowed is None:
                        problems.append(f"{name}: {group or 'core'}/{resource} is not used by the operator")
                        continue
                    extra = set(rule.get("verbs", [])) - allowed
                    if extra:
                        problems.append(f"{name}: {group or 'core'}/{resource} {sorted(extra)} are not used")
    return problems


def granted(objects: list[Obj]) -> dict[tuple[str, str], set[str]]:
    """What the operator's roles grant, merged over roles and namespaces."""
    grants: dict[tuple[str, str], set[str]] = {}
    for role in operator_roles(objects):
        for rule in role.get("rules") or []:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


def expected_grants(peering: str | None) -> dict[tuple[str, str], set[str]]:
    keep = {("kopf.dev", peering)} if peering else set()
    return {key: verbs for key, verbs in ALLOWED.items() if key not in PEERING or key in keep}


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_helm_lint_passes(name: str) -> None:
    run(tool("helm"), "lint", "--strict", str(CHART), *VALUE_SETS[name])


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_object_is_valid_kubernetes(name: str) -> None:
    objects = render(VALUE_SETS[name])
    assert {"Deployment", "ServiceAccount", "CustomResourceDefinition"} <= {o["kind"] for o in objects}
    validate(objects)
    for obj in objects:
        if obj["kind"] not in (
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterKopfPeering",
        ):
            assert obj["metadata"].get("namespace"), (
                f"{obj['kind']} {obj['metadata']['name']} has no namespace"
            )


def test_validation_rejects_a_broken_object() -> None:
    objects = render([])
    broken = yaml.safe_load(yaml.safe_dump(deployment(objects)))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(Exception, match="two"):
        validate([broken])
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate([unknown])


@pytest.mark.parametrize(
    ("values", "field"),
    [
        (["--set", "replicaCount=0"], "replicaCount"),
        (["--set", "replicas=2"], "replicas"),  # a typo is an error, not ignored
        (["--set", "watchNamespaces={ml-*}"], "watchNamespaces"),  # a Role needs a real namespace
        (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
        (["--set", "metrics.port=70000"], "port"),
    ],
)
def test_values_schema_rejects_bad_values(values: list[str], field: str) -> None:
    stderr = run_failing(tool("helm"), "template", "ks", str(CHART), *values)
    assert field in stderr


def test_the_chart_is_versioned_with_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == project["version"] == "0.1.0"
    assert container(render([]))["image"].endswith(":0.1.0")


def test_cluster_wide_by_default() -> None:
    objects = render([])
    args = container(objects)["args"]
    assert "--namespace" not in args and "--peering" not in args
    assert args[:4] == ["--liveness", "http://0.0.0.0:8080/healthz", "--metrics-port", "9090"]
    assert [o for o in objects if o["kind"] in ("Role", "RoleBinding")] == []
    assert deployment(objects)["spec"]["strategy"]["type"] == "Recreate"  # never two unpeered operators


def test_namespaced_install_uses_a_role_per_namespace_and_watches_only_those() -> None:
    objects = render(VALUE_SETS["namespaced"])
    roles = {o["metadata"]["namespace"]: o for o in objects if o["kind"] == "Role"}
    bindings = {o["metadata"]["namespace"]: o for o in objects if o["kind"] == "RoleBinding"}
    assert sorted(roles) == sorted(bindings) == ["ml", "research"]
    for ns, binding in bindings.items():
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": roles[ns]["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "ks-kubesweep", "namespace": RELEASE_NAMESPACE}
        ]
        sweeps = [r for r in roles[ns]["rules"] if "sweeps" in r["resources"]]
        assert sweeps and "watch" in sweeps[0]["verbs"]
    # Cluster-scoped grants are only kopf's discovery: no sweeps, jobs or pods cluster-wide.
    cluster_roles = [o for o in operator_roles(objects) if o["kind"] == "ClusterRole"]
    assert [r["metadata"]["name"] for r in cluster_roles] == ["ks-kubesweep-discovery"]
    assert {
        (g, r) for rule in cluster_roles[0]["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    } == {
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("", "namespaces"),
    }
    args = container(objects)["args"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--namespace"] == ["ml", "research"]


def test_ha_replicas_run_kopf_peering_cluster_wide() -> None:
    objects = render(VALUE_SETS["ha"])
    assert deployment(objects)["spec"]["replicas"] == 3
    assert "strategy" not in deployment(objects)["spec"]  # rolling: the peers hand over
    args = container(objects)["args"]
    assert args[args.index("--peering") + 1] == PEERING_NAME
    crds = {o["metadata"]["name"] for o in objects if o["kind"] == "CustomResourceDefinition"}
    assert crds == {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev", "sweeps.kubesweep.io"}
    # kopf with a mandatory peering name stays paused until its peering object exists.
    peerings = [o for o in objects if o["kind"] == "ClusterKopfPeering"]
    assert [p["metadata"]["name"] for p in peerings] == [PEERING_NAME]
    assert "post-install" in peerings[0]["metadata"]["annotations"]["helm.sh/hook"]
    assert granted(objects) == expected_grants("clusterkopfpeerings")
    pdb = next(o for o in objects if o["kind"] == "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert (
        pdb["spec"]["selector"]["matchLabels"].items()
        <= deployment(objects)["spec"]["template"]["metadata"]["labels"].items()
    )


def test_ha_replicas_serving_namespaces_peer_in_each_namespace() -> None:
    objects = render(VALUE_SETS["ha-namespaced"])
    peerings = [o for o in objects if o["kind"] == "KopfPeering"]
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in peerings] == [("ml", PEERING_NAME)]
    role = next(o for o in objects if o["kind"] == "Role")
    assert any(r["resources"] == ["kopfpeerings"] for r in role["rules"])
    assert granted(objects) == expected_grants("kopfpeerings")


def test_a_single_replica_has_no_peering() -> None:
    for name in ("defaults", "namespaced"):
        objects = render(VALUE_SETS[name])
        kinds = {o["kind"] for o in objects}
        assert not kinds & {"KopfPeering", "ClusterKopfPeering", "PodDisruptionBudget"}
        crds = {o["metadata"]["name"] for o in objects if o["kind"] == "CustomResourceDefinition"}
        assert crds == {"sweeps.kubesweep.io"}


@pytest.mark.parametrize("source", [*sorted(VALUE_SETS), "kustomize"])
def test_rbac_has_no_wildcard_and_nothing_the_operator_does_not_use(source: str) -> None:
    objects = kustomized() if source == "kustomize" else render(VALUE_SETS[source])
    assert operator_roles(objects)
    assert rbac_violations(objects) == []
    # ... and nothing it needs is missing.
    peering = {"ha": "clusterkopfpeerings", "ha-namespaced": "kopfpeerings"}.get(source)
    assert granted(objects) == expected_grants(peering)


@pytest.mark.parametrize("source", [*sorted(VALUE_SETS), "kustomize"])
def test_jobs_owned_with_block_owner_deletion_may_be_created_under_owner_reference_enforcement(
    source: str,
) -> None:
    """OwnerReferencesPermissionEnforcement refuses (403) to create an object whose
    ownerReference has blockOwnerDeletion unless its creator may update the owner's
    finalizers; a run's Job is owned that way by its Sweep."""
    from kubesweep import runs

    sweep = {
        "metadata": {"name": "s", "namespace": "ml", "uid": "u"},
        "spec": {"template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}},
    }
    owners = runs.render_job(sweep, 1, {})["metadata"]["ownerReferences"]
    blocking = [o for o in owners if o.get("blockOwnerDeletion")]
    assert blocking, "a run's Job keeps its Sweep from being deleted before it (foreground deletion)"
    objects = kustomized() if source == "kustomize" else render(VALUE_SETS[source])
    for owner in blocking:
        group = owner["apiVersion"].split("/")[0]
        assert owner["kind"] == "Sweep" and group == "kubesweep.io"
        assert "update" in granted(objects).get((group, "sweeps/finalizers"), set())


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["*"]}, "wildcard in verbs"),
        ({"apiGroups": ["*"], "resources": ["jobs"], "verbs": ["get"]}, "wildcard in apiGroups"),
        ({"apiGroups": [""], "resources": ["pods/*"], "verbs": ["get"]}, "wildcard in resources"),
        ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}, "core/secrets is not used"),
        (
            {"apiGroups": ["kubesweep.io"], "resources": ["sweeps"], "verbs": ["delete"]},
            "['delete'] are not used",
        ),
        ({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}, "core/pods/exec is not used"),
    ],
)
def test_the_rbac_check_catches_excess(rule: dict[str, Any], problem: str) -> None:
    objects = render([])
    role = next(o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "ks-kubesweep")
    role["rules"].append(rule)
    assert any(problem in p for p in rbac_violations(objects)), rbac_violations(objects)


def test_every_operator_role_is_bound_to_its_service_account() -> None:
    for values in (VALUE_SETS["defaults"], VALUE_SETS["ha-namespaced"], VALUE_SETS["scheduling"]):
        objects = render(values)
        account = next(o for o in objects if o["kind"] == "ServiceAccount")["metadata"]["name"]
        assert deployment(objects)["spec"]["template"]["spec"]["serviceAccountName"] == account
        bound = {
            (b["roleRef"]["kind"], b["roleRef"]["name"], b["metadata"].get("namespace"))
            for b in objects
            if b["kind"] in ("RoleBinding", "ClusterRoleBinding")
            and b["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": RELEASE_NAMESPACE}]
        }
        for role in operator_roles(objects):
            assert (role["kind"], role["metadata"]["name"], role["metadata"].get("namespace")) in bound


def test_user_roles_aggregate_into_edit_and_view() -> None:
    objects = render([])
    roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterRole"}
    edit, view = roles["ks-kubesweep-edit"], roles["ks-kubesweep-view"]
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert {"create", "patch", "delete"} <= set(edit["rules"][0]["verbs"])
    assert {v for r in view["rules"] for v in r["verbs"]} == {"get", "list", "watch"}
    names = {o["metadata"]["name"] for o in render(VALUE_SETS["no-metrics"]) if o["kind"] == "ClusterRole"}
    assert not {"ks-kubesweep-edit", "ks-kubesweep-view"} & names


def test_metrics_service_and_service_monitor() -> None:
    objects = render(VALUE_SETS["metrics"])
    service = next(o for o in objects if o["kind"] == "Service")
    pod = deployment(objects)["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics"}]
    assert {"name": "metrics", "containerPort": 9090} in container(objects)["ports"]
    monitor = next(o for o in objects if o["kind"] == "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    # No ServiceMonitor unless asked: the CRD may not exist in the cluster.
    assert not any(o["kind"] == "ServiceMonitor" for o in render([]))


def test_metrics_off_means_no_port_and_no_service() -> None:
    objects = render(VALUE_SETS["no-metrics"])
    assert not any(o["kind"] in ("Service", "ServiceMonitor") for o in objects)
    assert "--metrics-port" not in container(objects)["args"]


def test_scheduling_env_pull_secrets_and_image_are_passed_through() -> None:
    objects = render(VALUE_SETS["scheduling"])
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "system"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["serviceAccountName"] == "sweeper"
    assert container(objects)["env"] == [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}]
    assert container(objects)["image"] == "ghcr.io/kubesweep/kubesweep:0.1.0-rc1"
    affinity: Obj = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}
    }
    values = ["--set-json", f"affinity={json.dumps(affinity)}"]
    assert deployment(render(values))["spec"]["template"]["spec"]["affinity"] == affinity


@pytest.mark.parametrize("source", ["helm", "kustomize"])
def test_the_deployment_is_hardened(source: str) -> None:
    objects = kustomized() if source == "kustomize" else render([])
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    c = container(objects)
    security = c["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8080} in c["ports"]
    assert c["args"][:2] == ["--liveness", "http://0.0.0.0:8080/healthz"]
    assert c["resources"]["requests"] and c["resources"]["limits"]


def test_every_kustomize_object_is_valid_kubernetes() -> None:
    objects = kustomized()
    assert {o["kind"] for o in objects} == {
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
    }
    validate(objects)
    namespace = next(o for o in objects if o["kind"] == "Namespace")["metadata"]["name"]
    assert namespace == RELEASE_NAMESPACE
    for obj in objects:
        if obj["kind"] in ("Deployment", "Service", "ServiceAccount"):
            assert obj["metadata"]["namespace"] == namespace
    c = container(objects)
    assert c["args"] == ["--liveness", "http://0.0.0.0:8080/healthz", "--metrics-port", "9090"]


def test_every_crd_copy_is_identical_to_crds() -> None:
    generated = CRD_FILE.read_bytes()
    assert (CHART / "crds" / "sweeps.kubesweep.io.yaml").read_bytes() == generated
    assert (ROOT / "manifests" / "crd.yaml").read_bytes() == generated
    # The chart really ships it: helm installs crds/ before the templates.
    assert any(o["metadata"]["name"] == "sweeps.kubesweep.io" for o in render([]))
