"""The operator's metrics as Prometheus scrapes them."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from kubesweep import metrics


def exposition(statuses: list[dict[str, Any]]) -> str:
    registry = CollectorRegistry()
    metrics.register_sweep_source(lambda: statuses, registry)
    return generate_latest(registry).decode()


def test_sweeps_by_phase_and_runs_by_state_are_counted_from_the_statuses() -> None:
    text = exposition(
        [
            {"phase": "Running", "runs": {"total": 3, "running": 2, "finished": 1}},
            {"phase": "Running", "runs": {"total": 1, "running": 1}},
            {"phase": "Cancelled", "runs": {"total": 2, "killed": 2}},
            {},
        ]
    )
    assert 'kubesweep_sweeps{phase="Running"} 2.0' in text
    assert 'kubesweep_sweeps{phase="Cancelled"} 1.0' in text
    assert 'kubesweep_sweeps{phase="Finished"} 0.0' in text
    # A sweep the operator has not written a status for yet.
    assert 'kubesweep_sweeps{phase="Pending"} 1.0' in text
    assert 'kubesweep_runs{state="running"} 3.0' in text
    assert 'kubesweep_runs{state="killed"} 2.0' in text
    assert 'state="total"' not in text


def test_no_sweeps_gives_zero_gauges_not_an_error() -> None:
    text = exposition([])
    assert 'kubesweep_sweeps{phase="Running"} 0.0' in text
    assert "kubesweep_runs{" not in text


def test_counters_and_histograms_have_the_documented_names() -> None:
    metrics.API_ERRORS.labels(verb="create", status="500").inc()
    metrics.REACTION_LATENCY.labels(action="cancelled").observe(0.02)
    text = generate_latest().decode()
    for name in (
        "kubesweep_runs_started_total",
        "kubesweep_runs_killed_total",
        "kubesweep_runs_failed_total",
        "kubesweep_reconcile_duration_seconds_bucket",
        'kubesweep_reaction_latency_seconds_count{action="cancelled"}',
        'kubesweep_api_errors_total{status="500",verb="create"}',
    ):
        assert name in text


def test_runs_started_again_are_their_own_gauge_not_a_run_state() -> None:
    # status.runs.retries counts runs that are also counted by their state: summing it with the
    # states would count them twice.
    text = exposition(
        [
            {
                "phase": "Running",
                "runs": {"total": 3, "running": 1, "crashed": 1, "finished": 1, "retries": 1},
            },
            {"phase": "Finished", "runs": {"total": 2, "finished": 2, "retries": 1}},
        ]
    )
    assert 'state="retries"' not in text
    assert "kubesweep_runs_started_again 2.0" in text
    assert 'kubesweep_runs{state="finished"} 3.0' in text
