"""A run's log of tens of MB costs the operator bounded memory: it is streamed and parsed as it
comes (issue 14: a 250 MB log took the operator to 735 MB of RSS), and its metrics are still the
last value of each name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Kube, Operator, python_run

pytestmark = pytest.mark.integration

LOG_MB = 60
# Tens of MB of lines without a metric between the first and the last values of `loss`; no
# termination message, so the metrics are in the log alone.
BIG_LOG = (
    "import sys; w = sys.stdout.write; print('loss=3 acc=0.1', flush=True); "
    "line = 'epoch 1 batch 7: nothing to report, just a long line of progress output ' * 4 + '\\n'; "
    f"[w(line * 1000) for _ in range({LOG_MB * 1024 * 1024 // 300_000})]; "
    "w('loss=0.5\\nstep=1 loss=0.25'); sys.stdout.flush()"
)


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _sweep(template: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": [1]}},
        "template": template,
    }


def test_a_run_with_a_huge_log_is_recorded_in_bounded_operator_memory(
    sandbox: Any, kube: Kube, tmp_path: Path
) -> None:
    # An operator of its own: its peak memory is this test's alone.
    op = Operator(Path(sandbox.kubeconfig_path), tmp_path / "operator.log", namespaces="biglog-*")
    ns = kube.namespace("biglog")
    op.start()
    try:
        assert op.proc is not None
        # A small sweep first: the operator's imports and watches are in its baseline.
        kube.create_sweep(ns, "small", _sweep(python_run("print('loss=1')")))
        kube.wait_phase(ns, "small", "Finished", timeout=60)
        baseline = _peak_rss_mb(op.proc.pid)
        kube.create_sweep(ns, "big", _sweep(python_run(BIG_LOG)))
        sweep = kube.wait_phase(ns, "big", "Finished", timeout=180)
        grown = _peak_rss_mb(op.proc.pid) - baseline
    finally:
        op.stop()
    (record,) = sweep["status"]["recordedRuns"]
    # The last value of each name, across the whole log (the unfinished last line counts).
    assert record["metrics"] == {"loss": 0.25, "acc": 0.1}
    # Read whole, the log alone took its size twice over (bytes, then text, then its lines).
    assert grown < LOG_MB / 2, f"operator peak RSS grew {grown:.0f} MB for a {LOG_MB} MB log"
