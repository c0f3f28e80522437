"""The sandbox's job controller: pods for batch/v1 Jobs and the Job status, as Kubernetes' own
controller writes them (parallelism and completions of 1, backoffLimit, suspend,
activeDeadlineSeconds; conditions Complete, Failed, Suspended, SuccessCriteriaMet, FailureTarget).

A pod that disappears before it succeeded counts as a failure, as with Kubernetes' pod tracking
finalizers; a failure beyond backoffLimit fails the Job.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import logging
from typing import Any

from .store import JOBS, PODS, Obj, Store, StoreError

logger = logging.getLogger("kubesweep.sandbox.jobs")
UID_LABEL = "batch.kubernetes.io/controller-uid"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _elapsed(since: str) -> float:
    started = datetime.datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    return (datetime.datetime.now(datetime.UTC) - started).total_seconds()


def _condition(kind: str, reason: str, message: str, status: str = "True") -> dict[str, Any]:
    now = _now()
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastProbeTime": now,
        "lastTransitionTime": now,
    }


def _finished(job: Obj) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


class JobController:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.pods: dict[str, dict[str, Obj]] = {}  # job uid -> pod uid -> pod
        self.lost: dict[str, set[str]] = {}  # job uid -> uids of pods gone before they succeeded
        self.dirty: dict[tuple[str, str], None] = {}
        self.wake = asyncio.Event()
        self.with_deadline: set[tuple[str, str]] = set()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        job_events = self.store.watch(JOBS)
        pod_events = self.store.watch(PODS)
        self.tasks = [
            asyncio.create_task(self._follow_jobs(job_events)),
            asyncio.create_task(self._follow_pods(pod_events)),
            asyncio.create_task(self._work()),
            asyncio.create_task(self._deadlines()),
        ]
        for pod in await self.store.list(PODS):
            self._track(pod)
        for job in await self.store.list(JOBS):
            self._mark(job)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @staticmethod
    def _key(job: Obj) -> tuple[str, str]:
        return (job["metadata"].get("namespace", ""), job["metadata"]["name"])

    def _mark(self, job: Obj) -> None:
        self.dirty[self._key(job)] = None
        self.wake.set()

    def _track(self, pod: Obj) -> str | None:
        uid = (pod["metadata"].get("labels") or {}).get(UID_LABEL)
        if uid:
            self.pods.setdefault(uid, {})[pod["metadata"]["uid"]] = pod
        return uid

    async def _follow_jobs(self, events: Any) -> None:
        async for event in events:
            if event.type == "DELETED":
                uid = event.object["metadata"]["uid"]
                self.pods.pop(uid, None)
                self.lost.pop(uid, None)
                self.with_deadline.discard(self._key(event.object))
                continue
            if (event.object.get("spec") or {}).get("activeDeadlineSeconds") and not _finished(event.object):
                self.with_deadline.add(self._key(event.object))
            else:
                self.with_deadline.discard(self._key(event.object))
            self._mark(event.object)

    async def _follow_pods(self, events: Any) -> None:
        async for event in events:
            pod = event.object
            uid = self._track(pod)
            if uid is None:
                continue
            if event.type == "DELETED":
                self.pods.get(uid, {}).pop(pod["metadata"]["uid"], None)
                if (pod.get("status") or {}).get("phase") != "Succeeded":
                    self.lost.setdefault(uid, set()).add(pod["metadata"]["uid"])
            owner = next(
                (o for o in pod["metadata"].get("ownerReferences") or [] if o.get("kind") == "Job"), None
            )
            if owner is not None:
                self.dirty[(pod["metadata"].get("namespace", ""), owner["name"])] = None
                self.wake.set()

    async def _deadlines(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for key in list(self.with_deadline):
                self.dirty[key] = None
                self.wake.set()

    async def _work(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.dirty:
                key = next(iter(self.dirty))
                del self.dirty[key]
                try:
                    await self.sync(*key)
                except StoreError as exc:
                    if exc.status not in (404, 409):
                        logger.warning("job %s/%s: %s", *key, exc)
                except Exception:
                    logger.exception("job %s/%s", *key)

    async def sync(self, namespace: str, name: str) -> None:
        job = await self.store.get(JOBS, namespace, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        uid = job["metadata"]["uid"]
        spec = job.get("spec") or {}
        status = copy.deepcopy(job.get("status") or {})
        pods = list(self.pods.get(uid, {}).values())
        active = [
            p
            for p in pods
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")
        ]
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed_uids = {p["metadata"]["uid"] for p in pods if (p.get("status") or {}).get("phase") == "Failed"}
        failed = len(failed_uids | self.lost.get(uid, set()))
        conditions: list[dict[str, Any]] = list(status.get("conditions") or [])

        def set_condition(kind: str, reason: str, message: str, value: str = "True") -> None:
            for c in conditions:
                if c["type"] == kind:
                    if c["status"] != value:
                        c.update(_condition(kind, reason, message, value))
                    return
            conditions.append(_condition(kind, reason, message, value))

        async def delete_active() -> None:
            for pod in active:
                with contextlib.suppress(StoreError):
                    await self.store.delete(PODS, namespace, pod["metadata"]["name"])

        if not _finished(job):
            if spec.get("suspend"):
                await delete_active()
                active = []
                set_condition("Suspended", "JobSuspended", "Job suspended")
            else:
                if any(c["type"] == "Suspended" and c["status"] == "True" for c in conditions):
                    set_condition("Suspended", "JobResumed", "Job resumed", "False")
                status.setdefault("startTime", _now())
                deadline = spec.get("activeDeadlineSeconds")
                if succeeded >= int(spec.get("completions") or 1):
                    await delete_active()
                    active = []
                    set_condition(
                        "SuccessCriteriaMet",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                    )
                    set_condition(
                        "Complete", "CompletionsReached", "Reached expected number of succeeded pods"
                    )
                    status["completionTime"] = _now()
                elif failed > int(spec.get("backoffLimit", 6)):
                    await delete_active()
                    active = []
                    set_condition(
                        "FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
                    )
                    set_condition(
                        "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
                    )
                elif deadline and _elapsed(status["startTime"]) > float(deadline):
                    await delete_active()
                    active = []
                    set_condition(
                        "FailureTarget", "DeadlineExceeded", "Job was active longer than specified deadline"
                    )
                    set_condition(
                        "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
                    )
                elif len(active) < int(spec.get("parallelism", 1) or 0):
                    created = await self.store.create(PODS, self._pod(job))
                    self._track(created)
                    active.append(created)
        else:
            await delete_active()
            active = []

        status["active"] = len(active)
        status["succeeded"] = succeeded
        status["failed"] = failed
        status["ready"] = sum(
            1
            for p in active
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
        )
        status["terminating"] = sum(1 for p in pods if p["metadata"].get("deletionTimestamp"))
        status["conditions"] = conditions
        for key in ("active", "succeeded", "failed", "ready", "terminating"):
            if not status[key]:
                status.pop(key)
        if not conditions:
            status.pop("conditions")
        if status != (job.get("status") or {}):
            await self.store.patch(JOBS, namespace, name, {"status": status}, subresource="status")

    @staticmethod
    def _pod(job: Obj) -> Obj:
        meta = job["metadata"]
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        template_meta = template.get("metadata") or {}
        labels = dict(template_meta.get("labels") or {})
        labels.update(
            {
                UID_LABEL: meta["uid"],
                "batch.kubernetes.io/job-name": meta["name"],
                "controller-uid": meta["uid"],
                "job-name": meta["name"],
            }
        )
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": f"{meta['name']}-",
                "namespace": meta.get("namespace"),
                "labels": labels,
                "annotations": dict(template_meta.get("annotations") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": template.get("spec") or {},
        }
