"""A real Kubernetes control plane for tests and benchmarks: etcd, kube-apiserver and
kube-controller-manager from a directory of binaries (`KUBESWEEP_K8S_BIN`, the role
controller-runtime's `KUBEBUILDER_ASSETS` plays for Go operators), with the sandbox's kubelet as
its one node, running pods as local processes.

The binaries are those of any Kubernetes release (setup-envtest's `kube-apiserver` and `etcd`,
plus a `kube-controller-manager` of the same version). Certificates are generated, ports are
free ones, and an admin token is static; everything lives in a temporary directory that
`stop()` removes. The Job controller and the garbage collector are the real ones: there is no
emulation left but the container runtime.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from . import certs
from .kubelet import NODE, Kubelet
from .node_agent import NodeAgent
from .remote_store import RemoteStore

T = TypeVar("T")
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")
ENV_BIN = "KUBESWEEP_K8S_BIN"
CONTEXT = "kubesweep-control-plane"
ADMIN = "admin"
# Every request, as metadata (who, verb, resource, response code): the permission tests and the
# requests benchmark read it, as an auditor would.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}


class ControlPlaneError(RuntimeError):
    pass


def missing_binaries(directory: str | Path | None) -> str | None:
    """Why the control plane cannot start from `directory`, or None when it can."""
    if not directory:
        return f"{ENV_BIN} is not set"
    path = Path(directory)
    absent = [b for b in BINARIES if not os.access(path / b, os.X_OK)]
    if absent:
        return f"{', '.join(absent)} not found (or not executable) in {path}"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kubeconfig(url: str, ca: Path, token: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {
                    "server": url,
                    "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}
        ],
        "current-context": CONTEXT,
    }


class ControlPlane:
    """`ControlPlane(bin_dir).start()`: the three processes, ready, with the Sweep CRD installed
    and a node that runs pods; `stop()` ends them and removes their data."""

    backend = "real"

    def __init__(
        self,
        bin_dir: str | Path,
        *,
        executor: Literal["process", "simulated"] = "process",
        install_crd: bool = True,
        admission_plugins: tuple[str, ...] = ("OwnerReferencesPermissionEnforcement",),
        workdir: Path | None = None,
    ) -> None:
        reason = missing_binaries(bin_dir)
        if reason:
            raise ControlPlaneError(f"cannot start a control plane: {reason}")
        self.bin_dir = Path(bin_dir).resolve()
        self.executor: Literal["process", "simulated"] = executor
        self.install_crd = install_crd
        self.admission_plugins = admission_plugins
        self._tmp = tempfile.TemporaryDirectory(prefix="kubesweep-k8s-") if workdir is None else None
        self.workdir = workdir or Path(self._tmp.name if self._tmp else ".")
        self.token = secrets.token_hex(16)
        self.url = ""
        self.kubeconfig_path = self.workdir / "kubeconfig"
        self.audit_log_path = self.workdir / "audit.log"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kubelet", daemon=True)
        self._node_stop: asyncio.Event | None = None
        self._node_task: Future[None] | None = None
        self.kubelet: Kubelet | None = None

    # --- processes ---------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [str(self.bin_dir / name), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise ControlPlaneError(
                    f"{name} exited with code {process.returncode}:\n{self.log_tail(name)}"
                )

    def _get(self, path: str, context: ssl.SSLContext) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=5) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def _wait(self, what: str, check: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError, urllib.error.URLError):
                if check():
                    return
            time.sleep(0.1)
        raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}")

    def start(self) -> ControlPlane:
        started = time.monotonic()
        try:
            self._start_processes()
            self._start_node()
            if self.install_crd:
                self._install_crd()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _start_processes(self) -> None:
        paths = certs.generate(self.workdir / "pki")
        etcd_client, etcd_peer, apiserver, kcm = (_free_port() for _ in range(4))
        (self.workdir / "tokens.csv").write_text(f'{self.token},{ADMIN},{ADMIN},"system:masters"\n')
        (self.workdir / "audit-policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY))
        self._spawn(
            "etcd",
            [
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync",
            ],
        )
        self.url = f"https://127.0.0.1:{apiserver}"
        plugins = (
            [f"--enable-admission-plugins={','.join(self.admission_plugins)}"]
            if self.admission_plugins
            else []
        )
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                "--bind-address=127.0.0.1",
                f"--secure-port={apiserver}",
                f"--tls-cert-file={paths.apiserver_cert}",
                f"--tls-private-key-file={paths.apiserver_key}",
                f"--client-ca-file={paths.ca}",
                f"--service-account-key-file={paths.service_account_pub}",
                f"--service-account-signing-key-file={paths.service_account_key}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--token-auth-file={self.workdir / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.96.0.0/16",
                f"--audit-policy-file={self.workdir / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log_path}",
                "--audit-log-format=json",
                "--audit-log-maxsize=0",
                "--shutdown-delay-duration=0s",
                *plugins,
            ],
        )
        context = ssl.create_default_context(cafile=str(paths.ca))
        self._wait("the API server to be ready", lambda: self._get("/readyz", context)[0] == 200, 60)
        self.kubeconfig_path.write_text(yaml.safe_dump(kubeconfig(self.url, paths.ca, self.token)))
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig_path}",
                "--controllers=*",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                f"--root-ca-file={paths.ca}",
                f"--service-account-private-key-file={paths.service_account_key}",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm}",
            ],
        )
        # The controllers are up once the service-account controller gave `default` its account.
        self._wait(
            "the controller manager (the default ServiceAccount)",
            lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default", context)[0] == 200,
            60,
        )
        self.paths = paths

    def _start_node(self) -> None:
        self._thread.start()
        ready: Future[None] = Future()

        async def serve() -> None:
            self._node_stop = asyncio.Event()
            store = RemoteStore(self.url, self.token, str(self.paths.ca))
            agent: NodeAgent | None = None
            try:
                await store.start()
                agent = NodeAgent(store, NODE, self.paths.kubelet_cert, self.paths.kubelet_key)
                self.kubelet = Kubelet(
                    store,
                    executor=self.executor,
                    workdir=self.workdir / "pods",
                    bind=store.bind,
                )
                agent.is_running = self.kubelet.is_running
                await agent.start()
                await self.kubelet.start()
                ready.set_result(None)
                await self._node_stop.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                raise
            finally:
                if self.kubelet is not None:
                    await self.kubelet.stop()
                if agent is not None:
                    await agent.stop()
                await store.close()

        self._node_task = asyncio.run_coroutine_threadsafe(serve(), self._loop)
        ready.result(timeout=60)

    def _install_crd(self) -> None:
        from kubernetes import client, config

        from kubesweep import crd

        api_client = config.new_client_from_config(str(self.kubeconfig_path))
        extensions = client.ApiextensionsV1Api(api_client)
        body: Any = crd.render()
        extensions.create_custom_resource_definition(body)
        name = body["metadata"]["name"]

        def established() -> bool:
            found: Any = extensions.read_custom_resource_definition(name)
            conditions = (found.status and found.status.conditions) or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        self._wait("the Sweep CRD to be established", established, 30)
        api_client.close()

    def audit_events(self) -> list[dict[str, Any]]:
        """Every request the API server has answered, once each (the audit log's events, latest
        stage of each request)."""
        if not self.audit_log_path.exists():
            return []
        events: dict[str, dict[str, Any]] = {}
        with self.audit_log_path.open() as log:
            for line in log:
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    events[event.get("auditID", "")] = event
        return list(events.values())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Runs `coro` on the node's event loop (where the kubelet lives)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # --- teardown ----------------------------------------------------------------------------

    def stop(self) -> None:
        if self._node_stop is not None:
            self._loop.call_soon_threadsafe(self._node_stop.set)
            if self._node_task is not None:
                with contextlib.suppress(Exception):
                    self._node_task.result(timeout=30)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        # Controllers first, then the API server, then etcd: each outlives what talks to it.
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._tmp is not None:
            self._tmp.cleanup()
        elif (self.workdir / "etcd").exists():
            shutil.rmtree(self.workdir / "etcd", ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
