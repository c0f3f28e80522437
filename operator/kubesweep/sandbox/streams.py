"""The sandbox's streamed responses: watches (resuming from a resourceVersion, 410 Gone,
selectors, bookmarks, tables) and followed pod logs."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp.web
import kmock

from . import kmock_compat, selectors, tables
from .apierrors import ApiError, bad_request
from .resources import Resource
from .storage import ObjectStore
from .store import Obj

# A bookmark goes out whenever nothing is queued for a watch this long (a real API server
# sends one a minute, and two seconds before the watch's deadline).
BOOKMARK_INTERVAL = 5.0


def flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").lower() in ("true", "1")


async def watch(
    objects: ObjectStore, request: kmock.Request, res: Resource, namespace: str | None, table: bool
) -> aiohttp.web.StreamResponse:
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

    queue = objects.watches.subscribe(res)
    raw = kmock_compat.raw_request(request)
    assert raw is not None
    response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        rv_param = params.get("resourceVersion", "")
        backlog: list[tuple[str, Obj, Obj | None]]
        if rv_param in ("", "0"):
            backlog = [("ADDED", o, None) for o in objects.select(res, namespace) if matches(o)]
        else:
            try:
                since = int(rv_param)
            except ValueError:
                raise bad_request(f"invalid resourceVersion: {rv_param}") from None
            events = objects.watches.events_since(res, since)
            if events is None:
                await response.prepare(raw)
                gone = ApiError(410, "Expired", f"too old resource version: {since} ({objects.rv})")
                await response.write(
                    (json.dumps({"type": "ERROR", "object": gone.status_body()}) + "\n").encode()
                )
                await response.write_eof()
                return response
            backlog = [(kind, obj, before) for _, kind, obj, before in events]
        await response.prepare(raw)
        timeout = float(params.get("timeoutSeconds") or 0) or None
        deadline = time.monotonic() + timeout if timeout else None
        bookmarks = flag(params, "allowWatchBookmarks")

        async def send(kind: str, obj: Obj) -> None:
            body: Any = (
                tables.render(res, [obj], obj["metadata"].get("resourceVersion", "")) if table else obj
            )
            await response.write((json.dumps({"type": kind, "object": body}) + "\n").encode())

        for kind, obj, before in backlog:
            if seen := as_seen(kind, obj, before):
                await send(*seen)
        last_bookmark = time.monotonic()
        while True:
            wait = BOOKMARK_INTERVAL
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
            if bookmarks and queue.empty() and time.monotonic() - last_bookmark >= BOOKMARK_INTERVAL:
                last_bookmark = time.monotonic()
                mark = {
                    "kind": res.kind,
                    "apiVersion": res.ref.api_version,
                    "metadata": {"resourceVersion": str(objects.rv)},
                }
                await response.write((json.dumps({"type": "BOOKMARK", "object": mark}) + "\n").encode())
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        objects.watches.unsubscribe(res, queue)
    return response


async def pod_log(
    objects: ObjectStore, request: kmock.Request, namespace: str, name: str
) -> aiohttp.web.StreamResponse:
    text = objects.log_source(namespace, name) or ""
    tail = request.params.get("tailLines")
    if tail:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-int(tail) :]) if int(tail) > 0 else ""
    if not flag(request.params, "follow"):
        return aiohttp.web.Response(text=text, content_type="text/plain")
    raw = kmock_compat.raw_request(request)
    assert raw is not None
    response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(raw)
    sent = len(objects.log_source(namespace, name) or "")
    await response.write(text.encode())
    with contextlib.suppress(ConnectionError, RuntimeError):
        while True:
            await asyncio.sleep(0.1)
            current = objects.log_source(namespace, name) or ""
            if len(current) > sent:
                await response.write(current[sent:].encode())
                sent = len(current)
            pod = objects.find(objects.resources.resource("", "v1", "pods"), namespace, name)
            if pod is None or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                break
        await response.write_eof()
    return response
