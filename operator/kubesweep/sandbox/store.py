"""The in-process interface between the sandbox's API emulator and its controllers.

The job controller and the kubelet act on objects through this interface rather than over
HTTP, so that scale tests with thousands of pods stay cheap. Every write goes through the
same code path as an HTTP request: metadata is filled, watch events are sent, ownership
garbage collection and pod graceful deletion apply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

Obj = dict[str, Any]


@dataclass(frozen=True)
class ResourceRef:
    """A resource as the API paths name it: group "" for the core group."""

    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


PODS = ResourceRef("", "v1", "pods")
JOBS = ResourceRef("batch", "v1", "jobs")
EVENTS = ResourceRef("", "v1", "events")
NAMESPACES = ResourceRef("", "v1", "namespaces")
CRDS = ResourceRef("apiextensions.k8s.io", "v1", "customresourcedefinitions")


class StoreError(Exception):
    """An API error as the server would answer it: HTTP status, reason, message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    object: Obj


# Returns the pod's log text for `pods/{name}/log`, or None when the pod has no log.
LogSource = Callable[[str, str], str | None]


class Store(Protocol):
    async def get(self, ref: ResourceRef, namespace: str | None, name: str) -> Obj | None: ...

    async def list(
        self, ref: ResourceRef, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]: ...

    async def create(self, ref: ResourceRef, obj: Obj) -> Obj:
        """Create as a POST would: fills uid, resourceVersion, generation, creationTimestamp,
        namespace, generateName; raises StoreError(409) when the name is taken."""
        ...

    async def patch(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        patch: Obj,
        *,
        subresource: str | None = None,
    ) -> Obj:
        """A JSON merge patch (RFC 7386), to the main resource or to `status`."""
        ...

    async def delete(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str = "Background",
    ) -> None:
        """Delete as a DELETE would. A running pod deleted with a grace period above 0 gets a
        deletionTimestamp and deletionGracePeriodSeconds and stays until its kubelet deletes it
        with grace 0; grace 0 removes it at once. Dependents are garbage-collected."""
        ...

    def watch(self, ref: ResourceRef) -> AsyncIterator[WatchEvent]:
        """Events of every namespace from the moment of the call on (no replay)."""
        ...

    def set_log_source(self, source: LogSource) -> None:
        """The kubelet registers where `GET pods/{name}/log` reads from."""
        ...
