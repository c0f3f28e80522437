"""`kubectl sweep export`: CSV, JSON, and an Optuna journal read back with Optuna itself."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from kubesweep import export, report
from tests.unit.test_report import HOSTILE, JOBS, SPEC, sweep


def runs() -> list[report.Run]:
    return report.runs_of(sweep(), JOBS)


def test_csv_has_a_row_per_run_with_its_metric_parameters_and_reason() -> None:
    rows = list(csv.DictReader(io.StringIO(export.to_csv(SPEC, runs()))))
    assert [r["run"] for r in rows] == [f"s-{n:04d}" for n in range(1, 9)]
    assert list(rows[0])[:5] == ["run", "number", "state", "loss", "acc"]
    assert rows[2]["optimizer.name"] == HOSTILE and rows[2]["loss"] == "0.2" and rows[2]["lr"] == "0.01"
    assert rows[3]["state"] == "Failed" and rows[3]["reason"] == "Error" and rows[3]["exit_code"] == "1"
    assert rows[6]["state"] == "Running" and rows[6]["loss"] == ""


def test_json_keeps_every_field_of_every_run() -> None:
    document = json.loads(export.to_json(sweep(), runs()))
    assert document["sweep"] == {"namespace": "ml", "name": "s"}
    assert document["parameters"]["optimizer.name"] == "categorical"
    first = document["runs"][0]
    assert first["parameters"]["optimizer"] == {"name": "adam", "momentum": 0.9}
    assert first["bands"] == [0.9, 0.7] and first["metrics"] == {"loss": 0.5, "acc": 0.5}
    assert document["runs"][3]["exitCode"] == 1 and document["runs"][1]["jobDeleted"] is True


def test_the_optuna_journal_reads_back_with_optuna(tmp_path: Path) -> None:
    path = tmp_path / "s.optuna.log"
    path.write_text("an older export\n")  # replaced, not appended to
    name = export.write_optuna(path, sweep(), runs())
    storage = JournalStorage(JournalFileBackend(str(path)))
    assert optuna.get_all_study_names(storage) == ["ml/s"] and name == "ml/s"
    study = optuna.load_study(study_name=name, storage=storage)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert study.metric_names == ["loss"]
    trials = study.get_trials(deepcopy=False)
    assert [t.user_attrs["run"] for t in trials] == [f"s-{n:04d}" for n in range(1, 9)]
    assert [t.state for t in trials] == [
        TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE, TrialState.FAIL,
        TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING,
    ]  # fmt: skip
    assert [t.value for t in trials[:4]] == [0.5, 0.95, 0.2, None]
    assert study.best_trial.user_attrs["run"] == "s-0003"
    third = trials[2]
    assert third.params == {"lr": 0.01, "optimizer.name": HOSTILE, "optimizer.momentum": 0.9, "epochs": 10}
    assert third.distributions["lr"] == FloatDistribution(1e-4, 1, log=True)
    assert third.distributions["optimizer.name"] == CategoricalDistribution(["adam", "sgd", HOSTILE])
    assert third.distributions["epochs"] == CategoricalDistribution([10])
    # Hyperband's bands are the trial's intermediate values, at each band's step.
    assert third.intermediate_values == {2: 0.8, 4: 0.4, 8: 0.3}
    assert trials[3].user_attrs["reason"] == "Error" and trials[3].user_attrs["exitCode"] == 1
    assert trials[0].user_attrs["metric.acc"] == 0.5


def test_distributions_widen_to_the_values_runs_got() -> None:
    spec = {
        "parameters": {
            "q": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.3},
            "n": {"min": 1, "max": 4},
            "w": {"distribution": "normal", "mu": 0, "sigma": 1},
            "cfg": {"values": [[1, 2], {"a": 1}]},
        }
    }
    got = [
        report.Run("r-0001", 1, "Finished", {"q": 1.2, "n": 3, "w": -2.5, "cfg": [1, 2]}),
        report.Run("r-0002", 2, "Finished", {"q": 0.3, "n": 4, "w": 0.7, "cfg": {"a": 1}, "old": "x"}),
    ]
    dists = export.distributions(spec, got)
    assert dists["q"] == FloatDistribution(0, 1.2)
    assert dists["n"] == IntDistribution(1, 4)
    assert dists["w"] == FloatDistribution(-2.5, 0.7)
    assert dists["cfg"] == CategoricalDistribution(["[1,2]", '{"a":1}'])
    assert dists["old"] == CategoricalDistribution(["x"])


def test_optuna_dashboard_opens_the_journal(tmp_path: Path) -> None:
    """`optuna-dashboard FILE`, as an Optuna user types it, serves the study and its trials."""
    path = tmp_path / "s.optuna.log"
    export.write_optuna(path, sweep(), runs())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dashboard = Path(sys.executable).parent / "optuna-dashboard"
    log = tmp_path / "dashboard.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(dashboard), str(path), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as answer:
                    studies = json.load(answer)["study_summaries"]
                break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "optuna-dashboard did not answer"
                time.sleep(0.2)
        assert [(s["study_name"], s["directions"]) for s in studies] == [("ml/s", ["minimize"])]
        url = f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            detail = json.load(answer)
        assert [t["state"] for t in detail["trials"]] == [
            "Complete", "Pruned", "Complete", "Fail", "Complete", "Pruned", "Running", "Waiting",
        ]  # fmt: skip
        assert detail["best_trials"][0]["values"] == [0.2] and detail["has_intermediate_values"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_runs_started_again_say_how_in_csv_json_optuna_and_the_report(
    tmp_path: Path,
) -> None:
    spec = {"metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}
    records = [
        {
            "name": "r-0001",
            "number": 1,
            "state": "Crashed",
            "parameters": {"x": 1},
            "disrupted": True,
            "retriedBy": "r-0002",
        },
        {
            "name": "r-0002",
            "number": 2,
            "state": "Finished",
            "parameters": {"x": 1},
            "metrics": {"loss": 1.0},
            "retryOf": "r-0001",
            "attempt": 1,
        },
    ]
    rerun = {
        "metadata": {
            "name": "r-0003",
            "annotations": {
                "kubesweep.io/parameters": '{"x":1}',
                "kubesweep.io/run-number": "3",
                "kubesweep.io/rerun-of": "r-0002",
            },
        },
        "status": {"active": 1},
    }
    s = {"metadata": {"name": "r", "namespace": "ml"}, "spec": spec, "status": {"recordedRuns": records}}
    runs = report.runs_of(s, [rerun])
    rows = list(csv.DictReader(io.StringIO(export.to_csv(spec, runs))))
    assert list(rows[0])[-5:] == ["retry_of", "attempt", "rerun_of", "retried_by", "disrupted"]
    assert [(r["retry_of"], r["attempt"], r["rerun_of"], r["retried_by"], r["disrupted"]) for r in rows] == [
        ("", "", "", "r-0002", "True"),
        ("r-0001", "1", "", "", ""),
        ("", "", "r-0002", "", ""),
    ]
    document = json.loads(export.to_json(s, runs))
    assert [
        {k: r.get(k) for k in ("retryOf", "attempt", "rerunOf", "retriedBy", "disrupted") if k in r}
        for r in document["runs"]
    ] == [
        {"retriedBy": "r-0002", "disrupted": True},
        {"retryOf": "r-0001", "attempt": 1},
        {"rerunOf": "r-0002"},
    ]
    export.write_optuna(tmp_path / "r.log", s, runs)
    study = optuna.load_study(
        study_name="ml/r", storage=JournalStorage(JournalFileBackend(str(tmp_path / "r.log")))
    )
    assert [t.user_attrs.get("rerunOf") for t in study.get_trials(deepcopy=False)] == [None, None, "r-0002"]
    # The report's tables say it beside the state.
    page = report.render(s, runs, generated="now")
    assert "<td>Finished (Job deleted; retry 1 of r-0001)</td>" in page
    assert "<td>Running (rerun of r-0002)</td>" in page
    assert "<td>Crashed (Job deleted; disrupted, retried by r-0002)</td>" in page
    # A sweep without them: the same columns as ever.
    assert "retry_of" not in export.to_csv(SPEC, report.runs_of(sweep(), JOBS))
