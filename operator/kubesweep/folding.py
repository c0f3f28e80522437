"""Ended runs folded into counts and ranges: status.recordedRuns keeps the newest records in
full and status.foldedRuns the rest, so a sweep keeps its status small at any number of runs,
and still never reuses a run number, never repeats a grid point and counts every run toward
runCap and maxFailedRuns.

One concept, two forms: `api.FoldedRuns` is status.foldedRuns on the wire (numbers and grid
points as ranges, "1-4000,4002"), `Fold` the same in memory (sets), which a pass adds to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from kubesweep import api
from kubesweep.api import RunState
from kubesweep.runs import Run


def format_ranges(numbers: Iterable[int]) -> str:
    """Non-negative integers as sorted, merged ranges."""
    ordered = sorted(set(numbers))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def parse_ranges(text: str) -> set[int]:
    """The inverse of format_ranges; ValueError on anything else."""
    out: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if last < first:
            raise ValueError(f"range {part!r} runs backwards")
        out.update(range(first, last + 1))
    return out


# The ended states, each a count field of api.FoldedRuns under its lower-case name.
FOLDED_STATES = (RunState.FINISHED, RunState.FAILED, RunState.CRASHED, RunState.KILLED)


@dataclass
class Fold:
    """status.foldedRuns in memory (its wire form: api.FoldedRuns)."""

    numbers: set[int] = field(default_factory=set)
    states: dict[RunState, int] = field(default_factory=lambda: dict.fromkeys(FOLDED_STATES, 0))
    counted_toward_run_cap: int = 0
    grid_points: set[int] = field(default_factory=set)
    retried: int = 0  # crashed runs a retry replaced: maxFailedRuns does not count them
    retries: int = 0  # retries and reruns

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> Fold:
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
                retried=record.retried,
                retries=record.retries,
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
        self.retried += int(bool(run.retried_by) and run.state in (RunState.FAILED, RunState.CRASHED))
        self.retries += int(run.started_again)

    def to_status(self) -> api.FoldedRuns | None:
        if not self.numbers:
            return None
        return api.FoldedRuns(
            numbers=format_ranges(self.numbers),
            **{state.lower(): count for state, count in self.states.items()},
            counted_toward_run_cap=self.counted_toward_run_cap,
            grid_points=format_ranges(self.grid_points),
            retried=self.retried,
            retries=self.retries,
        )
