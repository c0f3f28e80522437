"""One pass of one sweep: observe it from kopf's indexes (with our writes they do not show yet),
decide (`reconcile.decide`, in a thread of its own), carry the decision out (`executor`).

Built once at startup (handlers.configure) and kept in kopf's memo; the indexes it reads are
kopf's live read-only views, given once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import kopf

from kubesweep import api, housekeeping, metrics, reconcile, runs, slim, warm_start
from kubesweep.executor import ClusterAPI, Executor, Pass
from kubesweep.expectations import Expectations
from kubesweep.reconcile import Decision
from kubesweep.runlogs import LogReader, RunLogs
from kubesweep.workqueue import Key, WorkQueue

logger = logging.getLogger("kubesweep")

Index = kopf.Index[Key, dict[str, Any]]

# Decisions (bayes suggests with a GP: up to seconds for a pass that starts 50 runs) are made in
# threads of their own, so the event loop serves other sweeps meanwhile. One sweep's passes
# never overlap (one worker per sweep), so at most DECIDERS sweeps' decisions are under way.
DECIDERS = 2
_DECIDE = concurrent.futures.ThreadPoolExecutor(DECIDERS, thread_name_prefix="decide")


async def decide_off_loop(function: Callable[..., Decision], *args: Any, **kwargs: Any) -> Decision:
    """A pure decision function, off the event loop."""
    call = functools.partial(function, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_DECIDE, call)


class _Cluster(ClusterAPI, LogReader, Protocol):
    """The API server as the reconciler uses it."""


def _kept(sweep: Mapping[str, Any]) -> tuple[str, ...]:
    """The names a run's log parser keeps whatever else the run prints: the sweep's metric, or
    each of its objectives (spec.metrics)."""
    spec = sweep.get("spec") or {}
    metric = spec.get("metric")
    found = [metric] if isinstance(metric, Mapping) else spec.get("metrics") or []
    names = (m.get("name") for m in found if isinstance(m, Mapping))
    return tuple(n for n in names if isinstance(n, str))


def _start_timeout(sweep: Mapping[str, Any]) -> float:
    value = (sweep.get("spec") or {}).get("startTimeoutSeconds")
    return float(value) if isinstance(value, int) and value > 0 else runs.START_TIMEOUT


def _get(index: Index | None, key: Key) -> list[dict[str, Any]]:
    if index is None:
        return []
    try:
        return list(index[key])
    except KeyError:
        return []


class Reconciler:
    """The operator's passes over its sweeps; observed state from kopf's indexes."""

    def __init__(
        self,
        cluster: _Cluster,
        sweeps: Index | None = None,
        jobs: Index | None = None,
        pods: Index | None = None,
        learners: kopf.Index[Key, Key] | None = None,
    ) -> None:
        self.sweeps, self.jobs, self.pods = sweeps, jobs, pods
        # Per Sweep that spec.warmStart.fromSweeps names, the sweeps that name it (handlers'
        # learners index), and what it taught when last seen (warm_start.taught).
        self.learners = learners
        self._taught: dict[Key, int] = {}
        self.expectations = Expectations()
        self.queue = WorkQueue(self.reconcile)
        self.executor = Executor(cluster, self.expectations, self.queue, decide_off_loop)
        self.logs = RunLogs(cluster)
        self._spec_seen: dict[Key, tuple[int, float]] = {}  # generation → when first seen
        # Pods deleted after they ended, as they were last (their end, a drain's DisruptionTarget):
        # a run whose pod is gone before a pass saw how it ended is still told it, while its Job
        # is watched.
        self._gone_pods: dict[Key, dict[str, dict[str, Any]]] = {}

    def known(self) -> list[Key]:
        return list(self.sweeps) if self.sweeps is not None else []

    def statuses(self) -> list[dict[str, Any]]:
        """The status of every known sweep, for the metrics gauges (read from another thread,
        so a concurrent change of the index just means one more try)."""
        for _ in range(5):
            try:
                return [s.get("status") or {} for key in self.known() for s in _get(self.sweeps, key)]
            except RuntimeError:
                continue
        return []

    async def reconcile(self, key: Key) -> None:
        namespace = key[0]
        jobs = self.expectations.without_released(key, "jobs", _get(self.jobs, key))
        jobs = self.expectations.with_created(key, jobs)
        pods_by_run: dict[str, list[dict[str, Any]]] = {}
        indexed = self.expectations.without_released(key, "pods", _get(self.pods, key))
        gone = self._gone_pods.get(key, {})
        for pod in [*indexed, *gone.values()]:
            pods_by_run.setdefault(pod["metadata"]["labels"].get(api.LABEL_RUN, ""), []).append(pod)
        sweep = self._sweep(key)

        if sweep is None or sweep["metadata"].get("deletionTimestamp"):
            # The sweep is gone: its Jobs are being garbage-collected; let them go.
            self.forget(key)
            await self.executor.let_go(namespace, jobs)
            return

        owned = [self.expectations.with_record(namespace, j) for j in jobs if housekeeping.owned_by(j, sweep)]
        others = [j for j in jobs if not housekeeping.owned_by(j, sweep)]
        # A run's pods are those its Job owns: a pod anyone labels like a run is none of them.
        # (A Job we just created has no uid here yet: its pods wait for the index to show it.)
        uids = {j["metadata"]["name"]: j["metadata"].get("uid") for j in owned}
        for name, pod in list(gone.items()):  # a gone pod matters while its Job is watched
            if pod.get("ownerUid") not in uids.values():
                del gone[name]
        if not gone:
            self._gone_pods.pop(key, None)
        left_behind = pods_by_run
        pods_by_run = {
            run: owned_pods
            for run, run_pods in pods_by_run.items()
            if (owned_pods := [p for p in run_pods if uids.get(run) and p.get("ownerUid") == uids[run]])
        }
        # Jobs of an earlier sweep of the same name (deleted and created again): the garbage
        # collector deletes them, and only our finalizer would keep them.
        await self.executor.let_go(namespace, others)
        taken = {j["metadata"]["name"] for j in others} | self.executor.taken(key)
        start_timeout = _start_timeout(sweep)
        logs = self.logs.take(key, bool((sweep.get("spec") or {}).get("earlyTerminate")))
        kept = _kept(sweep)
        observed = [
            await self.logs.observe(
                namespace, job, pods_by_run.get(job["metadata"]["name"], []), logs, start_timeout, kept
            )
            for job in owned
        ]
        self.queue.wake_at(key, [r.deadline for r in observed if r.deadline is not None])
        self.logs.keep(
            key, logs, {p["metadata"]["name"] for run_pods in pods_by_run.values() for p in run_pods}
        )
        # Warm start: the Sweeps it learns from, as the index holds them (no API call).
        warm = {
            n: s for n in warm_start.sources(sweep) if (s := self._sweep((namespace, runs.label_value(n))))
        }
        decision = await decide_off_loop(
            reconcile.decide,
            sweep,
            observed,
            permission_denied=self.executor.holding(key),
            taken=taken,
            warm_from=warm,
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "Pass of %s/%s: %s -> %s",
                *key,
                [(r.name, str(r.state), r.deleting, r.recorded) for r in observed],
                [type(a).__name__ + ":" + str(getattr(a, "name", "")) for a in decision.actions],
            )
        await self.executor.apply(Pass(key, sweep, owned, observed, pods_by_run, left_behind), decision)
        self._note_reaction(key, sweep)

    def _sweep(self, key: Key) -> dict[str, Any] | None:
        found = _get(self.sweeps, key)
        return self.expectations.sweep(key, found[0] if found else None)

    def forget(self, key: Key) -> None:
        """The sweep is gone: nothing of it is kept."""
        self.expectations.forget(key)
        self.executor.forget(key)
        self.logs.forget(key)
        self.queue.forget(key)
        self._gone_pods.pop(key, None)

    def note_gone(self, key: Key, body: Mapping[str, Any]) -> None:
        """A pod of a run deleted (not let go by us): remembered as it was last if it tells how
        its run ended (housekeeping.tells_an_end)."""
        pod = slim.pod(body)
        if housekeeping.tells_an_end(pod):
            owners = body["metadata"].get("ownerReferences") or []
            pod["ownerUid"] = next((o.get("uid") for o in owners if o.get("kind") == "Job"), None)
            pod["gone"] = True
            self._gone_pods.setdefault(key, {})[pod["metadata"]["name"]] = pod

    def wants_pass(self, key: Key, event: str, plural: str, name: str, labels: Mapping[str, str]) -> bool:
        """Whether a watch event of a Job or pod needs a pass of its sweep. Not the DELETED of one
        we let go: the label moved it out of the watch's selector, and the API server sends that
        DELETED with the object as it was before the change (without kubesweep.io/recorded)."""
        if event != "DELETED":
            return True
        if self.expectations.release_seen(key, plural, name):
            return False  # the index has let it go too (kopf indexes before handlers)
        return api.LABEL_RECORDED not in labels

    def note_sweep(self, key: Key, body: Mapping[str, Any] | None) -> None:
        """A Sweep's event (`body` None: deleted): the sweeps that learn from it get a pass if
        what it teaches changed (they read it at their passes only)."""
        try:
            learning = list(self.learners[key]) if self.learners is not None else []
        except KeyError:
            learning = []
        wake, taught = warm_start.to_wake(self._taught.pop(key, None), body, learning)
        if learning and taught is not None:
            self._taught[key] = taught  # remembered while someone learns from it
        for learner in wake:
            self.queue.schedule(learner)

    def note_spec(self, key: Key, generation: int | None) -> None:
        if generation is not None and self._spec_seen.get(key, (None, 0.0))[0] != generation:
            self._spec_seen[key] = (generation, time.monotonic())

    def _note_reaction(self, key: Key, sweep: Mapping[str, Any]) -> None:
        seen = self._spec_seen.get(key)
        generation = sweep["metadata"].get("generation")
        if seen is not None and seen[0] == generation and seen[1] > 0:
            metrics.REACTION_LATENCY.labels(
                action=str((sweep.get("spec") or {}).get("state", "running"))
            ).observe(time.monotonic() - seen[1])
            self._spec_seen[key] = (generation, 0.0)
