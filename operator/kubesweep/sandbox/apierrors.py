"""The errors of the sandbox's API server, each with the Status body the real server sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import schema as crd_schema
from .resources import Resource
from .store import StoreError


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


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)
