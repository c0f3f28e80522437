"""The sandbox's HTTP surface: Kubernetes API paths routed to the emulator's storage, plus
discovery, as kubectl and clients expect (watches and pod logs: streams; tables: tables;
OpenAPI documents: openapi)."""

from __future__ import annotations

import copy
import datetime
import json
from typing import Any

import aiohttp.web
import kmock
import yaml

from . import openapi, streams, tables
from .apierrors import ApiError, bad_request
from .resources import Resource
from .storage import ObjectStore

SERVER_VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-kubesweep-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> aiohttp.web.Response:
    headers = {}
    if warnings:
        headers["Warning"] = ", ".join(f'299 - "{w.replace(chr(34), chr(92) + chr(34))}"' for w in warnings)
    return aiohttp.web.json_response(body, status=status, headers=headers)


async def route(objects: ObjectStore, request: kmock.Request) -> aiohttp.web.StreamResponse:
    path = request.url.path.rstrip("/") or "/"
    parts = [p for p in path.split("/") if p]
    method = str(request.method.value if hasattr(request.method, "value") else request.method).upper()
    if path in ("/healthz", "/readyz", "/livez"):
        return aiohttp.web.Response(text="ok")
    if path == "/version":
        return _json(SERVER_VERSION)
    if path == "/":
        return _json(
            {"paths": sorted({"/api", "/api/v1", "/apis", "/version", "/openapi/v2", "/openapi/v3"})}
        )
    if parts[:1] == ["openapi"]:
        return openapi.serve(objects, parts[1:], request.headers.get("Accept") or "")
    if parts == ["api"]:
        return _json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
    if parts == ["apis"]:
        return _json(api_groups(objects))
    if parts[:1] == ["apis"] and len(parts) == 2:
        group = next((g for g in api_groups(objects)["groups"] if g["name"] == parts[1]), None)
        if group is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return _json({"kind": "APIGroup", "apiVersion": "v1", **group})
    if parts[:1] == ["api"] and len(parts) == 2:
        return _json(resource_list(objects, "", parts[1]))
    if parts[:1] == ["apis"] and len(parts) == 3:
        listing = resource_list(objects, parts[1], parts[2])
        if not listing["resources"]:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return _json(listing)

    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    namespace: str | None = None
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and not (len(rest) == 3 and rest[2] in ("status", "finalize"))
    ):
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    res = objects.resources.resource(group, version, plural)
    if res.namespaced is False:
        namespace = None
    if sub is not None and sub not in res.subresources:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    params = request.params
    field_validation = params.get("fieldValidation")
    dry_run = bool(params.get("dryRun"))
    warnings: list[str] = []
    table = "as=Table" in (request.headers.get("Accept") or "")

    if method == "GET" and name is None:
        if streams.flag(params, "watch"):
            return await streams.watch(objects, request, res, namespace, table)
        items = objects.select(res, namespace, params.get("labelSelector"), params.get("fieldSelector"))
        if table:
            return _json(tables.render(res, items, str(objects.rv)))
        return _json(
            {
                "kind": f"{res.kind}List",
                "apiVersion": res.ref.api_version,
                "metadata": {"resourceVersion": str(objects.rv)},
                "items": [copy.deepcopy(o) for o in items],
            }
        )
    if method == "GET" and sub == "log":
        assert name is not None and namespace is not None
        objects.get(res, namespace, name)
        return await streams.pod_log(objects, request, namespace, name)
    if method == "GET":
        assert name is not None
        obj = objects.get(res, namespace, name)
        return _json(tables.render(res, [obj], str(objects.rv)) if table else obj)
    if method == "POST" and sub == "eviction":
        assert name is not None
        return _json(evict(objects, res, namespace, name, parse_body(request)), 201)
    if method == "POST" and name is None:
        created = objects.create(
            res,
            namespace,
            parse_body(request),
            field_validation=field_validation,
            warnings=warnings,
            dry_run=dry_run,
        )
        return _json(created, 201, warnings)
    if method == "PUT" and name is not None:
        body = parse_body(request)
        if isinstance(body, dict):
            body_name = (body.get("metadata") or {}).get("name")
            if body_name and body_name != name:
                raise bad_request(
                    f"the name of the object ({body_name}) does not match the name on the URL ({name})"
                )
        expect = ((body.get("metadata") or {}).get("resourceVersion")) if isinstance(body, dict) else None
        updated = objects.update(
            res,
            namespace,
            name,
            body,
            subresource=sub,
            expect_rv=expect,
            field_validation=field_validation,
            warnings=warnings,
            dry_run=dry_run,
        )
        return _json(updated, 200, warnings)
    if method == "PATCH" and name is not None:
        patched = objects.patch(
            res,
            namespace,
            name,
            request.headers.get("Content-Type") or "application/merge-patch+json",
            request.body,
            subresource=sub,
            field_validation=field_validation,
            warnings=warnings,
            dry_run=dry_run,
        )
        return _json(patched, 200, warnings)
    if method == "DELETE":
        grace, propagation, preconditions = delete_options(objects, request)
        if name is None:
            deleted = []
            for obj in list(
                objects.select(res, namespace, params.get("labelSelector"), params.get("fieldSelector"))
            ):
                meta = obj["metadata"]
                gone = objects.delete(res, meta.get("namespace"), meta["name"], grace, propagation)
                if gone is not None:
                    deleted.append(gone)
            return _json(
                {
                    "kind": f"{res.kind}List",
                    "apiVersion": res.ref.api_version,
                    "metadata": {"resourceVersion": str(objects.rv)},
                    "items": deleted,
                }
            )
        obj = objects.get(res, namespace, name)
        if preconditions.get("uid") and preconditions["uid"] != obj["metadata"]["uid"]:
            raise ApiError(
                409,
                "Conflict",
                f"Precondition failed: UID in precondition: {preconditions['uid']}, UID in object meta: {obj['metadata']['uid']}",
            )
        if (
            preconditions.get("resourceVersion")
            and preconditions["resourceVersion"] != obj["metadata"]["resourceVersion"]
        ):
            raise ApiError(409, "Conflict", "Precondition failed: the object's resourceVersion has changed")
        gone = objects.delete(res, namespace, name, grace, propagation)
        return _json(gone)
    raise ApiError(
        405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({method})"
    )


def evict(objects: ObjectStore, res: Resource, namespace: str | None, name: str, body: Any) -> dict[str, Any]:
    """POST pods/NAME/eviction as the real API server answers it where no PodDisruptionBudget
    stands in the way (a node drain does this for each pod): the pod gets the condition
    DisruptionTarget True, reason EvictionByEvictionAPI, then is deleted with the grace period of
    the Eviction's deleteOptions, else its own."""
    pod = objects.get(res, namespace, name)
    options = (body.get("deleteOptions") if isinstance(body, dict) else None) or {}
    conditions = [
        c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") != "DisruptionTarget"
    ]
    conditions.append(
        {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting",
            "lastProbeTime": None,
            "lastTransitionTime": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    patch = json.dumps({"status": {"conditions": conditions}}).encode()
    objects.patch(res, namespace, name, "application/merge-patch+json", patch, subresource="status")
    grace = options.get("gracePeriodSeconds")
    objects.delete(res, namespace, name, int(grace) if grace is not None else None, None)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def delete_options(objects: ObjectStore, request: kmock.Request) -> tuple[int | None, str, dict[str, Any]]:
    options: dict[str, Any] = {}
    if request.body:
        try:
            loaded = json.loads(request.body.decode())
        except ValueError as exc:
            raise bad_request(f"the body of the request could not be decoded: {exc}") from None
        if isinstance(loaded, dict):
            options = loaded
    grace_raw = request.params.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
    try:
        grace = int(grace_raw) if grace_raw is not None else None
    except ValueError:
        raise bad_request(f"invalid gracePeriodSeconds: {grace_raw}") from None
    propagation = str(
        request.params.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
    )
    if propagation not in ("Background", "Foreground", "Orphan"):
        raise ApiError(422, "Invalid", f'propagationPolicy: Unsupported value: "{propagation}"')
    return grace, propagation, dict(options.get("preconditions") or {})


def api_groups(objects: ObjectStore) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for group, version in ((r.ref.group, r.ref.version) for r in objects.resources):
        if group and version not in groups.setdefault(group, []):
            groups[group].append(version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]},
            }
            for group, versions in sorted(groups.items())
        ],
    }


def resource_list(objects: ObjectStore, group: str, version: str) -> dict[str, Any]:
    resources = [r for r in objects.resources if r.ref.group == group and r.ref.version == version]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for r in resources for entry in r.discovery()],
    }


def parse_body(request: kmock.Request) -> Any:
    if not request.body:
        raise bad_request("the body of the request was empty")
    content_type = (request.headers.get("Content-Type") or "application/json").split(";")[0]
    try:
        if "yaml" in content_type:
            return yaml.safe_load(request.body.decode())
        return json.loads(request.body.decode())
    except (ValueError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise bad_request(f"the body of the request could not be decoded: {exc}") from None
