"""The OpenAPI documents kubectl reads (apply's field validation, explain): v3 from each
resource's schema, an empty v2."""

from __future__ import annotations

import copy
from typing import Any

import aiohttp.web

from .apierrors import ApiError
from .resources import Resource
from .storage import ObjectStore


def _json(body: Any) -> aiohttp.web.Response:
    return aiohttp.web.json_response(body)


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def serve(objects: ObjectStore, parts: list[str], accept: str) -> aiohttp.web.Response:
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
        gvs = sorted({(r.ref.group, r.ref.version) for r in objects.resources})
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
        resources = [r for r in objects.resources if r.ref.group == group and r.ref.version == version]
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
