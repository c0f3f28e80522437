"""The benchmarks' cluster, one of two backends, with the real operator as its own process as in
production and the simulated kubelet as its node (no process per pod: a pod ends after its
`sandbox.kubesweep.io/duration`):

- "sandbox": the emulated API server with its own job controller;
- "real": a real control plane (etcd, kube-apiserver, kube-controller-manager with the real Job
  controller and garbage collector) from `KUBESWEEP_K8S_BIN`, by default `../shared/k8s/bin`
  beside the repository when that exists.

Measurements come from the bench's own watches and from each backend's record of the requests it
served: the emulator's request record, or the API server's audit log."""

from __future__ import annotations

import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kubernetes import client, config, watch

from kubesweep import api
from kubesweep.sandbox import request_log
from kubesweep.sandbox.controlplane import ENV_BIN, ControlPlane, missing_binaries
from kubesweep.sandbox.request_log import ApiRequest, from_operator
from kubesweep.sandbox.server import SandboxThread

BENCH_AGENT = "kubesweep-bench"
# The operator's own user agents: kopf's watches and patches, and the operator's API client.
Backend = Literal["sandbox", "real"]
BACKENDS: tuple[Backend, ...] = ("sandbox", "real")
Executor = Literal["process", "simulated"]
REPO = Path(__file__).resolve().parents[1]


def k8s_bin() -> Path | None:
    """The real control plane's binaries: `KUBESWEEP_K8S_BIN`, else `../shared/k8s/bin`."""
    named = os.environ.get(ENV_BIN)
    if named:
        return Path(named)
    default = REPO.parent / "shared" / "k8s" / "bin"
    return default if default.is_dir() else None


def real_unavailable() -> str | None:
    """Why the real backend cannot run here, or None when it can."""
    found = k8s_bin()
    return missing_binaries(found) if found else f"{ENV_BIN} is not set and ../shared/k8s/bin is absent"


def simulated_template(duration: float, metric: str = "loss=0.5") -> dict[str, Any]:
    """A run's Job template for the simulated kubelet: no process, it ends after `duration`."""
    return {
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {
                    "annotations": {
                        "sandbox.kubesweep.io/duration": str(duration),
                        "sandbox.kubesweep.io/termination-message": metric,
                    }
                },
                "spec": {"restartPolicy": "Never", "containers": [{"name": "train", "image": "sim"}]},
            },
        }
    }


def grid_spec(points: int, parallelism: int, duration: float, **extra: Any) -> dict[str, Any]:
    return {
        "method": "grid",
        "parallelism": parallelism,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"g": {"values": list(range(points))}},
        "template": simulated_template(duration),
        **extra,
    }


@dataclass
class Cluster:
    backend: Backend
    server: SandboxThread | ControlPlane
    api_client: client.ApiClient
    operator: subprocess.Popen[bytes] | None = None
    executor: Executor = "simulated"
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkdtemp()) / "operator.log")

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api_client)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api_client)

    def start_operator(self) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.server.kubeconfig_path), "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.operator = subprocess.Popen(
                [sys.executable, "-m", "kubesweep.main", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        # Ready once it has written the status of a probe sweep.
        ns = self.namespace("probe")
        probe = grid_spec(1, 1, 0.01)
        if self.executor == "process":  # a process to run: the simulated template has none
            container = probe["template"]["spec"]["template"]["spec"]["containers"][0]
            container["command"] = ["sh", "-c", "echo loss=0.5"]
        self.create_sweep(ns, "probe", probe)
        self.wait(lambda: self.phase(ns, "probe") == "Finished", 60, "the operator to start")

    def stop_operator(self) -> None:
        if self.operator is not None and self.operator.poll() is None:
            self.operator.send_signal(signal.SIGTERM)
            try:
                self.operator.wait(15)
            except subprocess.TimeoutExpired:
                self.operator.kill()
                self.operator.wait()

    def operator_rss_mb(self) -> float:
        assert self.operator is not None
        for line in Path(f"/proc/{self.operator.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def namespace(self, name: str) -> str:
        self.core.create_namespace({"metadata": {"name": name}})  # type: ignore[arg-type]
        if self.backend == "real":
            # The API server admits a pod only once its namespace has the `default`
            # ServiceAccount; before that the Job controller's creates fail and back off.
            self.wait(
                lambda: (
                    self.core.list_namespaced_service_account(
                        name, field_selector="metadata.name=default"
                    ).items
                ),
                30,
                f"the default ServiceAccount of {name}",
            )
        return name

    def create_sweep(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        body = {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": name}, "spec": spec}
        self.custom.create_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, body)

    def set_state(self, namespace: str, name: str, state: str) -> None:
        self.custom.patch_namespaced_custom_object(
            api.GROUP, api.VERSION, namespace, api.PLURAL, name, {"spec": {"state": state}}
        )

    def sweep(self, namespace: str, name: str) -> dict[str, Any]:
        found: Any = self.custom.get_namespaced_custom_object(
            api.GROUP, api.VERSION, namespace, api.PLURAL, name
        )
        return dict(found)

    def phase(self, namespace: str, name: str) -> str | None:
        return (self.sweep(namespace, name).get("status") or {}).get("phase")

    def request_mark(self) -> set[object]:
        """The requests served so far, for `operator_requests(since=...)`."""
        return {key for key, _ in request_log.served(self.server)}

    def operator_requests(self, since: set[object] | None = None) -> list[ApiRequest]:
        """The operator's requests (kopf's and its API client's user agents), after `since`:
        not the bench's own, nor on the real backend the controller manager's or the kubelet's.
        Discovery is left out on both backends."""
        seen = since or set()
        return [r for key, r in request_log.served(self.server) if key not in seen and from_operator(r)]

    @staticmethod
    def wait(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def cluster(
    backend: Backend = "sandbox", *, operator: bool = True, executor: Executor = "simulated"
) -> Iterator[Cluster]:
    """The cluster, its node's kubelet simulating pods or running their commands (`process`)."""
    server: SandboxThread | ControlPlane
    if backend == "real":
        reason = real_unavailable()
        if reason:
            raise RuntimeError(f"no real control plane: {reason}")
        server = ControlPlane(k8s_bin() or "", executor=executor)
    else:
        server = SandboxThread(executor=executor)
    server.start()
    api_client = config.new_client_from_config(str(server.kubeconfig_path))
    api_client.user_agent = BENCH_AGENT
    # Many sweeps at once: more connections than the client's default pool of 4.
    api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = 32
    c = Cluster(backend, server, api_client, executor=executor)
    try:
        if operator:
            c.start_operator()
        yield c
    finally:
        c.stop_operator()
        server.stop()


class EventTimes:
    """A watch in a thread of its own: when each matching event arrived, on the bench's clock."""

    def __init__(self, list_call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.events: queue.Queue[tuple[float, str, dict[str, Any]]] = queue.Queue()
        self._watch = watch.Watch()
        self._thread = threading.Thread(
            target=self._run, args=(list_call, args, kwargs), daemon=True, name="bench-watch"
        )
        self._thread.start()

    def _run(self, list_call: Callable[..., Any], args: Any, kwargs: Any) -> None:
        try:
            for event in self._watch.stream(list_call, *args, **kwargs):
                obj = event["object"]
                body = obj if isinstance(obj, dict) else obj.to_dict()
                self.events.put((time.monotonic(), event["type"], body))
        except Exception:  # the stream ends when the bench stops it
            return

    def next_after(
        self, since: float, match: Callable[[str, dict[str, Any]], bool], timeout: float = 30
    ) -> float:
        return self.next_event_after(since, match, timeout)[0]

    def next_event_after(
        self, since: float, match: Callable[[str, dict[str, Any]], bool], timeout: float = 30
    ) -> tuple[float, str, dict[str, Any]]:
        """The first matching event from `since` on: when it arrived, its type and object."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching event")
            try:
                when, kind, body = self.events.get(timeout=left)
            except queue.Empty:
                raise TimeoutError("no matching event") from None
            if when >= since and match(kind, body):
                return when, kind, body

    def drain(self) -> None:
        while not self.events.empty():
            self.events.get_nowait()

    def stop(self) -> None:
        self._watch.stop()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in header], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [f"## {title}", ""]
    for n, row in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "n/a"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
