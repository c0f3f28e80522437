"""The sweep's spec as the decision reads it: parsed, or the field a person must fix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pydantic

from kubesweep import api, objectives, search, warm_start
from kubesweep.api import State


class InvalidSweep(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_spec(spec: Mapping[str, Any]) -> api.SweepSpec:
    """The spec, or InvalidSweep naming the field a person must fix."""
    try:
        parsed = api.SweepSpec.model_validate(spec)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        path = ".".join(str(p) for p in err["loc"])
        raise InvalidSweep(f"spec.{path}", err["msg"]) from None
    metric = parsed.metric
    for problem in (objectives.problem(parsed), warm_start.problem(parsed)):
        if problem is not None:
            raise InvalidSweep(*problem)
    if str(parsed.method) in search.ADAPTIVE and metric is None and not parsed.metrics:
        raise InvalidSweep(
            "spec.metric", f"{parsed.method} search needs a metric to optimize: set metric.name and goal"
        )
    if parsed.early_terminate is not None:
        if metric is None:
            raise InvalidSweep("spec.metric", "earlyTerminate needs a metric: set metric.name and goal")
        try:
            search.hyperband_validate(parsed.early_terminate.model_dump(by_alias=True, exclude_none=True))
        except search.SearchSpaceError as exc:
            raise InvalidSweep(exc.field, exc.message) from None
    try:
        search.validate(str(parsed.method), parsed.parameters)
    except search.SearchSpaceError as exc:
        raise InvalidSweep(exc.field, exc.message) from None
    return parsed


def raw_state(spec: Mapping[str, Any]) -> State:
    """spec.state of a spec that does not parse as a whole (running when it is itself wrong)."""
    try:
        return State(spec.get("state") or State.RUNNING)
    except ValueError:
        return State.RUNNING


_JOB_TEMPLATE_FIELD = re.compile(r"(?<![\w.])spec\.template\.spec\.[\w.\[\]-]+")


def with_sweep_field(message: str) -> str:
    """The API server names the Job's fields; a person edits the Sweep: name its field too."""
    match = _JOB_TEMPLATE_FIELD.search(message)
    if match is None:
        return message
    field = match.group(0).rstrip(".:")
    return f"{message} (in the Sweep: spec.template.{field})"
