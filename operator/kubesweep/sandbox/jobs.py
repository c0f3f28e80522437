"""The sandbox's job controller: pods for batch/v1 Jobs and the Job status, as Kubernetes' own
controller writes them (parallelism and completions of 1, backoffLimit, suspend,
activeDeadlineSeconds, podFailurePolicy's rules; conditions SuccessCriteriaMet then Complete, FailureTarget then Failed,
Suspended), with its timing: pod tracking finalizers, and a Job that ends a moment after its pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import logging
import time
from typing import Any

from .store import JOBS, PODS, Obj, Store, StoreError

logger = logging.getLogger("kubesweep.sandbox.jobs")
UID_LABEL = "batch.kubernetes.io/controller-uid"
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"


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


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _terminal(pod: Obj) -> bool:
    return _phase(pod) in ("Succeeded", "Failed")


def _tracked(pod: Obj) -> bool:
    return TRACKING_FINALIZER in (pod["metadata"].get("finalizers") or [])


def _matches(rule: Obj, pod: Obj) -> str | None:
    """How a podFailurePolicy rule matches a failed pod, in the real controller's words (before
    "matching ACTION rule at index N"): one of its onPodConditions, or its onExitCodes on a
    container (any, or the one named) that ended with a code not 0. None if it does not."""
    meta = pod["metadata"]
    where = f"{meta.get('namespace')}/{meta['name']}"
    conditions = (pod.get("status") or {}).get("conditions") or []
    for wanted in rule.get("onPodConditions") or []:
        if any(
            c.get("type") == wanted.get("type") and c.get("status") == wanted.get("status", "True")
            for c in conditions
        ):
            return f"Pod {where} has condition {wanted.get('type')}"
    codes: Obj = rule.get("onExitCodes") or {}
    for status in (pod.get("status") or {}).get("containerStatuses") or [] if codes else []:
        if codes.get("containerName") and status.get("name") != codes["containerName"]:
            continue
        code = ((status.get("state") or {}).get("terminated") or {}).get("exitCode")
        if code not in (None, 0) and (code in (codes.get("values") or [])) == (codes.get("operator") == "In"):
            return f"Container {status.get('name')} for pod {where} failed with exit code {code}"
    return None


def failure_policy_action(job: Obj, pod: Obj) -> tuple[str, str]:
    """What the Job's podFailurePolicy does with a failed pod (FailJob, Ignore or Count, as the
    first matching rule says; Count without one), and the message the real controller gives it."""
    rules = ((job.get("spec") or {}).get("podFailurePolicy") or {}).get("rules") or []
    for index, rule in enumerate(rules):
        if (matched := _matches(rule, pod)) is not None:
            action = str(rule.get("action") or "Count")
            return action, f"{matched} matching {action} rule at index {index}"
    return "Count", ""


def outcome(pod: Obj) -> str | None:
    """How the job controller accounts a pod that carries its finalizer: succeeded, failed (a
    pod deleted before it succeeded is a failure), or None while it runs."""
    if _phase(pod) == "Succeeded":
        return "succeeded"
    if _phase(pod) == "Failed" or pod["metadata"].get("deletionTimestamp"):
        return "failed"
    return None


class JobController:
    """Kubernetes' job controller as the sandbox runs it.

    As the real one (v1.36) does: every pod carries the `batch.kubernetes.io/job-tracking`
    finalizer until the controller has accounted for it (it ended or was deleted); a pod's end
    reaches the Job `completion_lag` seconds later (the real controller batches pod updates, a
    Job is Complete about 1 s after its pod succeeded); the Job first gets SuccessCriteriaMet or
    FailureTarget, and Complete or Failed once none of its pods runs or keeps the finalizer.
    Suspending a Job deletes its active pods with their grace period without counting them
    (their finalizer is removed first); pods deleted by anyone else count as failures.
    Not emulated: the pod failure backoff (10 s, 20 s, ...) before a replacement pod.
    """

    def __init__(self, store: Store, *, completion_lag: float = 1.0, finalizer_lag: float = 0.02) -> None:
        self.store = store
        self.completion_lag = completion_lag
        self.finalizer_lag = finalizer_lag
        self.pods: dict[str, dict[str, Obj]] = {}  # job uid -> pod uid -> pod
        self.jobs: set[str] = set()  # uids of the Jobs that exist
        self.counted: dict[str, dict[str, str]] = {}  # job uid -> pod uid -> succeeded | failed | ignored
        self.failed_by_policy: dict[str, str] = {}  # job uid -> a FailJob rule's message
        self.ended_at: dict[str, float] = {}  # pod uid -> when its terminal phase was first seen
        self.releasing: set[str] = set()  # pod uids whose finalizer is being removed
        self.dirty: dict[tuple[str, str], None] = {}
        self.wake = asyncio.Event()
        self.with_deadline: set[tuple[str, str]] = set()
        self.tasks: list[asyncio.Task[None]] = []
        self.background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        job_events = self.store.watch(JOBS)
        pod_events = self.store.watch(PODS)
        self.tasks = [
            asyncio.create_task(self._follow_jobs(job_events)),
            asyncio.create_task(self._follow_pods(pod_events)),
            asyncio.create_task(self._work()),
            asyncio.create_task(self._deadlines()),
        ]
        for job in await self.store.list(JOBS):
            self.jobs.add(job["metadata"]["uid"])
            self._mark(job)
        for pod in await self.store.list(PODS):
            self._track(pod)

    async def stop(self) -> None:
        for task in [*self.tasks, *self.background]:
            task.cancel()
        for task in [*self.tasks, *self.background]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @staticmethod
    def _key(job: Obj) -> tuple[str, str]:
        return (job["metadata"].get("namespace", ""), job["metadata"]["name"])

    def _mark(self, job: Obj) -> None:
        self._mark_key(self._key(job))

    def _mark_key(self, key: tuple[str, str]) -> None:
        self.dirty[key] = None
        self.wake.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def _track(self, pod: Obj) -> str | None:
        uid = (pod["metadata"].get("labels") or {}).get(UID_LABEL)
        if uid:
            self.pods.setdefault(uid, {})[pod["metadata"]["uid"]] = pod
            if _terminal(pod) and _tracked(pod):
                self.ended_at.setdefault(pod["metadata"]["uid"], time.monotonic())
            if _tracked(pod) and uid not in self.jobs:
                self._release(pod)  # an orphan: its Job is gone
        return uid

    async def _follow_jobs(self, events: Any) -> None:
        async for event in events:
            uid = event.object["metadata"]["uid"]
            if event.type == "DELETED":
                self.jobs.discard(uid)
                for pod in self.pods.pop(uid, {}).values():
                    if _tracked(pod):
                        self._release(pod)
                self.counted.pop(uid, None)
                self.failed_by_policy.pop(uid, None)
                self.with_deadline.discard(self._key(event.object))
                continue
            self.jobs.add(uid)
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
                self.ended_at.pop(pod["metadata"]["uid"], None)
                self.releasing.discard(pod["metadata"]["uid"])
            owner = next(
                (o for o in pod["metadata"].get("ownerReferences") or [] if o.get("kind") == "Job"), None
            )
            if owner is not None:
                self._mark_key((pod["metadata"].get("namespace", ""), owner["name"]))

    async def _deadlines(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for key in list(self.with_deadline):
                self._mark_key(key)

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

    def _release(self, pod: Obj) -> None:
        """Remove the tracking finalizer, a moment later as the real controller does."""
        uid = pod["metadata"]["uid"]
        if uid in self.releasing:
            return
        self.releasing.add(uid)
        self._spawn(
            self._remove_finalizer(pod.get("metadata", {}).get("namespace"), pod["metadata"]["name"], uid)
        )

    async def _remove_finalizer(
        self, namespace: str | None, name: str, uid: str, *, now: bool = False
    ) -> None:
        if not now:
            await asyncio.sleep(self.finalizer_lag)
        pod = await self.store.get(PODS, namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid or not _tracked(pod):
            return
        left = [f for f in pod["metadata"].get("finalizers") or [] if f != TRACKING_FINALIZER]
        with contextlib.suppress(StoreError):
            await self.store.patch(PODS, namespace, name, {"metadata": {"finalizers": left or None}})

    async def sync(self, namespace: str, name: str) -> None:
        job = await self.store.get(JOBS, namespace, name)
        if job is None:
            return
        uid = job["metadata"]["uid"]
        pods = list(self.pods.get(uid, {}).values())
        if job["metadata"].get("deletionTimestamp"):
            for pod in pods:
                if _tracked(pod):
                    self._release(pod)
            return
        # A pod's end reaches the Job `completion_lag` after it (a deletion does at once).
        now = time.monotonic()
        waits = [
            self.ended_at[p["metadata"]["uid"]] + self.completion_lag - now
            for p in pods
            if _tracked(p)
            and not p["metadata"].get("deletionTimestamp")
            and p["metadata"]["uid"] in self.ended_at
        ]
        if waits and max(waits) > 0:
            asyncio.get_running_loop().call_later(max(waits), self._mark_key, (namespace, name))
            return
        counted = self.counted.setdefault(uid, {})
        for pod in pods:
            if _tracked(pod) and pod["metadata"]["uid"] not in counted and (seen := outcome(pod)):
                if seen == "failed":
                    action, message = failure_policy_action(job, pod)
                    if action == "Ignore":
                        seen = "ignored"
                    elif action == "FailJob":
                        self.failed_by_policy.setdefault(uid, message)
                counted[pod["metadata"]["uid"]] = seen
        spec = job.get("spec") or {}
        status = copy.deepcopy(job.get("status") or {})
        active = [p for p in pods if not _terminal(p) and not p["metadata"].get("deletionTimestamp")]
        succeeded = sum(1 for v in counted.values() if v == "succeeded")
        failed = sum(1 for v in counted.values() if v == "failed")
        conditions: list[dict[str, Any]] = list(status.get("conditions") or [])

        def has(kind: str) -> dict[str, Any] | None:
            return next((c for c in conditions if c["type"] == kind and c["status"] == "True"), None)

        def set_condition(kind: str, reason: str, message: str, value: str = "True") -> None:
            for c in conditions:
                if c["type"] == kind:
                    if c["status"] != value:
                        c.update(_condition(kind, reason, message, value))
                    return
            conditions.append(_condition(kind, reason, message, value))

        async def delete_active(*, counted_as_failed: bool) -> None:
            for pod in active:
                if not counted_as_failed:
                    # Suspension: the finalizer goes first, so the deletion is not a failure.
                    await self._remove_finalizer(
                        namespace, pod["metadata"]["name"], pod["metadata"]["uid"], now=True
                    )
                with contextlib.suppress(StoreError):
                    await self.store.delete(PODS, namespace, pod["metadata"]["name"])

        if not _finished(job):
            if not (has("SuccessCriteriaMet") or has("FailureTarget")):
                # Success and failure first: pods deleted by someone else before a suspend count.
                deadline = spec.get("activeDeadlineSeconds")
                if succeeded >= int(spec.get("completions") or 1):
                    set_condition(
                        "SuccessCriteriaMet",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                    )
                elif uid in self.failed_by_policy:
                    set_condition("FailureTarget", "PodFailurePolicy", self.failed_by_policy[uid])
                elif failed > int(spec.get("backoffLimit", 6)):
                    set_condition(
                        "FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
                    )
                elif spec.get("suspend"):
                    await delete_active(counted_as_failed=False)
                    active = []
                    set_condition("Suspended", "JobSuspended", "Job suspended")
                    status.pop("startTime", None)  # a resume starts the clock again
                elif deadline and _elapsed(status.setdefault("startTime", _now())) > float(deadline):
                    set_condition(
                        "FailureTarget", "DeadlineExceeded", "Job was active longer than specified deadline"
                    )
                else:
                    if has("Suspended"):
                        set_condition("Suspended", "JobResumed", "Job resumed", "False")
                    status.setdefault("startTime", _now())
                    if len(active) < int(spec.get("parallelism", 1) or 0):
                        created = await self.store.create(PODS, self._pod(job))
                        self._track(created)
                        active.append(created)
            target = has("SuccessCriteriaMet") or has("FailureTarget")
            if target is not None:
                await delete_active(counted_as_failed=True)
                active = []
                # The terminal condition once no pod runs or keeps the finalizer.
                settled = all(not _tracked(p) and _terminal(p) for p in self.pods.get(uid, {}).values())
                if settled and target["type"] == "SuccessCriteriaMet":
                    set_condition("Complete", target["reason"], target["message"])
                    status["completionTime"] = _now()
                elif settled:
                    set_condition("Failed", target["reason"], target["message"])
        else:
            await delete_active(counted_as_failed=True)
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
        status["terminating"] = sum(
            1 for p in pods if p["metadata"].get("deletionTimestamp") and not _terminal(p)
        )
        status["conditions"] = conditions
        for key in ("active", "succeeded", "failed", "ready", "terminating"):
            if not status[key]:
                status.pop(key)
        if not conditions:
            status.pop("conditions")
        before = job.get("status") or {}
        if status != before:
            # A merge patch: the counts and times gone (a suspend's active pods and startTime) as null.
            patch = {**{k: None for k in before if k not in status}, **status}
            await self.store.patch(JOBS, namespace, name, {"status": patch}, subresource="status")
        for pod in pods:
            if _tracked(pod) and pod["metadata"]["uid"] in counted:
                self._release(pod)

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
                "finalizers": [TRACKING_FINALIZER],
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
