"""The spec of a Sweep: what the user asks for."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints

from kubesweep.api.base import _Model
from kubesweep.api.cel import EARLY_TERMINATE_RULES, SPEC_RULES
from kubesweep.api.enums import Goal, Method, State, WandbMode
from kubesweep.api.schemas import JOB_TEMPLATE_SCHEMA, MAX_NESTED_PARAMETERS, MAX_PARAMETERS, PARAMETER_SCHEMA


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


# Several objectives: at most this many (each is a dimension of the front).
MAX_OBJECTIVES = 8


class Objective(_Model):
    """One of several objectives (spec.metrics, W&B's list shape): no target, which applies to a
    single metric only."""

    name: str = Field(min_length=1, max_length=253, description="A metric the run reports (e.g. val_loss).")
    goal: Goal = Field(default=Goal.MINIMIZE, description="minimize or maximize it.")


class EarlyTerminate(_Model):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": EARLY_TERMINATE_RULES})

    type: Literal["hyperband", "asha", "median"] = Field(
        description="The early termination algorithm: hyperband (as W&B), asha (asynchronous "
        "successive halving) or median (the median stopping rule)."
    )
    min_iter: int | None = Field(
        default=None,
        ge=1,
        description="hyperband: the first bracket's step (W&B min_iter), or give maxIter; asha: the "
        "first rung; median: judge every minIter values.",
    )
    max_iter: int | None = Field(
        default=None,
        ge=1,
        description="hyperband: the largest step (W&B max_iter), with s; asha: no rung at or above it.",
    )
    min_runs: int | None = Field(
        default=None,
        ge=1,
        description="median: judge a run only once this many other runs reached its step; default 3.",
    )
    s: int | None = Field(default=None, ge=1, description="The number of brackets, with maxIter (W&B s).")
    eta: float = Field(
        default=3,
        gt=1,
        description="The bracket multiplier (W&B eta), above 1; asha: rungs grow by eta and 1/eta of runs continue.",
    )
    strict: bool = Field(
        default=True,
        description="hyperband, as W&B (its default): judge a run by its value at the band; false "
        "judges its best value so far.",
    )


class SecretKeyRef(_Model):
    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="A Secret in the Sweep's namespace.",
    )
    key: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Its key holding the W&B API key.",
    )


class Wandb(_Model):
    """A W&B training script runs unchanged (see wandb_pod): its parameters reach wandb.config and
    what it logs becomes the run's metrics."""

    mode: WandbMode = Field(
        default=WandbMode.OFFLINE,
        description="online sends each run to W&B (with apiKeySecret, or a key the image has); offline "
        "writes it under the container's wandb/ directory (wandb sync uploads it later); disabled "
        "keeps W&B out. kubesweep records the metrics in every mode. Default offline.",
    )
    project: str | None = Field(default=None, min_length=1, max_length=128, description="WANDB_PROJECT.")
    entity: str | None = Field(default=None, min_length=1, max_length=128, description="WANDB_ENTITY.")
    api_key_secret: SecretKeyRef | None = Field(
        default=None,
        description="The Secret key whose value becomes WANDB_API_KEY in mode online (unused otherwise).",
    )


class WarmStart(_Model):
    from_sweeps: list[
        Annotated[
            str, StringConstraints(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
        ]
    ] = Field(
        min_length=1,
        max_length=8,
        description="Sweeps in this namespace whose recorded runs this one learns from (W&B users' "
        "prior_runs): their finished runs whose parameters fit this sweep's space and that reported "
        "its metric (every objective, with metrics). They are not runs of this sweep (runCap does not "
        "count them). A sweep named that does not exist (yet) gives none; read at each suggestion.",
    )


# Retries of a run the cluster took away, unless the spec says otherwise: a drain or a preemption
# rarely strikes the same run more than a few times in a row.
DEFAULT_MAX_RETRIES = 3


class SweepSpec(_Model):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": SPEC_RULES})

    state: State = Field(
        default=State.RUNNING,
        description="running creates runs; paused withholds new runs; stopped lets active runs "
        "finish and starts no more; cancelled kills active runs at once. Any state resumes with running.",
    )
    method: Method = Field(
        description="The search strategy: grid, random or bayes (as W&B); tpe, cmaes (needs the "
        "kubesweep[cmaes] extra) or qmc (a scrambled Sobol sequence)."
    )
    metric: Metric | None = Field(
        default=None,
        description="The metric to optimize; bayes, tpe and cmaes need it or metrics, earlyTerminate "
        "needs it. Give metric or metrics, not both.",
    )
    metrics: list[Objective] | None = Field(
        default=None,
        min_length=2,
        max_length=MAX_OBJECTIVES,
        description="Several objectives instead of metric (W&B's metrics list): the status keeps the "
        "Pareto front (paretoFront) instead of bestRun. A run counts only once it reported every one. "
        "bayes and tpe use Optuna's multi-objective TPE, grid, random and qmc just run; cmaes and "
        "earlyTerminate need a single metric, and target applies to a single metric only.",
    )
    parameters: dict[str, dict[str, Any]] = Field(
        min_length=1,
        description="The search space, in W&B's parameter syntax; keys are passed to runs verbatim. "
        "Without a distribution, W&B's inference applies: value is constant, values categorical, "
        "min/max int_uniform when both are integers, else uniform. The API server stores a "
        "whole-number float as an integer (min: 0.0 as 0), so for a continuous range write "
        "distribution: uniform (or another continuous one). Each parameter's distribution is in "
        "the sweep's SearchSpace event and in `kubectl sweep status`. "
        f"At most {MAX_PARAMETERS} parameters, {MAX_NESTED_PARAMETERS} in a nested group (a bound "
        "on the cost of the API server's checks).",
        json_schema_extra={"additionalProperties": PARAMETER_SCHEMA, "maxProperties": MAX_PARAMETERS},
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
    max_retries: int = Field(
        default=DEFAULT_MAX_RETRIES,
        ge=0,
        le=100,
        description="How many times a run the cluster took away (its pod evicted, preempted, drained "
        "or its node lost: the DisruptionTarget condition, or reason Evicted or NodeLost) is run "
        "again with the same parameters, as a new run. Retries count toward neither runCap nor "
        "maxFailedRuns; the crash they replace does not count toward maxFailedRuns. Not for runs "
        f"that fail on their own (an error, OOMKilled). 0 turns retries off; default {DEFAULT_MAX_RETRIES}.",
    )
    early_terminate: EarlyTerminate | None = Field(
        default=None, description="Stop poorly performing runs early (W&B early_terminate)."
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        description="Makes random, bayes, tpe, cmaes and qmc suggestions reproducible; without it each sweep draws "
        "its own points (derived from its uid).",
    )
    start_timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        description="How long a run's pod may be unable to start (ErrImagePull, ImagePullBackOff, "
        "InvalidImageName, CreateContainerConfigError) before the run is Failed with that reason "
        "and its pod deleted; default 300.",
    )
    wandb: Wandb | None = Field(
        default=None,
        description="Run a W&B training script unchanged: its parameters reach wandb.config (through "
        "WANDB_SWEEP_PARAM_PATH), what it logs with wandb.log or run.summary becomes the run's "
        "metrics (a sitecustomize hook on PYTHONPATH), and the W&B run is named after the run and "
        "grouped by the sweep. Files come from the pod's annotations through a downwardAPI volume "
        "at /var/run/kubesweep.",
    )
    warm_start: WarmStart | None = Field(
        default=None,
        description="Learn from other sweeps' recorded runs (bayes and tpe): a head start for a search "
        "over a space other sweeps explored.",
    )
    template: dict[str, Any] = Field(
        description="A batch/v1 JobTemplateSpec: the Job of every run.",
        json_schema_extra=JOB_TEMPLATE_SCHEMA,
    )
