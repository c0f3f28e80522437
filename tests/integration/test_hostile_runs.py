"""Runs under hostile or unlucky conditions (issue 14), with the real operator: a run that
prints thousands of metric names, and a namespace's ResourceQuota refusing a run's Job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Kube, OneJobQuota, Operator, condition, metric_grid, wait_for

pytestmark = pytest.mark.integration


def test_a_run_printing_thousands_of_metric_names_keeps_a_bounded_record(kube: Kube, ns: str) -> None:
    code = (
        "import sys\n"
        "for i in range(20000): print(f'junk_{i}={i}')\n"
        "print('loss=0.5')\n"
        "open('/dev/termination-log', 'w').write('')\n"
    )
    kube.create_sweep(ns, "flood", metric_grid(code, [1]))
    sweep = kube.wait_phase(ns, "flood", "Finished", timeout=90)
    (record,) = sweep["status"]["recordedRuns"]
    assert record["state"] == "Finished"
    assert record["metrics"]["loss"] == 0.5
    assert len(record["metrics"]) == 11  # the metric and 10 others, not 20,001
    assert sweep["status"]["bestRun"]["metric"] == 0.5
    assert len(json.dumps(sweep["status"])) < 5_000


def test_a_run_printing_thousands_of_names_before_its_objectives_keeps_each_objective(
    kube: Kube, ns: str
) -> None:
    code = (
        "for i in range(5000): print(f'junk_{i}={i}')\n"
        "print('loss=0.5 cost=0.25')\n"
        "open('/dev/termination-log', 'w').write('')\n"
    )
    objectives = [{"name": "loss", "goal": "minimize"}, {"name": "cost", "goal": "minimize"}]
    spec = {k: v for k, v in metric_grid(code, [1]).items() if k != "metric"}
    kube.create_sweep(ns, "flood", {**spec, "metrics": objectives})
    sweep = kube.wait_phase(ns, "flood", {"Finished", "Failed"}, timeout=90)
    (record,) = sweep["status"]["recordedRuns"]
    assert record["metrics"]["loss"] == 0.5 and record["metrics"]["cost"] == 0.25
    assert len(record["metrics"]) == 12  # the two objectives and 10 others
    assert sweep["status"]["phase"] == "Finished"
    assert [r["name"] for r in sweep["status"]["paretoFront"]] == [record["name"]]


def test_a_quota_refusal_waits_and_runs_start_once_the_quota_has_room(
    sandbox: Any, kube: Kube, tmp_path: Path
) -> None:
    op = Operator(Path(sandbox.kubeconfig_path), tmp_path / "operator.log", namespaces="quota-*")
    ns = kube.namespace("quota")
    quota = OneJobQuota(sandbox, kube, ns, "waits-0002")
    kube.create_sweep(ns, "waits", metric_grid("print('loss=1')", [1, 2], parallelism=2))
    op.start()
    try:
        waiting = wait_for(
            lambda: (s := kube.sweep(ns, "waits")) and condition(s).get("reason") == "QuotaExceeded" and s,
            60,
            "the QuotaExceeded condition",
            lambda: kube.sweep(ns, "waits").get("status"),
        )
        assert waiting["status"]["phase"] == "Running"
        message = condition(waiting)["message"]
        assert "exceeded quota" in message
        assert "sweeps/finalizers" not in message and "PermissionDenied" not in str(waiting["status"])
        assert "TemplateRejected" not in str(waiting["status"])

        def warnings() -> list[Any]:
            events = kube.core.list_namespaced_event(ns).items
            return [e for e in events if e.type == "Warning" and e.reason == "QuotaExceeded"]

        # Posted in the background, once, as the condition appears: not one per retry.
        event = wait_for(warnings, 10, "a QuotaExceeded Warning event")[0]
        assert "exceeded quota" in event.message
        # Room again (the quota removed): the same spec runs to its end, by the operator's retry.
        quota.lift()
        sweep = kube.wait_phase(ns, "waits", "Finished", timeout=90)
        assert sweep["metadata"]["generation"] == 1
        assert condition(sweep)["status"] == "True"
        assert sorted(r["state"] for r in sweep["status"]["recordedRuns"]) == ["Finished", "Finished"]
        assert len(warnings()) == 1
    finally:
        quota.lift()
        op.stop()
    assert "waiting for quota" in op.log
    assert "Traceback" not in op.log
