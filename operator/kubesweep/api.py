"""The Sweep API: pydantic models of spec and status, the one source of truth.

The CRD in crds/ is generated from these models (see `crd.py`); field names are camelCase on
the wire, as in every Kubernetes API, and snake_case in Python.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "kubesweep.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Sweep"
PLURAL = "sweeps"
SINGULAR = "sweep"
SHORT_NAMES = ["sw"]
CATEGORIES = ["all-sweeps"]

# Labels and annotations of the contract (DESIGN.md).
LABEL_SWEEP = "kubesweep.io/sweep"
LABEL_RUN = "kubesweep.io/run"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "kubesweep"
ANNOTATION_PARAMETERS = "kubesweep.io/parameters"
ANNOTATION_RESULT = "kubesweep.io/result"
ANNOTATION_STOP = "kubesweep.io/stop"
# The run number: Job names can be shortened with a hash, so the number is kept beside them.
ANNOTATION_RUN_NUMBER = "kubesweep.io/run-number"
# Keeps a Job (and so its record) until the operator has copied its outcome into the Sweep.
JOB_FINALIZER = "kubesweep.io/run-record"
# On a run's Job and pods once the Sweep's status holds its record: the operator's watches
# exclude them, so its memory grows with the runs executing, not with every run ever kept.
LABEL_RECORDED = "kubesweep.io/recorded"
# Kueue's queue label: a Job that carries it waits, suspended, until its queue admits it.
LABEL_QUEUE = "kueue.x-k8s.io/queue-name"


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", use_enum_values=True
    )


class State(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    CANCELLED = "cancelled"


class Method(StrEnum):
    GRID = "grid"
    RANDOM = "random"
    BAYES = "bayes"


class Goal(StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class Phase(StrEnum):
    RUNNING = "Running"
    PAUSED = "Paused"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    CANCELLED = "Cancelled"
    FINISHED = "Finished"
    FAILED = "Failed"
    CRASHED = "Crashed"


class RunState(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    FINISHED = "Finished"
    FAILED = "Failed"
    CRASHED = "Crashed"
    KILLED = "Killed"


ACTIVE_RUN_STATES = frozenset({RunState.PENDING, RunState.RUNNING})
# Phases after which nothing happens until the user changes spec.state.
SETTLED_PHASES = frozenset({Phase.STOPPED, Phase.CANCELLED, Phase.FINISHED, Phase.FAILED, Phase.CRASHED})


class Metric(_Model):
    name: str = Field(
        min_length=1,
        max_length=253,
        description="The metric the search optimizes, as the run reports it (e.g. val_loss).",
    )
    goal: Goal = Field(default=Goal.MINIMIZE, description="minimize or maximize the metric.")
    target: float | None = Field(
        default=None,
        description="Finish the sweep once a run reaches this value (at or below it when minimizing, "
        "at or above it when maximizing).",
    )


class EarlyTerminate(_Model):
    type: Literal["hyperband"] = Field(description="The early termination algorithm: hyperband.")
    min_iter: int | None = Field(
        default=None, ge=1, description="The first bracket's step (W&B min_iter). Give minIter or maxIter."
    )
    max_iter: int | None = Field(default=None, ge=1, description="The largest step (W&B max_iter), with s.")
    s: int | None = Field(default=None, ge=1, description="The number of brackets, with maxIter (W&B s).")
    eta: float = Field(default=3, gt=1, description="The bracket multiplier (W&B eta), above 1.")
    strict: bool = Field(
        default=True,
        description="As W&B (its default): judge a run by its value at the band; false judges its best value so far.",
    )


# W&B's parameter syntax, kept verbatim: see search/ for its meaning and validation. The CRD
# gives it a structural schema of its known keys; values are arbitrary JSON.
PARAMETER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A parameter in W&B's syntax: value, values (+probabilities), a distribution "
    "with min/max, mu/sigma, q, a/b, or nested parameters.",
    "properties": {
        "value": {
            "description": "A constant value.",
            "x-kubernetes-preserve-unknown-fields": True,
        },
        "values": {
            "type": "array",
            "minItems": 1,
            "description": "The values to choose from (categorical).",
            "items": {"x-kubernetes-preserve-unknown-fields": True},
        },
        "probabilities": {
            "type": "array",
            "description": "The probability of each of values, in random and bayes search.",
            "items": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "distribution": {
            "type": "string",
            "description": "The distribution to sample from. Left out, it is inferred: constant "
            "for value, categorical for values, int_uniform for integer min and max (0.0 is stored "
            "as 0: write uniform for a continuous range), uniform otherwise.",
            "enum": [
                "constant",
                "categorical",
                "int_uniform",
                "uniform",
                "q_uniform",
                "log_uniform_values",
                "q_log_uniform_values",
                "inv_log_uniform_values",
                "normal",
                "q_normal",
                "log_normal",
                "q_log_normal",
                "beta",
                "q_beta",
                # Deprecated exponent forms: accepted by the schema so the operator can name
                # their _values replacement in a condition instead of a bare enum error.
                "log_uniform",
                "q_log_uniform",
                "inv_log_uniform",
            ],
        },
        "min": {"type": "number", "description": "The lower bound."},
        "max": {"type": "number", "description": "The upper bound."},
        "mu": {"type": "number", "description": "The mean of a normal or log-normal distribution."},
        "sigma": {"type": "number", "description": "The standard deviation of a normal distribution."},
        "q": {"type": "number", "description": "The quantization step of q_ distributions."},
        "a": {"type": "number", "description": "The alpha of a beta distribution."},
        "b": {"type": "number", "description": "The beta of a beta distribution."},
        "parameters": {
            "type": "object",
            "description": "Nested parameters: the run gets a dictionary for this one.",
            "x-kubernetes-preserve-unknown-fields": True,
        },
    },
}

JOB_TEMPLATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A batch/v1 JobTemplateSpec: the Job of every run. Parameters reach it through "
    "${args}, ${args_no_hyphens}, ${args_json}, ${params.NAME} and the KUBESWEEP_* env vars.",
    "required": ["spec"],
    "properties": {
        "metadata": {
            "type": "object",
            "description": "Labels and annotations added to every run's Job.",
            "properties": {
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "description": "A batch/v1 JobSpec.",
            "x-kubernetes-preserve-unknown-fields": True,
            "required": ["template"],
            "properties": {
                "template": {
                    "type": "object",
                    "description": "The pod template of the run.",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "required": ["spec"],
                    "properties": {
                        "spec": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                            "required": ["containers"],
                            "properties": {
                                "containers": {
                                    "type": "array",
                                    "minItems": 1,
                                    "description": "The first container runs the training.",
                                    "items": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                        "required": ["name"],
                                        "properties": {"name": {"type": "string", "minLength": 1}},
                                    },
                                }
                            },
                        }
                    },
                }
            },
        },
    },
}


class SweepSpec(_Model):
    state: State = Field(
        default=State.RUNNING,
        description="running creates runs; paused withholds new runs; stopped lets active runs "
        "finish and starts no more; cancelled kills active runs at once. Any state resumes with running.",
    )
    method: Method = Field(description="The search strategy: grid, random or bayes.")
    metric: Metric | None = Field(
        default=None, description="The metric to optimize; required for bayes, metric.target and hyperband."
    )
    parameters: dict[str, dict[str, Any]] = Field(
        min_length=1,
        description="The search space, in W&B's parameter syntax; keys are passed to runs verbatim. "
        "Without a distribution, W&B's inference applies: value is constant, values categorical, "
        "min/max int_uniform when both are integers, else uniform. The API server stores a "
        "whole-number float as an integer (min: 0.0 as 0), so for a continuous range write "
        "distribution: uniform (or another continuous one). Each parameter's distribution is in "
        "the sweep's SearchSpace event and in `kubectl sweep status`.",
        json_schema_extra={"additionalProperties": PARAMETER_SCHEMA},
    )
    parallelism: int = Field(default=1, ge=1, le=10000, description="Runs executing at once.")
    run_cap: int | None = Field(
        default=None,
        ge=1,
        description="Total runs ever started (W&B run_cap); killed runs that reported no metric "
        "do not count.",
    )
    max_failed_runs: int | None = Field(
        default=None, ge=1, description="The failure budget: reaching it makes the sweep Failed."
    )
    early_terminate: EarlyTerminate | None = Field(
        default=None, description="Stop poorly performing runs early (W&B early_terminate)."
    )
    seed: int | None = Field(
        default=None, ge=0, description="Makes random and bayes suggestions reproducible."
    )
    template: dict[str, Any] = Field(
        description="A batch/v1 JobTemplateSpec: the Job of every run.",
        json_schema_extra=JOB_TEMPLATE_SCHEMA,
    )


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


class BestRun(_Model):
    name: str
    metric: float
    parameters: dict[str, Any] = Field(
        default_factory=dict, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )


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
    grid_points: str = Field(default="", description="Their positions on the grid, as ranges.")


class SweepStatus(_Model):
    phase: Phase | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    runs: RunCounts = Field(default_factory=RunCounts)
    best_run: BestRun | None = None
    start_time: str | None = None
    completion_time: str | None = None
    recorded_runs: list[RunRecord] = Field(
        default_factory=list,
        description=f"Records of ended runs: the newest {RUN_RECORDS_KEPT}, the best, and those not yet released.",
    )
    folded_runs: FoldedRuns | None = Field(
        default=None, description="Older ended runs, folded into counts and ranges."
    )
