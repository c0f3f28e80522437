"""Prometheus metrics of the operator, served by `kubesweep run --metrics-port N`.

Counters and histograms are updated where things happen. The gauges (sweeps by phase, runs by
state) are computed at scrape time from the sweeps the operator already holds in memory, so
they can never drift from the truth.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kubesweep import api

RUNS_STARTED = Counter("kubesweep_runs_started_total", "Runs whose Job the operator created.")
RUNS_KILLED = Counter("kubesweep_runs_killed_total", "Runs recorded as Killed (cancel, stop by hand).")
RUNS_FAILED = Counter("kubesweep_runs_failed_total", "Runs recorded as Failed or Crashed.")
RECONCILE_DURATION = Histogram(
    "kubesweep_reconcile_duration_seconds",
    "Time of one reconcile pass of one sweep, API calls included.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REACTION_LATENCY = Histogram(
    "kubesweep_reaction_latency_seconds",
    "From the operator seeing a new spec generation to the pass that acted on it.",
    ["action"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
API_ERRORS = Counter(
    "kubesweep_api_errors_total", "Failed Kubernetes API requests of the operator.", ["verb", "status"]
)

# Returns the status of every sweep the operator currently knows.
StatusSource = Callable[[], Iterable[Mapping[str, Any]]]


class SweepCollector(Collector):
    """Sweeps by phase and runs by state, from the operator's in-memory view of the sweeps."""

    def __init__(self, source: StatusSource) -> None:
        self.source = source

    def collect(self) -> Iterator[GaugeMetricFamily]:
        phases: Tally[str] = Tally()
        run_states: Tally[str] = Tally()
        started_again = 0
        for status in self.source():
            phases[str(status.get("phase") or "Pending")] += 1
            for state, count in (status.get("runs") or {}).items():
                if not isinstance(count, int):
                    continue
                if state == "retries":  # runs its states count already
                    started_again += count
                elif state != "total":
                    run_states[state] += count
        by_phase = GaugeMetricFamily("kubesweep_sweeps", "Sweeps by phase.", labels=["phase"])
        for phase in sorted({p.value for p in api.Phase} | set(phases)):
            by_phase.add_metric([phase], phases.get(phase, 0))
        yield by_phase
        by_state = GaugeMetricFamily("kubesweep_runs", "Runs by state, over all sweeps.", labels=["state"])
        for state in sorted(run_states):
            by_state.add_metric([state], run_states[state])
        yield by_state
        yield GaugeMetricFamily(
            "kubesweep_runs_started_again",
            "Runs started again with an earlier run's parameters (retries, reruns by hand), over all sweeps.",
            value=started_again,
        )


def register_sweep_source(source: StatusSource, registry: CollectorRegistry = REGISTRY) -> SweepCollector:
    collector = SweepCollector(source)
    registry.register(collector)
    return collector


def start_metrics_server(port: int, addr: str = "0.0.0.0") -> None:
    """Serve /metrics on the port in a background thread."""
    start_http_server(port, addr=addr)
