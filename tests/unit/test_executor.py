"""The executor carries a Decision out against a fake cluster: the order of its actions, events
only once the status is written, the release bookkeeping, and refused creations."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubesweep import api, reconcile
from kubesweep.api import Phase
from kubesweep.cluster import Forbidden, Gone
from kubesweep.executor import Executor, Pass
from kubesweep.expectations import Expectations
from kubesweep.reconcile import Decision
from kubesweep.workqueue import WorkQueue
from tests.unit.fake_cluster import FakeCluster

KEY = ("ns", "s")
SWEEP: dict[str, Any] = {
    "metadata": {"name": "s", "namespace": "ns", "uid": "u", "generation": 1, "resourceVersion": "1"},
    "spec": {
        "method": "grid",
        "parameters": {"a": {"values": [1, 2]}},
        "parallelism": 2,
        "template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
    },
    "status": {"phase": "Running"},
}


async def _decide(function: Callable[..., Decision], *args: Any, **kwargs: Any) -> Decision:
    return function(*args, **kwargs)


def _executor(cluster: FakeCluster) -> tuple[Executor, Expectations, WorkQueue]:
    expectations = Expectations()

    async def nothing(key: tuple[str, str]) -> None:
        pass

    queue = WorkQueue(nothing)
    return Executor(cluster, expectations, queue, _decide), expectations, queue


def _job(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": "7", "finalizers": [api.JOB_FINALIZER]}}


def _create(name: str) -> reconcile.CreateRun:
    return reconcile.CreateRun(name, 1, {}, {"metadata": {"name": name, "labels": {}}, "spec": {}})


def _pass(jobs: list[dict[str, Any]] = [], pods: dict[str, Any] | None = None) -> Pass:  # noqa: B006
    return Pass(KEY, SWEEP, jobs, [], pods or {}, pods or {})


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_actions_run_in_the_order_of_the_record_status_release_protocol() -> None:
    cluster = FakeCluster()
    executor, expectations, _ = _executor(cluster)
    status = {"phase": "Running", "recordedRuns": [{"name": "s-0001"}]}
    decision = Decision(
        [
            reconcile.Event("Normal", "RunEnded", "s-0001"),
            reconcile.ReleaseJob("s-0001"),
            reconcile.WriteStatus(status),
            _create("s-0002"),
            reconcile.StopPods(("s-0003-a",)),
            reconcile.RecordRun("s-0003", '{"state":"Killed"}'),
        ],
        Phase.RUNNING,
        status,
    )
    await executor.apply(_pass([_job("s-0001")], {"s-0001": [{"metadata": {"name": "s-0001-a"}}]}), decision)
    await _settle()
    assert [c[0] for c in cluster.calls] == [
        "patch_job",  # the killed run's record first
        "stop_pod",  # then the kill
        "create_job",
        "patch_sweep_status",
        "post_event",  # only once the status says it
        "release_job",
        "label_pod_recorded",
    ]
    # The next pass sees every write before the cache does.
    assert expectations.sweep(KEY, SWEEP)["status"] == status  # type: ignore[index]
    assert [j["metadata"]["name"] for j in expectations.with_created(KEY, [])] == ["s-0002"]
    assert expectations.with_record("ns", _job("s-0003"))["metadata"]["annotations"]
    assert expectations.release_seen(KEY, "jobs", "s-0001")
    assert expectations.release_seen(KEY, "pods", "s-0001-a")


async def test_no_event_and_no_release_when_the_sweep_is_gone_before_its_status_write() -> None:
    cluster = FakeCluster()
    cluster.status_error = Gone("gone")
    executor, _, _ = _executor(cluster)
    status = {"phase": "Finished"}
    decision = Decision(
        [
            reconcile.WriteStatus(status),
            reconcile.Event("Normal", "Finished", "done"),
            reconcile.ReleaseJob("s-0001"),
        ],
        Phase.FINISHED,
        status,
    )
    await executor.apply(_pass([_job("s-0001")]), decision)
    await _settle()
    assert [c[0] for c in cluster.calls] == ["patch_sweep_status"]


async def test_a_release_refused_by_a_conflict_is_not_expected() -> None:
    cluster = FakeCluster()
    cluster.release_ok = False
    executor, expectations, _ = _executor(cluster)
    decision = Decision([reconcile.ReleaseJob("s-0001")], Phase.RUNNING, {"phase": "Running"})
    await executor.apply(_pass([_job("s-0001")], {"s-0001": [{"metadata": {"name": "p"}}]}), decision)
    assert ("label_pod_recorded", "p") not in cluster.calls
    assert not expectations.release_seen(KEY, "jobs", "s-0001")


async def test_a_403_holds_creations_back_and_the_core_decides_again() -> None:
    cluster = FakeCluster()
    cluster.creates["s-0001"] = Forbidden(403, 'jobs is forbidden: User "x" cannot create')
    executor, expectations, _ = _executor(cluster)
    decision = Decision([_create("s-0001")], Phase.RUNNING, {"phase": "Running"})
    after = await executor.apply(_pass(), decision)
    assert any(c["reason"] == reconcile.PERMISSION_DENIED for c in after.status["conditions"])
    assert executor.holding(KEY) == 'jobs is forbidden: User "x" cannot create'
    assert expectations.with_created(KEY, []) == []


async def test_a_409_from_a_job_of_our_run_counts_it_created() -> None:
    cluster = FakeCluster()
    cluster.creates["s-0001"] = False
    cluster.jobs["s-0001"] = {
        "metadata": {
            "name": "s-0001",
            "ownerReferences": [{"kind": api.KIND, "apiVersion": api.API_VERSION, "uid": "u"}],
        }
    }
    executor, expectations, _ = _executor(cluster)
    await executor.apply(_pass(), Decision([_create("s-0001")], Phase.RUNNING, {"phase": "Running"}))
    assert [j["metadata"]["name"] for j in expectations.with_created(KEY, [])] == ["s-0001"]
    assert executor.taken(KEY) == set()


async def test_a_409_from_anyone_elses_job_takes_the_name_and_brings_another_pass() -> None:
    cluster = FakeCluster()
    cluster.creates["s-0001"] = False
    cluster.jobs["s-0001"] = {"metadata": {"name": "s-0001", "resourceVersion": "3"}}
    passes: list[tuple[str, str]] = []

    async def work(key: tuple[str, str]) -> None:
        passes.append(key)

    expectations = Expectations()
    queue = WorkQueue(work)
    executor = Executor(cluster, expectations, queue, _decide)
    await executor.apply(_pass(), Decision([_create("s-0001")], Phase.RUNNING, {"phase": "Running"}))
    assert executor.taken(KEY) == {"s-0001"}
    assert expectations.with_created(KEY, []) == []
    queue.schedule(KEY)  # the pass under way ends; the mark it left brings one more
    await _settle()
    assert passes == [KEY]
