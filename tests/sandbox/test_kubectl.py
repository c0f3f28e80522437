"""The sandbox as the real kubectl sees it: apply, get with selectors, watch, patch, delete,
logs, api-resources, explain, and the errors a real API server gives."""

from __future__ import annotations

import json
import os
import queue
import threading
from typing import IO

import yaml

from kubesweep import api

from ..integration.conftest import wait_for
from .conftest import Kubectl, job_manifest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def configmap(name: str, **labels: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels},
            "data": {"k": "v"},
        }
    )


def test_apply_get_with_set_based_selectors_and_patch(kubectl: Kubectl) -> None:
    for name, env in (("a", "prod"), ("b", "dev"), ("c", "test")):
        assert "created" in kubectl("apply", "-f", "-", input=configmap(name, env=env, team="ml"))
    assert "unchanged" in kubectl("apply", "-f", "-", input=configmap("a", env="prod", team="ml"))
    kubectl("apply", "-f", "-", input=configmap("d", team="ml"))  # no env at all

    def names(selector: str) -> list[str]:
        return sorted(kubectl("get", "configmaps", "-l", selector, "-o", "name").split())

    # A negative selector also matches objects without the label: each is narrowed to this test's
    # team, as a real cluster puts unlabelled kube-root-ca.crt (and on OpenShift
    # openshift-service-ca.crt) ConfigMaps in every namespace.
    assert names("env=prod") == ["configmap/a"]
    assert names("env!=prod,team=ml") == ["configmap/b", "configmap/c", "configmap/d"]
    assert names("env in (dev,test)") == ["configmap/b", "configmap/c"]
    assert names("env notin (dev),team=ml") == ["configmap/a", "configmap/c", "configmap/d"]
    assert names("!missing,team") == ["configmap/a", "configmap/b", "configmap/c", "configmap/d"]
    kubectl("patch", "configmap", "a", "--type", "merge", "-p", '{"data": {"k": "patched"}}')
    assert json.loads(kubectl("get", "configmap", "a", "-o", "json"))["data"]["k"] == "patched"


def test_get_watch_streams_changes(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=configmap("watched"))
    watcher = kubectl.popen("get", "configmap", "watched", "-w", "-o", 'jsonpath={.data.k}{"\\n"}')
    lines: queue.Queue[str] = queue.Queue()

    def read(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line.strip())

    assert watcher.stdout is not None
    threading.Thread(target=read, args=(watcher.stdout,), daemon=True).start()
    try:
        # The first line is the object as listed: the watch is open before the patch.
        assert lines.get(timeout=30) == "v"
        kubectl("patch", "configmap", "watched", "--type", "merge", "-p", '{"data": {"k": "second"}}')
        assert lines.get(timeout=30) == "second"
    finally:
        watcher.terminate()
        watcher.communicate(timeout=5)


def test_grace_zero_delete_kills_the_process_at_once(kubectl: Kubectl) -> None:
    # The process ignores SIGTERM, and its pod has the default 30 s grace period: only a kill at
    # once ends it within the wait below.
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    kubectl("apply", "-f", "-", input=job_manifest("sleeper", code))

    def pid() -> int:
        pods = json.loads(kubectl("get", "pods", "-l", "job-name=sleeper", "-o", "json"))["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        return int(running[0]["metadata"]["annotations"].get("sandbox.kubesweep.io/pid", 0)) if running else 0

    process = wait_for(pid, 30, "the pod to run")
    pod = kubectl("get", "pods", "-l", "job-name=sleeper", "-o", "name").split()[0]
    assert _alive(process)
    kubectl("delete", pod, "--grace-period=0", "--force", "--wait=false")
    wait_for(lambda: not _alive(process), 20, "the process to be gone")


def test_logs_and_termination_message(kubectl: Kubectl) -> None:
    code = (
        "print('step=1 loss=0.9'); print('loss=0.25'); open('/dev/termination-log', 'w').write('loss=0.25')"
    )
    kubectl("apply", "-f", "-", input=job_manifest("talker", code))
    wait_for(
        lambda: "Complete" in kubectl("get", "job", "talker", "-o", "jsonpath={.status.conditions[*].type}"),
        30,
        "Complete",
    )
    assert kubectl("logs", "job/talker").splitlines() == ["step=1 loss=0.9", "loss=0.25"]
    pod = json.loads(kubectl("get", "pods", "-l", "job-name=talker", "-o", "json"))["items"][0]
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["message"] == "loss=0.25"
    assert pod["status"]["phase"] == "Succeeded"


def test_a_failing_job_with_backoff_limit_one_gets_two_pods_and_fails(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=job_manifest("failing", "raise SystemExit(3)", backoffLimit=1))
    wait_for(
        lambda: "Failed" in kubectl("get", "job", "failing", "-o", "jsonpath={.status.conditions[*].type}"),
        30,
        "Failed",
    )
    job = json.loads(kubectl("get", "job", "failing", "-o", "json"))
    assert job["status"]["failed"] == 2
    failed = next(c for c in job["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    pods = json.loads(kubectl("get", "pods", "-l", "job-name=failing", "-o", "json"))["items"]
    assert len(pods) == 2
    assert {p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods} == {3}


def test_suspending_a_job_deletes_its_pod_and_resuming_brings_one_back(kubectl: Kubectl) -> None:
    kubectl(
        "apply", "-f", "-", input=job_manifest("pausable", "import time; time.sleep(120)", backoffLimit=5)
    )
    wait_for(lambda: kubectl("get", "pods", "-l", "job-name=pausable", "-o", "name").strip(), 30, "a pod")
    kubectl("patch", "job", "pausable", "--type", "merge", "-p", '{"spec": {"suspend": true}}')
    wait_for(
        lambda: not kubectl("get", "pods", "-l", "job-name=pausable", "-o", "name").strip(),
        10,
        "the pod gone",
    )
    assert "Suspended" in kubectl("get", "job", "pausable", "-o", "jsonpath={.status.conditions[*].type}")
    kubectl("patch", "job", "pausable", "--type", "merge", "-p", '{"spec": {"suspend": false}}')
    wait_for(lambda: kubectl("get", "pods", "-l", "job-name=pausable", "-o", "name").strip(), 10, "a new pod")
    kubectl("delete", "job", "pausable", "--wait=false")


def test_deleting_an_owner_deletes_its_children(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=job_manifest("parent", "import time; time.sleep(120)"))
    wait_for(lambda: kubectl("get", "pods", "-l", "job-name=parent", "-o", "name").strip(), 30, "a pod")
    kubectl("delete", "job", "parent", "--wait=false")
    wait_for(
        lambda: not kubectl("get", "pods", "-l", "job-name=parent", "-o", "name").strip(),
        40,
        "the pod collected",
    )


def test_api_resources_and_explain_know_the_sweep_crd(kubectl: Kubectl) -> None:
    resources = kubectl("api-resources")
    line = next(line for line in resources.splitlines() if line.startswith("sweeps"))
    assert "sw" in line.split() and "kubesweep.io/v1alpha1" in line and "Sweep" in line
    assert "jobs" in resources and "pods" in resources
    explained = kubectl("explain", "sweeps.spec.parallelism")
    assert "Runs executing at once" in explained


def test_printer_columns_show_in_get(kubectl: Kubectl) -> None:
    sweep = {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": "columns"},
        "spec": {
            "method": "grid",
            "parameters": {"a": {"values": [1]}},
            "template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        },
    }
    kubectl("apply", "-f", "-", input=yaml.safe_dump(sweep))
    header = kubectl("get", "sw").splitlines()[0].split()
    assert header[:4] == ["NAME", "STATE", "PHASE", "RUNNING"]


def test_bad_input_gets_the_real_status_codes_and_the_server_keeps_serving(kubectl: Kubectl) -> None:
    malformed = kubectl.run("apply", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n")
    assert malformed.returncode != 0
    unknown = kubectl.run(
        "apply", "-f", "-", input="apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n"
    )
    assert unknown.returncode != 0 and "no matches for kind" in unknown.stderr
    bad_sweep = {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {"name": "bad"},
        "spec": {"method": "grid", "parallelism": -1},
    }
    invalid = kubectl.run("apply", "-f", "-", input=yaml.safe_dump(bad_sweep))
    assert invalid.returncode != 0
    assert 'Sweep "bad" is invalid' in invalid.stderr
    assert (
        "spec.parallelism: Invalid value: -1: spec.parallelism in body should be greater than or equal to 1"
        in invalid.stderr
    )
    missing = kubectl.run("get", "configmap", "nope")
    assert 'configmaps "nope" not found' in missing.stderr
    assert "default" in kubectl("get", "namespaces", "-o", "name")
