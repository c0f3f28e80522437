"""The API requests a cluster served, named as RBAC and audit logs name them: from the
emulator's record of every request, or from a real API server's audit log. The permission tests
and the requests benchmark read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The operator's user agents: kopf's watches and the `kubernetes` client's calls (cluster.py).
OPERATOR_AGENTS = ("kopf", "kubesweep-operator")


@dataclass(frozen=True)
class ApiRequest:
    """One request the cluster answered: who sent it, and what RBAC would call it."""

    agent: str
    group: str
    resource: str  # with its subresource: "pods/log"
    verb: str
    label_selector: str | None
    code: int  # the response's status; 0 where the record does not say


def _label_selector(query: str) -> str | None:
    found = parse_qs(query).get("labelSelector")
    return found[0] if found else None


def from_operator(request: ApiRequest) -> bool:
    return request.agent.startswith(OPERATOR_AGENTS)


def from_emulator(record: Any) -> ApiRequest | None:
    """A request of the emulator's (kmock's) record; None for discovery, which the audit log
    names no resource for either."""
    url = urlsplit(str(record.url))
    parts = [p for p in url.path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        rest = rest[2:]
    resource, name = rest[0], rest[1] if len(rest) > 1 else None
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    query = parse_qs(url.query)
    method = str(getattr(record.method, "value", record.method)).upper()
    watching = (query.get("watch") or [""])[0] in ("true", "1")
    verb = {
        "GET": "get" if name else ("watch" if watching else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }.get(method, method.lower())
    agent = record.headers.get("User-Agent") or ""
    return ApiRequest(agent, group, resource, verb, _label_selector(url.query), 0)


def from_audit(event: dict[str, Any]) -> ApiRequest | None:
    """A request of the audit log (one event per request); None for discovery, health checks."""
    ref = event.get("objectRef") or {}
    if not ref.get("resource"):
        return None
    resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    return ApiRequest(
        event.get("userAgent", ""),
        ref.get("apiGroup", ""),
        resource,
        event.get("verb", ""),
        _label_selector(urlsplit(event.get("requestURI", "")).query),
        int((event.get("responseStatus") or {}).get("code") or 0),
    )


def served(cluster: Any) -> list[tuple[object, ApiRequest]]:
    """Every resource request `cluster` (a ControlPlane or the sandbox) has served, each with a
    key that names it (the audit ID, or its place in the emulator's record)."""
    if getattr(cluster, "backend", "sandbox") == "real":
        found = [(e.get("auditID"), from_audit(e)) for e in cluster.audit_events()]
    else:
        found = [(n, from_emulator(r)) for n, r in enumerate(list(cluster.emulator))]
    return [(key, r) for key, r in found if r is not None]
