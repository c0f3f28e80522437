"""What a kubelet does for a real control plane besides running pods: a Node object that stays
Ready (its Lease in `kube-node-lease` renewed), and the HTTPS endpoint the API server proxies
`kubectl logs` (`GET .../pods/NAME/log`) to: `/containerLogs/NAMESPACE/POD/CONTAINER`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import ssl
from pathlib import Path
from typing import Any

from aiohttp import web

from .remote_store import MERGE_PATCH, RemoteStore
from .store import StoreError

logger = logging.getLogger("kubesweep.sandbox.node")

LEASE_SECONDS = 40
RENEW_SECONDS = 10.0


def _micro_time() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tail(text: str, lines: int | None, limit_bytes: int | None) -> str:
    """The `tailLines` and `limitBytes` of a log read, as the kubelet applies them."""
    if lines is not None:
        kept = text.splitlines(keepends=True)
        text = "".join(kept[-lines:]) if lines > 0 else ""
    if limit_bytes is not None:
        text = text.encode()[:limit_bytes].decode(errors="ignore")
    return text


class NodeAgent:
    """Registers `node` with the API server and serves its pods' logs."""

    def __init__(self, store: RemoteStore, node: str, cert: Path, key: Path) -> None:
        self.store = store
        self.node = node
        self.cert = cert
        self.key = key
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._renewer: asyncio.Task[None] | None = None
        self.is_running: Any = lambda namespace, name: False  # set by the kubelet's owner

    async def start(self) -> None:
        await self._serve_logs()
        await self.store.retry("register the node", self._register)
        await self.store.retry("create the node's lease", self._create_lease)
        self._renewer = asyncio.create_task(self._renew())

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._renewer
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the Node and its Lease -----------------------------------------------------------

    def _status(self) -> dict[str, Any]:
        now = _time()

        def condition(kind: str, status: str, reason: str) -> dict[str, str]:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": reason,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }

        resources = {"cpu": "64", "memory": "256Gi", "pods": "10000", "ephemeral-storage": "1Ti"}
        return {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                condition("Ready", "True", "KubeletReady"),
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": "sandbox",
                "systemUUID": "sandbox",
                "bootID": "sandbox",
                "kernelVersion": "",
                "osImage": "kubesweep sandbox",
                "containerRuntimeVersion": "process://1",
                "kubeletVersion": "v1.36.2",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }

    async def _register(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": {
                    "kubernetes.io/hostname": self.node,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
        }
        try:
            await self.store.request("POST", "/api/v1/nodes", node)
        except StoreError as exc:
            if exc.status != 409:
                raise
        await self.store.request(
            "PATCH", f"/api/v1/nodes/{self.node}/status", {"status": self._status()}, content_type=MERGE_PATCH
        )

    def _lease_path(self, name: str = "") -> str:
        path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        return f"{path}/{name}" if name else path

    async def _create_lease(self) -> None:
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.node, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": self.node,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": _micro_time(),
            },
        }
        try:
            await self.store.request("POST", self._lease_path(), lease)
        except StoreError as exc:
            if exc.status != 409:
                raise

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                await self.store.request(
                    "PATCH",
                    self._lease_path(self.node),
                    {"spec": {"renewTime": _micro_time()}},
                    content_type=MERGE_PATCH,
                )
            except Exception as exc:  # the next renewal tries again; 40 s of slack
                logger.warning("could not renew the lease of node %s: %s", self.node, exc)

    # --- logs -------------------------------------------------------------------------------

    async def _serve_logs(self) -> None:
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        namespace, pod = request.match_info["namespace"], request.match_info["pod"]
        source = self.store.log_source
        full = source(namespace, pod) if source is not None else None
        if source is None or full is None:
            return web.Response(status=404, text=f'pod "{pod}" has no log on this node')
        lines = request.query.get("tailLines")
        limit = request.query.get("limitBytes")
        text = tail(full, int(lines) if lines else None, int(limit) if limit else None)
        if request.query.get("follow") not in ("true", "1"):
            return web.Response(text=text, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(text.encode())
        sent = len(full)
        while True:
            running = self.is_running(namespace, pod)
            current = source(namespace, pod) or ""
            if len(current) > sent:
                await response.write(current[sent:].encode())
                sent = len(current)
            if not running:
                break
            await asyncio.sleep(0.2)
        await response.write_eof()
        return response
