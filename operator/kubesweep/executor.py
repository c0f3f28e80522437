"""Carries out a pass's `Decision` against the cluster, in the order the record → status →
release protocol needs (see docs/architecture.md):

1. the results of killed runs recorded on their Jobs, then the kills;
2. the runs' Jobs created (a refusal decided again by the core: `housekeeping.after_refusal`);
3. the status written; only once it is written (or needed no write), the events posted;
4. the Jobs of runs the status now records released, and their pods labelled recorded.

Each write is told to the `Expectations`, so the next pass sees it before the cache does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kubesweep import api, housekeeping, metrics, reconcile, runs, slim
from kubesweep.api import RunState
from kubesweep.cluster import Forbidden, Gone, Rejected
from kubesweep.expectations import Expectations
from kubesweep.reconcile import Decision, RecordRun
from kubesweep.workqueue import Key, WorkQueue

logger = logging.getLogger("kubesweep")


class ClusterAPI(Protocol):
    """What the operator asks of the API server: `cluster.Cluster`, or a fake in the tests."""

    async def create_job(self, namespace: str, body: Mapping[str, Any]) -> bool: ...

    async def read_job(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def patch_job(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None: ...

    async def release_job(
        self,
        namespace: str,
        name: str,
        finalizers: list[str],
        resource_version: str,
        *,
        recorded: bool = False,
        result: str | None = None,
    ) -> bool: ...

    async def label_pod_recorded(self, namespace: str, name: str) -> None: ...

    async def stop_pod(self, namespace: str, name: str) -> None: ...

    async def delete_pods(
        self,
        namespace: str,
        label_selector: str,
        grace_period_seconds: int | None,
        field_selector: str | None = None,
    ) -> None: ...

    async def patch_sweep_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    async def post_event(
        self, sweep: Mapping[str, Any], type_: str, reason: str, message: str, component: str = "kubesweep"
    ) -> None: ...


# Runs a pure decision function off the event loop: (function, its arguments) → its Decision.
Decide = Callable[..., Awaitable[Decision]]


@dataclass(frozen=True)
class Pass:
    """What one pass of a sweep observed and decided from."""

    key: Key
    sweep: dict[str, Any]
    jobs: list[dict[str, Any]]  # the sweep's runs' Jobs, as observed (with our writes)
    observed: list[runs.Run]
    pods_by_run: Mapping[str, Sequence[Mapping[str, Any]]]  # the pods each run's Job owns
    left_behind: Mapping[str, Sequence[Mapping[str, Any]]]  # every pod watched, by run label


def _normalized(status: Mapping[str, Any]) -> dict[str, Any]:
    """Status without empty values, to tell whether a write would change anything."""
    return {k: v for k, v in status.items() if v not in (None, [], {})}


class Executor:
    def __init__(
        self, cluster: ClusterAPI, expectations: Expectations, queue: WorkQueue, decide: Decide
    ) -> None:
        self.cluster = cluster
        self.expectations = expectations
        self.queue = queue
        self.decide = decide
        # Sweeps whose Jobs the API server refused to create for lack of permission: (refusals
        # in a row, when to try again, its message). Until then a pass starts no run.
        self._denied: dict[Key, tuple[int, float, str]] = {}
        # Run names another object holds, found when a create was answered 409 (a Job of an
        # earlier sweep of the same name, released or unlabelled, or anyone's): never a run's.
        self._taken: dict[Key, set[str]] = {}

    def holding(self, key: Key) -> str | None:
        """The 403 that holds the sweep's Job creations back until its retry is due."""
        denied = self._denied.get(key)
        return denied[2] if denied is not None and time.monotonic() < denied[1] else None

    def taken(self, key: Key) -> set[str]:
        return self._taken.get(key, set())

    def forget(self, key: Key) -> None:
        self._denied.pop(key, None)
        self._taken.pop(key, None)

    async def let_go(self, namespace: str, jobs: Iterable[Mapping[str, Any]]) -> None:
        for job in housekeeping.let_go(jobs):
            await self.cluster.release_job(namespace, job.name, list(job.finalizers), job.resource_version)

    async def apply(self, p: Pass, decision: Decision) -> Decision:
        """Carries out `decision`; the decision as it stands after a refused creation."""
        namespace = p.key[0]
        cluster = self.cluster
        # Killed runs' records (and the Job spec that lets the stopped pod be its last) first,
        # then the kills: the Job controller's sync that the pods' end brings then sees each Job
        # as we left it, so its status update does not conflict with our write (a 409 costs it a
        # 1 s backoff, and the pods wait that long for it to remove their job-tracking
        # finalizer), and a restart between the two finds the run recorded Killed on its Job
        # (and its pods still alive, so the next pass stops them again).
        records: list[RecordRun] = decision.of(RecordRun)
        await asyncio.gather(*(self._record(namespace, a) for a in records))
        await asyncio.gather(
            *(
                cluster.delete_pods(namespace, a.label_selector, a.grace_period_seconds, a.field_selector)
                for a in decision.of(reconcile.DeletePods)
            ),
            *(cluster.stop_pod(namespace, name) for a in decision.of(reconcile.StopPods) for name in a.names),
        )
        for action in records:
            counted = housekeeping.counted_as(action)
            if counted == RunState.KILLED:
                metrics.RUNS_KILLED.inc()
            elif counted == RunState.FAILED:
                metrics.RUNS_FAILED.inc()

        decision = await self._create(p, decision)

        for write in decision.of(reconcile.WriteStatus):
            if _normalized(write.status) != _normalized(p.sweep.get("status") or {}):
                try:
                    written = await cluster.patch_sweep_status(
                        namespace, p.sweep["metadata"]["name"], write.status
                    )
                except Gone:
                    return decision
                self.expectations.wrote_status(p.key, slim.sweep(written))
        for event in decision.of(reconcile.Event):
            # Only now that the status says what they tell; posted in the background: a pass
            # never waits on them.
            self.queue.start_background(cluster.post_event(p.sweep, event.type, event.reason, event.message))

        await self._release(p, decision)
        return decision

    async def _record(self, namespace: str, action: RecordRun) -> None:
        patch: dict[str, Any] = {"metadata": {"annotations": {api.ANNOTATION_RESULT: action.result}}}
        if action.job_spec:
            patch["spec"] = dict(action.job_spec)
        try:
            await self.cluster.patch_job(namespace, action.name, patch)
        except Gone:
            return
        self.expectations.recorded(namespace, action.name, action.result, action.job_spec)

    async def _create(self, p: Pass, decision: Decision) -> Decision:
        creations: list[reconcile.CreateRun] = decision.of(reconcile.CreateRun)
        if not creations:
            return decision
        results = await asyncio.gather(
            *(self.cluster.create_job(p.key[0], a.job) for a in creations), return_exceptions=True
        )
        forbidden = next((r for r in results if isinstance(r, Forbidden)), None)
        rejected = next((r for r in results if isinstance(r, Rejected) and r is not forbidden), None)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Rejected):
                raise result
        metrics.RUNS_STARTED.inc(sum(1 for r in results if r is True))
        for action, result in zip(creations, results, strict=True):
            if result is False and not await self._ours_already(p.key, p.sweep, action.name):
                continue
            if isinstance(result, bool):  # created now, or it existed already
                pending = slim.job(action.job)
                pending["metadata"]["ownerUid"] = p.sweep["metadata"].get("uid")
                self.expectations.created(p.key, action.name, pending)
        refused = housekeeping.refusal(
            forbidden.message if forbidden is not None else None,
            rejected.message if rejected is not None else None,
        )
        if refused is not None:
            if refused.forbidden:
                self._deny(p.key, p.sweep, refused.message)
            return await self.decide(housekeeping.after_refusal, p.sweep, p.observed, refused)
        if any(r is True for r in results) and self._denied.pop(p.key, None) is not None:
            logger.info("Sweep %s/%s: runs start again (Job creation is permitted)", *p.key)
        return decision

    async def _ours_already(self, key: Key, sweep: Mapping[str, Any], name: str) -> bool:
        """After a 409 on creating run `name`: whether the Job is this sweep's run already (a
        pass before created it). Else the name is taken (another object's, or a released run's)
        and another pass picks a free one; a Job of an earlier sweep of the same name that is
        being deleted is let go."""
        job = await self.cluster.read_job(key[0], name)
        if job is not None and runs.is_run_of(job, sweep["metadata"].get("uid")):
            return True
        if job is not None:
            self._taken.setdefault(key, set()).add(name)
            logger.warning("Sweep %s/%s: Job %s exists and is not its run; skipping the name", *key, name)
            await self.let_go(key[0], [job])
        self.queue.again(key)  # another pass, with the name taken (or free again)
        return False

    def _deny(self, key: Key, sweep: Mapping[str, Any], message: str) -> None:
        """Holds the sweep's Job creations back for a growing delay, then tries again."""
        failures = self._denied.get(key, (0, 0.0, ""))[0] + 1
        delay = reconcile.permission_retry_delay(failures, message)
        self._denied[key] = (failures, time.monotonic() + delay, message)
        what = (
            "waiting for quota to create its Jobs (403: %s)"
            if reconcile.is_quota_refusal(message)
            else "permission denied creating its Jobs (403: %s); grant the operator create on jobs "
            "and update on sweeps/finalizers"
        )
        logger.warning(
            "Sweep %s/%s: " + what + "; retrying in %g s", key[0], sweep["metadata"]["name"], message, delay
        )
        self.queue.schedule_later(key, delay)

    async def _release(self, p: Pass, decision: Decision) -> None:
        """The status holds these runs' records now: their Jobs and pods may leave our watches."""
        namespace = p.key[0]
        by_name = {j["metadata"]["name"]: j for j in p.jobs}
        releases = [r for r in decision.of(reconcile.ReleaseJob) if r.name in by_name]
        done = await asyncio.gather(
            *(
                self.cluster.release_job(
                    namespace,
                    r.name,
                    by_name[r.name]["metadata"].get("finalizers") or [],
                    by_name[r.name]["metadata"]["resourceVersion"],
                    recorded=True,
                    result=r.result,
                )
                for r in releases
            )
        )
        released = [by_name[r.name] for r, ok in zip(releases, done, strict=True) if ok]
        self.expectations.released(p.key, jobs=[j["metadata"]["name"] for j in released])
        pods = housekeeping.pods_to_label(decision, released, by_name, p.pods_by_run, p.left_behind)
        await asyncio.gather(*(self.cluster.label_pod_recorded(namespace, name) for name in pods))
        self.expectations.released(p.key, pods=pods)
