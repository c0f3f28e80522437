"""What the real API server and kube-controller-manager do that an emulator easily gets wrong
(../shared/k8s/README.md), each checked against the sandbox over HTTP with the kubernetes client."""

from __future__ import annotations

import json
import time
import urllib.error
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from kubesweep import api
from kubesweep.sandbox.server import SandboxThread

from ..integration.conftest import wait_for
from .conftest import raw
from .test_api_semantics import sweep_body

SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@pytest.fixture
def custom(sandbox: SandboxThread) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(config.new_client_from_config(str(sandbox.kubeconfig_path)))


def is_int(value: Any) -> bool:
    return type(value) is int


# ---------------------------------------------------------------------------------------------
# Numbers.


def test_whole_number_floats_read_back_as_integers_on_get_list_and_watch(
    sandbox: SandboxThread, custom: Any, namespace: str
) -> None:
    listed: Any = custom.list_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL)
    body = sweep_body("floats")
    body["spec"]["parameters"] = {"lr": {"min": 0.0, "max": 1.0}, "x": {"values": [0.5, 2.0]}}
    created: Any = custom.create_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, body)
    read: Any = custom.get_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, "floats")
    items: Any = custom.list_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL)["items"]
    events = list(
        watch.Watch().stream(
            custom.list_namespaced_custom_object,
            api.GROUP,
            api.VERSION,
            namespace,
            api.PLURAL,
            resource_version=listed["metadata"]["resourceVersion"],
            timeout_seconds=1,
        )
    )
    for seen in (created, read, items[0], events[0]["object"]):
        lr = seen["spec"]["parameters"]["lr"]
        assert is_int(lr["min"]) and is_int(lr["max"]) and (lr["min"], lr["max"]) == (0, 1)
        assert seen["spec"]["parameters"]["x"]["values"] == [0.5, 2] and is_int(
            seen["spec"]["parameters"]["x"]["values"][1]
        )
    # Not so for a built-in kind: the API server decodes it into its Go types, whose integer
    # fields refuse a float, even a whole-number one (kubectl sends 600 for YAML's 600.0).
    job: dict[str, Any] = {
        "metadata": {"name": "floaty"},
        "spec": {
            "activeDeadlineSeconds": 600.0,
            "suspend": True,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}},
        },
    }
    jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    with pytest.raises(urllib.error.HTTPError) as refused:
        raw(sandbox, "POST", jobs, job)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["message"] == (
        'Job in version "v1" cannot be handled as a Job: json: cannot unmarshal number 600.0 into Go '
        "struct field JobSpec.spec.activeDeadlineSeconds of type int64"
    )
    job["spec"]["activeDeadlineSeconds"] = 600
    assert is_int(raw(sandbox, "POST", jobs, job)["spec"]["activeDeadlineSeconds"])


# ---------------------------------------------------------------------------------------------
# Patches.


def test_a_strategic_merge_patch_merges_finalizers_and_its_directives_remove_them(
    core: Any, namespace: str
) -> None:
    # The kubernetes client sends a dict patch to a built-in kind as a strategic merge patch:
    # metadata.finalizers merges, so sending a shorter list removes nothing.
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "fin", "finalizers": ["x.io/a", "x.io/b"], "labels": {"k": "1"}}}
    )
    merged = core.patch_namespaced_config_map("fin", namespace, {"metadata": {"finalizers": ["x.io/b"]}})
    assert merged.metadata.finalizers == ["x.io/a", "x.io/b"]
    # The merged list's order is the API server's: the patch's items in the patch's order, and a
    # kept item goes before a patch item only if both were there before, in that order. So a new
    # finalizer goes first, and a patch naming kept ones reorders them.
    added = core.patch_namespaced_config_map("fin", namespace, {"metadata": {"finalizers": ["x.io/c"]}})
    assert added.metadata.finalizers == ["x.io/c", "x.io/a", "x.io/b"]
    reordered = core.patch_namespaced_config_map(
        "fin", namespace, {"metadata": {"finalizers": ["x.io/b", "x.io/a"]}}
    )
    assert reordered.metadata.finalizers == ["x.io/c", "x.io/b", "x.io/a"]
    ordered = core.patch_namespaced_config_map(
        "fin", namespace, {"metadata": {"$setElementOrder/finalizers": ["x.io/a", "x.io/c"]}}
    )
    assert ordered.metadata.finalizers == ["x.io/b", "x.io/a", "x.io/c"]
    removed = core.patch_namespaced_config_map(
        "fin", namespace, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x.io/a"]}}
    )
    assert removed.metadata.finalizers == ["x.io/b", "x.io/c"]
    # Plain maps merge; null deletes a key, or the whole list.
    labelled = core.patch_namespaced_config_map(
        "fin", namespace, {"metadata": {"labels": {"k": None, "j": "2"}, "finalizers": None}}
    )
    assert labelled.metadata.labels == {"j": "2"} and labelled.metadata.finalizers is None


def test_a_merge_patch_or_a_json_patch_with_a_test_replaces_the_finalizer_list(
    sandbox: SandboxThread, core: Any, namespace: str
) -> None:
    made = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "fin2", "finalizers": ["x.io/a", "x.io/b", "x.io/c"]}}
    )
    merged = core.patch_namespaced_config_map(
        "fin2",
        namespace,
        {"metadata": {"finalizers": ["x.io/b", "x.io/c"], "resourceVersion": made.metadata.resource_version}},
        _content_type=MERGE,
    )
    assert merged.metadata.finalizers == ["x.io/b", "x.io/c"]
    with pytest.raises(ApiException) as stale:  # a merge patch at a stale resourceVersion
        core.patch_namespaced_config_map(
            "fin2",
            namespace,
            {"metadata": {"finalizers": [], "resourceVersion": made.metadata.resource_version}},
            _content_type=MERGE,
        )
    assert stale.value.status == 409
    ops = [
        {"op": "test", "path": "/metadata/finalizers", "value": ["x.io/b", "x.io/c"]},
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]
    patched = core.patch_namespaced_config_map("fin2", namespace, ops)
    assert patched.metadata.finalizers == ["x.io/c"]
    with pytest.raises(ApiException) as failed:  # the same test again no longer holds
        core.patch_namespaced_config_map("fin2", namespace, ops)
    assert failed.value.status == 422
    core.patch_namespaced_config_map(
        "fin2",
        namespace,
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": patched.metadata.resource_version},
            {"op": "remove", "path": "/metadata/finalizers"},
        ],
    )
    assert core.read_namespaced_config_map("fin2", namespace).metadata.finalizers is None


def test_a_strategic_merge_patch_merges_owner_references_by_uid_and_containers_by_name(
    sandbox: SandboxThread, core: Any, namespace: str
) -> None:
    owners = [
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"owner-{i}"}}) for i in range(2)
    ]
    refs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": o.metadata.name, "uid": o.metadata.uid}
        for o in owners
    ]
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "owned", "ownerReferences": refs[:1]}})
    both = core.patch_namespaced_config_map("owned", namespace, {"metadata": {"ownerReferences": refs[1:]}})
    # The new reference first, as with finalizers above.
    assert [r.uid for r in both.metadata.owner_references] == [owners[1].metadata.uid, owners[0].metadata.uid]
    one = core.patch_namespaced_config_map(
        "owned",
        namespace,
        {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owners[0].metadata.uid}]}},
    )
    assert [r.uid for r in one.metadata.owner_references] == [owners[1].metadata.uid]
    # Lists of objects with a merge key merge by it; other lists are replaced. A Deployment's pod
    # template, since a pod's own spec is immutable but for images on a real API server.
    deployment = {
        "metadata": {"name": "smp"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "smp"}},
            "template": {
                "metadata": {"labels": {"app": "smp"}},
                "spec": {
                    "containers": [
                        {"name": "a", "image": "i", "args": ["1", "2"], "env": [{"name": "X", "value": "1"}]},
                        {"name": "b", "image": "i"},
                    ]
                },
            },
        },
    }
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    raw(sandbox, "POST", path, deployment)
    patched = raw(
        sandbox,
        "PATCH",
        f"{path}/smp",
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "a", "args": ["3"], "env": [{"name": "Y", "value": "2"}]}]
                    }
                }
            }
        },
        SMP,
    )
    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["a", "b"]  # both were there: their order stays
    assert containers[0]["args"] == ["3"] and containers[0]["image"] == "i"
    assert containers[0]["env"] == [{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}]
    raw(sandbox, "DELETE", f"{path}/smp")


def test_a_custom_resource_refuses_a_strategic_merge_patch_with_415(custom: Any, namespace: str) -> None:
    custom.create_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, sweep_body("nosmp"))
    with pytest.raises(ApiException) as info:
        custom.patch_namespaced_custom_object(
            api.GROUP,
            api.VERSION,
            namespace,
            api.PLURAL,
            "nosmp",
            {"spec": {"parallelism": 2}},
            _content_type=SMP,
        )
    assert info.value.status == 415


# ---------------------------------------------------------------------------------------------
# The job controller.

TRACKING = "batch.kubernetes.io/job-tracking"


def job_body(name: str, code: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 7,
                    "containers": [{"name": "main", "image": "python", "command": ["python", "-c", code]}],
                }
            },
        },
    }


def pods_of(core: Any, namespace: str, job: str) -> list[Any]:
    return list(core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items)


def conditions(batch: Any, namespace: str, job: str) -> list[str]:
    status = batch.read_namespaced_job_status(job, namespace).status
    return [c.type for c in status.conditions or [] if c.status == "True"]


def running_pod(core: Any, namespace: str, job: str) -> Any:
    return wait_for(
        lambda: next((p for p in pods_of(core, namespace, job) if p.status.phase == "Running"), None),
        30,
        f"a running pod of {job}",
    )


def test_a_job_pod_carries_the_tracking_finalizer_and_outlives_a_grace_zero_delete_until_accounted(
    core: Any, batch: Any, namespace: str
) -> None:
    batch.create_namespaced_job(
        namespace, job_body("tracked", "import time; time.sleep(120)", backoffLimit=3)
    )
    pod = running_pod(core, namespace, "tracked")
    assert pod.metadata.finalizers == [TRACKING]
    deleted = core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)
    # The pod stays, deleting, until the job controller has counted it and removed its finalizer.
    assert deleted.metadata.deletion_timestamp is not None and deleted.metadata.finalizers == [TRACKING]
    wait_for(
        lambda: pod.metadata.name not in {p.metadata.name for p in pods_of(core, namespace, "tracked")},
        10,
        "the deleted pod gone",
    )
    wait_for(
        lambda: batch.read_namespaced_job_status("tracked", namespace).status.failed == 1, 10, "a failure"
    )
    batch.delete_namespaced_job("tracked", namespace, propagation_policy="Background")
    wait_for(lambda: not pods_of(core, namespace, "tracked"), 10, "the Job's pods gone with it")


@pytest.mark.parametrize(
    ("code", "target", "terminal", "phase"),
    [
        ("pass", "SuccessCriteriaMet", "Complete", "Succeeded"),
        ("raise SystemExit(2)", "FailureTarget", "Failed", "Failed"),
    ],
)
def test_a_job_ends_about_a_second_after_its_pod_target_condition_first(
    core: Any, batch: Any, namespace: str, code: str, target: str, terminal: str, phase: str
) -> None:
    name = f"lag-{phase.lower()}"
    # The run's last act prints the time: the lag below is measured from before its pod ended,
    # so a slow test can only lengthen it.
    batch.create_namespaced_job(
        namespace, job_body(name, f"import time; print(time.time(), flush=True); {code}")
    )
    ended = wait_for(
        lambda: next((p for p in pods_of(core, namespace, name) if p.status.phase == phase), None),
        30,
        f"the pod {phase}",
    )
    # In the second after the pod ended, the Job says nothing yet.
    assert conditions(batch, namespace, name) == []
    assert ended.metadata.finalizers == [TRACKING]
    wait_for(lambda: terminal in conditions(batch, namespace, name), 10, terminal)
    pod_ended = float(core.read_namespaced_pod_log(ended.metadata.name, namespace).split()[0])
    assert time.time() - pod_ended > 0.5
    status = batch.read_namespaced_job_status(name, namespace).status
    assert [c.type for c in status.conditions] == [target, terminal]
    assert all(not p.metadata.finalizers for p in pods_of(core, namespace, name))


def test_suspending_deletes_active_pods_with_their_grace_period_and_counts_no_failure(
    core: Any, batch: Any, namespace: str
) -> None:
    batch.create_namespaced_job(namespace, job_body("pausing", "import time; time.sleep(120)"))
    pod = running_pod(core, namespace, "pausing")
    stream = core.list_namespaced_pod(
        namespace,
        field_selector=f"metadata.name={pod.metadata.name}",
        resource_version=pod.metadata.resource_version,
        watch=True,
        timeout_seconds=5,
        _preload_content=False,
    )
    batch.patch_namespaced_job("pausing", namespace, {"spec": {"suspend": True}})
    graces = set()
    for line in stream:
        event = json.loads(line)
        graces.add(event["object"]["metadata"].get("deletionGracePeriodSeconds"))
        if event["type"] == "DELETED":
            break
    assert 7 in graces  # the pod's own terminationGracePeriodSeconds
    # The job controller removed the deleted pod's tracking finalizer only after it had
    # accounted for the pod (a failure would be among its uncounted pods, then in `failed`):
    # once Suspended and nothing is left uncounted, the count is final.
    status = wait_for(
        lambda: (
            (s := batch.read_namespaced_job_status("pausing", namespace).status)
            and "Suspended" in [c.type for c in s.conditions or [] if c.status == "True"]
            and not (s.uncounted_terminated_pods and s.uncounted_terminated_pods.failed)
            and s
        ),
        10,
        "Suspended, every pod counted",
    )
    assert not status.failed and "Failed" not in conditions(batch, namespace, "pausing")
    # No clock runs while suspended (activeDeadlineSeconds counts from the resume).
    assert status.start_time is None and not status.active
    batch.patch_namespaced_job("pausing", namespace, {"spec": {"suspend": False}})
    wait_for(lambda: running_pod(core, namespace, "pausing"), 30, "a new pod")
    assert batch.read_namespaced_job_status("pausing", namespace).status.start_time is not None


def test_a_pod_deleted_by_someone_else_before_a_suspend_fails_a_backoff_limit_zero_job(
    core: Any, batch: Any, namespace: str
) -> None:
    batch.create_namespaced_job(namespace, job_body("killed", "import time; time.sleep(120)"))
    pod = running_pod(core, namespace, "killed")
    core.delete_namespaced_pod(pod.metadata.name, namespace)
    # The Job controller's pod and Job informers are separate: a suspend it sees before the pod's
    # deletion finds the pod active and deletes it uncounted. Its FailureTarget says it has counted
    # the deleted pod; a suspend from then on must not undo that.
    wait_for(lambda: "FailureTarget" in conditions(batch, namespace, "killed"), 15, "FailureTarget")
    batch.patch_namespaced_job("killed", namespace, {"spec": {"suspend": True}})
    wait_for(lambda: "Failed" in conditions(batch, namespace, "killed"), 15, "Failed")
    status = batch.read_namespaced_job_status("killed", namespace).status
    failed = next(c for c in status.conditions if c.type == "Failed")
    assert failed.reason == "BackoffLimitExceeded" and status.failed == 1


def test_an_evicted_pod_keeps_its_disruption_target_condition_until_it_is_gone(
    core: Any, batch: Any, namespace: str
) -> None:
    # What a node drain does to each pod: the eviction API marks the pod, then deletes it with its
    # grace period; the kubelet's status writes as it stops keep the mark; the Job counts a failure.
    batch.create_namespaced_job(namespace, job_body("evicted", "import time; time.sleep(120)"))
    pod = running_pod(core, namespace, "evicted")
    name = pod.metadata.name
    stream = core.list_namespaced_pod(
        namespace,
        field_selector=f"metadata.name={name}",
        resource_version=pod.metadata.resource_version,
        watch=True,
        timeout_seconds=15,
        _preload_content=False,
    )
    core.create_namespaced_pod_eviction(name, namespace, {"metadata": {"name": name, "namespace": namespace}})
    seen: list[tuple[str, str, bool, bool]] = []
    for line in stream:
        event = json.loads(line)
        obj = event["object"]
        marked = any(
            c["type"] == "DisruptionTarget"
            and c["status"] == "True"
            and c.get("reason") == "EvictionByEvictionAPI"
            for c in obj["status"].get("conditions") or []
        )
        seen.append(
            (
                event["type"],
                obj["status"].get("phase"),
                bool(obj["metadata"].get("deletionTimestamp")),
                marked,
            )
        )
        if event["type"] == "DELETED":
            break
    assert seen[-1][0] == "DELETED" and all(marked for *_, marked in seen), seen
    assert ("MODIFIED", "Failed", True, True) in seen, seen  # the kubelet's terminal status kept the mark
    wait_for(lambda: "Failed" in conditions(batch, namespace, "evicted"), 15, "Failed")


# ---------------------------------------------------------------------------------------------
# Events.


def test_a_core_event_is_not_held_to_the_object_name_rules(sandbox: SandboxThread, namespace: str) -> None:
    # The API server validates a core/v1 Event's metadata only as a path segment (backwards
    # compatibility): a 266-character name goes. events.k8s.io/v1 would refuse it.
    core = client.CoreV1Api(config.new_client_from_config(str(sandbox.kubeconfig_path)))
    name = "e" * 253 + ".0123456789ab"
    body = {
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
        "reason": "Test",
        "message": "a long name",
        "type": "Normal",
    }
    core.create_namespaced_event(namespace, body)  # type: ignore[arg-type]
    assert core.read_namespaced_event(name, namespace).reason == "Test"
