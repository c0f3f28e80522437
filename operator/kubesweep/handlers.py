"""kopf wiring: watch Sweeps, their Jobs and their pods; a pass of the sweep on any change.

Observed state comes from kopf indexes (no LIST per pass at steady state). The `Reconciler` is
built once at startup and kept in kopf's memo; every handler here only tells it what happened.
See docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from kubesweep import api, metrics, runs, slim, warm_start
from kubesweep.cluster import Cluster
from kubesweep.reconciler import Reconciler
from kubesweep.workqueue import Key

SWEEPS = (api.GROUP, api.VERSION, api.PLURAL)
RUN_LABELS: dict[str, Any] = {
    api.LABEL_MANAGED_BY: api.MANAGED_BY,
    api.LABEL_SWEEP: kopf.PRESENT,
}
SAFETY_NET_INTERVAL = 30.0

# kopf passes every handler its context as keyword arguments; they are read from kwargs.


def _owner_uid(body: Any, kind: str) -> str | None:
    owners = body.get("metadata", {}).get("ownerReferences") or []
    return next((o.get("uid") for o in owners if o.get("kind") == kind), None)


@kopf.index(*SWEEPS)
async def sweep_index(**kwargs: Any) -> dict[Key, dict[str, Any]]:
    return {(kwargs["namespace"], runs.label_value(kwargs["name"])): slim.sweep(kwargs["body"])}


@kopf.index(*SWEEPS)
async def learner_index(**kwargs: Any) -> dict[Key, Key]:
    """Warm start's reverse map: each Sweep a sweep's warmStart names, to that sweep's key."""
    return warm_start.learners(kwargs["namespace"], kwargs["body"])


@kopf.index("batch", "v1", "jobs", labels=RUN_LABELS)
async def job_index(**kwargs: Any) -> dict[Key, dict[str, Any]]:
    job = slim.job(kwargs["body"])
    if (owner := _owner_uid(kwargs["body"], api.KIND)) is not None:
        job["metadata"]["ownerUid"] = owner
    return {(kwargs["namespace"], kwargs["labels"][api.LABEL_SWEEP]): job}


@kopf.index("", "v1", "pods", labels=RUN_LABELS)
async def pod_index(**kwargs: Any) -> dict[Key, dict[str, Any]]:
    pod = slim.pod(kwargs["body"])
    if (owner := _owner_uid(kwargs["body"], "Job")) is not None:
        pod["ownerUid"] = owner  # the Job whose run it is (a pass checks its uid)
    return {(kwargs["namespace"], kwargs["labels"][api.LABEL_SWEEP]): pod}


@kopf.on.event(*SWEEPS)
async def on_sweep(memo: kopf.Memo, **kwargs: Any) -> None:
    reconciler: Reconciler = memo.reconciler
    key = (kwargs["namespace"], runs.label_value(kwargs["name"]))
    deleted = kwargs.get("type") == "DELETED"
    if not deleted:
        reconciler.note_spec(key, kwargs["body"].get("metadata", {}).get("generation"))
    reconciler.queue.schedule(key)
    reconciler.note_sweep(key, None if deleted else kwargs["body"])


@kopf.on.event("batch", "v1", "jobs", labels=RUN_LABELS)
@kopf.on.event("", "v1", "pods", labels=RUN_LABELS)
async def on_run_object(memo: kopf.Memo, **kwargs: Any) -> None:
    reconciler: Reconciler = memo.reconciler
    key = (kwargs["namespace"], kwargs["labels"][api.LABEL_SWEEP])
    event, plural = kwargs.get("type") or "", kwargs["resource"].plural
    if reconciler.wants_pass(key, event, plural, kwargs["name"], kwargs["labels"]):
        if event == "DELETED" and plural == "pods":
            reconciler.note_gone(key, kwargs["body"])
        reconciler.queue.schedule(key)


async def _safety_net(reconciler: Reconciler) -> None:
    """Every sweep gets a pass now and then even if an event was missed. (A kopf timer would
    put a finalizer on every Sweep, and a Sweep could then not be deleted without us.)"""
    while True:
        await asyncio.sleep(SAFETY_NET_INTERVAL)
        for key in reconciler.known():
            reconciler.queue.schedule(key)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    # kopf passes its indexes (live read-only views, empty until the watches start) to every
    # handler by name, startup handlers included: the reconciler keeps them.
    cluster = Cluster()
    cluster.on_error = lambda verb, status: metrics.API_ERRORS.labels(verb=verb, status=str(status)).inc()
    reconciler = Reconciler(
        cluster, kwargs["sweep_index"], kwargs["job_index"], kwargs["pod_index"], kwargs["learner_index"]
    )
    memo.reconciler = reconciler
    reconciler.queue.start_background(_safety_net(reconciler))
    metrics.register_sweep_source(reconciler.statuses)
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
