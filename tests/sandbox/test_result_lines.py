"""The last lines of `kubesweep sandbox`: the sweep's result, one best run or the Pareto front."""

from __future__ import annotations

from kubesweep.sandbox.cli import best_run_lines


def test_a_sweep_of_several_objectives_ends_with_its_front() -> None:
    sweep = {
        "metadata": {"name": "two"},
        "spec": {"metrics": [{"name": "loss"}, {"name": "cost"}]},
        "status": {
            "paretoFront": [{"name": "two-0003", "metrics": {"loss": 0.25, "cost": 1.5}}],
            "paretoFrontSize": 1,
        },
    }
    assert best_run_lines(sweep) == ["two: Pareto front of 1 run(s)", "  two-0003: loss=0.25 cost=1.5"]
    sweep["status"] = {}
    assert best_run_lines(sweep) == ["two: no run reported every objective"]


def test_a_sweep_of_one_metric_ends_with_its_best_run() -> None:
    sweep = {
        "metadata": {"name": "one"},
        "spec": {"metric": {"name": "loss"}},
        "status": {"bestRun": {"name": "one-0002", "metric": 0.5, "parameters": {"x": 1}}},
    }
    assert best_run_lines(sweep) == ["one: best run one-0002, loss=0.5", "  parameters: x=1"]
