"""The real operator (`kubesweep run`, a separate process) against the sandbox over HTTP."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from kubesweep import api
from kubesweep.sandbox import request_log
from kubesweep.sandbox.request_log import ApiRequest

TERMINAL = {"Finished", "Failed", "Crashed", "Stopped", "Cancelled"}


class Operator:
    """`kubesweep run` as its own process, as in production; killable and restartable."""

    def __init__(self, kubeconfig: Path, log_path: Path, namespaces: str = "t-*") -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        # Each operator serves its own namespace pattern, so tests that kill or fault their own
        # operator never share sweeps with the session's operator.
        self.namespaces = namespaces
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra: list[str] = ["-v"] if os.environ.get("KUBESWEEP_TEST_DEBUG") else []

    def start(self) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubesweep.main", "run", "--namespace", self.namespaces, *self.extra],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def kill_at_random(self, rng: random.Random, times: int, low: float, high: float) -> None:
        """Starts and SIGKILLs the operator `times` times, each after a random low..high seconds,
        then leaves it running."""
        for _ in range(times):
            self.start()
            time.sleep(rng.uniform(low, high))
            self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Kube:
    """The tests' own view of the cluster, through the official client."""

    def __init__(self, kubeconfig: Path, *, service_accounts: bool = False) -> None:
        # A real control plane admits a pod only once its namespace has its `default`
        # ServiceAccount (the controller manager makes it a moment after the namespace).
        self.service_accounts = service_accounts
        self.api_client = config.new_client_from_config(str(kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.batch = client.BatchV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)

    def namespace(self, prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.core.create_namespace({"metadata": {"name": name}})  # type: ignore[arg-type]
        if self.service_accounts:
            wait_for(
                lambda: any(
                    sa.metadata is not None and sa.metadata.name == "default"
                    for sa in self.core.list_namespaced_service_account(name).items
                ),
                30,
                f"the default ServiceAccount of {name}",
            )
        return name

    def create_sweep(self, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": name}, "spec": spec}
        created: Any = self.custom.create_namespaced_custom_object(
            api.GROUP, api.VERSION, namespace, api.PLURAL, body
        )
        return dict(created)

    def sweep(self, namespace: str, name: str) -> dict[str, Any]:
        found: Any = self.custom.get_namespaced_custom_object(
            api.GROUP, api.VERSION, namespace, api.PLURAL, name
        )
        return dict(found)

    def set_state(self, namespace: str, name: str, state: str) -> None:
        self.custom.patch_namespaced_custom_object(
            api.GROUP, api.VERSION, namespace, api.PLURAL, name, {"spec": {"state": state}}
        )

    def records(self, namespace: str, sweep: str) -> dict[str, dict[str, Any]]:
        """The sweep's status.recordedRuns, by run name."""
        status = self.sweep(namespace, sweep).get("status", {})
        return {r["name"]: r for r in status.get("recordedRuns") or []}

    def jobs(self, namespace: str, sweep: str) -> list[dict[str, Any]]:
        result = self.batch.list_namespaced_job(namespace, label_selector=f"{api.LABEL_SWEEP}={sweep}")
        return [self.api_client.sanitize_for_serialization(j) for j in result.items]

    def pods(self, namespace: str, sweep: str) -> list[dict[str, Any]]:
        result = self.core.list_namespaced_pod(namespace, label_selector=f"{api.LABEL_SWEEP}={sweep}")
        return [self.api_client.sanitize_for_serialization(p) for p in result.items]

    def wait_phase(
        self, namespace: str, name: str, phases: set[str] | str, timeout: float = 60
    ) -> dict[str, Any]:
        wanted = {phases} if isinstance(phases, str) else phases
        sweep: dict[str, Any] = wait_for(
            lambda: (s := self.sweep(namespace, name)).get("status", {}).get("phase") in wanted and s,
            timeout,
            f"{name} to reach {wanted}",
            lambda: self.sweep(namespace, name).get("status"),
        )
        return sweep


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 30,
    what: str = "condition",
    show: Callable[[], Any] | None = None,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    detail = f"; last seen: {show()}" if show else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")


def active_jobs(jobs: list[dict[str, Any]], pods: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The Jobs whose runs are executing. A run whose pod has terminated is over, though its
    Job is marked Complete or Failed by the Job controller only about a second later; list the
    Jobs before the pods, so a run that just ended cannot hide behind one that replaced it."""
    ended_pods: dict[str, bool] = {}
    for pod in pods or []:
        run = (pod["metadata"].get("labels") or {}).get(api.LABEL_RUN, "")
        ended = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        ended_pods[run] = ended_pods.get(run, True) and ended

    def done(job: dict[str, Any]) -> bool:
        conds = job.get("status", {}).get("conditions") or []
        finished = any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conds)
        return (
            finished
            or bool(job.get("spec", {}).get("suspend"))
            or ended_pods.get(job["metadata"]["name"], False)
        )

    return [j for j in jobs if not done(j)]


def condition(sweep: dict[str, Any], kind: str = "Ready") -> dict[str, Any]:
    """The sweep's status condition of that type; empty while there is none."""
    return next((c for c in (sweep.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def failed(job: dict[str, Any]) -> bool:
    """The Job has failed: the Job controller starts no more pods for it."""
    return any(c["type"] == "Failed" and c["status"] == "True" for c in job["status"].get("conditions") or [])


def result_of(job: dict[str, Any]) -> dict[str, Any]:
    raw = (job["metadata"].get("annotations") or {}).get(api.ANNOTATION_RESULT)
    return json.loads(raw) if raw else {}


def released(job: dict[str, Any]) -> bool:
    """The operator has let the Job go: its record is on it and in the Sweep's status."""
    meta = job["metadata"]
    return (meta.get("labels") or {}).get(api.LABEL_RECORDED) == "true" and api.JOB_FINALIZER not in (
        meta.get("finalizers") or []
    )


def released_jobs(kube: Kube, ns: str, sweep: str, timeout: float = 20) -> list[dict[str, Any]]:
    """The sweep's Jobs once every one is released (just after its record reached the status)."""
    found: list[dict[str, Any]] = wait_for(
        lambda: (jobs := kube.jobs(ns, sweep)) and all(released(j) for j in jobs) and jobs,
        timeout,
        f"every Job of {sweep} released",
        show=lambda: [(j["metadata"]["name"], released(j)) for j in kube.jobs(ns, sweep)],
    )
    return found


def api_requests(sandbox: Any) -> list[ApiRequest]:
    """Every API request the cluster has seen: the emulator's record, or a real API server's
    audit log."""
    return [request for _, request in request_log.served(sandbox)]


def metric_grid(code: str, points: list[int], parallelism: int = 1, **spec: Any) -> dict[str, Any]:
    """A grid over `a` in `points`, minimizing `loss`, each run a Python snippet."""
    return {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": points}},
        "parallelism": parallelism,
        "template": python_run(code),
        **spec,
    }


def python_run(code: str, **container: Any) -> dict[str, Any]:
    """A run's Job template whose command is a Python snippet run by the sandbox's kubelet."""
    return {
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "train",
                            "image": "python:3.11-slim",
                            "command": ["python", "-c", code],
                            **container,
                        }
                    ],
                }
            },
        }
    }


def grid(code: str, values: list[int], parallelism: int = 1, **container: Any) -> dict[str, Any]:
    """A grid over `a` in `values`, minimizing `loss`, each run a Python snippet given 10 s to stop."""
    template = python_run(code, **container)
    template["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 10
    return {
        "method": "grid",
        "parallelism": parallelism,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": values}},
        "template": template,
    }


def pods_of(kube: Kube, ns: str, run: str) -> list[dict[str, Any]]:
    found = kube.core.list_namespaced_pod(ns, label_selector=f"{api.LABEL_RUN}={run}").items
    return [kube.api_client.sanitize_for_serialization(p) for p in found]


def running(kube: Kube, ns: str, run: str) -> dict[str, Any] | None:
    """The run's pod that runs (not being deleted), if any."""
    return next(
        (
            p
            for p in pods_of(kube, ns, run)
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
        ),
        None,
    )


def forbidden(message: str) -> dict[str, Any]:
    """The API server's 403 answer to a Job's creation."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Forbidden",
        "details": {"group": "batch", "kind": "jobs"},
        "code": 403,
    }


class JobCreateRefusal:
    """On the emulator, a request criterion: the operator's Job creates in one namespace, past the
    first `allowed`, until `lift()`; `refused` counts those it matched."""

    def __init__(self, namespace: str, allowed: int = 0) -> None:
        self.namespace = namespace
        self.allowed = allowed
        self.on = True
        self.refused = 0
        self.lock = threading.Lock()

    def __call__(self, request: Any) -> bool:
        agent = request.headers.get("User-Agent") or ""
        method = str(getattr(request.method, "value", request.method)).upper()
        if not (
            self.on
            and agent.startswith("kubesweep-operator")
            and method == "POST"
            and request.url.path.endswith(f"/namespaces/{self.namespace}/jobs")
        ):
            return False
        with self.lock:
            if self.allowed > 0:
                self.allowed -= 1
                return False
            self.refused += 1
        return True

    def lift(self) -> None:
        self.on = False


QUOTA_MESSAGE = (
    'jobs.batch "{name}" is forbidden: exceeded quota: jobs, requested: count/jobs.batch=1, '
    "used: count/jobs.batch=1, limited: count/jobs.batch=1"
)


class OneJobQuota:
    """Room for one Job in a namespace, until `lift()`: a real ResourceQuota on a real cluster
    (its controller fills in its status first: before that the quota admission refuses every
    Job); on the emulator, the operator's Job creates past the first answered with that quota's
    403 (`refused_name`: the Job its message names)."""

    def __init__(self, sandbox: Any, kube: Kube, namespace: str, refused_name: str) -> None:
        self.kube, self.namespace = kube, namespace
        self.real = sandbox.backend == "real"
        self.refusal = JobCreateRefusal(namespace, allowed=1)
        if self.real:
            quota = client.V1ResourceQuota(
                metadata=client.V1ObjectMeta(name="jobs"),
                spec=client.V1ResourceQuotaSpec(hard={"count/jobs.batch": "1"}),
            )
            kube.core.create_namespaced_resource_quota(namespace, quota)

            def counted() -> Any:
                status = kube.core.read_namespaced_resource_quota("jobs", namespace).status
                return status is not None and (status.hard or {}).get("count/jobs.batch")

            wait_for(counted, 30, "the quota's status")
        else:
            sandbox.emulator[self.refusal] << 403 << forbidden(QUOTA_MESSAGE.format(name=refused_name))

    def lift(self) -> None:
        if self.real and self.refusal.on:
            self.kube.core.delete_namespaced_resource_quota("jobs", self.namespace)
        self.refusal.lift()


@pytest.fixture(scope="session")
def kube(sandbox: Any) -> Kube:
    return Kube(Path(sandbox.kubeconfig_path), service_accounts=sandbox.backend == "real")


@pytest.fixture(scope="session")
def operator(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    op = Operator(Path(sandbox.kubeconfig_path), tmp_path_factory.mktemp("operator") / "operator.log")
    op.start()
    yield op
    op.stop()


@pytest.fixture
def ns(kube: Kube, operator: Operator) -> str:
    return kube.namespace()
