"""The sandbox's API server: kmock's KubernetesEmulator with the semantics a real client relies on.

kmock gives the HTTP server, request parsing and recording (`list(emulator)` is every request
served), and its DSL for injecting faults (`emulator[kmock.resource("batch", "v1", "jobs")] << 500`
answers matching requests before the emulated API does). What kmock 0.8 leaves out is done here:
uid, resourceVersion, generation, creationTimestamp and namespace; label, set-based and field
selectors; collection deletes; watches that honour resourceVersion (with 410 Gone and bookmarks);
the status subresource kept apart from spec; merge, JSON, strategic-merge and apply patches with
422 on a failed JSON-patch test; generateName; garbage collection by ownerReferences; namespaces;
CRDs that register resources and validate, default and prune their objects; Job and Pod
validation; pods that terminate gracefully; pods/log; discovery, OpenAPI and server-side tables
for kubectl. Every bad request gets the Status body the real server sends. What the real server
does that clients trip on is done too: whole-number floats are stored as integers, a strategic
merge patch merges metadata.finalizers, a watch with a selector sends an object that leaves it
as DELETED with its content from before (see ../shared/k8s/README.md).

All mutations run synchronously on the event loop, so each one is atomic without locks.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import logging
import random
import re
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import aiohttp.web
import jsonpatch
import kmock
import yaml
from kmock._internal import rendering

from . import builtin_fields, selectors
from . import schema as crd_schema
from .resources import BUILTINS, Resource, from_crd
from .store import LogSource, Obj, ResourceRef, StoreError, WatchEvent

logger = logging.getLogger("kubesweep.sandbox")

HISTORY = 20000  # watch events kept per resource for watches that resume from a resourceVersion
BOOKMARK_INTERVAL = 5.0
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
NAME_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"
Key = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str, str | None, str]  # (group, plural, namespace, name)
# A watch event as kept and sent: (resourceVersion, type, object, the object before when a
# MODIFIED changed its labels or selectable fields, else None).
Change = tuple[int, str, Obj, Obj | None]


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC).timestamp()


def age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    seconds = max(0, int(time.time() - parse_time(timestamp)))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


class ApiError(StoreError):
    def __init__(
        self, status: int, reason: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(status, reason, message)
        self.details = dict(details or {})

    def status_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.status,
        }
        if self.details:
            body["details"] = self.details
        return body


def not_found(res: Resource, name: str) -> ApiError:
    qualified = f"{res.ref.plural}.{res.ref.group}" if res.ref.group else res.ref.plural
    return ApiError(
        404,
        "NotFound",
        f'{qualified} "{name}" not found',
        {"name": name, "group": res.ref.group, "kind": res.ref.plural},
    )


def invalid(res: Resource, name: str, causes: list[crd_schema.Cause]) -> ApiError:
    kind = f"{res.kind}.{res.ref.group}" if res.ref.group else res.kind
    texts = [c.message for c in causes]
    listed = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {listed}',
        {"name": name, "group": res.ref.group, "kind": res.kind, "causes": [c.as_dict() for c in causes]},
    )


def _pod_deadline_update(old: Obj, new: Obj) -> list[crd_schema.Cause]:
    """A pod's spec.activeDeadlineSeconds may be set or lowered on a running pod, never raised
    nor removed (ValidatePodUpdate; the messages are the real API server's)."""
    field = "spec.activeDeadlineSeconds"
    before = (old.get("spec") or {}).get("activeDeadlineSeconds")
    after = (new.get("spec") or {}).get("activeDeadlineSeconds")
    if after is None and before is not None:
        message = f"{field}: Invalid value: null: must not update from a positive integer to nil value"
    elif after is not None and before is not None and after > before:
        message = f"{field}: Invalid value: {after}: must be less than or equal to previous value"
    else:
        return []
    return [crd_schema.Cause("FieldValueInvalid", field, message)]


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def whole_numbers(value: Any) -> Any:
    """A value as the API server stores it: objects are JSON and a whole-number float decodes as
    an integer (`min: 0.0` reads back as `0`), as it does into an unstructured object."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value


# The integer fields of the built-in kinds the sandbox runs, as (Go struct, path, Go type): a real
# API server decodes a built-in kind into its Go types, which refuse any other JSON value there,
# even a whole-number float (`600.0`), where a custom resource's would be read back as `600`.
_POD_INTEGERS = (
    ("terminationGracePeriodSeconds", "int64"),
    ("activeDeadlineSeconds", "int64"),
    ("priority", "int32"),
)
_BUILTIN_INTEGERS: dict[str, list[tuple[str, tuple[str, ...], str]]] = {
    "jobs": [
        *(
            ("JobSpec", ("spec", field), kind)
            for field, kind in (
                ("parallelism", "int32"),
                ("completions", "int32"),
                ("activeDeadlineSeconds", "int64"),
                ("backoffLimit", "int32"),
                ("backoffLimitPerIndex", "int32"),
                ("maxFailedIndexes", "int32"),
                ("ttlSecondsAfterFinished", "int32"),
            )
        ),
        *(("PodSpec", ("spec", "template", "spec", field), kind) for field, kind in _POD_INTEGERS),
    ],
    "pods": [("PodSpec", ("spec", field), kind) for field, kind in _POD_INTEGERS],
    "deployments": [
        *(
            ("DeploymentSpec", ("spec", field), "int32")
            for field in ("replicas", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds")
        ),
        *(("PodSpec", ("spec", "template", "spec", field), kind) for field, kind in _POD_INTEGERS),
    ],
}


def undecodable_integer(plural: str, body: Mapping[str, Any]) -> str | None:
    """Why a real API server cannot decode `body` of a built-in kind into its Go type, for a value
    other than an integer in one of `_BUILTIN_INTEGERS`; None when it can."""
    for struct, path, kind in _BUILTIN_INTEGERS.get(plural, []):
        value: Any = body
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None or (type(value) is int):
            continue
        what = (
            f"number {value!r}"
            if isinstance(value, float)
            else {str: "string", bool: "bool"}.get(
                type(value), "object" if isinstance(value, dict) else "array"
            )
        )
        return f"json: cannot unmarshal {what} into Go struct field {struct}.{'.'.join(path)} of type {kind}"
    return None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


_CONTAINERS = ("containers", "initContainers", "ephemeralContainers")
# The lists of the built-in kinds that a strategic merge patch merges (their Go types' patchStrategy
# "merge"), by field name: the merge key of a list of objects.
_MERGE_KEYS = {
    "ownerReferences": "uid",
    **{field: "name" for field in _CONTAINERS},
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "resourceClaims": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}


def list_strategy(path: tuple[str, ...]) -> str | None:
    """How a strategic merge patch treats the list at `path` of a built-in kind: merged by the
    merge key it returns, merged as a set of values (""), or replaced (None)."""
    field = path[-1]
    parent = path[-2] if len(path) > 1 else ""
    if field == "finalizers":
        return "" if parent == "metadata" else None  # a Namespace's spec.finalizers is replaced
    if field == "ports":
        return "containerPort" if parent in _CONTAINERS else "port" if parent == "spec" else None
    if field == "conditions":
        return "type" if parent == "status" else None
    return _MERGE_KEYS.get(field)


def _directive(value: Any) -> str | None:
    return value.get("$patch") if isinstance(value, dict) else None


def strategic_merge(target: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """A strategic merge patch to a built-in kind, as the API server applies it: maps merge, the
    lists in `list_strategy` merge (metadata.finalizers as a set, ownerReferences by uid,
    containers by name...) in the order of `_server_order`, other lists are replaced, `null`
    deletes. Directives: `$patch` (replace, delete) in maps and list items,
    `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`, `$retainKeys`."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if _directive(patch) == "replace":
        return strategic_merge({}, {k: v for k, v in patch.items() if k != "$patch"}, path)
    result = dict(target) if isinstance(target, dict) else {}
    before = dict(result)
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/") and isinstance(value, list):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None or _directive(value) == "delete":
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, (*path, key))
        else:
            result[key] = strategic_merge(result.get(key), value, (*path, key))
    for key, order in patch.items():
        field = key.split("/", 1)[1] if key.startswith("$setElementOrder/") else None
        if field and isinstance(order, list) and isinstance(result.get(field), list):
            was = before.get(field)
            original: list[Any] = was if isinstance(was, list) else []
            result[field] = _server_order(result[field], order, original, list_strategy((*path, field)))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(current: Any, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    key = list_strategy(path)
    if key is None:
        return copy.deepcopy(patch)
    original = copy.deepcopy(current) if isinstance(current, list) else []
    if key == "":
        both = original + patch
        merged = [v for i, v in enumerate(both) if v not in both[:i]]
        return _server_order(merged, patch, original, None)
    items: list[Any] = []
    replace = False
    for item in patch:
        directive = _directive(item)
        if directive == "replace":
            replace = True
            continue
        if not isinstance(item, dict) or key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {key}")
        if directive == "delete":
            original = [v for v in original if not (isinstance(v, dict) and v.get(key) == item[key])]
        else:
            items.append(item)
    if replace:  # the list is the patch's items, as they are
        original, items = [strategic_merge({}, v, path) for v in items], []
    merged = list(original)
    for item in items:
        found = next(
            (i for i, v in enumerate(merged) if isinstance(v, dict) and v.get(key) == item[key]), None
        )
        if found is None:
            merged.append(strategic_merge({}, item, path))
        else:
            merged[found] = strategic_merge(merged[found], item, path)
    return _server_order(merged, items, original, key)


def _server_order(merged: list[Any], patch: list[Any], original: list[Any], key: str | None) -> list[Any]:
    """The order the API server leaves a merged list in (strategicpatch's normalizeElementOrder):
    the items the patch names in the patch's order, the others in the original's, and an item of
    the others goes before a patch item only when both were in the original, in that order. So a
    new item goes first: ["c"] patched into ["a", "b"] gives ["c", "a", "b"]. `patch` is the
    patch's list, or a `$setElementOrder` list."""

    def ident(v: Any) -> Any:
        return v.get(key) if key and isinstance(v, dict) else v

    named = [ident(v) for v in patch]
    server = [ident(v) for v in original]

    def rank(ids: list[Any], v: Any) -> int:
        return ids.index(ident(v)) if ident(v) in ids else len(ids)

    def first(other: Any, patched: Any) -> bool:
        return (
            ident(other) in server
            and ident(patched) in server
            and rank(server, other) < rank(server, patched)
        )

    right = sorted((v for v in merged if ident(v) in named), key=lambda v: rank(named, v))
    left = sorted((v for v in merged if ident(v) not in named), key=lambda v: rank(server, v))
    out: list[Any] = []
    while left or right:
        if not right or (left and first(left[0], right[0])):
            out.append(left.pop(0))
        else:
            out.append(right.pop(0))
    return out


def _selectable_changed(prev: Obj | None, obj: Obj) -> bool:
    """Whether a change can move an object into or out of a watch's label or field selector."""
    if prev is None:
        return False
    return selectors.labels_of(prev) != selectors.labels_of(obj) or selectors.field_values(
        prev
    ) != selectors.field_values(obj)


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What counts as a spec change for `generation`: everything outside metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class SandboxEmulator(kmock.KubernetesEmulator):
    """The API server of the sandbox; also the in-process `Store` of its controllers."""

    def __attrs_post_init__(self) -> None:
        # kmock's own fallbacks are replaced by the router below; only reactions that tests add
        # (faults) come before it. Hence no call to the parent's post-init.
        self.store_objects: dict[ObjKey, Obj] = {}
        self.by_uid: dict[str, ObjKey] = {}
        self.dependents: dict[str, set[ObjKey]] = {}
        self.served: dict[tuple[str, str, str], Resource] = {}
        self.history: dict[Key, deque[Change]] = {}
        self.compacted: dict[Key, int] = {}
        self.subscribers: dict[Key, set[asyncio.Queue[Change | None]]] = {}
        # Each object as last published (the snapshot its watch event carries): a watch with a
        # selector turns a change that moves an object out of it into DELETED with the object as
        # it was before, as the API server's watch cache does.
        self.published: dict[str, Obj] = {}
        self.rv = 1
        self.log_source: LogSource = lambda namespace, name: None
        self.background: set[asyncio.Task[Any]] = set()
        self.keep_requests: bool = True
        self._matching: rendering.Request | None = None
        self.store = EmulatorStore(self)
        for res in BUILTINS:
            self._register(res)
        for name in ("default", "kube-system", "kube-public"):
            self._create(self._resource("", "v1", "namespaces"), None, {"metadata": {"name": name}})

    # -----------------------------------------------------------------------------------------
    # Resources.

    def _register(self, res: Resource) -> None:
        self.served[(res.ref.group, res.ref.version, res.ref.plural)] = res

    def _resource(self, group: str, version: str, plural: str) -> Resource:
        res = self.served.get((group, version, plural))
        if res is None:
            path = f"/apis/{group}/{version}/{plural}" if group else f"/api/{version}/{plural}"
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        return res

    def resource_of(self, ref: ResourceRef) -> Resource:
        return self._resource(ref.group, ref.version, ref.plural)

    def find_resource(self, name: str) -> Resource | None:
        for res in self.served.values():
            if name in (res.ref.plural, res.singular, res.kind.lower(), *res.short_names):
                return res
        return None

    # -----------------------------------------------------------------------------------------
    # Storage and watch events.

    @staticmethod
    def _okey(res: Resource, namespace: str | None, name: str) -> ObjKey:
        return (res.ref.group, res.ref.plural, namespace if res.namespaced else None, name)

    def _publish(self, res: Resource, kind: str, obj: Obj) -> None:
        key = (res.ref.group, res.ref.plural)
        rv = int(obj["metadata"]["resourceVersion"])
        history = self.history.setdefault(key, deque())
        if len(history) >= HISTORY:
            self.compacted[key] = history.popleft()[0]
        snapshot = copy.deepcopy(obj)
        uid = obj["metadata"].get("uid", "")
        prev = self.published.pop(uid, None) if kind == "DELETED" else self.published.get(uid)
        if kind != "DELETED":
            self.published[uid] = snapshot
        change = (rv, kind, snapshot, prev if kind == "MODIFIED" and _selectable_changed(prev, obj) else None)
        history.append(change)
        for queue in list(self.subscribers.get(key, ())):
            queue.put_nowait(change)

    def _next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _check_namespace(self, res: Resource, namespace: str | None) -> None:
        if not res.namespaced:
            return
        if not namespace:
            raise bad_request("the namespace of the object is required")
        if ("", "namespaces", None, namespace) not in self.store_objects:
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                {"name": namespace, "kind": "namespaces"},
            )
        ns = self.store_objects[("", "namespaces", None, namespace)]
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"{res.ref.plural} is forbidden: unable to create new content in namespace {namespace} "
                "because it is being terminated",
            )

    def _validate_meta(self, res: Resource, obj: Obj) -> list[crd_schema.Cause]:
        causes: list[crd_schema.Cause] = []
        meta = obj["metadata"]
        name = meta.get("name", "")
        pattern, limit = (DNS_LABEL, 63) if res.ref.plural in ("namespaces",) else (DNS_SUBDOMAIN, 253)
        if res.ref.plural == "jobs":
            limit = 63  # the name becomes a label value of its pods
        # A core/v1 Event's metadata is not validated, for backwards compatibility (only
        # events.k8s.io's is): any name that can be a path segment goes.
        legacy_event = (res.ref.group, res.ref.plural) == ("", "events") and isinstance(name, str)
        path_segment = legacy_event and name not in ("", ".", "..") and "/" not in name
        if not path_segment and (not isinstance(name, str) or not pattern.match(name) or len(name) > limit):
            rule = (
                f"must be no more than {limit} characters"
                if isinstance(name, str) and len(name) > limit
                else "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                "and must start and end with an alphanumeric character"
            )
            causes.append(
                crd_schema.Cause(
                    "FieldValueInvalid",
                    "metadata.name",
                    f"metadata.name: Invalid value: {json.dumps(name)}: {rule}",
                )
            )
        for where in ("labels", "annotations"):
            values = meta.get(where) or {}
            if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
                causes.append(
                    crd_schema.Cause(
                        "FieldValueTypeInvalid",
                        f"metadata.{where}",
                        f"metadata.{where}: Invalid value: must be a map of strings",
                    )
                )
                continue
            if where == "labels":
                for value in values.values():
                    if len(value) > 63 or not LABEL_VALUE.match(value):
                        causes.append(
                            crd_schema.Cause(
                                "FieldValueInvalid",
                                "metadata.labels",
                                f"metadata.labels: Invalid value: {json.dumps(value)}: must be no more than 63 "
                                "characters and consist of alphanumerics, '-', '_' or '.'",
                            )
                        )
        return causes

    @staticmethod
    def _check_decodable(res: Resource, body: Mapping[str, Any]) -> None:
        if res.schema is None and (why := undecodable_integer(res.ref.plural, body)):
            raise bad_request(
                f'{res.kind} in version "{res.ref.version}" cannot be handled as a {res.kind}: {why}'
            )

    def _validate_builtin(self, res: Resource, obj: Obj) -> list[crd_schema.Cause]:
        if res.ref.plural == "jobs":
            pod_spec = (((obj.get("spec") or {}).get("template") or {}).get("spec")) or {}
            causes = self._validate_pod_spec(pod_spec, "spec.template.spec")
            policy = pod_spec.get("restartPolicy", "Always")
            if policy not in ("OnFailure", "Never"):
                field = "spec.template.spec.restartPolicy"
                message = f'{field}: Required value: valid values: "OnFailure", "Never"'
                if policy != "Always":
                    message = f'{field}: Unsupported value: {json.dumps(policy)}: supported values: "OnFailure", "Never"'
                causes.append(crd_schema.Cause("FieldValueRequired", field, message))
            return causes
        if res.ref.plural == "pods":
            return self._validate_pod_spec(obj.get("spec") or {}, "spec")
        return []

    @staticmethod
    def _validate_pod_spec(spec: Mapping[str, Any], path: str) -> list[crd_schema.Cause]:
        causes: list[crd_schema.Cause] = []
        containers = spec.get("containers")
        if not isinstance(containers, list) or not containers:
            causes.append(
                crd_schema.Cause(
                    "FieldValueRequired", f"{path}.containers", f"{path}.containers: Required value"
                )
            )
            return causes
        for i, container in enumerate(containers):
            where = f"{path}.containers[{i}]"
            if not isinstance(container, dict):
                causes.append(
                    crd_schema.Cause(
                        "FieldValueTypeInvalid", where, f"{where}: Invalid value: must be an object"
                    )
                )
                continue
            for key in ("name", "image"):
                if not container.get(key):
                    causes.append(
                        crd_schema.Cause(
                            "FieldValueRequired", f"{where}.{key}", f"{where}.{key}: Required value"
                        )
                    )
        return causes

    @staticmethod
    def _check_builtin_fields(
        res: Resource, obj: Obj, field_validation: str | None, warnings: list[str] | None
    ) -> None:
        """A Job's or pod's unknown fields: refused under strict field validation (400, each
        field named, as the API server's strict decoding does), else a warning each. Resource
        quantities are stored as strings, as the API server writes them back (`cpu: 2` is "2")."""
        model = builtin_fields.MODELS.get(res.ref.plural) if res.schema is None else None
        if model is None:
            return
        builtin_fields.canonical_quantities(obj, res.ref.plural)
        unknown = builtin_fields.unknown_fields(obj, model)
        if not unknown:
            return
        if field_validation == "Strict":
            fields = ", ".join(f'unknown field "{f}"' for f in unknown)
            raise bad_request(
                f'{res.kind} in version "{res.ref.version}" cannot be handled as a {res.kind}: '
                f"strict decoding error: {fields}"
            )
        if warnings is not None and field_validation != "Ignore":
            warnings.extend(f'unknown field "{f}"' for f in unknown)

    def _check_custom(
        self,
        res: Resource,
        obj: Obj,
        field_validation: str | None,
        warnings: list[str] | None,
        old: Obj | None = None,
    ) -> Obj:
        if res.schema is None:
            return obj
        cleaned, outcome = crd_schema.check(obj, res.schema, old)
        if outcome.unknown:
            if field_validation == "Strict":
                fields = ", ".join(f'unknown field "{f}"' for f in outcome.unknown)
                raise bad_request(
                    f'{res.kind} in version "{res.ref.version}" cannot be handled as a {res.kind}: '
                    f"strict decoding error: {fields}"
                )
            if warnings is not None and field_validation != "Ignore":
                warnings.extend(f'unknown field "{f}"' for f in outcome.unknown)
        if outcome.causes:
            raise invalid(res, obj["metadata"].get("name", ""), outcome.causes)
        return cleaned

    def _create(
        self,
        res: Resource,
        namespace: str | None,
        body: Any,
        *,
        field_validation: str | None = None,
        warnings: list[str] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        if not isinstance(body, dict):
            raise bad_request("the body of the request was in an unknown format")
        self._check_decodable(res, body)
        obj = whole_numbers(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if res.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            namespace = namespace or body_ns
        else:
            namespace = None
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choices(NAME_SUFFIX, k=5))
        if not meta.get("name"):
            raise invalid(
                res,
                "",
                [
                    crd_schema.Cause(
                        "FieldValueRequired",
                        "metadata.name",
                        "metadata.name: Required value: name or generateName is required",
                    )
                ],
            )
        obj["apiVersion"] = res.ref.api_version
        obj["kind"] = res.kind
        self._check_namespace(res, namespace)
        causes = self._validate_meta(res, obj) + self._validate_builtin(res, obj)
        if causes:
            raise invalid(res, meta["name"], causes)
        self._check_builtin_fields(res, obj, field_validation, warnings)
        obj = self._check_custom(res, obj, field_validation, warnings)
        meta = obj["metadata"]
        key = self._okey(res, namespace, meta["name"])
        if key in self.store_objects:
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
        self._default(res, obj)
        if dry_run:
            meta["resourceVersion"] = str(self.rv)
            return obj
        meta["resourceVersion"] = self._next_rv()
        self.store_objects[key] = obj
        self.by_uid[meta["uid"]] = key
        self._index_owners(key, None, obj)
        self._publish(res, "ADDED", obj)
        if res.ref.plural == "customresourcedefinitions":
            self._crd_changed(obj)
        self._adopt_orphan_check(key, obj)
        return copy.deepcopy(obj)

    def _default(self, res: Resource, obj: Obj) -> None:
        if res.ref.plural == "namespaces":
            obj["status"] = {"phase": "Active"}
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        elif res.ref.plural == "jobs":
            spec = obj.setdefault("spec", {})
            for k, v in (
                ("parallelism", 1),
                ("completions", 1),
                ("backoffLimit", 6),
                ("suspend", False),
                ("completionMode", "NonIndexed"),
            ):
                spec.setdefault(k, v)
            uid = obj["metadata"]["uid"]
            labels = {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": obj["metadata"]["name"],
                "controller-uid": uid,
                "job-name": obj["metadata"]["name"],
            }
            spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
            template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
            template_meta["labels"] = {**(template_meta.get("labels") or {}), **labels}
            obj.setdefault("status", {})
        elif res.ref.plural == "pods":
            spec = obj.setdefault("spec", {})
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            for container in spec.get("containers") or []:
                container.setdefault("terminationMessagePath", "/dev/termination-log")
                container.setdefault("terminationMessagePolicy", "File")
                container.setdefault("imagePullPolicy", "IfNotPresent")
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif res.ref.plural == "customresourcedefinitions":
            names = (obj.get("spec") or {}).get("names") or {}
            obj["status"] = {
                "acceptedNames": names,
                "storedVersions": [
                    v["name"] for v in (obj.get("spec") or {}).get("versions") or [] if v.get("storage")
                ],
                "conditions": [
                    {"type": t, "status": "True", "reason": r, "message": "", "lastTransitionTime": now_iso()}
                    for t, r in (("NamesAccepted", "NoConflicts"), ("Established", "InitialNamesAccepted"))
                ],
            }

    def _index_owners(self, key: ObjKey, old: Obj | None, new: Obj | None) -> None:
        for obj, add in ((old, False), (new, True)):
            if obj is None:
                continue
            for ref in obj["metadata"].get("ownerReferences") or []:
                uid = ref.get("uid")
                if not uid:
                    continue
                if add:
                    self.dependents.setdefault(uid, set()).add(key)
                else:
                    self.dependents.get(uid, set()).discard(key)

    def _adopt_orphan_check(self, key: ObjKey, obj: Obj) -> None:
        """An object whose every owner is already gone is collected, as the real GC does."""
        owners = [r.get("uid") for r in obj["metadata"].get("ownerReferences") or []]
        if owners and all(uid not in self.by_uid for uid in owners):
            self._spawn(self._collect_later(key, obj["metadata"]["uid"]))

    async def _collect_later(self, key: ObjKey, uid: str) -> None:
        await asyncio.sleep(0)
        current = self.store_objects.get(key)
        if current is not None and current["metadata"]["uid"] == uid:
            self._delete_obj(key, None, "Background")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def _get(self, res: Resource, namespace: str | None, name: str) -> Obj:
        obj = self.store_objects.get(self._okey(res, namespace, name))
        if obj is None:
            raise not_found(res, name)
        return obj

    def _list(
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
        for (g, p, ns, _), obj in self.store_objects.items():
            if g != group or p != plural:
                continue
            if namespace and res.namespaced and ns != namespace:
                continue
            if by_labels(selectors.labels_of(obj)) and by_fields(obj):
                out.append(obj)
        return out

    def _update(
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
        old = self.store_objects.get(key)
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
        self._check_decodable(res, new)
        new = whole_numbers(new)
        if subresource == "status" and res.has_status:
            merged = copy.deepcopy(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            new = merged
        elif res.has_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        meta = new.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        for k in (
            "uid",
            "creationTimestamp",
            "name",
            "namespace",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generateName",
        ):
            if k in old["metadata"]:
                meta[k] = old["metadata"][k]
            else:
                meta.pop(k, None)
        new["apiVersion"] = res.ref.api_version
        new["kind"] = res.kind
        causes = self._validate_meta(res, new)
        if res.ref.plural == "pods" and subresource is None:
            causes += _pod_deadline_update(old, new)
        if causes:
            raise invalid(res, name, causes)
        new = self._check_custom(res, new, field_validation, warnings, old)
        meta = new["metadata"]
        meta["generation"] = old["metadata"].get("generation", 1)
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return copy.deepcopy(old)  # a no-op write changes nothing, not even the resourceVersion
        if _content(new) != _content(old):
            meta["generation"] = meta["generation"] + 1
        if dry_run:
            return new
        meta["resourceVersion"] = self._next_rv()
        self.store_objects[key] = new
        self._index_owners(key, old, new)
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not meta.get("deletionGracePeriodSeconds")
        ):
            # The last finalizer is gone; a pod still in its grace period waits for its kubelet.
            self._remove(key)
            return copy.deepcopy(new)
        self._publish(res, "MODIFIED", new)
        if res.ref.plural == "customresourcedefinitions":
            self._crd_changed(new)
        return copy.deepcopy(new)

    def _patch(
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
        try:
            if content_type == "application/apply-patch+yaml":
                patch = yaml.safe_load(raw.decode() or "{}")
            else:
                patch = json.loads(raw.decode() or "null")
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"error decoding patch: {exc}") from None
        key = self._okey(res, namespace, name)
        old = self.store_objects.get(key)
        if old is None:
            if content_type == "application/apply-patch+yaml" and subresource is None:
                return self._create(
                    res,
                    namespace,
                    patch,
                    field_validation=field_validation,
                    warnings=warnings,
                    dry_run=dry_run,
                )
            raise not_found(res, name)
        if content_type == "application/json-patch+json":
            if not isinstance(patch, list):
                raise bad_request("json patch must be a list of operations")
            try:
                new = jsonpatch.JsonPatch(patch).apply(copy.deepcopy(old))
            except jsonpatch.JsonPatchTestFailed as exc:
                raise invalid(
                    res,
                    name,
                    [
                        crd_schema.Cause(
                            "FieldValueInvalid",
                            "",
                            f"the server rejected our request due to an error in our request: {exc}",
                        )
                    ],
                ) from None
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
                raise ApiError(
                    422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
                ) from None
        elif content_type == "application/merge-patch+json":
            if not isinstance(patch, dict):
                raise bad_request("merge patch must be an object")
            new = merge_patch(old, patch)
        elif content_type in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
            if content_type == "application/strategic-merge-patch+json" and res.schema is not None:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "strategic merge patch is not supported for custom resources; use a merge patch",
                )
            if not isinstance(patch, dict):
                raise bad_request("patch must be an object")
            new = strategic_merge(old, patch)
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format: {content_type}",
            )
        expect = ((new.get("metadata") or {}).get("resourceVersion")) if isinstance(new, dict) else None
        if expect == old["metadata"]["resourceVersion"]:
            expect = None
        return self._update(
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

    def _delete_obj(self, key: ObjKey, grace: int | None, propagation: str | None) -> Obj | None:
        obj = self.store_objects.get(key)
        if obj is None:
            return None
        res = self._res_of_key(key)
        meta = obj["metadata"]
        if propagation == "Orphan":
            for dep in list(self.dependents.get(meta["uid"], ())):
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
                self._publish(res, "MODIFIED", obj)
                return copy.deepcopy(obj)
        finalizers = list(meta.get("finalizers") or [])
        if (
            propagation == "Foreground"
            and self.dependents.get(meta["uid"])
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
                self._publish(res, "MODIFIED", obj)
            if "foregroundDeletion" in finalizers:
                for dep in list(self.dependents.get(meta["uid"], ())):
                    self._delete_obj(dep, None, "Background")
                self._release_foreground(meta["uid"])
            return copy.deepcopy(obj)
        self._remove(key)
        return copy.deepcopy(obj)

    def _orphan(self, key: ObjKey, owner_uid: str) -> None:
        dep = self.store_objects.get(key)
        if dep is None:
            return
        refs = [r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != owner_uid]
        new = copy.deepcopy(dep)
        new["metadata"]["ownerReferences"] = refs
        if not refs:
            new["metadata"].pop("ownerReferences")
        self._update(self._res_of_key(key), key[2], key[3], new)

    def _release_foreground(self, owner_uid: str) -> None:
        key = self.by_uid.get(owner_uid)
        if key is None or self.dependents.get(owner_uid):
            return
        owner = self.store_objects[key]
        finalizers = [f for f in owner["metadata"].get("finalizers") or [] if f != "foregroundDeletion"]
        if finalizers != (owner["metadata"].get("finalizers") or []):
            new = copy.deepcopy(owner)
            new["metadata"]["finalizers"] = finalizers
            self._update(self._res_of_key(key), key[2], key[3], new)

    def _remove(self, key: ObjKey) -> None:
        obj = self.store_objects.pop(key, None)
        if obj is None:
            return
        res = self._res_of_key(key)
        uid = obj["metadata"]["uid"]
        self.by_uid.pop(uid, None)
        self._index_owners(key, obj, None)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._publish(res, "DELETED", obj)
        # Garbage collection: dependents go too (in the background, as the real GC does).
        for dep in list(self.dependents.pop(uid, ())):
            self._delete_obj(dep, None, "Background")
        for ref in obj["metadata"].get("ownerReferences") or []:
            self._release_foreground(ref.get("uid", ""))
        if res.ref.plural == "namespaces":
            for other in [k for k in self.store_objects if k[2] == key[3]]:
                self._remove(other)
        if res.ref.plural == "customresourcedefinitions":
            self._crd_removed(obj)

    def _res_of_key(self, key: ObjKey) -> Resource:
        for res in self.served.values():
            if res.ref.group == key[0] and res.ref.plural == key[1]:
                return res
        for res in BUILTINS:
            if res.ref.group == key[0] and res.ref.plural == key[1]:
                return res
        raise KeyError(key)

    def _crd_changed(self, crd: Obj) -> None:
        for res in from_crd(crd):
            self._register(res)

    def _crd_removed(self, crd: Obj) -> None:
        for res in from_crd(crd):
            for key in [k for k in self.store_objects if k[0] == res.ref.group and k[1] == res.ref.plural]:
                self._remove(key)
            self.served.pop((res.ref.group, res.ref.version, res.ref.plural), None)

    def close_watches(self) -> None:
        for queues in self.subscribers.values():
            for queue in list(queues):
                queue.put_nowait(None)

    # -----------------------------------------------------------------------------------------
    # HTTP.

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        await raw_request.read()
        try:
            request = await rendering.Request._parse(raw_request, id=len(self._requests))
        except ValueError:
            # kmock cannot parse some valid paths (GET /api/v1/namespaces): keep the HTTP part.
            request = rendering.Request(
                id=len(self._requests),
                raw_request=raw_request,
                url=raw_request.url,
                method=raw_request.method,
                params=dict(raw_request.query),
                headers=dict(raw_request.headers),
                cookies=dict(raw_request.cookies),
                body=await raw_request.read(),
                text=await raw_request.text(),
            )
        if self.keep_requests:
            self._requests.append(request)
        return await self._handle(request)

    def __iter__(self) -> Iterator[rendering.Request]:
        # While a request is matched against test-added reactions, kmock's filters iterate the
        # handler's requests: show them only that one, so matching costs O(1), not O(history).
        if self._matching is not None:
            yield self._matching
            return
        yield from self._requests

    def _reaction_for(self, request: rendering.Request) -> Any:
        """The first test-added reaction (kmock DSL) that matches the request, by priority."""
        self._matching = request
        try:
            payloads = list(self._payloads)
            width = max((len(p.priorities) for p in payloads), default=0)

            def rank(payload: Any) -> tuple[float, ...]:
                padded = tuple(payload.priorities) + (0,) * (width - len(payload.priorities))
                return tuple(-x for x in padded)

            for payload in sorted(payloads, key=rank):
                if not payload._disabled.is_set() and request in payload._source:
                    return payload
            return None
        finally:
            self._matching = None

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if self._payloads and (reaction := self._reaction_for(request)) is not None:
            # Reactions a test added (faults) answer first.
            try:
                response: aiohttp.web.StreamResponse = await reaction(request)
                return response
            except rendering.ReactionMismatchError:
                reaction._disabled.set()
            except NotImplementedError:
                pass
        try:
            return await self._route(request)
        except ApiError as exc:
            return aiohttp.web.json_response(exc.status_body(), status=exc.status)
        except Exception as exc:  # a bug of ours must not take the server down
            logger.exception("sandbox: %s %s failed", request.method, request.url.path)
            error = ApiError(
                500,
                "InternalError",
                f"an error on the server has prevented the request from succeeding: {exc!r}",
            )
            return aiohttp.web.json_response(error.status_body(), status=500)

    async def _route(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        from . import http_api

        return await http_api.route(self, request)

    # Helpers for http_api.
    def parse_body(self, request: rendering.Request) -> Any:
        if not request.body:
            raise bad_request("the body of the request was empty")
        content_type = (request.headers.get("Content-Type") or "application/json").split(";")[0]
        try:
            if "yaml" in content_type:
                return yaml.safe_load(request.body.decode())
            return json.loads(request.body.decode())
        except (ValueError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise bad_request(f"the body of the request could not be decoded: {exc}") from None

    def subscribe(self, res: Resource) -> asyncio.Queue[Change | None]:
        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self.subscribers.setdefault((res.ref.group, res.ref.plural), set()).add(queue)
        return queue

    def unsubscribe(self, res: Resource, queue: asyncio.Queue[Change | None]) -> None:
        self.subscribers.get((res.ref.group, res.ref.plural), set()).discard(queue)

    def events_since(self, res: Resource, rv: int) -> list[Change] | None:
        """Events after `rv`, or None when they are no longer kept (410 Gone)."""
        key = (res.ref.group, res.ref.plural)
        if rv < self.compacted.get(key, 0):
            return None
        return [e for e in self.history.get(key, ()) if e[0] > rv]


class EmulatorStore:
    """The emulator as the `Store` of the sandbox's own controllers: the same code path as HTTP
    requests, without the HTTP."""

    def __init__(self, emu: SandboxEmulator) -> None:
        self.emu = emu

    async def get(self, ref: ResourceRef, namespace: str | None, name: str) -> Obj | None:
        obj = self.emu.store_objects.get(self.emu._okey(self.emu.resource_of(ref), namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    async def list(
        self, ref: ResourceRef, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]:
        return [
            copy.deepcopy(o) for o in self.emu._list(self.emu.resource_of(ref), namespace, label_selector)
        ]

    async def create(self, ref: ResourceRef, obj: Obj) -> Obj:
        return self.emu._create(self.emu.resource_of(ref), (obj.get("metadata") or {}).get("namespace"), obj)

    async def patch(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        patch: Obj,
        *,
        subresource: str | None = None,
    ) -> Obj:
        res = self.emu.resource_of(ref)
        old = self.emu._get(res, namespace, name)
        return self.emu._update(res, namespace, name, merge_patch(old, patch), subresource=subresource)

    async def delete(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str = "Background",
    ) -> None:
        res = self.emu.resource_of(ref)
        if (
            self.emu._delete_obj(
                self.emu._okey(res, namespace, name), grace_period_seconds, propagation_policy
            )
            is None
        ):
            raise not_found(res, name)

    async def watch(self, ref: ResourceRef) -> AsyncIterator[WatchEvent]:
        res = self.emu.resource_of(ref)
        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        key = (res.ref.group, res.ref.plural)
        self.emu.subscribers.setdefault(key, set()).add(queue)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield WatchEvent(item[1], copy.deepcopy(item[2]))
        finally:
            self.emu.subscribers.get(key, set()).discard(queue)

    def set_log_source(self, source: LogSource) -> None:
        self.emu.log_source = source
