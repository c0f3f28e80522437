"""The sandbox's API server: a kmock handler whose fallback is an emulated Kubernetes API.

kmock gives the HTTP server, the record of requests (`list(emulator)` is every request served)
and its DSL for injecting faults (`emulator[kmock.resource("batch", "v1", "jobs")] << 500`
answers matching requests before the emulated API does). What the API server does is in the
modules around this one: `storage` (objects, metadata, garbage collection), `admission`
(validation, defaults, CRD schemas), `patching` (merge, JSON, strategic-merge and apply
patches), `watches` (history, 410 Gone, selectors), `registry` (built-in resources and CRDs),
and `http_api` (routing, discovery, OpenAPI, tables, watches and pod logs over HTTP). Every bad
request gets the Status body the real server sends; what the real server does that clients
trip on is done too (see ../shared/k8s/README.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import aiohttp.web
import kmock

from . import http_api, kmock_compat
from .apierrors import ApiError
from .local_store import LocalStore
from .storage import ObjectStore

logger = logging.getLogger("kubesweep.sandbox")


class SandboxEmulator(kmock.RawHandler):
    """The API server of the sandbox. `objects` is its storage, `store` the same storage as the
    in-process `Store` of its controllers."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.objects = ObjectStore()
        self.store = LocalStore(self.objects)
        self._matching: kmock.Request | None = None

    def close(self) -> None:
        """End every watch stream and the background garbage collection."""
        self.objects.watches.close()
        for task in list(self.objects.background):
            task.cancel()

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        await raw_request.read()
        request = await kmock_compat.parse_request(raw_request, kmock_compat.count(self))
        kmock_compat.record(self, request)
        return await self._handle(request)

    def __iter__(self) -> Iterator[kmock.Request]:
        # While a request is matched against test-added reactions, kmock's filters iterate the
        # handler's requests: show them only that one, so matching costs O(1), not O(history).
        if self._matching is not None:
            yield self._matching
            return
        yield from kmock_compat.recorded(self)

    def _reaction_for(self, request: kmock.Request) -> Any:
        """The first test-added reaction (kmock DSL) that matches the request, by priority."""
        self._matching = request
        try:
            return next((r for r in kmock_compat.reactions(self) if kmock_compat.matches(r, request)), None)
        finally:
            self._matching = None

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # Reactions a test added (faults) answer first; the emulated API answers the rest.
        if (reaction := self._reaction_for(request)) is not None:
            try:
                response: aiohttp.web.StreamResponse = await reaction(request)
                return response
            except kmock.ReactionMismatchError:
                kmock_compat.disable(reaction)
            except NotImplementedError:
                pass
        try:
            return await http_api.route(self.objects, request)
        except ApiError as exc:
            return aiohttp.web.json_response(exc.status_body(), status=exc.status)
        except Exception as exc:  # a bug of ours must not take the server down
            logger.exception("sandbox: %s %s failed", request.method, request.url.path)
            error = ApiError(
                500,
                "InternalError",
                f"an error on the server has prevented the request from succeeding: {exc!r}",
            )
            return aiohttp.web.json_response(error.status_body(), status=500)
