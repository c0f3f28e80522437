"""The status of a Sweep: what the operator reports, and the records of ended runs it keeps."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, FieldSerializationInfo, field_serializer

from kubesweep.api.base import _Model
from kubesweep.api.enums import Phase, RunState


class Condition(_Model):
    type: str = Field(description="Ready, Progressing, Completed or Failed.")
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(description="A CamelCase reason.")
    message: str = Field(default="", description="What happened, for a person.")
    last_transition_time: str = Field(description="When status last changed.")
    observed_generation: int | None = Field(default=None)


class RunCounts(_Model):
    total: int = 0
    queued: int = Field(
        default=0, description="Runs whose Jobs wait in a queue (suspended by Kueue or the like, no pod yet)."
    )
    pending: int = 0
    running: int = 0
    finished: int = 0
    failed: int = 0
    crashed: int = 0
    killed: int = 0
    retries: int = Field(
        default=0,
        description="Runs started again with the parameters of an earlier run: retries of runs the "
        "cluster took away, and reruns by hand (kubectl sweep rerun). runCap does not count them.",
    )


class BestRun(_Model):
    name: str
    metric: float
    metric_text: str | None = Field(
        default=None, description="The metric to 4 significant digits: the BEST column of kubectl get."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )


# The Pareto front kept in the status of a sweep of several objectives: at most this many runs
# (spread along it).
PARETO_FRONT_KEPT = 32


class FrontRun(_Model):
    name: str
    metrics: dict[str, float] = Field(default_factory=dict, description="Its value of each objective.")


class WarmStartStatus(_Model):
    runs: int = Field(default=0, description="The other sweeps' runs this sweep learns from.")
    missing: list[str] = Field(
        default_factory=list,
        description="Sweeps of spec.warmStart.fromSweeps that do not exist in the namespace.",
    )


class RefusedRerun(_Model):
    run: str
    message: str


class RunRecord(_Model):
    """An ended run: the outcome the sweep needs of it after its Job is released (or deleted)."""

    name: str
    number: int
    state: RunState
    parameters: dict[str, Any] = Field(
        default_factory=dict, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )
    metrics: dict[str, float] = Field(default_factory=dict)
    bands: list[float] | None = Field(
        default=None, description="With earlyTerminate: the metric at each hyperband band the run reached."
    )
    reason: str | None = Field(
        default=None,
        description="Why a run that did not finish ended: the container's or pod's reason (Error, "
        "StartError, OOMKilled, Evicted, DeadlineExceeded, ErrImagePull, ...).",
    )
    exit_code: int | None = Field(default=None, description="The exit code of its failed container.")
    message: str | None = Field(
        default=None, description="What the kubelet or the container said about the failure."
    )
    early_stopped: bool | None = Field(
        default=None, description="True for a run hyperband stopped early (reason EarlyTerminated)."
    )
    disrupted: bool | None = Field(
        default=None,
        description="True for a run the cluster took away (evicted, preempted, drained, its node lost): "
        "run again (retriedBy) up to spec.maxRetries times.",
    )
    retried_by: str | None = Field(
        default=None,
        description="The run that retried it: it counts toward neither maxFailedRuns nor runCap twice.",
    )
    retry_of: str | None = Field(default=None, description="The run this one retries (the previous attempt).")
    attempt: int | None = Field(default=None, ge=1, description="With retryOf: which retry this is, from 1.")
    rerun_of: str | None = Field(
        default=None, description="The run this one reruns by hand (kubectl sweep rerun)."
    )


# Run records kept in full; older ones whose Jobs the operator no longer watches are folded into
# FoldedRuns, so a sweep of any size keeps its status far below etcd's 1.5 MB object limit (500
# records: about 75 KB).
RUN_RECORDS_KEPT = 500


class FoldedRuns(_Model):
    """Ended runs beyond the newest RUN_RECORDS_KEPT, reduced to what the sweep still needs:
    their numbers (never reused), their states (counts, runCap, maxFailedRuns) and, for grid
    sweeps, their grid points (never repeated)."""

    numbers: str = Field(default="", description='Their run numbers as ranges, e.g. "1-4000,4002".')
    finished: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    crashed: int = Field(default=0, ge=0)
    killed: int = Field(default=0, ge=0)
    counted_toward_run_cap: int = Field(default=0, ge=0, description="Those runCap counts (W&B's rule).")
    retried: int = Field(default=0, ge=0, description="Those retried after the cluster took them away.")
    retries: int = Field(default=0, ge=0, description="Those started again (retries and reruns by hand).")
    grid_points: str = Field(default="", description="Their positions on the grid, as ranges.")


class SweepStatus(_Model):
    phase: Phase | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    runs: RunCounts = Field(default_factory=RunCounts)
    best_run: BestRun | None = Field(
        default=None, description="The run with the best metric; absent in a sweep of several objectives."
    )
    pareto_front: list[FrontRun] | None = Field(
        default=None,
        description=f"With metrics: the finished runs no other run beats in every objective, at most "
        f"{PARETO_FRONT_KEPT}, spread along the first objective (both ends kept).",
    )
    pareto_front_size: int | None = Field(default=None, description="The runs on the front, before the cap.")
    warm_start: WarmStartStatus | None = Field(
        default=None, description="With spec.warmStart: what the sweep learns from other sweeps."
    )
    refused_reruns: list[RefusedRerun] | None = Field(
        default=None,
        description="Reruns asked for in the annotation kubesweep.io/reruns that cannot be done, and why.",
    )
    start_time: str | None = None
    completion_time: str | None = None
    recorded_runs: list[RunRecord] = Field(
        default_factory=list,
        description=f"Records of ended runs: the newest {RUN_RECORDS_KEPT}, the best, and those not yet released.",
    )
    folded_runs: FoldedRuns | None = Field(
        default=None, description="Older ended runs, folded into counts and ranges."
    )

    @field_serializer("recorded_runs")
    def _records_without_nulls(
        self, records: list[RunRecord], info: FieldSerializationInfo
    ) -> list[dict[str, Any]]:
        # A record leaves out what it does not know (why a finished run ended, bands without
        # hyperband): hundreds of records carry no nulls, which the API server would prune
        # anyway. The status's own fields stay, None included: in a merge patch, None clears
        # what the status held (a resumed sweep's completionTime).
        return [r.model_dump(by_alias=info.by_alias, exclude_none=True) for r in records]
