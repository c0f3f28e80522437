"""Admission: what the API server checks, converts and fills in before it stores an object.
Names, labels and namespaces; the Go types' integers of the built-in kinds; Job and Pod
validation; unknown fields (strict or warned); a CRD's schema (validate, default, prune); the
defaults of namespaces, Jobs, pods and CRDs."""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

from . import builtin_fields, builtin_kinds
from . import schema as crd_schema
from .apierrors import ApiError, bad_request, invalid
from .resources import Resource
from .store import Obj

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAME_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # generateName's, as the API server draws it
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


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


def content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What counts as a spec change for `generation`: everything outside metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def check_namespace(res: Resource, namespace: str | None, lookup: Callable[[str], Obj | None]) -> None:
    """A namespaced object's namespace exists and is not being deleted (`lookup` finds a namespace by name)."""
    if not res.namespaced:
        return
    if not namespace:
        raise bad_request("the namespace of the object is required")
    ns = lookup(namespace)
    if ns is None:
        raise ApiError(
            404,
            "NotFound",
            f'namespaces "{namespace}" not found',
            {"name": namespace, "kind": "namespaces"},
        )
    if ns["metadata"].get("deletionTimestamp"):
        raise ApiError(
            403,
            "Forbidden",
            f"{res.ref.plural} is forbidden: unable to create new content in namespace {namespace} "
            "because it is being terminated",
        )


def validate_meta(res: Resource, obj: Obj) -> list[crd_schema.Cause]:
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


def check_decodable(res: Resource, body: Mapping[str, Any]) -> None:
    if res.schema is None and (why := builtin_kinds.undecodable_integer(res.ref.plural, body)):
        raise bad_request(
            f'{res.kind} in version "{res.ref.version}" cannot be handled as a {res.kind}: {why}'
        )


def check_builtin_fields(
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


def check_custom(
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


def admit_create(
    res: Resource,
    namespace: str | None,
    body: Any,
    namespace_of: Callable[[str], Obj | None],
    field_validation: str | None,
    warnings: list[str] | None,
) -> tuple[str | None, Obj]:
    """A create's object as the server will store it (decoded, named, validated, pruned), and
    the namespace it goes to; an ApiError when the server refuses it."""
    if not isinstance(body, dict):
        raise bad_request("the body of the request was in an unknown format")
    check_decodable(res, body)
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
    check_namespace(res, namespace, namespace_of)
    causes = validate_meta(res, obj) + builtin_kinds.validate_builtin(res, obj)
    if causes:
        raise invalid(res, meta["name"], causes)
    check_builtin_fields(res, obj, field_validation, warnings)
    obj = check_custom(res, obj, field_validation, warnings)
    return namespace, obj


def admit_update(
    res: Resource,
    name: str,
    old: Obj,
    new: Obj,  # from a request body, which may be any JSON: checked below
    subresource: str | None,
    field_validation: str | None,
    warnings: list[str] | None,
) -> Obj:
    """An update's object as the server will store it: the status (or, to the status
    subresource, all but the status) and the metadata the server owns kept from `old`,
    validated and pruned, with `old`'s generation and resourceVersion."""
    check_decodable(res, new)
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
    causes = validate_meta(res, new)
    if res.ref.plural == "pods" and subresource is None:
        causes += builtin_kinds.pod_deadline_update(old, new)
    if causes:
        raise invalid(res, name, causes)
    new = check_custom(res, new, field_validation, warnings, old)
    meta = new["metadata"]
    meta["generation"] = old["metadata"].get("generation", 1)
    meta["resourceVersion"] = old["metadata"]["resourceVersion"]
    return new
