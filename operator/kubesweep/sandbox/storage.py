"""The sandbox's storage: every object, written as the API server writes it.

One public API for the HTTP surface (http_api) and the sandbox's controllers (local_store):
`create`, `get`, `find`, `select`, `update`, `patch` and `delete`, each taking the `Resource` the
`resources` registry resolves. A write fills the metadata the server owns (uid,
resourceVersion, generation, creationTimestamp, namespace, generateName), runs admission, sends
its watch event and collects garbage by ownerReferences (background, foreground, orphan, and
pods deleted gracefully). All writes run synchronously on the event loop, so each one is
atomic without locks.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import time
import uuid
from collections.abc import Coroutine
from typing import Any

from . import admission, builtin_kinds, patching, selectors
from .apierrors import ApiError, bad_request, not_found
from .registry import Registry
from .resources import Resource, from_crd
from .store import LogSource, Obj, ResourceRef
from .times import now_iso
from .watches import WatchHub

ObjKey = tuple[str, str, str | None, str]  # (group, plural, namespace, name)


class ObjectStore:
    def __init__(self) -> None:
        self._objects: dict[ObjKey, Obj] = {}
        self._by_uid: dict[str, ObjKey] = {}
        self._dependents: dict[str, set[ObjKey]] = {}
        self._rv = 1
        self.resources = Registry()
        self.watches = WatchHub()
        # Where `pods/{name}/log` reads from: the kubelet registers it.
        self.log_source: LogSource = lambda namespace, name: None
        self.background: set[asyncio.Task[Any]] = set()
        namespaces = self.resources.resource("", "v1", "namespaces")
        for name in ("default", "kube-system", "kube-public"):
            self.create(namespaces, None, {"metadata": {"name": name}})

    @property
    def rv(self) -> int:
        """The latest resourceVersion, as a list's metadata gives it."""
        return self._rv

    def resource_of(self, ref: ResourceRef) -> Resource:
        return self.resources.resource_of(ref)

    def find(self, res: Resource, namespace: str | None, name: str) -> Obj | None:
        """The object as stored (not a copy: read it, never change it), or None."""
        return self._objects.get(self._okey(res, namespace, name))

    def delete(
        self, res: Resource, namespace: str | None, name: str, grace: int | None, propagation: str | None
    ) -> Obj | None:
        """Delete as a DELETE does; the object as it is after (deleting, or gone), or None when
        there was none."""
        return self._delete_key(self._okey(res, namespace, name), grace, propagation)

    def compact(self, ref: ResourceRef) -> None:
        """Forget the resource's watch events so far, as etcd's compaction does."""
        self.watches.compact(self.resource_of(ref), self._rv)

    @staticmethod
    def _okey(res: Resource, namespace: str | None, name: str) -> ObjKey:
        return (res.ref.group, res.ref.plural, namespace if res.namespaced else None, name)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _namespace(self, name: str) -> Obj | None:
        return self._objects.get(("", "namespaces", None, name))

    def create(
        self,
        res: Resource,
        namespace: str | None,
        body: Any,
        *,
        field_validation: str | None = None,
        warnings: list[str] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        namespace, obj = admission.admit_create(
            res, namespace, body, self._namespace, field_validation, warnings
        )
        meta = obj["metadata"]
        key = self._okey(res, namespace, meta["name"])
        if key in self._objects:
            qualified = f"{res.ref.plural}.{res.ref.group}" if res.ref.group else res.ref.plural
            raise ApiError(
                409,
                "AlreadyExists",
                f'{qualified} "{meta["name"]}" already exists',
                {"name": meta["name"], "group": res.ref.group, "kind": res.ref.plural},
            )
        if res.namespaced:
            meta["namespace"] = namespace
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["generation"] = 1
        builtin_kinds.default(res, obj)
        if dry_run:
            meta["resourceVersion"] = str(self._rv)
            return obj
        meta["resourceVersion"] = self._next_rv()
        self._objects[key] = obj
        self._by_uid[meta["uid"]] = key
        self._index_owners(key, None, obj)
        self.watches.publish(res, "ADDED", obj)
        if res.ref.plural == "customresourcedefinitions":
            self.resources.serve_crd(obj)
        self._adopt_orphan_check(key, obj)
        return copy.deepcopy(obj)

    def _index_owners(self, key: ObjKey, old: Obj | None, new: Obj | None) -> None:
        for obj, add in ((old, False), (new, True)):
            if obj is None:
                continue
            for ref in obj["metadata"].get("ownerReferences") or []:
                uid = ref.get("uid")
                if not uid:
                    continue
                if add:
                    self._dependents.setdefault(uid, set()).add(key)
                else:
                    self._dependents.get(uid, set()).discard(key)

    def _adopt_orphan_check(self, key: ObjKey, obj: Obj) -> None:
        """An object whose every owner is already gone is collected, as the real GC does."""
        owners = [r.get("uid") for r in obj["metadata"].get("ownerReferences") or []]
        if owners and all(uid not in self._by_uid for uid in owners):
            self._spawn(self._collect_later(key, obj["metadata"]["uid"]))

    async def _collect_later(self, key: ObjKey, uid: str) -> None:
        await asyncio.sleep(0)
        current = self._objects.get(key)
        if current is not None and current["metadata"]["uid"] == uid:
            self._delete_key(key, None, "Background")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def get(self, res: Resource, namespace: str | None, name: str) -> Obj:
        obj = self._objects.get(self._okey(res, namespace, name))
        if obj is None:
            raise not_found(res, name)
        return obj

    def select(
        self,
        res: Resource,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        try:
            by_labels = selectors.parse(label_selector)
            by_fields = selectors.parse_fields(field_selector)
        except selectors.SelectorError as exc:
            raise bad_request(f"unable to parse requirement: {exc}") from None
        group, plural = res.ref.group, res.ref.plural
        out = []
        for (g, p, ns, _), obj in self._objects.items():
            if g != group or p != plural:
                continue
            if namespace and res.namespaced and ns != namespace:
                continue
            if by_labels(selectors.labels_of(obj)) and by_fields(obj):
                out.append(obj)
        return out

    def update(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        new: Obj,  # from a request body, which may be any JSON: checked below
        *,
        subresource: str | None = None,
        expect_rv: str | None = None,
        field_validation: str | None = None,
        warnings: list[str] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        key = self._okey(res, namespace, name)
        old = self._objects.get(key)
        if old is None:
            raise not_found(res, name)
        if not isinstance(new, dict):
            raise bad_request("the body of the request was in an unknown format")
        if expect_rv and expect_rv != old["metadata"]["resourceVersion"]:
            qualified = f"{res.ref.plural}.{res.ref.group}" if res.ref.group else res.ref.plural
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
                "please apply your changes to the latest version and try again",
                {"name": name, "group": res.ref.group, "kind": res.ref.plural},
            )
        new = admission.admit_update(res, name, old, new, subresource, field_validation, warnings)
        meta = new["metadata"]
        if new == old:
            return copy.deepcopy(old)  # a no-op write changes nothing, not even the resourceVersion
        if admission.content(new) != admission.content(old):
            meta["generation"] = meta["generation"] + 1
        if dry_run:
            return new
        meta["resourceVersion"] = self._next_rv()
        self._objects[key] = new
        self._index_owners(key, old, new)
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not meta.get("deletionGracePeriodSeconds")
        ):
            # The last finalizer is gone; a pod still in its grace period waits for its kubelet.
            self._remove(key)
            return copy.deepcopy(new)
        self.watches.publish(res, "MODIFIED", new)
        if res.ref.plural == "customresourcedefinitions":
            self.resources.serve_crd(new)
        return copy.deepcopy(new)

    def patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        content_type: str,
        raw: bytes,
        *,
        subresource: str | None = None,
        field_validation: str | None = None,
        warnings: list[str] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        content_type = content_type.split(";")[0].strip()
        patch = patching.decode(content_type, raw)
        old = self._objects.get(self._okey(res, namespace, name))
        if old is None:
            if content_type == "application/apply-patch+yaml" and subresource is None:
                return self.create(
                    res,
                    namespace,
                    patch,
                    field_validation=field_validation,
                    warnings=warnings,
                    dry_run=dry_run,
                )
            raise not_found(res, name)
        new = patching.apply(res, name, old, content_type, patch)
        expect = ((new.get("metadata") or {}).get("resourceVersion")) if isinstance(new, dict) else None
        if expect == old["metadata"]["resourceVersion"]:
            expect = None
        return self.update(
            res,
            namespace,
            name,
            new,
            subresource=subresource,
            expect_rv=expect,
            field_validation=field_validation,
            warnings=warnings,
            dry_run=dry_run,
        )

    def _delete_key(self, key: ObjKey, grace: int | None, propagation: str | None) -> Obj | None:
        obj = self._objects.get(key)
        if obj is None:
            return None
        res = self._res_of_key(key)
        meta = obj["metadata"]
        if propagation == "Orphan":
            for dep in list(self._dependents.get(meta["uid"], ())):
                self._orphan(dep, meta["uid"])
        if res.ref.plural == "pods" and key[0] == "":
            if grace is None:
                grace = int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
            terminal = (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            scheduled = bool((obj.get("spec") or {}).get("nodeName"))
            if grace > 0 and scheduled and not terminal:
                current = meta.get("deletionGracePeriodSeconds")
                if current is not None and current <= grace:
                    return copy.deepcopy(obj)
                meta["deletionTimestamp"] = datetime.datetime.fromtimestamp(
                    time.time() + grace, datetime.UTC
                ).strftime("%Y-%m-%dT%H:%M:%SZ")
                meta["deletionGracePeriodSeconds"] = grace
                meta["resourceVersion"] = self._next_rv()
                self.watches.publish(res, "MODIFIED", obj)
                return copy.deepcopy(obj)
        finalizers = list(meta.get("finalizers") or [])
        if (
            propagation == "Foreground"
            and self._dependents.get(meta["uid"])
            and "foregroundDeletion" not in finalizers
        ):
            finalizers.append("foregroundDeletion")
        if finalizers:
            # A delete with grace 0 of an object already deleting shortens its grace period to
            # 0: it goes as soon as its finalizers do.
            if (
                not meta.get("deletionTimestamp")
                or meta.get("finalizers") != finalizers
                or meta.get("deletionGracePeriodSeconds")
            ):
                if meta.get("deletionGracePeriodSeconds"):
                    meta["deletionTimestamp"] = now_iso()
                meta.setdefault("deletionTimestamp", now_iso())
                meta["deletionGracePeriodSeconds"] = 0
                meta["finalizers"] = finalizers
                meta["resourceVersion"] = self._next_rv()
                self.watches.publish(res, "MODIFIED", obj)
            if "foregroundDeletion" in finalizers:
                for dep in list(self._dependents.get(meta["uid"], ())):
                    self._delete_key(dep, None, "Background")
                self._release_foreground(meta["uid"])
            return copy.deepcopy(obj)
        self._remove(key)
        return copy.deepcopy(obj)

    def _orphan(self, key: ObjKey, owner_uid: str) -> None:
        dep = self._objects.get(key)
        if dep is None:
            return
        refs = [r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != owner_uid]
        new = copy.deepcopy(dep)
        new["metadata"]["ownerReferences"] = refs
        if not refs:
            new["metadata"].pop("ownerReferences")
        self.update(self._res_of_key(key), key[2], key[3], new)

    def _release_foreground(self, owner_uid: str) -> None:
        key = self._by_uid.get(owner_uid)
        if key is None or self._dependents.get(owner_uid):
            return
        owner = self._objects[key]
        finalizers = [f for f in owner["metadata"].get("finalizers") or [] if f != "foregroundDeletion"]
        if finalizers != (owner["metadata"].get("finalizers") or []):
            new = copy.deepcopy(owner)
            new["metadata"]["finalizers"] = finalizers
            self.update(self._res_of_key(key), key[2], key[3], new)

    def _remove(self, key: ObjKey) -> None:
        obj = self._objects.pop(key, None)
        if obj is None:
            return
        res = self._res_of_key(key)
        uid = obj["metadata"]["uid"]
        self._by_uid.pop(uid, None)
        self._index_owners(key, obj, None)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self.watches.publish(res, "DELETED", obj)
        # Garbage collection: dependents go too (in the background, as the real GC does).
        for dep in list(self._dependents.pop(uid, ())):
            self._delete_key(dep, None, "Background")
        for ref in obj["metadata"].get("ownerReferences") or []:
            self._release_foreground(ref.get("uid", ""))
        if res.ref.plural == "namespaces":
            for other in [k for k in self._objects if k[2] == key[3]]:
                self._remove(other)
        if res.ref.plural == "customresourcedefinitions":
            self._unserve_crd(obj)

    def _res_of_key(self, key: ObjKey) -> Resource:
        return self.resources.stored_as(key[0], key[1])

    def _unserve_crd(self, crd: Obj) -> None:
        for res in from_crd(crd):
            for key in [k for k in self._objects if k[0] == res.ref.group and k[1] == res.ref.plural]:
                self._remove(key)
            self.resources.unserve(res)
