"""Per-sweep serialized work: one pass of a sweep at a time, marks coalesced, wake-ups at deadlines.

Every event of a sweep, its Jobs or its pods marks the sweep dirty; one worker per dirty sweep
runs passes while it is marked, so passes of one sweep never overlap while different sweeps
proceed in parallel, and any number of marks during a pass bring one more pass, not many.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from kubesweep import metrics

logger = logging.getLogger("kubesweep")

Key = tuple[str, str]  # (namespace, the sweep's label value)
# A pass that fails is tried again after FAILURE_BACKOFF, doubling up to FAILURE_BACKOFF_MAX.
FAILURE_BACKOFF = 0.2
FAILURE_BACKOFF_MAX = 10.0


class WorkQueue:
    """Runs `work(key)` for each marked key, one at a time per key."""

    def __init__(self, work: Callable[[Key], Awaitable[None]]) -> None:
        self._work_of = work
        self._pending: set[Key] = set()
        self._workers: dict[Key, asyncio.Task[None]] = {}
        self._wakeups: dict[Key, float] = {}  # when a pass is due without an event, per key
        self._background: set[asyncio.Task[None]] = set()

    def schedule(self, key: Key) -> None:
        """A pass of `key` soon: now, or after the one under way."""
        self._pending.add(key)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name=f"reconcile {key}")

    def again(self, key: Key) -> None:
        """From within a pass of `key`: one more pass after it."""
        self._pending.add(key)

    async def _work(self, key: Key) -> None:
        failures = 0
        try:
            while key in self._pending:
                self._pending.discard(key)
                started = time.monotonic()
                try:
                    await self._work_of(key)
                    failures = 0
                except Exception as exc:
                    # One bad pass (an API hiccup, a conflict) never stops this or any other sweep:
                    # try again with a capped backoff.
                    failures += 1
                    level = logging.WARNING if failures < 3 else logging.ERROR
                    logger.log(level, "Reconcile of %s/%s failed (%s); retrying", *key, exc)
                    logger.debug("Reconcile failure details", exc_info=True)
                    await asyncio.sleep(min(FAILURE_BACKOFF * 2**failures, FAILURE_BACKOFF_MAX))
                    self._pending.add(key)
                finally:
                    metrics.RECONCILE_DURATION.observe(time.monotonic() - started)
        finally:
            self._workers.pop(key, None)

    def start_background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Runs `coro` on its own; the queue holds it until it is done (asyncio only keeps weak
        references to tasks)."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def schedule_later(self, key: Key, delay: float) -> None:
        self.start_background(self._schedule_later(key, delay))

    async def _schedule_later(self, key: Key, delay: float) -> None:
        await asyncio.sleep(delay)
        self.schedule(key)

    def wake_at(self, key: Key, deadlines: list[float]) -> None:
        """A pass at the earliest deadline (seconds since the epoch) of a run's observation: no
        event comes when a wait for a pod runs out. One wake-up per key at a time."""
        if not deadlines:
            return
        due = min(deadlines)
        scheduled = self._wakeups.get(key)
        if scheduled is not None and scheduled <= due and scheduled > time.time():
            return
        self._wakeups[key] = due
        self.schedule_later(key, max(due - time.time(), 0.0) + 0.05)

    def forget(self, key: Key) -> None:
        self._wakeups.pop(key, None)
