"""API semantics the operator and kopf rely on, through the real kubernetes client over HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from kubesweep import api
from kubesweep.sandbox.server import SandboxThread
from kubesweep.sandbox.store import ResourceRef

from ..integration.conftest import wait_for
from .conftest import open_request, raw


def sweep_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": name},
        "spec": {
            "method": "grid",
            "parameters": {"a": {"values": [1]}},
            "template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        },
    }


@pytest.fixture
def custom(sandbox: SandboxThread) -> client.CustomObjectsApi:
    from kubernetes import config

    return client.CustomObjectsApi(config.new_client_from_config(str(sandbox.kubeconfig_path)))


def test_metadata_is_filled_and_defaults_applied(custom: Any, namespace: str) -> None:
    created: Any = custom.create_namespaced_custom_object(
        api.GROUP, api.VERSION, namespace, api.PLURAL, sweep_body("meta")
    )
    meta = created["metadata"]
    assert meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert meta["namespace"] == namespace
    assert created["spec"]["state"] == "running" and created["spec"]["parallelism"] == 1


def test_status_subresource_is_apart_and_generation_moves_on_spec_only(custom: Any, namespace: str) -> None:
    custom.create_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, sweep_body("gen"))
    args = (api.GROUP, api.VERSION, namespace, api.PLURAL, "gen")
    after_status: Any = custom.patch_namespaced_custom_object_status(
        *args, {"status": {"phase": "Running"}, "spec": {"parallelism": 9}}
    )
    assert after_status["status"]["phase"] == "Running" and after_status["spec"]["parallelism"] == 1
    assert after_status["metadata"]["generation"] == 1
    after_main: Any = custom.patch_namespaced_custom_object(
        *args, {"spec": {"parallelism": 3}, "status": {"phase": "Hacked"}}
    )
    assert after_main["metadata"]["generation"] == 2 and after_main["status"]["phase"] == "Running"
    labelled: Any = custom.patch_namespaced_custom_object(*args, {"metadata": {"labels": {"x": "y"}}})
    assert labelled["metadata"]["generation"] == 2


def test_stale_resource_version_is_a_409_conflict(core: Any, namespace: str) -> None:
    cm = core.create_namespaced_config_map(namespace, {"metadata": {"name": "rv"}, "data": {"k": "1"}})
    core.patch_namespaced_config_map("rv", namespace, {"data": {"k": "2"}})
    stale = {"metadata": {"name": "rv", "resourceVersion": cm.metadata.resource_version}, "data": {"k": "3"}}
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("rv", namespace, stale)
    assert info.value.status == 409


def test_watch_from_a_resource_version_replays_nothing_older(core: Any, namespace: str) -> None:
    # The test's own ConfigMaps only: a real cluster adds kube-root-ca.crt (and OpenShift's
    # openshift-service-ca.crt) to a new namespace at any moment.
    own = {"test": "replay"}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "old", "labels": own}})
    listed = core.list_namespaced_config_map(namespace, label_selector="test=replay")
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "new", "labels": own}})
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            label_selector="test=replay",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        )
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "new")]


def test_a_label_change_moves_an_object_out_of_and_into_a_selected_watch(core: Any, namespace: str) -> None:
    # The API server's watch cache sends DELETED when an object stops matching the selector and
    # ADDED when it starts; the operator relies on it to let recorded runs' Jobs and pods go.
    listed = core.list_namespaced_config_map(namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "run", "labels": {"ours": "yes"}}})
    core.patch_namespaced_config_map("run", namespace, {"data": {"k": "1"}})
    core.patch_namespaced_config_map("run", namespace, {"metadata": {"labels": {"done": "true"}}})
    core.patch_namespaced_config_map("run", namespace, {"data": {"k": "2"}})  # unseen: not selected
    core.patch_namespaced_config_map("run", namespace, {"metadata": {"labels": {"done": None}}})
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            label_selector="ours=yes,!done",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        )
    )
    seen = [
        (e["type"], (e["object"].metadata.labels or {}).get("done"), (e["object"].data or {}).get("k"))
        for e in events
    ]
    assert seen == [
        ("ADDED", None, None),
        ("MODIFIED", None, "1"),
        ("DELETED", None, "1"),  # as it was before the change that moved it out
        ("ADDED", None, "2"),
    ]
    # The whole object as it was before the change, not only its `done` label.
    assert events[2]["object"].metadata.labels == {"ours": "yes"}


@pytest.mark.emulator  # reads sandbox.emulator to compact its history, which etcd does on its own clock
def test_a_too_old_resource_version_is_410_gone(sandbox: SandboxThread, core: Any, namespace: str) -> None:
    # As if etcd had compacted everything so far.
    sandbox.emulator.objects.compact(ResourceRef("", "v1", "configmaps"))
    response = core.list_namespaced_config_map(
        namespace, watch=True, resource_version="1", timeout_seconds=1, _preload_content=False
    )
    body = response.read().decode()
    assert '"type": "ERROR"' in body and '"code": 410' in body


def test_generate_name_and_collection_delete_by_label(core: Any, namespace: str) -> None:
    for team in ("a", "a", "b"):
        made = core.create_namespaced_config_map(
            namespace, {"metadata": {"generateName": "gen-", "labels": {"team": team}}}
        )
        assert made.metadata.name.startswith("gen-") and len(made.metadata.name) == 9
    core.delete_collection_namespaced_config_map(namespace, label_selector="team=a")
    # Only this test's own: a real cluster puts kube-root-ca.crt (and OpenShift's
    # openshift-service-ca.crt) in every namespace.
    left = core.list_namespaced_config_map(namespace, label_selector="team").items
    assert [cm.metadata.labels["team"] for cm in left] == ["b"]


def test_a_failed_json_patch_test_is_422(sandbox: SandboxThread, core: Any, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "jp"}, "data": {"k": "v"}})
    patch = [
        {"op": "test", "path": "/data/k", "value": "other"},
        {"op": "replace", "path": "/data/k", "value": "x"},
    ]
    with pytest.raises(urllib.error.HTTPError) as info:
        raw(
            sandbox,
            "PATCH",
            f"/api/v1/namespaces/{namespace}/configmaps/jp",
            patch,
            "application/json-patch+json",
        )
    assert info.value.code == 422
    assert json.loads(info.value.read())["reason"] == "Invalid"
    assert core.read_namespaced_config_map("jp", namespace).data == {"k": "v"}


def test_a_missing_namespace_is_404(core: Any) -> None:
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "x"}})
    assert info.value.status == 404 and 'namespaces \\"nowhere\\" not found' in str(info.value.body)


def test_the_simulated_executor_finishes_hundreds_of_pods_quickly() -> None:
    from kubernetes import config

    with SandboxThread(executor="simulated") as sim:
        batch: Any = client.BatchV1Api(config.new_client_from_config(str(sim.kubeconfig_path)))
        for i in range(200):
            batch.create_namespaced_job(
                "default",
                {
                    "metadata": {"name": f"sim-{i}"},
                    "spec": {
                        "backoffLimit": 0,
                        "template": {
                            "metadata": {
                                "annotations": {
                                    "sandbox.kubesweep.io/duration": "0.05",
                                    "sandbox.kubesweep.io/exit-code": str(i % 2),
                                }
                            },
                            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]},
                        },
                    },
                },
            )

        def ended() -> bool:
            jobs = batch.list_namespaced_job("default").items
            return all(j.status.conditions for j in jobs)

        wait_for(ended, 60, "every simulated job to end")
        jobs = batch.list_namespaced_job("default").items
        assert sum(1 for j in jobs if j.status.succeeded) == 100
        assert sum(1 for j in jobs if j.status.failed) == 100


def test_a_bookmark_never_skips_events_still_queued_for_a_slow_client(
    sandbox: SandboxThread, core: Any, namespace: str
) -> None:
    # A client that reads nothing while events pile up, then resumes from the last bookmark it
    # read (or the last event, when the server ends the stream first), must still get every event.
    from kubesweep.sandbox import streams

    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    # The watch's own deadline: a real API server sends its bookmark two seconds before it (and
    # otherwise once a minute); the sandbox sends one whenever nothing is queued for 5 s.
    deadline_seconds = int(2 * streams.BOOKMARK_INTERVAL + 5)
    response = open_request(
        sandbox,
        "GET",
        f"/api/v1/namespaces/{namespace}/configmaps?watch=true&allowWatchBookmarks=true"
        f"&labelSelector=test%3Dslow&resourceVersion={start}&timeoutSeconds={deadline_seconds}",
        timeout=deadline_seconds + 5,
    )
    # Big objects and no reading for longer than the bookmark interval: the stream's buffers fill
    # and events stay queued on the server when the next bookmark is due.
    payload = {"blob": "x" * 40_000}
    for i in range(300):
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": f"slow-{i}", "labels": {"test": "slow"}}, "data": payload}
        )
    time.sleep(streams.BOOKMARK_INTERVAL + 1)
    seen: set[str] = set()
    last_rv = start
    bookmarked = False
    deadline = time.monotonic() + 2 * streams.BOOKMARK_INTERVAL + 5
    while time.monotonic() < deadline and not bookmarked:
        line = response.readline()
        if not line:  # the server ended the stream (its deadline, or a client too slow for it)
            break
        event = json.loads(line)
        last_rv = event["object"]["metadata"]["resourceVersion"]
        if event["type"] == "ADDED":
            seen.add(event["object"]["metadata"]["name"])
        bookmarked = event["type"] == "BOOKMARK"
    response.close()
    resumed = list(
        watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            label_selector="test=slow",
            resource_version=last_rv,
            timeout_seconds=1,
        )
    )
    seen |= {e["object"].metadata.name for e in resumed if e["type"] == "ADDED"}
    assert seen == {f"slow-{i}" for i in range(300)}


def test_a_folded_status_as_the_reconcile_writes_it_is_kept_whole(custom: Any, namespace: str) -> None:
    from kubesweep import reconcile

    records = [
        {"name": f"fold-{n:04d}", "number": n, "state": "Finished", "parameters": {"a": n}, "metrics": {}}
        for n in range(1, api.RUN_RECORDS_KEPT + 21)
    ]
    body = sweep_body("fold")
    body["spec"]["parameters"] = {"a": {"min": 1, "max": 10_000}}
    created: Any = custom.create_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, body)
    status = reconcile.decide({**created, "status": {"recordedRuns": records}}, []).status
    assert status["foldedRuns"]["numbers"] == "1-20"
    args = (api.GROUP, api.VERSION, namespace, api.PLURAL, "fold")
    written: Any = custom.patch_namespaced_custom_object_status(*args, {"status": status})
    assert written["status"]["foldedRuns"] == status["foldedRuns"]  # nothing pruned by the schema
    assert len(written["status"]["recordedRuns"]) == api.RUN_RECORDS_KEPT
    with pytest.raises(ApiException) as info:
        custom.patch_namespaced_custom_object_status(*args, {"status": {"foldedRuns": {"failed": -1}}})
    assert info.value.status == 422 and "status.foldedRuns.failed" in str(info.value.body)
