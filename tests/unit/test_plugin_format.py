"""The pure parts of `kubectl sweep`: tables, best-first ordering, ages, arguments."""

from __future__ import annotations

import argparse
import datetime

import pytest

from kubesweep import plugin


def job(name: str, state: str | None, metric: float | None, params: str) -> dict[str, object]:
    annotations = {"kubesweep.io/parameters": params}
    if state:
        metrics = {"loss": metric} if metric is not None else {}
        annotations["kubesweep.io/result"] = (
            f'{{"state":"{state}","metrics":{str(metrics).replace(chr(39), chr(34))}}}'
        )
    return {
        "metadata": {"name": name, "annotations": annotations},
        "status": {"active": 1} if not state else {},
    }


def sweep(goal: str = "minimize") -> dict[str, object]:
    return {
        "metadata": {"name": "s", "namespace": "ml"},
        "spec": {"metric": {"name": "loss", "goal": goal}},
        "status": {
            "recordedRuns": [
                {"name": "s-0001", "state": "Finished", "parameters": {"x": 1}, "metrics": {"loss": 0.9}},
                {"name": "s-0004", "state": "Killed", "parameters": {"x": 4}, "metrics": {"loss": 0.5}},
            ]
        },
    }


JOBS = [
    job("s-0001", "Finished", 0.9, '{"x":1}'),
    job("s-0002", "Finished", 0.1, '{"x":2}'),
    job("s-0003", None, None, '{"x":3}'),
]


def test_runs_are_listed_once_best_first_by_the_goal_with_deleted_jobs_and_running_last() -> None:
    names = [r["name"] for r in plugin.run_records(sweep(), JOBS)]
    assert names == ["s-0002", "s-0004", "s-0001", "s-0003"]
    names = [r["name"] for r in plugin.run_records(sweep("maximize"), JOBS)]
    assert names == ["s-0001", "s-0004", "s-0002", "s-0003"]
    records = {r["name"]: r for r in plugin.run_records(sweep(), JOBS)}
    assert records["s-0003"]["state"] == "Running" and records["s-0004"]["state"] == "Killed (Job deleted)"


def test_a_job_not_yet_carrying_its_result_shows_the_record_in_the_status() -> None:
    s = sweep()
    s["status"]["recordedRuns"].append(  # type: ignore[index]
        {"name": "s-0003", "state": "Finished", "parameters": {"x": 3}, "metrics": {"loss": 0.05}}
    )
    records = {r["name"]: r for r in plugin.run_records(s, JOBS)}
    assert records["s-0003"]["state"] == "Finished" and records["s-0003"]["metric"] == 0.05
    assert len(plugin.run_records(s, JOBS)) == 4


def test_tables_align_columns() -> None:
    text = plugin.table(["A", "LONGER"], [["xxxx", 1], ["y", None]])
    assert text.splitlines() == ["A      LONGER", "xxxx   1", "y"]


def test_age_is_humane() -> None:
    now = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
    assert plugin.age("2026-01-01T11:59:30Z", now) == "30s"
    assert plugin.age("2026-01-01T11:50:00Z", now) == "10m"
    assert plugin.age("2025-12-29T12:00:00Z", now) == "3d"
    assert plugin.age(None, now) == "<unknown>"


def test_sweep_rows_include_the_namespace_only_across_namespaces() -> None:
    sweeps = [
        {
            "metadata": {"name": "a", "namespace": "ml"},
            "spec": {},
            "status": {"phase": "Running", "bestRun": {"metric": 0.25}},
        }
    ]
    header, rows = plugin.sweep_rows(sweeps, all_namespaces=True)
    assert (
        header[0] == "NAMESPACE" and rows[0][:4] == ["ml", "a", "running", "Running"] and rows[0][8] == "0.25"
    )
    header, rows = plugin.sweep_rows(sweeps, all_namespaces=False)
    assert header[0] == "NAME"


def test_sweep_rows_show_failed_runs_and_the_best_metric_rounded() -> None:
    status = {"runs": {"finished": 3, "failed": 2, "total": 6}, "bestRun": {"metric": 0.08312345678901234}}
    header, rows = plugin.sweep_rows([{"metadata": {"name": "a"}, "spec": {}, "status": status}], False)
    shown = dict(zip(header, rows[0], strict=True))
    assert (shown["FINISHED"], shown["FAILED"], shown["BEST"]) == (3, 2, "0.08312")
    status["bestRun"]["metricText"] = "0.0831"  # type: ignore[index]
    assert (
        plugin.sweep_rows([{"metadata": {"name": "a"}, "spec": {}, "status": status}], False)[1][0][7]
        == "0.0831"
    )


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        plugin.parser().parse_args(["pause"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        plugin.parser().parse_args(["import-wandb", "x.yaml"])  # --image is required


def test_status_says_how_many_older_runs_are_folded_and_how_they_ended() -> None:
    folded = sweep()
    folded["status"]["foldedRuns"] = {"numbers": "1-3", "finished": 2, "failed": 1}  # type: ignore[index]
    text = plugin.status_text(folded, plugin.run_records(folded, JOBS))
    assert "older runs 1-3" in text and "2 finished, 1 failed" in text
    assert "older runs" not in plugin.status_text(sweep(), plugin.run_records(sweep(), JOBS))


def test_status_shows_each_parameter_with_its_distribution_and_calls_out_inferred_integers() -> None:
    s = sweep()
    s["spec"]["parameters"] = {  # type: ignore[index]
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1},
        "dropout": {"min": 0, "max": 1},  # `min: 0.0, max: 1.0` as the API server stores it
        "momentum": {"distribution": "uniform", "min": 0, "max": 1},
    }
    text = plugin.status_text(s, plugin.run_records(s, JOBS))
    assert (
        "  Parameters:\n"
        "    lr: log_uniform_values [1e-05, 0.1]\n"
        "    dropout: int_uniform [0, 1] (integers: write distribution: uniform for a continuous range)\n"
        "    momentum: uniform [0, 1]\n"
    ) in text


def test_status_says_when_the_parameters_are_invalid() -> None:
    s = sweep()
    s["spec"]["parameters"] = {"x": {"min": 0}}  # type: ignore[index]
    assert plugin.parameter_lines(s) == [
        "  Parameters: invalid: spec.parameters.x: a range needs both min and max; max is missing"
    ]


def test_status_shows_runs_waiting_in_a_queue() -> None:
    s = sweep()
    s["status"]["runs"] = {"total": 3, "queued": 1, "running": 2, "finished": 0}  # type: ignore[index]
    queued = {
        "metadata": {"name": "lr-0003", "annotations": {}},
        "spec": {"suspend": True},
        "status": {},
    }
    text = plugin.status_text(s, plugin.run_records(s, [*JOBS, queued]))
    assert "  Runs: 3 (1 queued, 2 running)" in text.splitlines()
    assert any(line.split()[:2] == ["lr-0003", "Queued"] for line in text.splitlines())


def test_status_shows_why_each_run_that_did_not_finish_ended() -> None:
    s = sweep()
    s["status"]["recordedRuns"].append(  # type: ignore[index]
        {
            "name": "s-0009",
            "number": 9,
            "state": "Failed",
            "parameters": {"x": 9},
            "metrics": {},
            "reason": "StartError",
            "exitCode": 128,
            "message": 'exec: "trian": executable file not found in $PATH',
        }
    )
    records = {r["name"]: r for r in plugin.run_records(s, JOBS)}
    assert records["s-0009"]["why"].startswith('StartError (exit 128): exec: "trian"')
    assert records["s-0002"]["why"] == ""
    text = plugin.status_text(s, plugin.run_records(s, JOBS))
    assert "WHY" in text and "StartError (exit 128)" in text


def test_global_flags_work_before_and_after_the_command() -> None:
    for argv in (
        ["-n", "ml", "--context", "c", "--kubeconfig", "k", "status", "s"],
        ["status", "s", "-n", "ml", "--context", "c", "--kubeconfig", "k"],
        ["--namespace", "ml", "status", "--context", "c", "s", "--kubeconfig=k"],
    ):
        args = plugin.parser().parse_args(argv)
        assert (args.namespace, args.context, args.kubeconfig, args.name) == ("ml", "c", "k", "s"), argv
    args = plugin.parser().parse_args(["list"])
    assert (args.namespace, args.context, args.kubeconfig) == (None, None, None)
    # Given twice, the later wins, as in kubectl.
    assert plugin.parser().parse_args(["-n", "a", "list", "-n", "b"]).namespace == "b"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        plugin.parser().parse_args(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == "kubectl-sweep (kubesweep) 0.1.0"


def test_every_command_says_what_it_does_and_every_argument_has_help() -> None:
    root = plugin.parser()
    commands = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    described = {c.dest: c.help for c in commands._choices_actions}
    assert set(described) == set(commands.choices)
    for name, command in commands.choices.items():
        assert described[name] and command.description, name
        for action in command._actions:
            assert action.help, f"kubectl sweep {name}: {action.dest} has no help"
    for action in root._actions:
        assert action.help or isinstance(action, argparse._SubParsersAction), action.dest
    assert {"report", "export"} <= set(commands.choices)


def test_status_shows_the_pareto_front_and_each_runs_objectives() -> None:
    s = {
        "metadata": {"name": "s", "namespace": "ml"},
        "spec": {"metrics": [{"name": "loss"}, {"name": "acc", "goal": "maximize"}]},
        "status": {
            "paretoFront": [
                {"name": "s-0001", "metrics": {"loss": 0.9, "acc": 0.8}},
                {"name": "s-0004", "metrics": {"loss": 0.5, "acc": 0.6}},
            ],
            "paretoFrontSize": 40,
            "recordedRuns": [
                {
                    "name": "s-0001",
                    "state": "Finished",
                    "parameters": {"x": 1},
                    "metrics": {"loss": 0.9, "acc": 0.8},
                },
                {
                    "name": "s-0004",
                    "state": "Finished",
                    "parameters": {"x": 4},
                    "metrics": {"loss": 0.5, "acc": 0.6},
                },
            ],
        },
    }
    text = plugin.status_text(s, plugin.run_records(s, []))
    assert (
        "  Pareto front: 40 run(s), 2 shown (spread along it)\n    s-0001 loss=0.9 acc=0.8\n    s-0004 loss=0.5 acc=0.6"
        in text
    )
    assert "loss=0.5 acc=0.6" in text.split("RUN")[1]  # the runs' table shows every objective too
    assert "Best:" not in text


def test_status_says_what_a_warm_start_learns_from() -> None:
    s = {
        "metadata": {"name": "s", "namespace": "ml"},
        "spec": {"metric": {"name": "loss"}, "warmStart": {"fromSweeps": ["v1", "v2"]}},
        "status": {"warmStart": {"runs": 11, "missing": ["v2"]}},
    }
    text = plugin.status_text(s, [])
    assert "  Warm start: learns from 11 run(s) of v1, v2 (no such sweep: v2)" in text
