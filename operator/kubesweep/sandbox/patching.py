"""The patch algorithms of the API server: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
and the strategic merge patch of the built-in kinds (also the sandbox's server-side apply)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import yaml

from . import schema as crd_schema
from .apierrors import ApiError, bad_request, invalid
from .resources import Resource
from .store import Obj


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


def decode(content_type: str, raw: bytes) -> Any:
    """A PATCH request's body: YAML for server-side apply, JSON for the other patch types."""
    try:
        if content_type == "application/apply-patch+yaml":
            return yaml.safe_load(raw.decode() or "{}")
        return json.loads(raw.decode() or "null")
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"error decoding patch: {exc}") from None


def apply(res: Resource, name: str, old: Obj, content_type: str, patch: Any) -> Any:
    """`old` with `patch` applied as its content type says, as the API server applies it (its
    errors: 422 on a failed JSON-patch test, 415 on a strategic merge patch to a custom resource
    or an unknown type)."""
    if content_type == "application/json-patch+json":
        if not isinstance(patch, list):
            raise bad_request("json patch must be a list of operations")
        try:
            return jsonpatch.JsonPatch(patch).apply(copy.deepcopy(old))
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
    if content_type == "application/merge-patch+json":
        if not isinstance(patch, dict):
            raise bad_request("merge patch must be an object")
        return merge_patch(old, patch)
    if content_type in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
        if content_type == "application/strategic-merge-patch+json" and res.schema is not None:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "strategic merge patch is not supported for custom resources; use a merge patch",
            )
        if not isinstance(patch, dict):
            raise bad_request("patch must be an object")
        return strategic_merge(old, patch)
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format: {content_type}",
    )
