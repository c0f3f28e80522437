"""What the operator wrote that its cache (kopf's indexes) does not show yet.

A pass reads the sweep, its Jobs and its pods from the indexes, which follow the API server's
watches a little behind. Without this memory, the pass right after a write would decide from
the world before it: record a run twice, pick a run number twice, count too few active runs.
Like Kubernetes' ControllerExpectations (pkg/controller/controller_utils.go), each write is an
expectation, fulfilled once the cache shows it, and dropped after EXPECTATION_TIMEOUT so a
watch that never shows it (an object replaced or deleted meanwhile) costs no more than a stale
view for that long.

resourceVersions are opaque strings (etcd's revision today, but the API promises no order), so
they are only ever compared for equality. The cache shows a status write once its sweep has the
resourceVersion the write returned, or any version with the status we wrote and a generation no
older (a spec change after the write keeps the status; an older version has another status, as
every write changes it). Waiting for the write's own version to be observed would not do: kopf
handles only the newest of a burst of events (its batch window), so that version may never be
seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubesweep import api

Key = tuple[str, str]  # (namespace, the sweep's label value)

# As ControllerExpectations' ExpectationsTimeout, but shorter: a stale sweep hides a spec change.
EXPECTATION_TIMEOUT = 60.0


def _rv(obj: Mapping[str, Any] | None) -> str | None:
    value = (obj or {}).get("metadata", {}).get("resourceVersion")
    return str(value) if value else None


@dataclass
class _Written:
    sweep: dict[str, Any]
    since: float


class Expectations:
    """One sweep's writes the cache does not show yet, per sweep key: its status, the results
    recorded on its Jobs, the Jobs created, the Jobs and pods released (labelled recorded)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._written: dict[Key, _Written] = {}
        self._recorded: dict[tuple[str, str], dict[str, Any]] = {}
        self._created: dict[Key, dict[str, dict[str, Any]]] = {}
        self._released_jobs: dict[Key, set[str]] = {}
        self._released_pods: dict[Key, set[str]] = {}

    def forget(self, key: Key) -> None:
        """The sweep is gone: nothing of it is expected any more."""
        for memory in (self._written, self._created, self._released_jobs, self._released_pods):
            memory.pop(key, None)

    # The sweep's status.

    def wrote_status(self, key: Key, written: dict[str, Any]) -> None:
        """The sweep as the status write returned it."""
        self._written[key] = _Written(written, self._clock())

    def sweep(self, key: Key, cached: dict[str, Any] | None) -> dict[str, Any] | None:
        """The sweep to decide from: the one we wrote, until the cache shows it or a later one."""
        written = self._written.get(key)
        if written is None or cached is None:
            self._written.pop(key, None)
            return cached
        ours = written.sweep
        caught_up = _rv(cached) == _rv(ours) or (
            cached.get("status") == ours.get("status")
            and (cached["metadata"].get("generation") or 0) >= (ours["metadata"].get("generation") or 0)
        )
        replaced = ours["metadata"].get("uid") != cached["metadata"].get("uid")
        if caught_up or replaced or self._clock() - written.since > EXPECTATION_TIMEOUT:
            del self._written[key]  # one copy of the sweep is enough
            return cached
        return ours

    # Results recorded on Jobs.

    def recorded(self, namespace: str, job: str, result: str, spec: Mapping[str, Any] | None) -> None:
        """We wrote a run's result (and a spec change) on its Job."""
        self._recorded[namespace, job] = {
            "annotations": {api.ANNOTATION_RESULT: result},
            "spec": dict(spec or {}),
        }

    def with_record(self, namespace: str, job: dict[str, Any]) -> dict[str, Any]:
        """The Job with the result we wrote on it, if the cache does not show it yet."""
        key = (namespace, job["metadata"]["name"])
        written = self._recorded.get(key)
        if written is None:
            return job
        annotations = job["metadata"].get("annotations") or {}
        if api.ANNOTATION_RESULT in annotations:
            del self._recorded[key]  # the cache has caught up
            return job
        patched = {
            **job,
            "metadata": {**job["metadata"], "annotations": {**annotations, **written["annotations"]}},
        }
        if written["spec"]:
            patched["spec"] = {**job.get("spec", {}), **written["spec"]}
        return patched

    # Jobs created.

    def created(self, key: Key, name: str, job: dict[str, Any]) -> None:
        """We created (or found already there) the run's Job `name`."""
        self._created.setdefault(key, {})[name] = job

    def with_created(self, key: Key, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`jobs` and the Jobs we created that the cache does not show yet."""
        created = self._created.get(key)
        if not created:
            return jobs
        for job in jobs:
            created.pop(job["metadata"]["name"], None)  # the cache has caught up
        if not created:
            del self._created[key]
        return [*jobs, *created.values()]

    # Jobs and pods released.

    def released(self, key: Key, jobs: Iterable[str] = (), pods: Iterable[str] = ()) -> None:
        """Jobs and pods we let go (labelled recorded): the status holds their runs."""
        for names, memory in ((jobs, self._released_jobs), (pods, self._released_pods)):
            if names := set(names):
                memory.setdefault(key, set()).update(names)

    def without_released(self, key: Key, plural: str, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`objects` (jobs or pods) less those released, forgetting the releases the cache has
        caught up with."""
        released = self._released_jobs if plural == "jobs" else self._released_pods
        names = released.get(key)
        if not names:
            return objects
        names &= {o["metadata"]["name"] for o in objects}
        if not names:
            del released[key]
        return [o for o in objects if o["metadata"]["name"] not in names]

    def release_seen(self, key: Key, plural: str, name: str) -> bool:
        """Whether a DELETED event of this Job or pod is our release's (the label moved it out of
        the watch), forgetting it: a second DELETED of that name is someone's deletion."""
        names = (self._released_jobs if plural == "jobs" else self._released_pods).get(key)
        if names is not None and name in names:
            names.discard(name)
            return True
        return False
