"""`kubectl sweep rerun RUN` as a user types it, on both tiers: what it refuses, and the count it
asks for on the Sweep (annotation kubesweep.io/reruns). The Sweep here is in a namespace no
operator serves, so its status is the test's to write: every case holds still."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubesweep import api

from .conftest import Kube, condition, metric_grid, python_run, wait_for
from .test_plugin import kubectl_sweep

pytestmark = pytest.mark.integration

SPEC = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2, 3, 4, 5, 6]}},
    "template": python_run("print('loss=1')"),
}


def record(number: int, state: str = "Finished", **extra: Any) -> dict[str, Any]:
    return {
        "name": f"lr-{number:04d}",
        "number": number,
        "state": state,
        "parameters": {"a": number},
        "metrics": {"loss": 1.0} if state == "Finished" else {},
        **extra,
    }


def a_sweep(kube: Kube, ns: str, records: list[dict[str, Any]], **status: Any) -> dict[str, Any]:
    """Sweep lr whose runs 1-2 are folded, with these records, as an operator would have left it."""
    created = kube.create_sweep(ns, "lr", SPEC)
    kube.custom.patch_namespaced_custom_object_status(
        api.GROUP,
        api.VERSION,
        ns,
        api.PLURAL,
        "lr",
        {
            "status": {
                "phase": "Running",
                "recordedRuns": records,
                "foldedRuns": {"numbers": "1-2", "finished": 2, "countedTowardRunCap": 2},
                **status,
            }
        },
    )
    return created


def a_run(kube: Kube, ns: str, sweep: dict[str, Any], number: int, **annotations: str) -> None:
    """The Job of a run of lr, as the operator makes it; suspended, so it stays executing."""
    template = python_run("print('loss=1')")
    meta = sweep["metadata"]
    name = f"lr-{number:04d}"
    labels = {api.LABEL_SWEEP: "lr", api.LABEL_RUN: name}
    body: Any = {
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                api.ANNOTATION_PARAMETERS: json.dumps({"a": number}),
                api.ANNOTATION_RUN_NUMBER: str(number),
                **annotations,
            },
            "ownerReferences": [
                {"apiVersion": api.API_VERSION, "kind": api.KIND, "name": meta["name"], "uid": meta["uid"]}
            ],
        },
        "spec": {**template["spec"], "suspend": True},
    }
    body["spec"]["template"] = {**template["spec"]["template"], "metadata": {"labels": labels}}
    kube.batch.create_namespaced_job(ns, body)


def asked(kube: Kube, ns: str) -> Any:
    text = (kube.sweep(ns, "lr")["metadata"].get("annotations") or {}).get(api.ANNOTATION_RERUNS)
    return json.loads(text) if text else None


def test_rerun_refuses_what_cannot_run_again_and_counts_up_on_the_sweep(sandbox: Any, kube: Kube) -> None:
    ns = kube.namespace("rerun")
    sweep = a_sweep(kube, ns, [record(3), record(4, "Crashed")])
    a_run(kube, ns, sweep, 5)

    def refused(*args: str) -> str:
        done = kubectl_sweep(sandbox, ns, "rerun", *args)
        assert done.returncode == 1 and done.stdout == "", (done.stdout, done.stderr)
        assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: "), done.stderr
        return done.stderr

    assert "has not ended yet" in refused("lr-0005")  # found by its Job
    assert "`kubectl sweep stop-run lr-0005`" in refused("lr-0005", "--sweep", "lr")
    assert "run lr-0005 is a run of sweep lr, not of other" in refused("lr-0005", "--sweep", "other")
    assert "lr-0001's record is folded" in refused("lr-0001")  # no Job: found by its name
    assert "sweep lr has no run lr-0009; `kubectl sweep status lr` lists its runs" in refused("lr-0009")
    assert f'no run nope-0001 in namespace "{ns}"' in refused("nope-0001")
    assert 'sweep "other" not found' in refused("lr-0003", "--sweep", "other")
    assert asked(kube, ns) is None

    done = kubectl_sweep(sandbox, ns, "rerun", "lr-0003")  # no Job: found by its record
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "lr-0003 runs again as a new run with the same parameters; `kubectl sweep status lr` shows it"
    )
    assert asked(kube, ns) == {"lr-0003": 1}
    # Asked again before the first has started: two in all.
    again = kubectl_sweep(sandbox, ns, "rerun", "lr-0003", "--sweep", "lr")
    assert "(2 reruns of it asked for in all, 0 started so far)" in again.stdout, again.stderr
    assert asked(kube, ns) == {"lr-0003": 2}
    # Both started (one recorded, one executing), the annotation removed by hand: the next is the third.
    kube.custom.patch_namespaced_custom_object(
        api.GROUP,
        api.VERSION,
        ns,
        api.PLURAL,
        "lr",
        {"metadata": {"annotations": {api.ANNOTATION_RERUNS: None}}},
    )
    kube.custom.patch_namespaced_custom_object_status(
        api.GROUP,
        api.VERSION,
        ns,
        api.PLURAL,
        "lr",
        {"status": {"recordedRuns": [record(3), record(4, "Crashed"), record(6, rerunOf="lr-0003")]}},
    )
    a_run(kube, ns, sweep, 7, **{api.ANNOTATION_RERUN_OF: "lr-0003"})
    third = kubectl_sweep(sandbox, ns, "rerun", "lr-0003")
    assert "(3 reruns of it asked for in all, 2 started so far)" in third.stdout, third.stderr
    assert asked(kube, ns) == {"lr-0003": 3}

    # Another run's request leaves this one's; a paused sweep makes it wait, and says so.
    kube.set_state(ns, "lr", "paused")
    paused = kubectl_sweep(sandbox, ns, "rerun", "lr-0004")
    assert paused.returncode == 0, paused.stderr
    assert "it waits while the sweep is paused: `kubectl sweep resume lr` lets it start" in paused.stdout
    assert asked(kube, ns) == {"lr-0003": 3, "lr-0004": 1}

    status = kubectl_sweep(sandbox, ns, "status", "lr")
    rows = {line.split()[0]: line for line in status.stdout.splitlines() if line.startswith("lr-")}
    assert "rerun of lr-0003" in rows["lr-0006"] and "rerun of lr-0003" in rows["lr-0007"]


@pytest.mark.emulator
def test_a_rerun_asked_for_at_the_same_time_as_another_reads_again_and_counts_both(
    sandbox: Any, kube: Kube
) -> None:
    """Between the plugin's read and its write, another request for the same run lands (written
    straight into the emulator's storage as the plugin's PATCH arrives): the PATCH carries the
    resourceVersion read, so the API server answers 409 and the plugin reads again."""
    from kubesweep.sandbox.store import ResourceRef

    ns = kube.namespace("rerun")
    a_sweep(kube, ns, [record(3), record(4, "Crashed")])
    objects = sandbox.emulator.objects
    sweeps = objects.resource_of(ResourceRef(api.GROUP, api.VERSION, api.PLURAL))
    race: dict[str, Any] = {
        "run": "lr-0003",
        "times": 1,
    }  # how many of the plugin's writes lose, for which run
    seen: list[str] = []

    def another_request_first(request: Any) -> bool:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if (
            str(getattr(request.method, "value", request.method)).upper() != "PATCH"
            or request.url.path != f"/apis/{api.GROUP}/{api.VERSION}/namespaces/{ns}/{api.PLURAL}/lr"
            or api.ANNOTATION_RERUNS not in body
        ):
            return False
        run = race["run"]
        seen.append(run)
        if race["times"] > 0:
            race["times"] -= 1
            text = (objects.find(sweeps, ns, "lr")["metadata"].get("annotations") or {}).get(
                api.ANNOTATION_RERUNS
            )
            current = json.loads(text) if text else {}
            current[run] = current.get(run, 0) + 1
            patch = {"metadata": {"annotations": {api.ANNOTATION_RERUNS: json.dumps(current)}}}
            objects.patch(sweeps, ns, "lr", "application/merge-patch+json", json.dumps(patch).encode())
        return False  # the emulated API answers, 409 for a stale resourceVersion

    sandbox.emulator[another_request_first] << 500  # never answers: the criterion says False
    done = kubectl_sweep(sandbox, ns, "rerun", "lr-0003")
    assert done.returncode == 0, done.stderr
    assert seen == ["lr-0003", "lr-0003"]
    # The other request's rerun and this one's: two in all.
    assert "(2 reruns of it asked for in all, 0 started so far)" in done.stdout
    assert asked(kube, ns) == {"lr-0003": 2}

    race.update(run="lr-0004", times=100)  # now every write loses: the plugin gives up, bounded
    lost = kubectl_sweep(sandbox, ns, "rerun", "lr-0004")
    assert lost.returncode == 1
    assert lost.stderr.strip() == "error: sweep lr kept changing while the rerun was asked for; ask again"
    assert seen.count("lr-0004") == 5


# Each run takes a second, so the sweep is seen Running while a rerun executes.
LOSS_OF_A = (
    "import json, os, time; p = json.loads(os.environ['KUBESWEEP_PARAMETERS']); "
    "time.sleep(1.5); print('loss=%s' % p['a'])"
)


def test_a_finished_sweep_reruns_a_run_by_hand_to_its_end_and_finishes_again(
    sandbox: Any, kube: Kube, ns: str
) -> None:
    kube.create_sweep(ns, "again", metric_grid(LOSS_OF_A, [3, 1, 2], runCap=2))
    kube.wait_phase(ns, "again", "Finished", timeout=60)
    first = wait_for(lambda: (r := kube.records(ns, "again")) and len(r) == 2 and r, 20, "both records")

    done = kubectl_sweep(sandbox, ns, "rerun", "again-0001")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "again-0001 runs again as a new run with the same parameters; `kubectl sweep status again` shows it"
    )
    kube.wait_phase(ns, "again", "Running", timeout=30)  # while the rerun executes
    sweep = kube.wait_phase(ns, "again", "Finished", timeout=60)
    records = wait_for(
        lambda: (r := kube.records(ns, "again")) and len(r) == 3 and r, 20, "the rerun's record"
    )
    rerun = records["again-0003"]
    assert rerun["rerunOf"] == "again-0001" and rerun["state"] == "Finished"
    assert rerun["parameters"] == first["again-0001"]["parameters"] == {"a": 3}
    assert rerun["metrics"] == {"loss": 3}
    job = next(j for j in kube.jobs(ns, "again") if j["metadata"]["name"] == "again-0003")
    assert job["metadata"]["annotations"][api.ANNOTATION_RERUN_OF] == "again-0001"
    sweep = kube.sweep(ns, "again")
    assert sweep["status"]["runs"]["total"] == 3 and sweep["status"]["runs"]["retries"] == 1
    assert condition(sweep, "Completed")["reason"] == "RunCapReached"
    status = kubectl_sweep(sandbox, ns, "status", "again").stdout
    assert any(
        line.startswith("again-0003") and "rerun of again-0001" in line for line in status.splitlines()
    )

    # runCap did not count the rerun: raised by one, it lets the grid's last point run.
    kube.custom.patch_namespaced_custom_object(
        api.GROUP, api.VERSION, ns, api.PLURAL, "again", {"spec": {"runCap": 3}}
    )
    records = wait_for(lambda: (r := kube.records(ns, "again")) and len(r) == 4 and r, 60, "a fourth run")
    assert records["again-0004"]["parameters"] == {"a": 2} and "rerunOf" not in records["again-0004"]
    kube.wait_phase(ns, "again", "Finished", timeout=30)
