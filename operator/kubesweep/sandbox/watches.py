"""Watch events: each resource's recent history (for watches that resume from a
resourceVersion, with 410 Gone past it) and the live subscribers."""

from __future__ import annotations

import asyncio
import copy
from collections import deque

from . import selectors
from .resources import Resource
from .store import Obj

HISTORY = 20000  # watch events kept per resource for watches that resume from a resourceVersion
Key = tuple[str, str]  # (group, plural)
# A watch event as kept and sent: (resourceVersion, type, object, the object before when a
# MODIFIED changed its labels or selectable fields, else None).
Change = tuple[int, str, Obj, Obj | None]
# What a subscriber's queue gets: a change, or None when the server closes every watch.
Subscription = asyncio.Queue[Change | None]


def selectable_changed(prev: Obj | None, obj: Obj) -> bool:
    """Whether a change can move an object into or out of a watch's label or field selector."""
    if prev is None:
        return False
    return selectors.labels_of(prev) != selectors.labels_of(obj) or selectors.field_values(
        prev
    ) != selectors.field_values(obj)


def _key(res: Resource) -> Key:
    return (res.ref.group, res.ref.plural)


class WatchHub:
    def __init__(self) -> None:
        self._history: dict[Key, deque[Change]] = {}
        self._compacted: dict[Key, int] = {}
        self._subscribers: dict[Key, set[Subscription]] = {}
        # Each object as last published (the snapshot its watch event carries): a watch with a
        # selector turns a change that moves an object out of it into DELETED with the object as
        # it was before, as the API server's watch cache does.
        self._published: dict[str, Obj] = {}

    def publish(self, res: Resource, kind: str, obj: Obj) -> None:
        key = _key(res)
        rv = int(obj["metadata"]["resourceVersion"])
        history = self._history.setdefault(key, deque())
        if len(history) >= HISTORY:
            self._compacted[key] = history.popleft()[0]
        snapshot = copy.deepcopy(obj)
        uid = obj["metadata"].get("uid", "")
        prev = self._published.pop(uid, None) if kind == "DELETED" else self._published.get(uid)
        if kind != "DELETED":
            self._published[uid] = snapshot
        change = (rv, kind, snapshot, prev if kind == "MODIFIED" and selectable_changed(prev, obj) else None)
        history.append(change)
        for queue in list(self._subscribers.get(key, ())):
            queue.put_nowait(change)

    def subscribe(self, res: Resource) -> Subscription:
        queue: Subscription = asyncio.Queue()
        self._subscribers.setdefault(_key(res), set()).add(queue)
        return queue

    def unsubscribe(self, res: Resource, queue: Subscription) -> None:
        self._subscribers.get(_key(res), set()).discard(queue)

    def events_since(self, res: Resource, rv: int) -> list[Change] | None:
        """Events after `rv`, or None when they are no longer kept (410 Gone)."""
        key = _key(res)
        if rv < self._compacted.get(key, 0):
            return None
        return [e for e in self._history.get(key, ()) if e[0] > rv]

    def compact(self, res: Resource, rv: int) -> None:
        """Forget the events up to `rv`, as etcd's compaction does: a watch from before is 410 Gone."""
        self._compacted[_key(res)] = rv

    def close(self) -> None:
        """End every watch stream (the server is stopping)."""
        for queues in self._subscribers.values():
            for queue in list(queues):
                queue.put_nowait(None)
