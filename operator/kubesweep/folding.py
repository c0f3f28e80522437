"""Ended runs folded into counts and ranges: status.recordedRuns keeps the newest records in
full and status.foldedRuns the rest, so a sweep keeps its status small at any number of runs,
and still never reuses a run number, never repeats a grid point and counts every run toward
runCap and maxFailedRuns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from kubesweep import api
from kubesweep.api import RunState
from kubesweep.ranges import format_ranges, parse_ranges
from kubesweep.runs import Run

# The ended states, each a count field of api.FoldedRuns under its lower-case name.
FOLDED_STATES = (RunState.FINISHED, RunState.FAILED, RunState.CRASHED, RunState.KILLED)


@dataclass
class FoldedRuns:
    numbers: set[int] = field(default_factory=set)
    states: dict[RunState, int] = field(default_factory=lambda: dict.fromkeys(FOLDED_STATES, 0))
    counted_toward_run_cap: int = 0
    grid_points: set[int] = field(default_factory=set)

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> FoldedRuns:
        raw = status.get("foldedRuns")
        if not raw:
            return cls()
        try:
            record = api.FoldedRuns.model_validate(raw)
            return cls(
                numbers=parse_ranges(record.numbers),
                states={state: getattr(record, state.lower()) for state in FOLDED_STATES},
                counted_toward_run_cap=record.counted_toward_run_cap,
                grid_points=parse_ranges(record.grid_points),
            )
        except (pydantic.ValidationError, ValueError):
            return cls()  # only the operator writes it; the schema keeps others from breaking it

    def add(self, run: Run, *, counts_toward_run_cap: bool, grid_point: int | None) -> None:
        self.numbers.add(run.number)
        state = run.state if run.state in self.states else RunState.KILLED
        self.states[state] += 1
        self.counted_toward_run_cap += int(counts_toward_run_cap)
        if grid_point is not None:
            self.grid_points.add(grid_point)

    def to_status(self) -> dict[str, Any] | None:
        if not self.numbers:
            return None
        return api.FoldedRuns(
            numbers=format_ranges(self.numbers),
            **{state.lower(): count for state, count in self.states.items()},
            counted_toward_run_cap=self.counted_toward_run_cap,
            grid_points=format_ranges(self.grid_points),
        ).model_dump(by_alias=True)
