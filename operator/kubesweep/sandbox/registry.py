"""The resources the sandbox's API server serves: the built-in ones and those its CRDs define."""

from __future__ import annotations

from collections.abc import Iterator

from .apierrors import ApiError
from .resources import BUILTINS, Resource, from_crd
from .store import Obj, ResourceRef


class Registry:
    def __init__(self) -> None:
        self._served: dict[tuple[str, str, str], Resource] = {}
        for res in BUILTINS:
            self.serve(res)

    def serve(self, res: Resource) -> None:
        self._served[(res.ref.group, res.ref.version, res.ref.plural)] = res

    def serve_crd(self, crd: Obj) -> None:
        for res in from_crd(crd):
            self.serve(res)

    def unserve(self, res: Resource) -> None:
        self._served.pop((res.ref.group, res.ref.version, res.ref.plural), None)

    def __iter__(self) -> Iterator[Resource]:
        return iter(list(self._served.values()))

    def resource(self, group: str, version: str, plural: str) -> Resource:
        """The resource served at that path, else 404 as the API server answers it."""
        res = self._served.get((group, version, plural))
        if res is None:
            path = f"/apis/{group}/{version}/{plural}" if group else f"/api/{version}/{plural}"
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        return res

    def resource_of(self, ref: ResourceRef) -> Resource:
        return self.resource(ref.group, ref.version, ref.plural)

    def of_kind(self, api_version: str, kind: str) -> Resource | None:
        group, _, version = api_version.rpartition("/")
        for res in self._served.values():
            if res.ref.group == group and res.ref.version == version and res.kind == kind:
                return res
        return None

    def stored_as(self, group: str, plural: str) -> Resource:
        """The resource objects stored under (group, plural) belong to, served or built in (a
        CRD's objects outlive its serving while they are deleted)."""
        for res in [*self._served.values(), *BUILTINS]:
            if res.ref.group == group and res.ref.plural == plural:
                return res
        raise KeyError((group, plural))
