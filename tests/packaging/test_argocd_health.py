"""The Argo CD health check for Sweeps, run by a real Lua interpreter on sample objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lupa
import pytest

SCRIPT = (Path(__file__).resolve().parents[2] / "deploy" / "argocd-health.lua").read_text()


def health(obj: dict[str, Any]) -> dict[str, Any]:
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)

    def table(value: Any) -> Any:
        if isinstance(value, dict):
            return lua.table_from({k: table(v) for k, v in value.items()})
        if isinstance(value, list):
            return lua.table_from([table(v) for v in value])
        return value

    lua.globals().obj = table(obj)
    result = lua.execute(SCRIPT)
    return dict(result)


def sweep(phase: str | None, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": "s", "generation": 2}}
    if phase is not None:
        body["status"] = {"phase": phase, "observedGeneration": 2, **status}
    return body


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("Running", "Progressing"),
        ("Stopping", "Progressing"),
        ("Paused", "Suspended"),
        ("Cancelled", "Suspended"),
        ("Finished", "Healthy"),
        ("Stopped", "Healthy"),
        ("Failed", "Degraded"),
        ("Crashed", "Degraded"),
        ("Mystery", "Unknown"),
    ],
)
def test_phases_map_to_argo_health(phase: str, expected: str) -> None:
    assert health(sweep(phase, runs={"running": 1, "finished": 2}))["status"] == expected


def test_no_status_yet_is_progressing() -> None:
    assert health(sweep(None))["status"] == "Progressing"


def test_an_unobserved_spec_change_is_progressing() -> None:
    obj = sweep("Finished")
    obj["status"]["observedGeneration"] = 1
    assert health(obj)["status"] == "Progressing"


def test_degraded_says_what_is_wrong() -> None:
    condition = {"type": "Ready", "status": "False", "message": "spec.parameters.lr: a grid needs values"}
    result = health(sweep("Crashed", conditions=[condition]))
    assert result["status"] == "Degraded" and result["message"] == condition["message"]


def test_degraded_without_a_condition_still_says_where_it_stands() -> None:
    result = health(sweep("Failed", runs={"failed": 5}))
    assert result == {"status": "Degraded", "message": "Failed: 0 running, 0 finished, 5 failed"}


def test_a_status_without_run_counts_or_generation_is_read() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "s"}, "status": {"phase": "Running"}}
    assert health(obj) == {"status": "Progressing", "message": "Running: 0 running, 0 finished, 0 failed"}
    assert health({"metadata": {"name": "s"}, "status": {}})["status"] == "Progressing"
