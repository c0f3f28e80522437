"""The kmock internals the sandbox still needs, in one place, for kmock 0.8 only.

kmock's public names cover the handler (`kmock.RawHandler`), the server, the request record
and the fault DSL. Three things have no public name in 0.8: parsing a request outside
`RawHandler.__call__` (whose parser refuses some valid Kubernetes paths), reaching the aiohttp
request behind a `kmock.Request` (to stream a watch or a log), and matching a request against
the reactions a test added without kmock's O(history) scan. Upgrading kmock means checking
these against its new source, so an unexpected version fails at import, not at a request.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from typing import Any

import aiohttp.web
import kmock

KMOCK_VERSION = "0.8"
_FOUND = importlib.metadata.version("kmock")
if _FOUND != KMOCK_VERSION:  # pyproject's sandbox extra pins the same version
    raise ImportError(f"kmock=={KMOCK_VERSION} wanted, kmock {_FOUND} found", name="kmock")


async def parse_request(raw: aiohttp.web.BaseRequest, id: int) -> kmock.Request:
    """The request as kmock parses it; the HTTP part only where kmock's parser cannot read the
    path (GET /api/v1/namespaces)."""
    try:
        return await kmock.Request._parse(raw, id=id)
    except ValueError:
        return kmock.Request(
            id=id,
            raw_request=raw,
            url=raw.url,
            method=raw.method,
            params=dict(raw.query),
            headers=dict(raw.headers),
            cookies=dict(raw.cookies),
            body=await raw.read(),
            text=await raw.text(),
        )


def raw_request(request: kmock.Request) -> aiohttp.web.BaseRequest:
    """The aiohttp request behind a parsed one, for a streamed response."""
    raw = request._raw_request
    assert raw is not None, "a request the server received has its aiohttp request"
    return raw


def record(handler: kmock.RawHandler, request: kmock.Request) -> None:
    """Keep the request in the handler's record: what `list(handler)` and the DSL's filters see."""
    handler._requests.append(request)


def count(handler: kmock.RawHandler) -> int:
    return len(handler._requests)


def recorded(handler: kmock.RawHandler) -> Iterator[kmock.Request]:
    yield from handler._requests


def reactions(handler: kmock.RawHandler) -> Any:
    """The handler's test-added reactions, highest priority first (as RawHandler._handle orders them)."""
    payloads = list(handler._payloads)
    width = max((len(p.priorities) for p in payloads), default=0)

    def rank(payload: Any) -> tuple[float, ...]:
        padded = tuple(payload.priorities) + (0,) * (width - len(payload.priorities))
        return tuple(-x for x in padded)

    return sorted(payloads, key=rank)


def matches(reaction: Any, request: kmock.Request) -> bool:
    return not reaction._disabled.is_set() and request in reaction._source


def disable(reaction: Any) -> None:
    """A reaction depleted or mismatched (kmock.ReactionMismatchError) answers no more."""
    reaction._disabled.set()
