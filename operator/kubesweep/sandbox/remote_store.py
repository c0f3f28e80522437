"""The sandbox's `Store` interface over HTTP, against any Kubernetes API server.

With it the sandbox's kubelet runs pods for a real control plane: it reads, watches and writes
pods through the API server as a kubelet does (status through `pods/status`, binding through
`pods/binding`, the final removal with grace period 0 and a uid precondition).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from .store import LogSource, Obj, ResourceRef, StoreError, WatchEvent

logger = logging.getLogger("kubesweep.sandbox.remote")

MERGE_PATCH = "application/merge-patch+json"


def _path(ref: ResourceRef, namespace: str | None, name: str | None = None) -> str:
    base = f"/api/{ref.version}" if not ref.group else f"/apis/{ref.group}/{ref.version}"
    if namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{ref.plural}"
    return f"{base}/{name}" if name else base


class RemoteStore:
    """A `Store` whose objects live in a real API server; `start()` before use, `close()` after."""

    def __init__(self, url: str, token: str, ca_file: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.ca_file = ca_file
        self.log_source: LogSource | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.token}", "User-Agent": "kubesweep-sandbox-kubelet"},
            connector=aiohttp.TCPConnector(ssl=context if context is not None else False, limit=32),
            read_bufsize=4 * 1024 * 1024,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "RemoteStore.start() was not called"
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(
            method, self.url + path, data=data, params=params, headers=headers
        ) as response:
            text = await response.text()
            try:
                payload = json.loads(text) if text else {}
            except ValueError:
                payload = {"message": text}
            if response.status >= 400:
                raise StoreError(
                    response.status, str(payload.get("reason", "")), str(payload.get("message", text))
                )
            return payload if isinstance(payload, dict) else {}

    async def get(self, ref: ResourceRef, namespace: str | None, name: str) -> Obj | None:
        try:
            return await self.request("GET", _path(ref, namespace, name))
        except StoreError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(
        self, ref: ResourceRef, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]:
        params = {"labelSelector": label_selector} if label_selector else None
        found = await self.request("GET", _path(ref, namespace), params=params)
        return list(found.get("items") or [])

    async def create(self, ref: ResourceRef, obj: Obj) -> Obj:
        namespace = (obj.get("metadata") or {}).get("namespace")
        return await self.request("POST", _path(ref, namespace), obj)

    async def patch(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        patch: Obj,
        *,
        subresource: str | None = None,
    ) -> Obj:
        path = _path(ref, namespace, name) + (f"/{subresource}" if subresource else "")
        return await self.request("PATCH", path, patch, content_type=MERGE_PATCH)

    async def delete(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str = "Background",
        uid: str | None = None,
    ) -> None:
        options: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": propagation_policy,
        }
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        try:
            await self.request("DELETE", _path(ref, namespace, name), options)
        except StoreError as exc:
            if exc.status != 404:
                raise

    async def bind(self, namespace: str, name: str, node: str) -> None:
        """Assigns the pod to `node` as a scheduler does: `pods/{name}/binding`."""
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        await self.request("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/binding", binding)

    async def watch(self, ref: ResourceRef) -> AsyncIterator[WatchEvent]:
        """Every event of every namespace. A watch started without a resourceVersion begins with
        an ADDED event for each object that exists; after an expired resourceVersion (410) it
        starts over that way, so nothing is missed but an object deleted in the gap."""
        version: str | None = None
        while True:
            params = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": "300"}
            if version:
                params["resourceVersion"] = version
            try:
                async with self.session.get(
                    self.url + _path(ref, None), params=params, timeout=aiohttp.ClientTimeout(total=None)
                ) as response:
                    if response.status == 410:
                        version = None
                        continue
                    if response.status >= 400:
                        raise StoreError(response.status, "", await response.text())
                    async for line in response.content:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            if obj.get("code") == 410:
                                version = None
                            break
                        version = (obj.get("metadata") or {}).get("resourceVersion") or version
                        if event.get("type") == "BOOKMARK":
                            continue
                        yield WatchEvent(str(event["type"]), obj)
            except (aiohttp.ClientError, TimeoutError, ValueError, StoreError) as exc:
                logger.debug("watch of %s broke (%s); watching again", ref.plural, exc)
                await asyncio.sleep(0.5)

    async def resolve(self, api_version: str, kind: str) -> ResourceRef:
        """The resource that serves `kind` in `api_version`, from the API server's discovery."""
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        for resource in (await self.request("GET", path)).get("resources") or []:
            if resource.get("kind") == kind and "/" not in resource.get("name", ""):
                return ResourceRef(group, version, resource["name"])
        raise StoreError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')

    def set_log_source(self, source: LogSource) -> None:
        self.log_source = source

    async def retry(self, what: str, coro_factory: Any, attempts: int = 20) -> Any:
        """Calls `coro_factory()` until it succeeds: the API server may still be warming up."""
        for attempt in range(attempts):
            try:
                return await coro_factory()
            except (StoreError, aiohttp.ClientError) as exc:
                if attempt == attempts - 1:
                    raise
                logger.debug("%s failed (%s); trying again", what, exc)
                await asyncio.sleep(0.25)
        return None
