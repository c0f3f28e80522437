"""The emulator's storage as the `Store` of the sandbox's own controllers (job controller,
kubelet): the same code path as HTTP requests, without the HTTP."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator

from .apierrors import not_found
from .patching import merge_patch
from .storage import ObjectStore
from .store import LogSource, Obj, ResourceRef, WatchEvent


class LocalStore:
    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects

    async def get(self, ref: ResourceRef, namespace: str | None, name: str) -> Obj | None:
        obj = self.objects.find(self.objects.resource_of(ref), namespace, name)
        return copy.deepcopy(obj) if obj is not None else None

    async def list(
        self, ref: ResourceRef, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]:
        return [
            copy.deepcopy(o)
            for o in self.objects.select(self.objects.resource_of(ref), namespace, label_selector)
        ]

    async def create(self, ref: ResourceRef, obj: Obj) -> Obj:
        return self.objects.create(
            self.objects.resource_of(ref), (obj.get("metadata") or {}).get("namespace"), obj
        )

    async def patch(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        patch: Obj,
        *,
        subresource: str | None = None,
    ) -> Obj:
        res = self.objects.resource_of(ref)
        old = self.objects.get(res, namespace, name)
        return self.objects.update(res, namespace, name, merge_patch(old, patch), subresource=subresource)

    async def delete(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str = "Background",
    ) -> None:
        res = self.objects.resource_of(ref)
        if self.objects.delete(res, namespace, name, grace_period_seconds, propagation_policy) is None:
            raise not_found(res, name)

    async def watch(self, ref: ResourceRef) -> AsyncIterator[WatchEvent]:
        res = self.objects.resource_of(ref)
        queue = self.objects.watches.subscribe(res)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield WatchEvent(item[1], copy.deepcopy(item[2]))
        finally:
            self.objects.watches.unsubscribe(res, queue)

    def set_log_source(self, source: LogSource) -> None:
        self.objects.log_source = source
