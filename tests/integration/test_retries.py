"""Retries (issue 17; the README's Runs section): a run the cluster took away (its pod evicted
through the Eviction API, as a drain does) is run again with the same parameters as a new run, up
to spec.maxRetries; the retry counts toward neither runCap nor maxFailedRuns, nor does the crash it
replaces. A run that fails on its own is never retried. On both backends.

Every run waits for the test to open its gate (a file: the sandbox's kubelet runs pods as local
processes on both backends), so a run is still executing when it is evicted, and ends only when
the test lets it."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kubesweep import api

from .conftest import (
    Kube,
    OneJobQuota,
    Operator,
    condition,
    grid,
    pods_of,
    python_run,
    released_jobs,
    running,
    wait_for,
)

pytestmark = pytest.mark.integration

# Waits until the gate is open (for every run, or for this one: GATE.<run>), then reports
# loss = its parameter a; exits 1 at once if told to (GATE.fail.<run>). SIGTERM (an eviction's)
# ends it at once, as it would most training scripts.
GATED = (
    "import json, os, sys, time\n"
    "p = json.loads(os.environ['KUBESWEEP_PARAMETERS'])\n"
    "gate, run = os.environ['GATE'], os.environ['KUBESWEEP_RUN']\n"
    "while not any(os.path.exists(g) for g in (gate, gate + '.' + run)):\n"
    "    if os.path.exists(gate + '.fail.' + run):\n"
    "        sys.exit(1)\n"
    "    time.sleep(0.05)\n"
    "print('loss=%s' % p['a'], flush=True)\n"
)


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "gate-open"
    yield path
    path.touch()  # whatever the test's end, no run is left waiting for it


def open_for(gate: Path, run: str) -> None:
    """Lets that run alone end."""
    gate.with_name(f"{gate.name}.{run}").touch()


def fail_for(gate: Path, run: str) -> None:
    """Makes that run fail on its own (exit 1)."""
    gate.with_name(f"{gate.name}.fail.{run}").touch()


def gated(gate: Path, values: list[int], parallelism: int = 1, **spec: Any) -> dict[str, Any]:
    return {**grid(GATED, values, parallelism, env=[{"name": "GATE", "value": str(gate)}]), **spec}


def evict(kube: Kube, ns: str, run: str) -> None:
    """Evicts the run's pod once it runs, through the pods/eviction API (as `kubectl drain` does)."""
    pod = wait_for(lambda: running(kube, ns, run), 30, f"{run} running")
    name = pod["metadata"]["name"]
    eviction: Any = {"metadata": {"name": name, "namespace": ns}}
    kube.core.create_namespaced_pod_eviction(name, ns, eviction)


def recorded(kube: Kube, ns: str, sweep: str, run: str) -> dict[str, Any]:
    """The run's record, once it is in the Sweep's status."""
    found: dict[str, Any] = wait_for(
        lambda: kube.records(ns, sweep).get(run),
        30,
        f"{run}'s record",
        lambda: kube.sweep(ns, sweep).get("status"),
    )
    return found


def annotations_of(job: dict[str, Any]) -> dict[str, str]:
    return dict(job["metadata"].get("annotations") or {})


def retries_of(kube: Kube, ns: str, sweep: str, run: str) -> list[dict[str, Any]]:
    """The Jobs that say they retry `run`."""
    return [j for j in kube.jobs(ns, sweep) if annotations_of(j).get(api.ANNOTATION_RETRY_OF) == run]


def assert_next_point(kube: Kube, ns: str, sweep: str, run: str, parameters: dict[str, Any]) -> None:
    """Once its Job exists, `run` is the search's next point, with these parameters: no retry."""
    job = wait_for(
        lambda: next((j for j in kube.jobs(ns, sweep) if j["metadata"]["name"] == run), None),
        30,
        run,
        lambda: kube.sweep(ns, sweep).get("status"),
    )
    assert api.ANNOTATION_RETRY_OF not in annotations_of(job), annotations_of(job)
    assert json.loads(annotations_of(job)[api.ANNOTATION_PARAMETERS]) == parameters


def retry_of(kube: Kube, ns: str, sweep: str, run: str, timeout: float = 30) -> dict[str, Any]:
    """The Job that retries `run`, once there is one."""
    found: list[dict[str, Any]] = wait_for(
        lambda: retries_of(kube, ns, sweep, run),
        timeout,
        f"a retry of {run}",
        lambda: (
            [(j["metadata"]["name"], annotations_of(j)) for j in kube.jobs(ns, sweep)],
            kube.sweep(ns, sweep).get("status"),
        ),
    )
    return found[0]


def numbers(jobs: list[dict[str, Any]]) -> list[int]:
    return sorted(int(j["metadata"]["name"].rsplit("-", 1)[1]) for j in jobs)


def ended(kube: Kube, ns: str, sweep: str, timeout: float = 60) -> dict[str, Any]:
    """The sweep once it has ended, Finished or Failed (which one is the test's to assert)."""
    return kube.wait_phase(ns, sweep, {"Finished", "Failed", "Crashed"}, timeout=timeout)


def assert_disrupted(record: dict[str, Any]) -> None:
    """An evicted run's record: Crashed, and taken away by the cluster."""
    assert record["state"] == "Crashed", record
    assert record.get("reason") == "EvictionByEvictionAPI", record
    assert record.get("disrupted") is True, record


def assert_taken_away(record: dict[str, Any], retried_by: str | None) -> None:
    """An evicted run's record, retried by that run (None: not retried)."""
    assert_disrupted(record)
    assert record.get("retriedBy") == retried_by, record


def assert_retry(job: dict[str, Any], record: dict[str, Any], of: dict[str, Any], attempt: int) -> None:
    """A retry's Job and record: annotated retry-of the previous attempt and its number, with the
    same parameters, under a number of its own."""
    meta = annotations_of(job)
    assert meta.get(api.ANNOTATION_RETRY_OF) == of["name"], meta
    assert meta.get(api.ANNOTATION_ATTEMPT) == str(attempt), meta
    assert job["metadata"]["name"] != of["name"]
    assert json.loads(meta[api.ANNOTATION_PARAMETERS]) == of["parameters"], (meta, of)
    assert record.get("retryOf") == of["name"], record
    assert record.get("attempt") == attempt, record
    assert record["parameters"] == of["parameters"], (record, of)


def no_retries_noted(records: dict[str, dict[str, Any]], *names: str) -> None:
    for name in names:
        record = records[name]
        assert not any(record.get(k) for k in ("retryOf", "attempt", "retriedBy", "disrupted")), record


# Case 1: an evicted run is retried once, with its parameters, and runs to its end; the sweep
# ends Finished with runCap runs counted (plus the retry), and the crash is not a failure that
# maxFailedRuns: 1 would end it on.
@pytest.mark.parametrize(
    ("method", "parallelism", "max_retries"),
    [("grid", 1, None), ("random", 2, 2)],
    ids=["grid-parallelism-1-default-max-retries", "random-parallelism-2-max-retries-2"],
)
def test_an_evicted_run_is_retried_with_its_parameters_and_the_sweep_finishes(
    kube: Kube, ns: str, gate: Path, method: str, parallelism: int, max_retries: int | None
) -> None:
    cap = 3
    spec = gated(gate, [1, 2, 3, 4, 5], parallelism, method=method, runCap=cap, maxFailedRuns=1)
    if method == "random":
        spec["seed"] = 5
    if max_retries is not None:
        spec["maxRetries"] = max_retries
    kube.create_sweep(ns, "evicted", spec)
    executing = [f"evicted-{n:04d}" for n in range(1, parallelism + 1)]
    wait_for(lambda: all(running(kube, ns, run) for run in executing), 30, f"{executing} running")
    first = "evicted-0001"
    evict(kube, ns, first)
    assert_disrupted(recorded(kube, ns, "evicted", first))
    # Every other run still waits at the gate, so the retry takes the one place free: the next
    # number (it starts before any new search run).
    retry = retry_of(kube, ns, "evicted", first)
    assert retry["metadata"]["name"] == f"evicted-{parallelism + 1:04d}"
    gate.touch()

    done = ended(kube, ns, "evicted")
    assert done["status"]["phase"] == "Finished", done["status"]
    jobs = released_jobs(kube, ns, "evicted")
    assert numbers(jobs) == list(range(1, cap + 2)), "runCap runs and the retry, numbers dense"
    assert [j["metadata"]["name"] for j in jobs if api.ANNOTATION_RETRY_OF in annotations_of(j)] == [
        retry["metadata"]["name"]
    ]
    records = {r["name"]: r for r in done["status"]["recordedRuns"]}
    name = retry["metadata"]["name"]
    assert_taken_away(records[first], name)
    assert_retry(retry, records[name], records[first], attempt=1)
    assert records[name]["state"] == "Finished", records[name]
    assert records[name]["metrics"] == {"loss": records[first]["parameters"]["a"]}, records[name]
    no_retries_noted(records, *(n for n in records if n not in (first, name)))
    assert {r["state"] for n, r in records.items() if n != first} == {"Finished"}
    assert len([r for r in records.values() if not r.get("retryOf")]) == cap, (
        "runCap counts all but the retry"
    )
    counts = done["status"]["runs"]
    assert (counts["total"], counts["retries"], counts["finished"], counts["crashed"]) == (cap + 1, 1, cap, 1)
    # Told once, naming both runs (kubectl get events --field-selector reason=RunRetried).
    told = wait_for(lambda: retried_events(kube, ns, "evicted"), 10, "the RunRetried event")
    assert len(told) == 1 and first in told[0] and name in told[0], told


def retried_events(kube: Kube, ns: str, sweep: str) -> list[str]:
    return [
        str(e.message)
        for e in kube.core.list_namespaced_event(ns).items
        if e.involved_object.name == sweep and e.reason == "RunRetried"
    ]


# A drain takes several runs at once: each is retried once, in the places they left, before the
# search's next point.
def test_runs_evicted_together_are_each_retried_once(kube: Kube, ns: str, gate: Path) -> None:
    kube.create_sweep(ns, "drain", gated(gate, [1, 2, 3, 4], parallelism=3))
    executing = ["drain-0001", "drain-0002", "drain-0003"]
    wait_for(lambda: all(running(kube, ns, run) for run in executing), 30, f"{executing} running")
    for run in executing[:2]:
        evict(kube, ns, run)
    retries = {run: retry_of(kube, ns, "drain", run) for run in executing[:2]}
    assert sorted(j["metadata"]["name"] for j in retries.values()) == ["drain-0004", "drain-0005"]
    gate.touch()
    done = ended(kube, ns, "drain")
    assert done["status"]["phase"] == "Finished", done["status"]
    jobs = released_jobs(kube, ns, "drain")
    assert numbers(jobs) == [1, 2, 3, 4, 5, 6]
    assert len([j for j in jobs if api.ANNOTATION_RETRY_OF in annotations_of(j)]) == 2
    records = {r["name"]: r for r in done["status"]["recordedRuns"]}
    for run, job in retries.items():
        assert_taken_away(records[run], job["metadata"]["name"])
        assert_retry(job, records[job["metadata"]["name"]], records[run], attempt=1)
    assert records["drain-0006"]["parameters"] == {"a": 4}
    counts = done["status"]["runs"]
    assert (counts["total"], counts["retries"], counts["finished"], counts["crashed"]) == (6, 2, 4, 2)


# The template's backoffLimit is used first: an evicted pod is replaced by the Job itself, within
# the same run; only the Job's last pod evicted makes the run Crashed, and retried.
def test_the_jobs_own_backoff_limit_comes_before_a_retry(kube: Kube, ns: str, gate: Path) -> None:
    spec = gated(gate, [1, 2])
    spec["template"]["spec"]["backoffLimit"] = 1
    kube.create_sweep(ns, "backoff", spec)
    first = wait_for(lambda: running(kube, ns, "backoff-0001"), 30, "run 1 running")["metadata"]["name"]
    evict(kube, ns, "backoff-0001")
    wait_for(
        lambda: (pod := running(kube, ns, "backoff-0001")) and pod["metadata"]["name"] != first,
        30,
        "the Job's second pod of run 1",
    )
    assert "backoff-0001" not in kube.records(ns, "backoff")
    evict(kube, ns, "backoff-0001")
    retry = retry_of(kube, ns, "backoff", "backoff-0001")
    gate.touch()
    done = ended(kube, ns, "backoff")
    assert done["status"]["phase"] == "Finished", done["status"]
    assert numbers(released_jobs(kube, ns, "backoff")) == [1, 2, 3]
    records = {r["name"]: r for r in done["status"]["recordedRuns"]}
    assert_taken_away(records["backoff-0001"], "backoff-0002")
    assert_retry(retry, records["backoff-0002"], records["backoff-0001"], attempt=1)
    assert done["status"]["runs"]["retries"] == 1


# Case 2: maxRetries: 1, and the retry is evicted too: no second retry. The last attempt stays
# Crashed and counts as a failure: maxFailedRuns: 1 ends the sweep Failed.
def test_a_retry_evicted_past_max_retries_is_not_retried_and_counts_as_a_failure(
    kube: Kube, ns: str, gate: Path
) -> None:
    kube.create_sweep(ns, "again", gated(gate, [1, 2, 3], maxRetries=1, maxFailedRuns=1))
    evict(kube, ns, "again-0001")
    retry = retry_of(kube, ns, "again", "again-0001")
    assert retry["metadata"]["name"] == "again-0002"
    evict(kube, ns, "again-0002")

    done = ended(kube, ns, "again")
    assert done["status"]["phase"] == "Failed", done["status"]
    assert condition(done).get("reason") == "MaxFailedRunsReached", condition(done)
    jobs = released_jobs(kube, ns, "again")
    assert numbers(jobs) == [1, 2], "no second retry, and no search run after the failure"
    assert not retries_of(kube, ns, "again", "again-0002")
    records = {r["name"]: r for r in done["status"]["recordedRuns"]}
    assert_taken_away(records["again-0001"], "again-0002")
    assert_taken_away(records["again-0002"], None)
    assert_retry(retry, records["again-0002"], records["again-0001"], attempt=1)
    counts = done["status"]["runs"]
    assert (counts["total"], counts["retries"], counts["crashed"]) == (2, 1, 2)


# Case 2, further: maxRetries: 4 retries a run four times, each retry retrying the attempt before
# it; the fifth eviction is not retried, and the search goes on with its next point. Five crashes
# and no run finished, yet not the first-5 rule's Failed: four of them were retried.
def test_retries_of_retries_stop_at_max_retries_and_the_search_goes_on(
    kube: Kube, ns: str, gate: Path
) -> None:
    kube.create_sweep(ns, "chain", gated(gate, [1, 2], maxRetries=4))
    attempts = ["chain-0001"]
    retries: list[dict[str, Any]] = []
    for _ in range(4):
        evict(kube, ns, attempts[-1])
        retries.append(retry_of(kube, ns, "chain", attempts[-1]))
        attempts.append(retries[-1]["metadata"]["name"])
    assert attempts == [f"chain-{n:04d}" for n in range(1, 6)]
    evict(kube, ns, "chain-0005")
    # Retries start before search runs: once the next point's run exists, the fifth eviction
    # has been seen and not retried.
    assert_next_point(kube, ns, "chain", "chain-0006", {"a": 2})
    gate.touch()

    done = ended(kube, ns, "chain")
    assert done["status"]["phase"] == "Finished", done["status"]
    jobs = released_jobs(kube, ns, "chain")
    assert numbers(jobs) == [1, 2, 3, 4, 5, 6]
    assert not retries_of(kube, ns, "chain", "chain-0005")
    records = {r["name"]: r for r in done["status"]["recordedRuns"]}
    for attempt, (previous, retry, job) in enumerate(zip(attempts, attempts[1:], retries, strict=False), 1):
        assert_taken_away(records[previous], retry)
        assert_retry(job, records[retry], records[previous], attempt=attempt)
    assert_taken_away(records["chain-0005"], None)
    assert records["chain-0006"]["state"] == "Finished"
    no_retries_noted(records, "chain-0006")
    counts = done["status"]["runs"]
    assert (counts["total"], counts["retries"], counts["finished"], counts["crashed"]) == (6, 4, 1, 5)


# A retry that fails on its own is an ordinary failure: not retried, and counted (maxFailedRuns: 1).
def test_a_retry_that_fails_on_its_own_counts_as_a_failure(kube: Kube, ns: str, gate: Path) -> None:
    kube.create_sweep(ns, "relapse", gated(gate, [1, 2], maxFailedRuns=1))
    evict(kube, ns, "relapse-0001")
    retry = retry_of(kube, ns, "relapse", "relapse-0001")
    wait_for(lambda: running(kube, ns, "relapse-0002"), 30, "the retry running")
    fail_for(gate, "relapse-0002")
    done = ended(kube, ns, "relapse")
    assert done["status"]["phase"] == "Failed", done["status"]
    assert condition(done).get("reason") == "MaxFailedRunsReached", condition(done)
    assert numbers(released_jobs(kube, ns, "relapse")) == [1, 2]
    records = {r["name"]: r for r in done["status"]["recordedRuns"]}
    assert_taken_away(records["relapse-0001"], "relapse-0002")
    assert_retry(retry, records["relapse-0002"], records["relapse-0001"], attempt=1)
    failed = records["relapse-0002"]
    assert (failed["state"], failed.get("exitCode")) == ("Failed", 1), failed
    assert not failed.get("disrupted") and not failed.get("retriedBy"), failed


# Case 3: maxRetries: 0 turns retries off: the evicted run stays Crashed, the next run is the
# search's next point.
def test_max_retries_zero_retries_nothing(kube: Kube, ns: str, gate: Path) -> None:
    kube.create_sweep(ns, "noretry", gated(gate, [1, 2], maxRetries=0))
    evict(kube, ns, "noretry-0001")
    assert_next_point(kube, ns, "noretry", "noretry-0002", {"a": 2})
    gate.touch()

    done = ended(kube, ns, "noretry")
    assert done["status"]["phase"] == "Finished", done["status"]
    assert numbers(released_jobs(kube, ns, "noretry")) == [1, 2]
    records = {r["name"]: r for r in done["status"]["recordedRuns"]}
    assert_taken_away(records["noretry-0001"], None)
    no_retries_noted(records, "noretry-0002")
    counts = done["status"]["runs"]
    assert (counts["total"], counts["retries"], counts["finished"], counts["crashed"]) == (2, 0, 1, 1)


# Case 4: a run that fails on its own is never retried: an error (exit 1), or its template's
# pod activeDeadlineSeconds passed (the kubelet stops it: DeadlineExceeded, no DisruptionTarget).
# (The sandbox's kubelet enforces no memory limit, so it cannot OOMKill a run honestly.)
FAILS_ON_ITS_OWN = {
    "exit-1": ("import sys; sys.exit(1)", None, "Failed", "Error"),
    "deadline-exceeded": ("import time; time.sleep(600)", 6, "Failed", "DeadlineExceeded"),
}


@pytest.mark.parametrize("case", list(FAILS_ON_ITS_OWN))
def test_a_run_that_fails_on_its_own_is_never_retried(kube: Kube, ns: str, case: str) -> None:
    failing, deadline, state, reason = FAILS_ON_ITS_OWN[case]
    code = (
        "import json, os\n"
        "p = json.loads(os.environ['KUBESWEEP_PARAMETERS'])\n"
        f"if p['a'] == 1:\n    {failing}\n"
        "print('loss=%s' % p['a'])\n"
    )
    template = python_run(code)
    if deadline is not None:
        template["spec"]["template"]["spec"]["activeDeadlineSeconds"] = deadline
        template["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
    spec = {
        "method": "grid",
        "parallelism": 1,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": [1, 2]}},
        "template": template,
    }
    kube.create_sweep(ns, "own", spec)
    done = ended(kube, ns, "own")
    assert done["status"]["phase"] == "Finished", done["status"]
    jobs = released_jobs(kube, ns, "own")
    assert numbers(jobs) == [1, 2]
    assert not [j for j in jobs if api.ANNOTATION_RETRY_OF in annotations_of(j)]
    records = {r["name"]: r for r in done["status"]["recordedRuns"]}
    assert (records["own-0001"]["state"], records["own-0001"].get("reason")) == (state, reason)
    assert records["own-0002"]["parameters"] == {"a": 2}
    no_retries_noted(records, "own-0001", "own-0002")
    assert done["status"]["runs"]["retries"] == 0


class StatusFrozen:
    """The Sweep status writes in one namespace refused, until `lift()`: on a real cluster by a
    ValidatingAdmissionPolicy, on the emulator by an injected answer alike."""

    MESSAGE = "status writes frozen by the test"

    def __init__(self, sandbox: Any, kube: Kube, namespace: str) -> None:
        self.sandbox, self.kube, self.namespace = sandbox, kube, namespace
        self.name = f"freeze-{namespace}"
        self.on = False
        self.admission = client.AdmissionregistrationV1Api(kube.api_client)

    def __call__(self, request: Any) -> bool:
        agent = request.headers.get("User-Agent") or ""
        method = str(getattr(request.method, "value", request.method)).upper()
        return (
            self.on
            and agent.startswith("kubesweep-operator")
            and method in ("PATCH", "PUT")
            and f"/namespaces/{self.namespace}/sweeps/" in request.url.path
            and request.url.path.endswith("/status")
        )

    def _refused(self, sweep: str) -> bool:
        """Whether a status write (a dry run) is refused now."""
        patch = {"status": {"startTime": "2000-01-01T00:00:00Z"}}
        try:
            self.kube.custom.patch_namespaced_custom_object_status(
                api.GROUP, api.VERSION, self.namespace, api.PLURAL, sweep, patch, dry_run="All"
            )
        except client.ApiException as exc:
            assert self.MESSAGE in str(exc.body), exc.body
            return True
        return False

    def freeze(self, sweep: str) -> None:
        self.on = True
        if self.sandbox.backend != "real":
            body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
            (
                self.sandbox.emulator[self]
                << 422
                << {**body, "message": self.MESSAGE, "reason": "Invalid", "code": 422}
            )
            return
        rule = {
            "apiGroups": [api.GROUP],
            "apiVersions": ["*"],
            "operations": ["UPDATE"],
            "resources": [f"{api.PLURAL}/status"],
        }
        policy: Any = {
            "metadata": {"name": self.name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [rule]},
                "validations": [{"expression": "false", "message": self.MESSAGE}],
            },
        }
        binding: Any = {
            "metadata": {"name": self.name},
            "spec": {
                "policyName": self.name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}}
                },
            },
        }
        self.admission.create_validating_admission_policy(policy)
        self.admission.create_validating_admission_policy_binding(binding)
        wait_for(lambda: self._refused(sweep), 30, "the policy in force")

    def lift(self, sweep: str | None = None) -> None:
        if self.on and self.sandbox.backend == "real":
            self.admission.delete_validating_admission_policy_binding(self.name)
            self.admission.delete_validating_admission_policy(self.name)
            if sweep is not None:
                wait_for(lambda: not self._refused(sweep), 30, "the policy gone")
        self.on = False


# Case 5: the operator killed between the eviction and the retry's creation (the quota refused the
# retry's Job), and again between its creation and the status saying so (status writes refused),
# then at random while it settles: one retry, never two. Both windows are held open on purpose,
# on both tiers.
def test_an_operator_killed_around_a_retry_starts_it_once(
    sandbox: Any, kube: Kube, tmp_path: Path, gate: Path
) -> None:
    op = Operator(Path(sandbox.kubeconfig_path), tmp_path / "operator.log", namespaces="retry-*")
    ns = kube.namespace("retry")
    quota = OneJobQuota(sandbox, kube, ns, "restarts-0002")
    frozen = StatusFrozen(sandbox, kube, ns)
    kube.create_sweep(ns, "restarts", gated(gate, [1, 2, 3], maxFailedRuns=1))
    op.start()
    try:
        evict(kube, ns, "restarts-0001")
        assert_disrupted(recorded(kube, ns, "restarts", "restarts-0001"))
        # The operator has seen the eviction and tried to start the retry: the quota refused it.
        wait_for(
            lambda: condition(kube.sweep(ns, "restarts")).get("reason") == "QuotaExceeded",
            30,
            "the retry refused by the quota",
            lambda: kube.sweep(ns, "restarts").get("status"),
        )
        op.kill()
        assert_taken_away(kube.records(ns, "restarts")["restarts-0001"], None)
        assert [j["metadata"]["name"] for j in kube.jobs(ns, "restarts")] == ["restarts-0001"]
        # Its pod gone meanwhile: the operator started again knows of the eviction only from
        # what it wrote before it was killed.
        wait_for(lambda: not pods_of(kube, ns, "restarts-0001"), 30, "run 1's pod gone")

        frozen.freeze("restarts")
        quota.lift()
        op.start()
        retry_of(kube, ns, "restarts", "restarts-0001")
        op.kill()
        # The second window: the retry's Job exists, the status still says run 1 waits for it.
        status = kube.sweep(ns, "restarts")["status"]
        assert (status["runs"]["total"], status["runs"]["retries"]) == (1, 0), status["runs"]
        assert_taken_away(kube.records(ns, "restarts")["restarts-0001"], None)
        frozen.lift("restarts")

        op.kill_at_random(random.Random(17), 3, 0.2, 1.0)
        gate.touch()
        done = ended(kube, ns, "restarts", timeout=90)
        jobs = released_jobs(kube, ns, "restarts")
    finally:
        quota.lift()
        frozen.lift()
        op.stop()
    assert done["status"]["phase"] == "Finished", done["status"]
    assert numbers(jobs) == [1, 2, 3, 4]
    retries = [j for j in jobs if api.ANNOTATION_RETRY_OF in annotations_of(j)]
    assert [j["metadata"]["name"] for j in retries] == ["restarts-0002"], [annotations_of(j) for j in retries]
    records = {r["name"]: r for r in done["status"]["recordedRuns"]}
    assert_taken_away(records["restarts-0001"], "restarts-0002")
    assert_retry(retries[0], records["restarts-0002"], records["restarts-0001"], attempt=1)
    assert {records[n]["parameters"]["a"] for n in ("restarts-0003", "restarts-0004")} == {2, 3}
    counts = done["status"]["runs"]
    assert (counts["total"], counts["retries"], counts["finished"], counts["crashed"]) == (4, 1, 3, 1)
    assert "Traceback" not in op.log


# Case 5, the operator down for the whole eviction (a drain that takes its pod too): by the time it
# is back, the run's pod, and with it the DisruptionTarget condition, is gone. The Job still says
# so: kubesweep's podFailurePolicy (FailJob on DisruptionTarget) failed it with reason
# PodFailurePolicy and a message naming the condition, so the run is retried all the same.
def test_a_run_evicted_while_the_operator_is_down_is_retried(
    sandbox: Any, kube: Kube, tmp_path: Path, gate: Path
) -> None:
    op = Operator(Path(sandbox.kubeconfig_path), tmp_path / "operator.log", namespaces="retry-*")
    ns = kube.namespace("retry")
    kube.create_sweep(ns, "down", gated(gate, [1, 2]))
    op.start()
    try:
        wait_for(lambda: running(kube, ns, "down-0001"), 30, "run 1 running")
        op.kill()
        evict(kube, ns, "down-0001")
        wait_for(lambda: not pods_of(kube, ns, "down-0001"), 30, "run 1's pod gone")
        op.start()
        record = recorded(kube, ns, "down", "down-0001")
        # Only the Job tells it now: which condition failed it, not the eviction's own reason.
        assert (record["state"], record.get("reason"), record.get("disrupted")) == (
            "Crashed",
            "DisruptionTarget",
            True,
        ), record
        assert "has condition DisruptionTarget matching FailJob rule" in record.get("message", ""), record
        retry_of(kube, ns, "down", "down-0001")
    finally:
        op.stop()


# Case 6: a paused sweep withholds the retry, as it withholds any run, until it is resumed; so
# does a stopped one.
@pytest.mark.parametrize(
    ("state", "draining", "held"), [("paused", "Paused", "Paused"), ("stopped", "Stopping", "Stopped")]
)
def test_a_paused_or_stopped_sweep_withholds_the_retry_until_resumed(
    kube: Kube, ns: str, gate: Path, state: str, draining: str, held: str
) -> None:
    kube.create_sweep(ns, "held", gated(gate, [1, 2]))
    wait_for(lambda: running(kube, ns, "held-0001"), 30, "run 1 running")
    kube.set_state(ns, "held", state)
    kube.wait_phase(ns, "held", draining, timeout=30)
    evict(kube, ns, "held-0001")
    assert_disrupted(recorded(kube, ns, "held", "held-0001"))
    # A change of the spec the operator acknowledges (observedGeneration) after it recorded the
    # crash: a pass that knew of the crash while paused, and started nothing.
    kube.custom.patch_namespaced_custom_object(
        api.GROUP, api.VERSION, ns, api.PLURAL, "held", {"spec": {"maxRetries": 4}}
    )
    generation = kube.sweep(ns, "held")["metadata"]["generation"]
    seen = wait_for(
        lambda: (s := kube.sweep(ns, "held"))["status"].get("observedGeneration") == generation and s,
        30,
        "the new spec seen",
        lambda: kube.sweep(ns, "held").get("status"),
    )
    assert seen["status"]["phase"] == held, seen["status"]
    assert [j["metadata"]["name"] for j in kube.jobs(ns, "held")] == ["held-0001"]
    assert_taken_away(kube.records(ns, "held")["held-0001"], None)

    kube.set_state(ns, "held", "running")
    retry = retry_of(kube, ns, "held", "held-0001")
    assert retry["metadata"]["name"] == "held-0002"
    gate.touch()
    done = ended(kube, ns, "held")
    assert done["status"]["phase"] == "Finished", done["status"]
    assert numbers(released_jobs(kube, ns, "held")) == [1, 2, 3]
    records = {r["name"]: r for r in done["status"]["recordedRuns"]}
    assert_taken_away(records["held-0001"], "held-0002")
    assert_retry(retry, records["held-0002"], records["held-0001"], attempt=1)
    assert records["held-0003"]["parameters"] == {"a": 2}
    counts = done["status"]["runs"]
    assert (counts["total"], counts["retries"], counts["finished"]) == (3, 1, 2)


# The last point's run evicted once the grid is exhausted, or once runCap runs have started: its
# retry still starts (it counts toward neither), and the sweep finishes only after it.
@pytest.mark.parametrize(
    "extra",
    [{"parameters": {"a": {"values": [1, 2]}}}, {"runCap": 2}],
    ids=["grid-exhausted", "run-cap-reached"],
)
def test_a_run_evicted_after_the_last_point_started_is_retried_before_the_sweep_finishes(
    kube: Kube, ns: str, gate: Path, extra: dict[str, Any]
) -> None:
    kube.create_sweep(ns, "last", {**gated(gate, [1, 2, 3, 4], parallelism=2), **extra})
    wait_for(
        lambda: running(kube, ns, "last-0001") and running(kube, ns, "last-0002"), 30, "runs 1 and 2 running"
    )
    evict(kube, ns, "last-0002")
    retry = retry_of(kube, ns, "last", "last-0002")
    assert retry["metadata"]["name"] == "last-0003"
    gate.touch()
    done = ended(kube, ns, "last")
    assert done["status"]["phase"] == "Finished", done["status"]
    assert numbers(released_jobs(kube, ns, "last")) == [1, 2, 3]
    records = {r["name"]: r for r in done["status"]["recordedRuns"]}
    assert_taken_away(records["last-0002"], "last-0003")
    assert_retry(retry, records["last-0003"], records["last-0002"], attempt=1)
    assert records["last-0003"]["metrics"] == {"loss": 2}
    counts = done["status"]["runs"]
    assert (counts["total"], counts["retries"], counts["finished"]) == (3, 1, 2)


# Once metric.target is reached no retry starts: the sweep only drains its runs, and a run taken
# away meanwhile stays Crashed.
def test_no_retry_once_the_target_is_reached(kube: Kube, ns: str, gate: Path) -> None:
    spec = gated(gate, [1, 2, 3], parallelism=2)
    spec["metric"]["target"] = 1
    kube.create_sweep(ns, "target", spec)
    wait_for(
        lambda: running(kube, ns, "target-0001") and running(kube, ns, "target-0002"),
        30,
        "runs 1 and 2 running",
    )
    open_for(gate, "target-0001")
    assert recorded(kube, ns, "target", "target-0001")["metrics"] == {"loss": 1}
    evict(kube, ns, "target-0002")
    done = ended(kube, ns, "target")
    assert done["status"]["phase"] == "Finished", done["status"]
    assert condition(done, "Completed").get("reason") == "TargetReached", condition(done, "Completed")
    assert numbers(released_jobs(kube, ns, "target")) == [1, 2]
    records = {r["name"]: r for r in done["status"]["recordedRuns"]}
    assert_taken_away(records["target-0002"], None)
    assert done["status"]["runs"]["retries"] == 0


# The Job controller's podFailurePolicy, which kubesweep's Jobs carry (FailJob on DisruptionTarget):
# the sandbox's applies it as the real one does, the message word for word. A plain Job, no sweep's.
@pytest.mark.parametrize(
    ("code", "reason", "failed", "made"),
    [(42, "PodFailurePolicy", 1, 1), (3, "BackoffLimitExceeded", 2, 2), (5, "BackoffLimitExceeded", 2, 3)],
    ids=["fail-job", "count", "ignore"],
)
def test_the_job_controller_applies_a_pod_failure_policy_as_the_real_one(
    kube: Kube, ns: str, tmp_path: Path, code: int, reason: str, failed: int, made: int
) -> None:
    name = f"policy-{code}"
    once = tmp_path / "once"
    rules = [
        {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [5]}},
        {"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    ]
    # The first pod exits with `code`, the next ones 3 (which counts): exit 5 is ignored, so it
    # takes a third pod to pass backoffLimit 1.
    script = (
        f"import os, sys\nif os.path.exists({str(once)!r}): sys.exit(3)\n"
        f"open({str(once)!r}, 'w').close()\nsys.exit({code})"
    )
    job: Any = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 1,
            "podFailurePolicy": {"rules": rules},
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "python:3.11-slim",
                            "command": ["python", "-c", script],
                        }
                    ],
                }
            },
        },
    }
    kube.batch.create_namespaced_job(ns, job)

    def read() -> dict[str, Any]:
        found: dict[str, Any] = kube.api_client.sanitize_for_serialization(
            kube.batch.read_namespaced_job(name, ns)
        )
        return found

    def ended() -> dict[str, Any] | None:
        return next((c for c in read()["status"].get("conditions") or [] if c["type"] == "Failed"), None)

    condition = wait_for(ended, 60, f"Job {name} Failed")
    assert condition["reason"] == reason, condition
    listed = kube.core.list_namespaced_pod(ns, label_selector=f"job-name={name}").items
    pods = [kube.api_client.sanitize_for_serialization(p)["metadata"]["name"] for p in listed]
    if reason == "PodFailurePolicy":
        expected = (
            f"Container main for pod {ns}/{pods[0]} failed with exit code 42 matching FailJob rule at index 0"
        )
        assert condition["message"] == expected
    assert read()["status"].get("failed") == failed, read()["status"]
    assert len(pods) == made, pods  # an ignored failure makes one more
