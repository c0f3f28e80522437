"""The resources the sandbox serves: a fixed set of built-ins, plus those CRDs register."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .store import ResourceRef

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class Resource:
    ref: ResourceRef
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    subresources: tuple[str, ...] = ()
    schema: dict[str, Any] | None = None  # openAPIV3Schema, for custom resources
    printer_columns: list[dict[str, Any]] = field(default_factory=list)
    crd_name: str | None = None

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def discovery(self) -> list[dict[str, Any]]:
        main = {
            "name": self.ref.plural,
            "singularName": self.singular or self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": VERBS,
        }
        if self.short_names:
            main["shortNames"] = self.short_names
        if self.categories:
            main["categories"] = self.categories
        out = [main]
        for sub in self.subresources:
            verbs = ["get"] if sub == "log" else ["get", "patch", "update"]
            kind = "Pod" if sub == "log" else self.kind
            entry: dict[str, Any] = {
                "name": f"{self.ref.plural}/{sub}",
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": kind,
                "verbs": verbs,
            }
            if sub == "eviction":  # as the real API server lists it (`kubectl drain` looks for it)
                entry.update(group="policy", version="v1", kind="Eviction", verbs=["create"])
            out.append(entry)
        return out


def _r(group: str, version: str, plural: str, kind: str, namespaced: bool = True, **kw: Any) -> Resource:
    return Resource(ResourceRef(group, version, plural), kind, namespaced, **kw)


BUILTINS = [
    _r("", "v1", "namespaces", "Namespace", False, short_names=["ns"], subresources=("status",)),
    _r(
        "",
        "v1",
        "pods",
        "Pod",
        short_names=["po"],
        categories=["all"],
        subresources=("status", "log", "eviction"),
    ),
    _r("", "v1", "events", "Event", short_names=["ev"]),
    _r("", "v1", "serviceaccounts", "ServiceAccount", short_names=["sa"]),
    _r("", "v1", "configmaps", "ConfigMap", short_names=["cm"]),
    _r("", "v1", "secrets", "Secret"),
    _r("", "v1", "services", "Service", short_names=["svc"], categories=["all"], subresources=("status",)),
    _r("events.k8s.io", "v1", "events", "Event", short_names=["ev"]),
    _r("batch", "v1", "jobs", "Job", categories=["all"], subresources=("status",)),
    _r(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short_names=["deploy"],
        categories=["all"],
        subresources=("status",),
    ),
    _r("coordination.k8s.io", "v1", "leases", "Lease"),
    _r(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short_names=["crd", "crds"],
        subresources=("status",),
    ),
]


def from_crd(crd: dict[str, Any]) -> list[Resource]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = tuple(k for k in ("status", "scale") if k in (version.get("subresources") or {}))
        out.append(
            Resource(
                ResourceRef(spec.get("group", ""), version["name"], names.get("plural", "")),
                names.get("kind", ""),
                spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular", ""),
                short_names=list(names.get("shortNames") or []),
                categories=list(names.get("categories") or []),
                subresources=subresources,
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=list(version.get("additionalPrinterColumns") or []),
                crd_name=(crd.get("metadata") or {}).get("name"),
            )
        )
    return out
