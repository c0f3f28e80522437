"""`kubectl sweep report`: the runs it gathers and the page it draws, in a real browser."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from kubesweep import report
from tests import browser

HOSTILE = '</script><script>alert("x")</script>'


def record(number: int, state: str, loss: float | None, lr: float, opt: Any, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"s-{number:04d}",
        "number": number,
        "state": state,
        "parameters": {"lr": lr, "optimizer": {"name": opt, "momentum": 0.9}, "epochs": 10},
        "metrics": {"loss": loss, "acc": 0.5} if loss is not None else {},
        **extra,
    }


def job(
    number: int, active: bool, suspended: bool = False, result: dict[str, Any] | None = None
) -> dict[str, Any]:
    annotations = {
        "kubesweep.io/parameters": json.dumps(
            {"lr": 0.01 * number, "optimizer": {"name": "sgd", "momentum": 0.9}, "epochs": 10}
        ),
        "kubesweep.io/run-number": str(number),
    }
    if result is not None:
        annotations["kubesweep.io/result"] = json.dumps(result)
    return {
        "metadata": {"name": f"s-{number:04d}", "annotations": annotations},
        "spec": {"suspend": suspended},
        "status": {"active": 1} if active else {},
    }


SPEC: dict[str, Any] = {
    "method": "bayes",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1},
        "optimizer": {
            "parameters": {"name": {"values": ["adam", "sgd", HOSTILE]}, "momentum": {"value": 0.9}}
        },
        "epochs": {"value": 10},
    },
    "earlyTerminate": {"type": "hyperband", "minIter": 2, "eta": 2},
}


def sweep() -> dict[str, Any]:
    return {
        "metadata": {"name": "s", "namespace": "ml"},
        "spec": SPEC,
        "status": {
            "phase": "Running",
            "runs": {"total": 8, "running": 1, "queued": 1, "finished": 3, "failed": 1, "killed": 2},
            "recordedRuns": [
                record(1, "Finished", 0.5, 0.001, "adam", bands=[0.9, 0.7]),
                record(2, "Killed", 0.95, 0.3, "sgd", bands=[1.2]),
                record(3, "Finished", 0.2, 0.01, HOSTILE, bands=[0.8, 0.4, 0.3]),
                record(4, "Failed", None, 0.5, "adam", reason="Error", exitCode=1, message="boom"),
                record(5, "Finished", 0.35, 0.002, "adam", bands=[0.85, 0.5]),
                record(6, "Killed", None, 0.9, "sgd"),
            ],
        },
    }


JOBS = [
    job(1, active=False),  # recorded and released: the status's record wins (it has the bands)
    job(7, active=True),
    job(8, active=False, suspended=True),
]


def test_runs_of_takes_the_records_then_the_jobs_not_recorded_by_number() -> None:
    runs = report.runs_of(sweep(), JOBS)
    assert [(r.number, r.state) for r in runs] == [
        (1, "Finished"), (2, "Killed"), (3, "Finished"), (4, "Failed"), (5, "Finished"), (6, "Killed"),
        (7, "Running"), (8, "Queued"),
    ]  # fmt: skip
    by_name = {r.name: r for r in runs}
    assert by_name["s-0001"].bands == [0.9, 0.7] and not by_name["s-0001"].job_deleted
    assert by_name["s-0002"].job_deleted
    assert by_name["s-0007"].parameters["lr"] == 0.07


def test_a_job_with_its_result_but_no_record_yet_shows_its_result() -> None:
    runs = report.runs_of(sweep(), [job(9, False, result={"state": "Finished", "metrics": {"loss": 0.1}})])
    assert runs[-1].state == "Finished" and runs[-1].metrics == {"loss": 0.1}


def test_best_runs_and_best_so_far_follow_the_goal_and_skip_failed_runs() -> None:
    runs = report.runs_of(sweep(), JOBS)
    assert [r.number for r in report.best_runs(SPEC, runs)] == [3, 5, 1, 2]
    assert report.best_so_far(SPEC, runs) == [(1, 0.5), (3, 0.2)]
    maximize = {**SPEC, "metric": {"name": "loss", "goal": "maximize"}}
    assert [r.number for r in report.best_runs(maximize, runs)][:2] == [2, 1]
    assert report.best_so_far(maximize, runs) == [(1, 0.5), (2, 0.95)]


def test_axes_leave_out_constants_and_end_with_the_metric() -> None:
    runs = report.runs_of(sweep(), JOBS)
    axes = report.axes(SPEC, runs)
    assert [a.label for a in axes] == ["lr", "optimizer.name", "loss"]
    lr, name, loss = axes
    assert lr.log and lr.choices is None
    assert name.choices == ["adam", "sgd", HOSTILE]
    assert set(loss.values) == {"s-0001", "s-0002", "s-0003", "s-0005"}


def test_state_counts_come_from_the_status_when_it_has_them() -> None:
    runs = report.runs_of(sweep(), JOBS)
    counts = report.state_counts(sweep()["status"], runs)
    assert counts["Finished"] == 3 and counts["Queued"] == 1 and counts["Killed"] == 2
    assert report.state_counts({}, runs)["Killed"] == 2


def test_nice_ticks_are_round() -> None:
    assert report.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert report.nice_ticks(0.013, 0.087, 4) == [0.02, 0.04, 0.06, 0.08]


def page() -> str:
    return report.render(sweep(), report.runs_of(sweep(), JOBS), generated="2026-01-01 00:00:00 UTC")


def test_the_page_needs_nothing_from_the_network_and_escapes_what_runs_report() -> None:
    text = page()
    assert not re.search(r"""(src|href)\s*=|@import|url\(|https?://""", text)
    assert HOSTILE not in text and html_escaped(HOSTILE) in text
    assert text.count("<script>") == 1


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_an_empty_sweep_draws_an_empty_page() -> None:
    empty = {"metadata": {"name": "e", "namespace": "ml"}, "spec": {"method": "grid", "parameters": {}}}
    text = report.render(empty, [], generated="now")
    assert "No runs to draw yet" in text and "<script>" in text


def test_the_page_loads_in_chromium_without_errors_and_draws_every_run(tmp_path: Path) -> None:
    browser.require()
    path = tmp_path / "report.html"
    path.write_text(page())
    with browser.open_page(path) as loaded:
        assert loaded.errors == []
        assert loaded.requests == []
        lines = loaded.evaluate(
            "[...document.querySelectorAll('#parallel polyline.run')].map(e => e.dataset.run)"
        )
        names = [f"s-{n:04d}" for n in range(1, 9)]
        assert sorted(lines) == names
        points = loaded.evaluate("[...document.querySelectorAll('#metric .point')].map(e => e.dataset.run)")
        assert sorted(points) == names
        assert loaded.evaluate("document.querySelectorAll('#metric circle.point').length") == 4
        assert loaded.evaluate("document.querySelector('#best-so-far').getAttribute('d')").startswith("M")
        bands = loaded.evaluate("[...document.querySelectorAll('#bands polyline')].map(e => e.dataset.run)")
        assert sorted(bands) == ["s-0001", "s-0002", "s-0003", "s-0005"]
        states = loaded.evaluate("[...document.querySelectorAll('#states .state')].map(e => e.dataset.state)")
        assert states == ["Queued", "Running", "Finished", "Failed", "Killed"]
        best = loaded.evaluate("[...document.querySelectorAll('#best tbody tr')].map(e => e.dataset.run)")
        assert best == ["s-0003", "s-0005", "s-0001", "s-0002"]
        # Every run line is drawn inside the chart, not collapsed to nothing.
        sizes = loaded.evaluate(
            "[...document.querySelectorAll('#parallel polyline.run')].map(e => e.getBBox().width)"
        )
        assert all(width > 100 for width in sizes)
        # The hostile parameter value is text in the page, not a script that ran.
        assert HOSTILE in loaded.evaluate("document.querySelector('#best').textContent")
        # Hovering a run highlights it in every chart.
        loaded.evaluate(
            "document.querySelector('#best tbody tr').dispatchEvent(new MouseEvent('mouseenter'))"
        )
        lit = loaded.evaluate("[...document.querySelectorAll('.on')].map(e => e.id || e.tagName)")
        assert len(lit) == 5  # its line, its point, its bands line, its two table rows
        assert loaded.errors == []


def test_the_best_runs_are_drawn_last_on_top_of_the_others() -> None:
    svg = report.parallel_coordinates(SPEC, report.runs_of(sweep(), JOBS))
    order = re.findall(r'<polyline class="run" data-run="([^"]+)"', svg)
    assert order[-4:] == ["s-0002", "s-0001", "s-0005", "s-0003"]  # worst to best loss
    assert set(order[:-4]) == {"s-0004", "s-0006", "s-0007", "s-0008"}  # no loss: below all
