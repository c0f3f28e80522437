"""kopf wiring: watch Sweeps, their Jobs and their pods; reconcile each sweep on any change.

Observed state comes from kopf indexes (no LIST per reconcile at steady state). Every event
of a sweep, its Jobs or its pods marks the sweep dirty; one worker per sweep coalesces the
marks and runs one reconcile pass at a time, so passes of one sweep never overlap while
different sweeps proceed in parallel. A timer is only a safety net. What takes long in a pass
(a decision with bayes' suggestions, reading a run's log) runs in threads of its own, so the
event loop keeps serving every other sweep meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any

import kopf

from kubesweep import api, metrics, reconcile, runs, slim, warm_start
from kubesweep.cluster import Cluster, Forbidden, Gone, Rejected
from kubesweep.reconcile import Decision, RecordRun

logger = logging.getLogger("kubesweep")

Key = tuple[str, str]  # (namespace, the sweep's label value)

SWEEPS = (api.GROUP, api.VERSION, api.PLURAL)
RUN_LABELS: dict[str, Any] = {
    api.LABEL_MANAGED_BY: api.MANAGED_BY,
    api.LABEL_SWEEP: kopf.PRESENT,
}
# How often a running run's log is read for hyperband's intermediate values.
STEP_LOG_INTERVAL = 1.0
# A log that takes long to read (a run printing hundreds of MB) is read less often: the log
# reader threads spend at most about 1/STEP_LOG_PACE of their time on each running run.
STEP_LOG_PACE = 4.0
# Decisions (bayes suggests with a GP: up to seconds for a pass that starts 50 runs) are made in
# threads of their own, so the event loop serves other sweeps meanwhile. One sweep's passes
# never overlap (one worker per sweep), so at most DECIDERS sweeps' decisions are under way.
DECIDERS = 2
_DECIDE = concurrent.futures.ThreadPoolExecutor(DECIDERS, thread_name_prefix="decide")
SAFETY_NET_INTERVAL = 30.0


def _rv(obj: Mapping[str, Any] | None) -> int:
    try:
        return int((obj or {}).get("metadata", {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


async def decide(sweep: Mapping[str, Any], observed: list[runs.Run], **kwargs: Any) -> Decision:
    """reconcile.decide, off the event loop."""
    call = functools.partial(reconcile.decide, sweep, observed, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_DECIDE, call)


def _metric_name(sweep: Mapping[str, Any]) -> str | None:
    metric = (sweep.get("spec") or {}).get("metric")
    name = metric.get("name") if isinstance(metric, Mapping) else None
    return name if isinstance(name, str) else None


def _start_timeout(sweep: Mapping[str, Any]) -> float:
    value = (sweep.get("spec") or {}).get("startTimeoutSeconds")
    return float(value) if isinstance(value, int) and value > 0 else runs.START_TIMEOUT


def _normalized(status: Mapping[str, Any]) -> dict[str, Any]:
    """Status without empty values, to tell whether a write would change anything."""
    return {k: v for k, v in status.items() if v not in (None, [], {})}


class Reconciler:
    """One worker per dirty sweep; observed state from kopf's indexes."""

    def __init__(self) -> None:
        self.cluster: Cluster | None = None
        self.sweeps: kopf.Index[Key, dict[str, Any]] | None = None
        self.jobs: kopf.Index[Key, dict[str, Any]] | None = None
        self.pods: kopf.Index[Key, dict[str, Any]] | None = None
        self._pending: set[Key] = set()
        self._workers: dict[Key, asyncio.Task[None]] = {}
        self._written: dict[Key, dict[str, Any]] = {}  # the newest sweep we wrote the status of
        # Per sweep, pod → (when its log is due to be read again, its log parsed so far, of which
        # restart of its container): hyperband's intermediate values of executing runs.
        self._logs: dict[Key, dict[str, tuple[float, runs.LogParser, int]]] = {}
        self._spec_seen: dict[Key, tuple[int, float]] = {}  # generation → when first seen
        self._background: set[asyncio.Task[None]] = set()
        # Results we wrote on Jobs that the index may not show yet: a pass right after a record
        # must not record the run again (as Failed, once its pods are gone).
        self._recorded: dict[tuple[str, str], dict[str, Any]] = {}
        # Jobs we created that the index may not show yet: without them a pass could count too
        # few active runs (parallelism) or pick a run number twice.
        self._created: dict[Key, dict[str, dict[str, Any]]] = {}
        # Jobs and pods we labelled recorded that the index still shows: the status holds their
        # runs now, and releasing them twice would only cost requests.
        self._released_jobs: dict[Key, set[str]] = {}
        self._released_pods: dict[Key, set[str]] = {}
        # When a pass is due without an event (a run's wait for its pod runs out), per sweep.
        self._wakeups: dict[Key, float] = {}
        # Sweeps whose Jobs the API server refused to create for lack of permission: (refusals
        # in a row, when to try again, its message). Until then a pass starts no run.
        self._denied: dict[Key, tuple[int, float, str]] = {}
        # Run names another object holds, found when a create was answered 409 (a Job of an
        # earlier sweep of the same name, released or unlabelled, or anyone's): never a run's.
        self._taken: dict[Key, set[str]] = {}
        # Pods deleted after they ended, as they were last (their end, a drain's DisruptionTarget):
        # a run whose pod is gone before a pass saw how it ended is still told it, while its Job
        # is watched.
        self._gone_pods: dict[Key, dict[str, dict[str, Any]]] = {}

    def bind(self, **indexes: Any) -> None:
        self.sweeps = indexes["sweep_index"]
        self.jobs = indexes["job_index"]
        self.pods = indexes["pod_index"]

    def known(self) -> list[Key]:
        return list(self.sweeps) if self.sweeps is not None else []

    def statuses(self) -> list[dict[str, Any]]:
        """The status of every known sweep, for the metrics gauges (read from another thread,
        so a concurrent change of the index just means one more try)."""
        for _ in range(5):
            try:
                return [s.get("status") or {} for key in self.known() for s in self._get(self.sweeps, key)]
            except RuntimeError:
                continue
        return []

    def start_background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def schedule(self, key: Key) -> None:
        self._pending.add(key)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name=f"reconcile {key}")

    async def _work(self, key: Key) -> None:
        failures = 0
        try:
            while key in self._pending:
                self._pending.discard(key)
                started = time.monotonic()
                try:
                    await self.reconcile(key)
                    failures = 0
                except Exception as exc:
                    # One bad pass (an API hiccup, a conflict) never stops this or any other sweep:
                    # try again with a capped backoff.
                    failures += 1
                    level = logging.WARNING if failures < 3 else logging.ERROR
                    logger.log(level, "Reconcile of %s/%s failed (%s); retrying", *key, exc)
                    logger.debug("Reconcile failure details", exc_info=True)
                    await asyncio.sleep(min(0.2 * 2**failures, 10.0))
                    self._pending.add(key)
                finally:
                    metrics.RECONCILE_DURATION.observe(time.monotonic() - started)
        finally:
            self._workers.pop(key, None)

    def _get(self, index: kopf.Index[Key, dict[str, Any]] | None, key: Key) -> list[dict[str, Any]]:
        if index is None:
            return []
        try:
            return list(index[key])
        except KeyError:
            return []

    def _sweep(self, key: Key) -> dict[str, Any] | None:
        found = self._get(self.sweeps, key)
        if not found:
            self._written.pop(key, None)
            return None
        sweep = found[0]
        written = self._written.get(key)
        if written is None:
            return sweep
        if _rv(written) > _rv(sweep) and written["metadata"].get("uid") == sweep["metadata"].get("uid"):
            return written
        del self._written[key]  # the index has caught up: one copy of the sweep is enough
        return sweep

    @staticmethod
    def _without(
        objects: list[dict[str, Any]], released: dict[Key, set[str]], key: Key
    ) -> list[dict[str, Any]]:
        """`objects` less those released, forgetting the releases the index has caught up with."""
        names = released.get(key)
        if not names:
            return objects
        names &= {o["metadata"]["name"] for o in objects}
        if not names:
            released.pop(key, None)
        return [o for o in objects if o["metadata"]["name"] not in names]

    async def reconcile(self, key: Key) -> None:
        assert self.cluster is not None
        namespace = key[0]
        jobs = self._without(self._get(self.jobs, key), self._released_jobs, key)
        created = self._created.get(key)
        if created:
            for job in jobs:
                created.pop(job["metadata"]["name"], None)  # the index has caught up
            jobs = [*jobs, *created.values()]
            if not created:
                self._created.pop(key, None)
        pods_by_run: dict[str, list[dict[str, Any]]] = {}
        indexed = self._without(self._get(self.pods, key), self._released_pods, key)
        gone = self._gone_pods.get(key, {})
        for pod in [*indexed, *gone.values()]:
            pods_by_run.setdefault(pod["metadata"]["labels"].get(api.LABEL_RUN, ""), []).append(pod)
        sweep = self._sweep(key)

        if sweep is None or sweep["metadata"].get("deletionTimestamp"):
            # The sweep is gone: its Jobs are being garbage-collected; let them go.
            memories = (
                self._created,
                self._logs,
                self._released_jobs,
                self._released_pods,
                self._denied,
                self._taken,
                self._gone_pods,
            )
            for memory in memories:
                memory.pop(key, None)
            for job in jobs:
                await self._release_if_deleted(namespace, job)
            return

        owned = [self._with_recorded(namespace, j) for j in jobs if self._owned_by(j, sweep)]
        others = [j for j in jobs if not self._owned_by(j, sweep)]
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
        for job in others:
            await self._release_if_deleted(namespace, job)
        taken = {j["metadata"]["name"] for j in others} | self._taken.get(key, set())
        early = bool((sweep.get("spec") or {}).get("earlyTerminate"))
        start_timeout = _start_timeout(sweep)
        logs = self._logs.pop(key, {}) if early else None
        metric = _metric_name(sweep)
        observed = [
            await self._observe(
                namespace, job, pods_by_run.get(job["metadata"]["name"], []), logs, start_timeout, metric
            )
            for job in owned
        ]
        self._wake_at(key, [r.deadline for r in observed if r.deadline is not None])
        if logs:  # only the logs of pods still watched: an ended run's log is not read again
            watched = {p["metadata"]["name"] for run_pods in pods_by_run.values() for p in run_pods}
            self._logs[key] = {name: log for name, log in logs.items() if name in watched}
        denied = self._denied.get(key)
        holding = denied[2] if denied is not None and time.monotonic() < denied[1] else None
        # Warm start: the Sweeps it learns from, as the index holds them (no API call).
        warm = {
            n: s for n in warm_start.sources(sweep) if (s := self._sweep((namespace, runs.label_value(n))))
        }
        decision = await decide(sweep, observed, permission_denied=holding, taken=taken, warm_from=warm)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "Pass of %s/%s: %s -> %s",
                *key,
                [(r.name, str(r.state), r.deleting, r.recorded) for r in observed],
                [type(a).__name__ + ":" + str(getattr(a, "name", "")) for a in decision.actions],
            )
        decision = await self._apply(key, sweep, owned, decision, observed, pods_by_run, left_behind)
        self._note_reaction(key, sweep, decision)

    def _with_recorded(self, namespace: str, job: dict[str, Any]) -> dict[str, Any]:
        key = (namespace, job["metadata"]["name"])
        written = self._recorded.get(key)
        if written is None:
            return job
        annotations = job["metadata"].get("annotations") or {}
        if api.ANNOTATION_RESULT in annotations:
            self._recorded.pop(key, None)  # the index has caught up
            return job
        patched = {
            **job,
            "metadata": {**job["metadata"], "annotations": {**annotations, **written["annotations"]}},
        }
        if written.get("spec"):
            patched["spec"] = {**job.get("spec", {}), **written["spec"]}
        return patched

    @staticmethod
    def _owned_by(job: Mapping[str, Any], sweep: Mapping[str, Any]) -> bool:
        # Only a Job the sweep owns is its run: not a Job of an earlier sweep of the same name,
        # nor one anyone created with a run's labels and no owner.
        uid = sweep["metadata"].get("uid")
        return uid is not None and job["metadata"].get("ownerUid") == uid

    async def _observe(
        self,
        namespace: str,
        job: dict[str, Any],
        pods: list[dict[str, Any]],
        logs: dict[str, tuple[float, runs.LogParser, int]] | None,
        start_timeout: float = runs.START_TIMEOUT,
        metric: str | None = None,
    ) -> runs.Run:
        """The run of `job`; with `logs` (hyperband), an executing run's log is read at most
        every STEP_LOG_INTERVAL (or STEP_LOG_PACE times as long as its last read took) for its
        intermediate values, each read parsing only what the one before had not."""
        run = runs.observe(job, pods, start_timeout=start_timeout)
        if run.recorded or not pods:
            return run
        latest = runs.latest_pod(pods)
        assert latest is not None
        name = latest["metadata"]["name"]
        assert self.cluster is not None
        restarts = sum(
            s.get("restartCount", 0) for s in latest.get("status", {}).get("containerStatuses") or []
        )
        due, parser, read_of = (logs or {}).get(name, (0.0, runs.LogParser(metric), restarts))
        # The spec names another metric now, or the container restarted (its log is a new one):
        # the log parsed from its start.
        if parser.metric != metric or read_of != restarts:
            due, parser = 0.0, runs.LogParser(metric)
        # An ended run's log is read once more, to its end: its record keeps its band values.
        if run.needs_log or (logs is not None and (not run.active or time.monotonic() >= due)):
            started = time.monotonic()
            parser = await self.cluster.read_log(namespace, name, latest.get("container"), parser)
            took = time.monotonic() - started
            if logs is not None:
                logs[name] = (
                    time.monotonic() + max(STEP_LOG_INTERVAL, STEP_LOG_PACE * took),
                    parser,
                    restarts,
                )
            run = runs.observe(job, pods, parser, start_timeout=start_timeout)
        elif logs is not None and name in logs:
            run = runs.observe(job, pods, parser, start_timeout=start_timeout)
        if logs is not None and run.state == api.RunState.RUNNING:
            # Its log grows without an event (a run alone in its sweep sends none until it ends):
            # a pass reads it again when it is due, so hyperband judges every step it reaches.
            wait = (
                max(STEP_LOG_INTERVAL, logs[name][0] - time.monotonic())
                if name in logs
                else STEP_LOG_INTERVAL
            )
            again = time.time() + wait
            run = dataclasses.replace(run, deadline=min(run.deadline or again, again))
        return run

    async def _apply(
        self,
        key: Key,
        sweep: dict[str, Any],
        jobs: list[dict[str, Any]],
        decision: Decision,
        observed: list[runs.Run],
        pods_by_run: Mapping[str, list[dict[str, Any]]],
        left_behind: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> Decision:
        assert self.cluster is not None
        cluster = self.cluster
        namespace = key[0]

        # Killed runs' records (and the Job spec that lets the stopped pod be its last) first,
        # then the kills: the Job controller's sync that the pods' end brings then sees each Job
        # as we left it, so its status update does not conflict with our write (a 409 costs it a
        # 1 s backoff, and the pods wait that long for it to remove their job-tracking
        # finalizer), and a restart between the two finds the run recorded Killed on its Job
        # (and its pods still alive, so the next pass stops them again).
        records = decision.of(reconcile.RecordRun)
        await asyncio.gather(*(self._record(namespace, a) for a in records))
        await asyncio.gather(
            *(
                cluster.delete_pods(namespace, a.label_selector, a.grace_period_seconds, a.field_selector)
                for a in decision.of(reconcile.DeletePods)
            ),
            *(cluster.stop_pod(namespace, name) for a in decision.of(reconcile.StopPods) for name in a.names),
        )
        for action in records:
            if '"state":"Killed"' in action.result:
                metrics.RUNS_KILLED.inc()
            elif '"state":"Failed"' in action.result or '"state":"Crashed"' in action.result:
                metrics.RUNS_FAILED.inc()

        creations = decision.of(reconcile.CreateRun)
        if creations:
            results = await asyncio.gather(
                *(cluster.create_job(namespace, a.job) for a in creations), return_exceptions=True
            )
            forbidden = next((r for r in results if isinstance(r, Forbidden)), None)
            rejected = next((r for r in results if isinstance(r, Rejected) and r is not forbidden), None)
            for result in results:
                if isinstance(result, BaseException) and not isinstance(result, Rejected):
                    raise result
            metrics.RUNS_STARTED.inc(sum(1 for r in results if r is True))
            for action, result in zip(creations, results, strict=True):
                if result is False and not await self._ours_already(key, sweep, action.name):
                    continue
                if isinstance(result, bool):  # created now, or it existed already
                    pending = slim.job(action.job)
                    pending["metadata"]["ownerUid"] = sweep["metadata"].get("uid")
                    self._created.setdefault(key, {})[action.name] = pending
            if forbidden is not None:
                # Not the template's fault: the operator lacks a permission. Say so, and retry.
                self._deny(key, sweep, forbidden.message)
                decision = await decide(sweep, observed, permission_denied=forbidden.message)
            elif rejected is not None:
                # The API server refused the run's Job: say so in the status, start nothing more.
                decision = await decide(sweep, observed, template_error=rejected.message)
            elif any(r is True for r in results) and self._denied.pop(key, None) is not None:
                logger.info("Sweep %s/%s: runs start again (Job creation is permitted)", *key)

        for event in decision.of(reconcile.Event):
            # Events are posted in the background: a reconcile never waits on them.
            self.start_background(cluster.post_event(sweep, event.type, event.reason, event.message))

        for write in decision.of(reconcile.WriteStatus):
            if _normalized(write.status) != _normalized(sweep.get("status") or {}):
                try:
                    written = await cluster.patch_sweep_status(
                        namespace, sweep["metadata"]["name"], write.status
                    )
                    self._written[key] = slim.sweep(written)
                except Gone:
                    return decision

        # The status holds these runs' records now: their Jobs and pods may leave our watches.
        by_name = {j["metadata"]["name"]: j for j in jobs}
        releases = [r for r in decision.of(reconcile.ReleaseJob) if r.name in by_name]
        released = await asyncio.gather(
            *(
                cluster.release_job(
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
        pods: list[str] = []
        for release, done in zip(releases, released, strict=True):
            if done:
                self.note_released(key, jobs=[release.name])
                if not by_name[release.name]["metadata"].get("deletionTimestamp"):
                    pods.extend(p["metadata"]["name"] for p in pods_by_run.get(release.name, []))
        # Pods left behind by an earlier pass (a failed label, a restart): their runs are recorded.
        recorded = {r["name"] for r in decision.status.get("recordedRuns") or []}
        # (Their Jobs are gone from the index, so no owner says whose they are: by their labels.)
        for run, run_pods in (left_behind if left_behind is not None else pods_by_run).items():
            if run in recorded and run not in by_name:
                pods.extend(p["metadata"]["name"] for p in run_pods)
        pods = list(dict.fromkeys(pods))
        await asyncio.gather(*(cluster.label_pod_recorded(namespace, p) for p in pods))
        self.note_released(key, pods=pods)
        return decision

    async def _ours_already(self, key: Key, sweep: Mapping[str, Any], name: str) -> bool:
        """After a 409 on creating run `name`: whether the Job is this sweep's run already (a
        pass before created it). Else the name is taken (another object's, or a released run's)
        and another pass picks a free one; a Job of an earlier sweep of the same name that is
        being deleted is let go."""
        assert self.cluster is not None
        job = await self.cluster.read_job(key[0], name)
        if job is not None and runs.is_run_of(job, sweep["metadata"].get("uid")):
            return True
        if job is not None:
            self._taken.setdefault(key, set()).add(name)
            logger.warning("Sweep %s/%s: Job %s exists and is not its run; skipping the name", *key, name)
            await self._release_if_deleted(key[0], job)
        self._pending.add(key)  # another pass, with the name taken (or free again)
        return False

    async def _release_if_deleted(self, namespace: str, job: Mapping[str, Any]) -> None:
        """Lets go of a Job being deleted that no run of this sweep holds (its sweep is gone, or
        it is an earlier sweep's of the same name): only our finalizer would keep it."""
        assert self.cluster is not None
        meta = job["metadata"]
        if meta.get("deletionTimestamp") and api.JOB_FINALIZER in (meta.get("finalizers") or []):
            await self.cluster.release_job(
                namespace, meta["name"], meta["finalizers"], meta["resourceVersion"]
            )

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
        self.start_background(self._schedule_later(key, delay))

    def _wake_at(self, key: Key, deadlines: list[float]) -> None:
        """A pass at the earliest deadline (seconds since the epoch) of a run's observation: no
        event comes when a wait for a pod runs out. One wake-up per sweep at a time."""
        if not deadlines:
            return
        due = min(deadlines)
        scheduled = self._wakeups.get(key)
        if scheduled is not None and scheduled <= due and scheduled > time.time():
            return
        self._wakeups[key] = due
        self.start_background(self._schedule_later(key, max(due - time.time(), 0.0) + 0.05))

    async def _schedule_later(self, key: Key, delay: float) -> None:
        await asyncio.sleep(delay)
        self.schedule(key)

    def note_released(self, key: Key, jobs: Iterable[str] = (), pods: Iterable[str] = ()) -> None:
        """Jobs and pods we let go (labelled recorded): the status holds their runs."""
        for names, memory in ((jobs, self._released_jobs), (pods, self._released_pods)):
            if names := set(names):
                memory.setdefault(key, set()).update(names)

    def note_gone(self, key: Key, body: Mapping[str, Any]) -> None:
        """A pod of a run deleted (not let go by us) after it ended: remembered as it was last,
        if it succeeded or the cluster took it away (DisruptionTarget). Not any pod that failed:
        one that a suspend deleted is no failure, and the Job's count says which are."""
        pod = slim.pod(body)
        phase = pod["status"].get("phase")
        if phase == "Succeeded" or (phase == "Failed" and runs.disruption([pod]) is not None):
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
        names = (self._released_jobs if plural == "jobs" else self._released_pods).get(key)
        if names is not None and name in names:
            names.discard(name)  # the index has let it go too (kopf indexes before handlers)
            return False
        return api.LABEL_RECORDED not in labels

    async def _record(self, namespace: str, action: RecordRun) -> None:
        assert self.cluster is not None
        patch: dict[str, Any] = {"metadata": {"annotations": {api.ANNOTATION_RESULT: action.result}}}
        if action.job_spec:
            patch["spec"] = dict(action.job_spec)
        with contextlib.suppress(Gone):
            await self.cluster.patch_job(namespace, action.name, patch)
            self._recorded[(namespace, action.name)] = {
                "annotations": {api.ANNOTATION_RESULT: action.result},
                "spec": dict(action.job_spec or {}),
            }

    def note_spec(self, key: Key, generation: int | None) -> None:
        if generation is not None and self._spec_seen.get(key, (None, 0.0))[0] != generation:
            self._spec_seen[key] = (generation, time.monotonic())

    def _note_reaction(self, key: Key, sweep: Mapping[str, Any], decision: Decision) -> None:
        seen = self._spec_seen.get(key)
        generation = sweep["metadata"].get("generation")
        if seen is not None and seen[0] == generation and seen[1] > 0:
            metrics.REACTION_LATENCY.labels(
                action=str((sweep.get("spec") or {}).get("state", "running"))
            ).observe(time.monotonic() - seen[1])
            self._spec_seen[key] = (generation, 0.0)


RECONCILER = Reconciler()


# kopf passes every handler its context as keyword arguments; they are read from kwargs.


@kopf.index(*SWEEPS)
async def sweep_index(**kwargs: Any) -> dict[Key, dict[str, Any]]:
    return {(kwargs["namespace"], runs.label_value(kwargs["name"])): slim.sweep(kwargs["body"])}


@kopf.index("batch", "v1", "jobs", labels=RUN_LABELS)
async def job_index(**kwargs: Any) -> dict[Key, dict[str, Any]]:
    body = kwargs["body"]
    job = slim.job(body)
    owner = next(
        (o for o in body.get("metadata", {}).get("ownerReferences") or [] if o.get("kind") == api.KIND), None
    )
    if owner is not None:
        job["metadata"]["ownerUid"] = owner.get("uid")
    return {(kwargs["namespace"], kwargs["labels"][api.LABEL_SWEEP]): job}


@kopf.index("", "v1", "pods", labels=RUN_LABELS)
async def pod_index(**kwargs: Any) -> dict[Key, dict[str, Any]]:
    body = kwargs["body"]
    pod = slim.pod(body)
    owner = next(
        (o for o in body.get("metadata", {}).get("ownerReferences") or [] if o.get("kind") == "Job"), None
    )
    if owner is not None:
        pod["ownerUid"] = owner.get("uid")  # the Job whose run it is (reconcile checks its uid)
    return {(kwargs["namespace"], kwargs["labels"][api.LABEL_SWEEP]): pod}


@kopf.on.event(*SWEEPS)
async def on_sweep(**kwargs: Any) -> None:
    RECONCILER.bind(**kwargs)
    key = (kwargs["namespace"], runs.label_value(kwargs["name"]))
    if kwargs.get("type") != "DELETED":
        RECONCILER.note_spec(key, kwargs["body"].get("metadata", {}).get("generation"))
    RECONCILER.schedule(key)


@kopf.on.event("batch", "v1", "jobs", labels=RUN_LABELS)
@kopf.on.event("", "v1", "pods", labels=RUN_LABELS)
async def on_run_object(**kwargs: Any) -> None:
    RECONCILER.bind(**kwargs)
    key = (kwargs["namespace"], kwargs["labels"][api.LABEL_SWEEP])
    if RECONCILER.wants_pass(
        key, kwargs.get("type") or "", kwargs["resource"].plural, kwargs["name"], kwargs["labels"]
    ):
        if kwargs.get("type") == "DELETED" and kwargs["resource"].plural == "pods":
            RECONCILER.note_gone(key, kwargs["body"])
        RECONCILER.schedule(key)


async def _safety_net() -> None:
    """Every sweep gets a pass now and then even if an event was missed. (A kopf timer would
    put a finalizer on every Sweep, and a Sweep could then not be deleted without us.)"""
    while True:
        await asyncio.sleep(SAFETY_NET_INTERVAL)
        for key in RECONCILER.known():
            RECONCILER.schedule(key)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    RECONCILER.start_background(_safety_net())
    RECONCILER.cluster = Cluster()
    metrics.register_sweep_source(RECONCILER.statuses)
    RECONCILER.cluster.on_error = lambda verb, status: metrics.API_ERRORS.labels(
        verb=verb, status=str(status)
    ).inc()
    # A per-object worker that lingers holds its object's last event: with thousands of runs
    # starting at once, kopf's default 5 s kept tens of MB of event bodies alive (bench/memory.py).
    settings.queueing.idle_timeout = 0.5
    # Only our Jobs and pods, filtered by the API server: kopf keeps a memory of every object its
    # watch sends, and a cluster's other workloads are none of the operator's business.
    # Recorded runs' Jobs and pods are left out too: the Sweep's status holds their records.
    ours = f"{api.LABEL_MANAGED_BY}={api.MANAGED_BY},!{api.LABEL_RECORDED}"
    settings.watching.label_selectors["batch", "v1", "jobs"] = ours
    settings.watching.label_selectors["", "v1", "pods"] = ours
    settings.posting.level = logging.WARNING
    # kopf logs every handler call at INFO: thousands of lines per sweep say nothing to a person.
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings.persistence.finalizer = "kubesweep.io/operator"
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.error_backoffs = [0.5, 1, 2, 5, 10]
