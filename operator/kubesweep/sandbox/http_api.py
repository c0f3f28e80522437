"""The sandbox's HTTP surface: Kubernetes API paths routed to the emulator's storage, plus
discovery, OpenAPI documents, server-side tables and pod logs, as kubectl and clients expect."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp.web
from kmock._internal import rendering

from .emulator import ApiError, Resource, age, bad_request
from .store import Obj

if TYPE_CHECKING:
    from .emulator import SandboxEmulator

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


def _flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").lower() in ("true", "1")


async def route(emu: SandboxEmulator, request: rendering.Request) -> aiohttp.web.StreamResponse:
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
        return openapi(emu, parts[1:], request.headers.get("Accept") or "")
    if parts == ["api"]:
        return _json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
    if parts == ["apis"]:
        return _json(api_groups(emu))
    if parts[:1] == ["apis"] and len(parts) == 2:
        group = next((g for g in api_groups(emu)["groups"] if g["name"] == parts[1]), None)
        if group is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return _json({"kind": "APIGroup", "apiVersion": "v1", **group})
    if parts[:1] == ["api"] and len(parts) == 2:
        return _json(resource_list(emu, "", parts[1]))
    if parts[:1] == ["apis"] and len(parts) == 3:
        listing = resource_list(emu, parts[1], parts[2])
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
    res = emu._resource(group, version, plural)
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
        if _flag(params, "watch"):
            return await watch(emu, request, res, namespace, table)
        items = emu._list(res, namespace, params.get("labelSelector"), params.get("fieldSelector"))
        if table:
            return _json(render_table(res, items, str(emu.rv)))
        return _json(
            {
                "kind": f"{res.kind}List",
                "apiVersion": res.ref.api_version,
                "metadata": {"resourceVersion": str(emu.rv)},
                "items": [copy.deepcopy(o) for o in items],
            }
        )
    if method == "GET" and sub == "log":
        assert name is not None and namespace is not None
        emu._get(res, namespace, name)
        return await pod_log(emu, request, namespace, name)
    if method == "GET":
        assert name is not None
        obj = emu._get(res, namespace, name)
        return _json(render_table(res, [obj], str(emu.rv)) if table else obj)
    if method == "POST" and sub == "eviction":
        assert name is not None
        return _json(evict(emu, res, namespace, name, emu.parse_body(request)), 201)
    if method == "POST" and name is None:
        created = emu._create(
            res,
            namespace,
            emu.parse_body(request),
            field_validation=field_validation,
            warnings=warnings,
            dry_run=dry_run,
        )
        return _json(created, 201, warnings)
    if method == "PUT" and name is not None:
        body = emu.parse_body(request)
        if isinstance(body, dict):
            body_name = (body.get("metadata") or {}).get("name")
            if body_name and body_name != name:
                raise bad_request(
                    f"the name of the object ({body_name}) does not match the name on the URL ({name})"
                )
        expect = ((body.get("metadata") or {}).get("resourceVersion")) if isinstance(body, dict) else None
        updated = emu._update(
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
        patched = emu._patch(
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
        grace, propagation, preconditions = delete_options(emu, request)
        if name is None:
            deleted = []
            for obj in list(
                emu._list(res, namespace, params.get("labelSelector"), params.get("fieldSelector"))
            ):
                meta = obj["metadata"]
                gone = emu._delete_obj(
                    emu._okey(res, meta.get("namespace"), meta["name"]), grace, propagation
                )
                if gone is not None:
                    deleted.append(gone)
            return _json(
                {
                    "kind": f"{res.kind}List",
                    "apiVersion": res.ref.api_version,
                    "metadata": {"resourceVersion": str(emu.rv)},
                    "items": deleted,
                }
            )
        obj = emu._get(res, namespace, name)
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
        gone = emu._delete_obj(emu._okey(res, namespace, name), grace, propagation)
        return _json(gone)
    raise ApiError(
        405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({method})"
    )


def evict(emu: SandboxEmulator, res: Resource, namespace: str | None, name: str, body: Any) -> dict[str, Any]:
    """POST pods/NAME/eviction as the real API server answers it where no PodDisruptionBudget
    stands in the way (a node drain does this for each pod): the pod gets the condition
    DisruptionTarget True, reason EvictionByEvictionAPI, then is deleted with the grace period of
    the Eviction's deleteOptions, else its own."""
    pod = emu._get(res, namespace, name)
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
    emu._patch(res, namespace, name, "application/merge-patch+json", patch, subresource="status")
    grace = options.get("gracePeriodSeconds")
    emu._delete_obj(emu._okey(res, namespace, name), int(grace) if grace is not None else None, None)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def delete_options(
    emu: SandboxEmulator, request: rendering.Request
) -> tuple[int | None, str, dict[str, Any]]:
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


def api_groups(emu: SandboxEmulator) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for group, version, _ in emu.served:
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


def resource_list(emu: SandboxEmulator, group: str, version: str) -> dict[str, Any]:
    resources = [r for (g, v, _), r in emu.served.items() if g == group and v == version]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for r in resources for entry in r.discovery()],
    }


# ---------------------------------------------------------------------------------------------
# Watches.


async def watch(
    emu: SandboxEmulator, request: rendering.Request, res: Resource, namespace: str | None, table: bool
) -> aiohttp.web.StreamResponse:
    from . import selectors

    params = request.params
    try:
        by_labels = selectors.parse(params.get("labelSelector"))
        by_fields = selectors.parse_fields(params.get("fieldSelector"))
    except selectors.SelectorError as exc:
        raise bad_request(str(exc)) from None

    def matches(obj: Obj) -> bool:
        if namespace and res.namespaced and obj["metadata"].get("namespace") != namespace:
            return False
        return by_labels(selectors.labels_of(obj)) and by_fields(obj)

    def as_seen(kind: str, obj: Obj, prev: Obj | None) -> tuple[str, Obj] | None:
        """The event this watch sends, if any: a change that moves an object into the selector
        is ADDED, one that moves it out is DELETED carrying the object as it was before (with
        the change's resourceVersion), as the API server's watch cache sends them."""
        now = matches(obj)
        if kind == "MODIFIED" and prev is not None:
            before = matches(prev)
            if before and not now:
                gone = copy.deepcopy(prev)
                gone["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
                return ("DELETED", gone)
            if now and not before:
                return ("ADDED", obj)
        return (kind, obj) if now else None

    queue = emu.subscribe(res)
    raw = request._raw_request
    assert raw is not None
    response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        rv_param = params.get("resourceVersion", "")
        backlog: list[tuple[str, Obj, Obj | None]]
        if rv_param in ("", "0"):
            backlog = [("ADDED", o, None) for o in emu._list(res, namespace) if matches(o)]
        else:
            try:
                since = int(rv_param)
            except ValueError:
                raise bad_request(f"invalid resourceVersion: {rv_param}") from None
            events = emu.events_since(res, since)
            if events is None:
                await response.prepare(raw)
                gone = ApiError(410, "Expired", f"too old resource version: {since} ({emu.rv})")
                await response.write(
                    (json.dumps({"type": "ERROR", "object": gone.status_body()}) + "\n").encode()
                )
                await response.write_eof()
                return response
            backlog = [(kind, obj, before) for _, kind, obj, before in events]
        await response.prepare(raw)
        timeout = float(params.get("timeoutSeconds") or 0) or None
        deadline = time.monotonic() + timeout if timeout else None
        bookmarks = _flag(params, "allowWatchBookmarks")

        async def send(kind: str, obj: Obj) -> None:
            body: Any = render_table(res, [obj], obj["metadata"].get("resourceVersion", "")) if table else obj
            await response.write((json.dumps({"type": kind, "object": body}) + "\n").encode())

        for kind, obj, before in backlog:
            if seen := as_seen(kind, obj, before):
                await send(*seen)
        last_bookmark = time.monotonic()
        while True:
            wait = BOOKMARK_WAIT
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            try:
                item = await asyncio.wait_for(queue.get(), timeout=wait)
            except TimeoutError:
                item = ()  # type: ignore[assignment]
            if item is None:
                break
            if item:
                _, kind, obj, before = item
                if seen := as_seen(kind, obj, before):
                    await send(*seen)
            if raw.transport is None or raw.transport.is_closing():
                break
            # A bookmark promises every event up to its resourceVersion was sent: only true when
            # nothing is queued for this stream (a slow client resuming from a later one would
            # lose the queued events).
            if bookmarks and queue.empty() and time.monotonic() - last_bookmark >= BOOKMARK_WAIT:
                last_bookmark = time.monotonic()
                mark = {
                    "kind": res.kind,
                    "apiVersion": res.ref.api_version,
                    "metadata": {"resourceVersion": str(emu.rv)},
                }
                await response.write((json.dumps({"type": "BOOKMARK", "object": mark}) + "\n").encode())
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        emu.unsubscribe(res, queue)
    return response


BOOKMARK_WAIT = 5.0


async def pod_log(
    emu: SandboxEmulator, request: rendering.Request, namespace: str, name: str
) -> aiohttp.web.StreamResponse:
    text = emu.log_source(namespace, name) or ""
    tail = request.params.get("tailLines")
    if tail:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-int(tail) :]) if int(tail) > 0 else ""
    if not _flag(request.params, "follow"):
        return aiohttp.web.Response(text=text, content_type="text/plain")
    raw = request._raw_request
    assert raw is not None
    response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(raw)
    sent = len(emu.log_source(namespace, name) or "")
    await response.write(text.encode())
    with contextlib.suppress(ConnectionError, RuntimeError):
        while True:
            await asyncio.sleep(0.1)
            current = emu.log_source(namespace, name) or ""
            if len(current) > sent:
                await response.write(current[sent:].encode())
                sent = len(current)
            pod = emu.store_objects.get(("", "pods", namespace, name))
            if pod is None or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                break
        await response.write_eof()
    return response


# ---------------------------------------------------------------------------------------------
# Server-side tables (kubectl get) and OpenAPI documents (kubectl apply, explain).


def _jsonpath(obj: Any, path: str) -> Any:
    node = obj
    for part in [p for p in path.strip().lstrip(".").split(".") if p]:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _columns(res: Resource) -> list[tuple[str, str, str]]:
    """(name, type, jsonPath or a built-in key)."""
    if res.printer_columns:
        cols = [("Name", "string", ".metadata.name")]
        cols += [(c["name"], c.get("type", "string"), c["jsonPath"]) for c in res.printer_columns]
        if not any(c[2] == ".metadata.creationTimestamp" for c in cols):
            cols.append(("Age", "date", ".metadata.creationTimestamp"))
        return cols
    if res.ref.plural == "pods":
        return [
            ("Name", "string", ".metadata.name"),
            ("Ready", "string", "pod:ready"),
            ("Status", "string", "pod:status"),
            ("Restarts", "integer", "pod:restarts"),
            ("Age", "date", ".metadata.creationTimestamp"),
        ]
    if res.ref.plural == "jobs":
        return [
            ("Name", "string", ".metadata.name"),
            ("Status", "string", "job:status"),
            ("Completions", "string", "job:completions"),
            ("Age", "date", ".metadata.creationTimestamp"),
        ]
    return [("Name", "string", ".metadata.name"), ("Age", "date", ".metadata.creationTimestamp")]


def _cell(obj: Obj, kind: str, path: str) -> Any:
    status = obj.get("status") or {}
    if path == "pod:ready":
        statuses = status.get("containerStatuses") or []
        total = len((obj.get("spec") or {}).get("containers") or [])
        return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"
    if path == "pod:status":
        if obj["metadata"].get("deletionTimestamp"):
            return "Terminating"
        for s in status.get("containerStatuses") or []:
            terminated = (s.get("state") or {}).get("terminated")
            if terminated:
                return terminated.get("reason") or status.get("phase")
        return status.get("phase", "Pending")
    if path == "pod:restarts":
        return sum(int(s.get("restartCount", 0)) for s in status.get("containerStatuses") or [])
    if path == "job:status":
        for c in status.get("conditions") or []:
            if c.get("status") == "True" and c.get("type") in ("Complete", "Failed", "Suspended"):
                return c["type"]
        return "Running"
    if path == "job:completions":
        return f"{status.get('succeeded', 0)}/{(obj.get('spec') or {}).get('completions', 1)}"
    value = _jsonpath(obj, path)
    if kind == "date":
        return age(value) if isinstance(value, str) else "<unknown>"
    if value is None:
        return None
    if kind == "number" and isinstance(value, float):
        return value
    return value


def render_table(res: Resource, items: list[Obj], rv: str) -> dict[str, Any]:
    cols = _columns(res)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": [
            {
                "name": name,
                "type": "string" if kind == "date" else kind,
                "format": "name" if i == 0 else "",
                "description": "",
                "priority": 0,
            }
            for i, (name, kind, _) in enumerate(cols)
        ],
        "rows": [
            {
                "cells": [_cell(obj, kind, path) for _, kind, path in cols],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            }
            for obj in items
        ],
    }


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi(emu: SandboxEmulator, parts: list[str], accept: str) -> aiohttp.web.Response:
    if parts == ["v2"] and "protobuf" in accept:
        # An empty Document: kubectl's fallback for kinds that OpenAPI v3 does not describe.
        return aiohttp.web.Response(
            body=b"", content_type="application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        )
    if parts == ["v2"]:
        return _json(
            {
                "swagger": "2.0",
                "info": {"title": "Kubernetes", "version": "v1.31.0"},
                "paths": {},
                "definitions": {},
            }
        )
    if parts == ["v3"]:
        gvs = sorted({(g, v) for g, v, _ in emu.served})
        return _json(
            {
                "paths": {
                    _gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}"} for g, v in gvs
                }
            }
        )
    if parts[:1] == ["v3"] and len(parts) >= 3:
        rest = parts[1:]
        group, version = ("", rest[1]) if rest[0] == "api" else (rest[1], rest[2] if len(rest) > 2 else "")
        resources = [r for (g, v, _), r in emu.served.items() if g == group and v == version]
        if not resources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return _json(openapi_v3(resources))
    raise ApiError(404, "NotFound", "the server could not find the requested resource")


def _schema_name(res: Resource) -> str:
    group = ".".join(reversed(res.ref.group.split("."))) if res.ref.group else "io.k8s.api.core"
    return f"{group}.{res.ref.version}.{res.kind}"


def openapi_v3(resources: list[Resource]) -> dict[str, Any]:
    field_validation = {
        "name": "fieldValidation",
        "in": "query",
        "schema": {"type": "string", "uniqueItems": True},
    }
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for res in resources:
        base = f"/{_gv_path(res.ref.group, res.ref.version)}"
        scope = "/namespaces/{namespace}" if res.namespaced else ""
        ref = {"$ref": f"#/components/schemas/{_schema_name(res)}"}
        body = {"content": {"application/json": {"schema": ref}}}
        response = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        # kubectl finds an operation's resource by this extension, and uses server-side field
        # validation when the PATCH operation takes fieldValidation.
        gvk = {"group": res.ref.group, "version": res.ref.version, "kind": res.kind}
        paths[f"{base}{scope}/{res.ref.plural}"] = {
            "post": {
                "parameters": [field_validation],
                "requestBody": body,
                "responses": response,
                "x-kubernetes-action": "post",
                "x-kubernetes-group-version-kind": gvk,
            }
        }
        paths[f"{base}{scope}/{res.ref.plural}/{{name}}"] = {
            verb: {
                "parameters": [field_validation] if verb != "get" else [],
                "responses": response,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                **({"requestBody": body} if verb == "put" else {}),
            }
            for verb, action in (("get", "get"), ("put", "put"), ("patch", "patch"))
        }
        schema: dict[str, Any] = (
            copy.deepcopy(res.schema)
            if res.schema
            else {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        )
        props = schema.setdefault("properties", {})
        props.setdefault(
            "apiVersion",
            {
                "type": "string",
                "description": "APIVersion defines the versioned schema of this representation of an object.",
            },
        )
        props.setdefault(
            "kind",
            {
                "type": "string",
                "description": "Kind is a string value representing the REST resource this object represents.",
            },
        )
        props.setdefault(
            "metadata",
            {
                "type": "object",
                "description": "Standard object's metadata.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
        )
        schema["x-kubernetes-group-version-kind"] = [
            {"group": res.ref.group, "version": res.ref.version, "kind": res.kind}
        ]
        schemas[_schema_name(res)] = schema
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.31.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
