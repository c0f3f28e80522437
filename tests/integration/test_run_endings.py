"""How a run's end is read and its Job let go, as a real API server and Job controller behave
(see ../shared/k8s/README.md): other finalizers beside ours, a Job marked Complete a second
after its pod succeeded, cancel beside runs that already ended."""

from __future__ import annotations

from typing import Any

import pytest

from kubesweep import api

from .conftest import Kube, failed, metric_grid, released, result_of, wait_for

pytestmark = pytest.mark.integration

# Run 1 (a=1) reports its loss and exits 0 at once; every other run sleeps until killed.
QUICK_THEN_SLOW = (
    "import json, os, time; p = json.loads(os.environ['KUBESWEEP_PARAMETERS']); "
    "time.sleep(0.3 if p['a'] == 1 else 60); print('loss=%s' % p['a'])"
)
OTHER_FINALIZER = "example.com/keep"


def pod_of(kube: Kube, ns: str, sweep: str, run: str) -> dict[str, Any] | None:
    return next((p for p in kube.pods(ns, sweep) if p["metadata"]["labels"][api.LABEL_RUN] == run), None)


def test_a_job_with_another_finalizer_is_released_and_keeps_the_other_one(kube: Kube, ns: str) -> None:
    # On the real API server a strategic merge patch merges metadata.finalizers: sending the
    # list without ours left ours on the Job. (Today's sandbox replaces the list: it passes there.)
    kube.create_sweep(ns, "kept", metric_grid("import time; time.sleep(1.5); print('loss=1')", [1], 1))
    wait_for(lambda: kube.jobs(ns, "kept"), 30, "the run's Job")
    add = [{"op": "add", "path": "/metadata/finalizers/-", "value": OTHER_FINALIZER}]
    kube.batch.patch_namespaced_job("kept-0001", ns, add)  # a list: sent as a JSON patch
    kube.wait_phase(ns, "kept", "Finished", timeout=30)
    (job,) = wait_for(
        lambda: (jobs := kube.jobs(ns, "kept")) and all(released(j) for j in jobs) and jobs,
        20,
        "the Job released",
        show=lambda: [j["metadata"].get("finalizers") for j in kube.jobs(ns, "kept")],
    )
    assert job["metadata"]["finalizers"] == [OTHER_FINALIZER]
    assert result_of(job)["state"] == "Finished"
    kube.batch.patch_namespaced_job("kept-0001", ns, [{"op": "remove", "path": "/metadata/finalizers"}])


def test_cancel_kills_the_active_runs_and_keeps_the_pods_and_logs_of_runs_that_ended(
    kube: Kube, ns: str
) -> None:
    kube.create_sweep(ns, "keeplogs", metric_grid(QUICK_THEN_SLOW, [1, 2], 1))
    wait_for(lambda: kube.records(ns, "keeplogs").get("keeplogs-0001"), 30, "run 1 recorded")
    wait_for(
        lambda: (
            (pod := pod_of(kube, ns, "keeplogs", "keeplogs-0002")) and pod["status"].get("phase") == "Running"
        ),
        30,
        "run 2 running",
    )
    kube.set_state(ns, "keeplogs", "cancelled")
    kube.wait_phase(ns, "keeplogs", "Cancelled", timeout=10)
    wait_for(lambda: not pod_of(kube, ns, "keeplogs", "keeplogs-0002"), 10, "run 2's pod gone")
    # The cancel's deletes were sent before its Cancelled status write: an ended run's pod they
    # hit would be gone or deleting by now.
    pod = pod_of(kube, ns, "keeplogs", "keeplogs-0001")
    assert pod is not None, "cancel deleted the pod of a run that had ended"
    assert not pod["metadata"].get("deletionTimestamp"), "cancel deleted the pod of a run that had ended"
    assert "loss=1" in kube.core.read_namespaced_pod_log(pod["metadata"]["name"], ns)
    done = kube.records(ns, "keeplogs")
    assert (done["keeplogs-0001"]["state"], done["keeplogs-0001"]["metrics"]) == ("Finished", {"loss": 1.0})
    # Not suspended (a queue such as Kueue would undo it): its deleted pod is the Job's last
    # failure, so it ends Failed and makes no other pod.
    killed = wait_for(
        lambda: (
            (j := next(j for j in kube.jobs(ns, "keeplogs") if j["metadata"]["name"] == "keeplogs-0002"))
            and failed(j)
            and j
        ),
        10,
        "run 2's Job Failed",
    )
    assert result_of(killed)["state"] == "Killed" and not killed["spec"].get("suspend")
    assert not pod_of(kube, ns, "keeplogs", "keeplogs-0002")


def test_cancel_just_after_a_pod_succeeded_records_its_run_finished_with_its_metrics(
    kube: Kube, ns: str
) -> None:
    # The real Job controller marks the Job Complete about 1 s after its pod succeeded; a cancel
    # in that second recorded the run Killed with no metrics and deleted its pod. (Today's
    # sandbox marks the Job at once: it passes there.)
    kube.create_sweep(ns, "justdone", metric_grid(QUICK_THEN_SLOW, [1, 2], 2))
    wait_for(
        lambda: (
            (pod := pod_of(kube, ns, "justdone", "justdone-0001"))
            and pod["status"].get("phase") == "Succeeded"
        ),
        30,
        "run 1's pod succeeded",
    )
    kube.set_state(ns, "justdone", "cancelled")
    kube.wait_phase(ns, "justdone", "Cancelled", timeout=10)
    done = wait_for(
        lambda: (r := kube.records(ns, "justdone")).get("justdone-0001") and r, 10, "run 1's record"
    )
    assert (done["justdone-0001"]["state"], done["justdone-0001"]["metrics"]) == ("Finished", {"loss": 1.0})
    assert pod_of(kube, ns, "justdone", "justdone-0001") is not None
    wait_for(lambda: not pod_of(kube, ns, "justdone", "justdone-0002"), 10, "run 2's pod gone")
    second = next(j for j in kube.jobs(ns, "justdone") if j["metadata"]["name"] == "justdone-0002")
    assert result_of(second)["state"] == "Killed"
