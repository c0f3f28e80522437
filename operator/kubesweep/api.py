"""The Sweep API: pydantic models of spec and status, the one source of truth.

The CRD in crds/ is generated from these models (see `crd.py`); field names are camelCase on
the wire, as in every Kubernetes API, and snake_case in Python.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from kubesweep.search import space

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
    TPE = "tpe"
    CMAES = "cmaes"
    QMC = "qmc"


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


# Several objectives: at most this many (each is a dimension of the front), and the front kept in
# the status at most this many runs (spread along it).
MAX_OBJECTIVES = 8
PARETO_FRONT_KEPT = 32


class Objective(_Model):
    """One of several objectives (spec.metrics, W&B's list shape): no target, which applies to a
    single metric only."""

    name: str = Field(min_length=1, max_length=253, description="A metric the run reports (e.g. val_loss).")
    goal: Goal = Field(default=Goal.MINIMIZE, description="minimize or maximize it.")


def _rule(rule: str, message: str, field_path: str | None = None, **extra: str) -> dict[str, str]:
    out = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    out.update(extra)
    return out


EARLY_TERMINATE_RULES: list[Any] = [  # Any: pydantic types json_schema_extra as JSON
    _rule(
        "has(self.minIter) || has(self.maxIter)",
        "hyperband needs minIter, or maxIter with s (W&B min_iter/max_iter)",
    ),
    _rule("self.type == 'hyperband' || has(self.minIter)", "asha and median need minIter", ".minIter"),
    _rule(
        "self.type != 'hyperband' || !has(self.maxIter) || has(self.s)",
        "maxIter needs s, the number of bands",
        ".s",
    ),
    _rule(
        "self.type == 'hyperband' || !has(self.s)", "s is hyperband's: asha and median do not take it", ".s"
    ),
    _rule("self.type == 'median' || !has(self.minRuns)", "minRuns is median's", ".minRuns"),
    _rule("self.type != 'median' || !has(self.maxIter)", "median does not take maxIter", ".maxIter"),
    _rule(
        "self.type != 'asha' || !has(self.maxIter) || !has(self.minIter) || self.maxIter > self.minIter",
        "maxIter must be above minIter",
        ".maxIter",
    ),
    _rule(
        "self.type != 'hyperband' || !has(self.maxIter) || double(self.maxIter) >= self.eta",
        "maxIter divided by eta is below 1: no band is left (raise maxIter or lower eta)",
        ".maxIter",
    ),
]


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


# W&B's parameter syntax, kept verbatim: see search/ for its meaning and validation. The CRD
# gives it a structural schema of its known keys (values are arbitrary JSON) and the CEL rules
# below, so most mistakes are refused at `kubectl apply` with the field named.
#
# What a rule can see: the API server hands CEL the typed fields only, so `value` and `values`
# (free JSON) are invisible to it; and it stores `min: 0.0` as 0 and hands CEL every `type:
# number` as a double, so a rule cannot tell 1 from 1.0. It can tell a whole number from a
# fraction, which is what the operator sees when it reads the stored object back: min and max
# of whole numbers without a distribution are int_uniform to both. Every rule refuses only what
# search.space refuses too (tests/unit/test_crd.py checks it on a corpus); the rest (values
# with min/max, probabilities per value and summing to 1, deeper nesting) stays the operator's
# InvalidSpec condition.
MAX_PARAMETERS = 200  # per level: bounds the rules' cost, which the API server checks
MAX_NESTED_PARAMETERS = 50
MAX_CONDITIONS = 8
_TYPED_KEYS = space.KEYS - {"value", "values", "distribution", "when"}
_RANGE_KINDS = [k for k, (required, _) in space.DISTRIBUTIONS.items() if "min" in required]
_LOG_KINDS = [k for k in _RANGE_KINDS if k.endswith("log_uniform_values")]
# Kinds a grid cannot enumerate; deprecated ones have a rule of their own.
_NON_GRID_KINDS = [
    k for k in space.DISTRIBUTIONS if k not in space.GRID_KINDS and k != "categorical_w_probabilities"
]


def _cel_list(items: list[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


def _whole(x: str) -> str:
    # int() of a double outside int64 is an error: bound it first (the int64 range, in which the
    # API server writes a whole double as an integer, as the operator then reads it).
    return f"({x} >= -9.2e18 && {x} <= 9.2e18 && double(int({x})) == {x})"


def cel_kind(p: str) -> str:
    """CEL: the distribution of parameter `p` as space.infer_kind sees it, where a rule can know
    it (declared, or inferred from min and max); '' otherwise (value, values, or nothing)."""
    return (
        f"(has({p}.distribution) ? {p}.distribution : has({p}.min) && has({p}.max) ? "
        f"({_whole(p + '.min')} && {_whole(p + '.max')} ? 'int_uniform' : 'uniform') : '')"
    )


def _none_of(p: str, keys: set[str]) -> str:
    return " && ".join(f"!has({p}.{k})" for k in sorted(keys)) or "true"


def _takes(kind: str) -> list[str]:
    required, optional = space.DISTRIBUTIONS[kind]
    return [*required, *optional]


def _conflicts_rule() -> str:
    """A kind's keys only; `[kind].all(t, ...)` binds the kind once (CEL has no let). Without a
    distribution or a range, the typed keys other than probabilities and parameters conflict
    with value, with values and with nothing alike."""
    branches = [
        f"t == '{kind}' ? ({_none_of('self', _TYPED_KEYS - set(_takes(kind)))})"
        for kind in space.DISTRIBUTIONS
        if kind != "categorical_w_probabilities"
    ]
    fallback = _none_of("self", _TYPED_KEYS - {"probabilities", "parameters"})
    return f"[{cel_kind('self')}].all(t, " + " : ".join(branches) + f" : t == '' ? ({fallback}) : true)"


def _takes_text() -> str:
    texts = [
        f"'{kind}': '{', '.join(_takes(kind))}'"
        for kind in space.DISTRIBUTIONS
        if kind != "categorical_w_probabilities"
    ]
    return "{" + ", ".join(texts) + "}"


PARAMETER_RULES: list[dict[str, str]] = [
    _rule(
        f"!has(self.distribution) || !(self.distribution in {_cel_list(list(space.DEPRECATED))})",
        "the exponent forms log_uniform, q_log_uniform and inv_log_uniform are deprecated in W&B and "
        "not supported: use log_uniform_values, q_log_uniform_values or inv_log_uniform_values with "
        "min/max as the actual values",
        ".distribution",
        messageExpression="self.distribution + ' (min/max as exponents) is deprecated in W&B and not "
        "supported: use ' + self.distribution + '_values with min/max as the actual values'",
    ),
    _rule(
        "!has(self.parameters) || ("
        + _none_of("self", _TYPED_KEYS - {"parameters"} | {"distribution"})
        + ")",
        "nested parameters stand alone: move distribution, min, max and the other keys into the "
        "nested parameters, or remove parameters",
    ),
    _rule(
        "has(self.min) == has(self.max)",
        "a range needs both min and max",
        messageExpression="'a range needs both min and max; ' + (has(self.min) ? 'max' : 'min') + ' is missing'",
    ),
    _rule(
        f"!has(self.distribution) || !(self.distribution in {_cel_list(_RANGE_KINDS)}) || "
        "(has(self.min) && has(self.max))",
        "this distribution needs min and max",
        messageExpression="'a ' + self.distribution + ' parameter needs min and max'",
    ),
    _rule(
        _conflicts_rule(),
        "these keys do not go together: a distribution takes its own arguments only (uniform: min "
        "and max; q_uniform: min, max and q; normal: mu and sigma; beta: a and b)",
        messageExpression=f"[{cel_kind('self')}].map(t, t == '' ? 'mu, sigma, q, a and b need the "
        "distribution they belong to: write distribution' : 'keys conflict: ' + (has(self.distribution) "
        "? 'a ' + t : 'min and max without a distribution make an ' + t) + ' parameter, which takes "
        f"only ' + {_takes_text()}[t] + ' (write the distribution that takes the others)')[0]",
    ),
    _rule(
        "!has(self.min) || !has(self.max) || self.min < self.max || (self.min == self.max && "
        f"{cel_kind('self')} == 'int_uniform')",
        "max must be above min (or equal to it, in an int_uniform range)",
        ".max",
    ),
    _rule(
        f"!has(self.distribution) || !(self.distribution in {_cel_list(_LOG_KINDS)}) || !has(self.min) "
        "|| self.min > 0",
        "a logarithmic range needs min above 0",
        ".min",
    ),
    _rule(
        "!has(self.distribution) || self.distribution != 'int_uniform' || !has(self.min) || "
        f"!has(self.max) || ({_whole('self.min')} && {_whole('self.max')})",
        "int_uniform needs integer min and max (write distribution: uniform for a continuous range)",
        ".min",
    ),
]


def _parameter_schema(nested: dict[str, Any]) -> dict[str, Any]:
    return {
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
                    "categorical_w_probabilities",  # W&B's name for values with probabilities
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
                    # Deprecated exponent forms: accepted by the enum so that a rule can name
                    # their _values replacement instead of a bare enum error.
                    "log_uniform",
                    "q_log_uniform",
                    "inv_log_uniform",
                ],
            },
            "min": {"type": "number", "description": "The lower bound."},
            "max": {"type": "number", "description": "The upper bound."},
            "mu": {"type": "number", "description": "The mean of a normal or log-normal distribution."},
            "sigma": {
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": True,
                "description": "The standard deviation of a normal distribution, above 0.",
            },
            "q": {
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": True,
                "description": "The quantization step of q_ distributions, above 0.",
            },
            "a": {
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": True,
                "description": "The alpha of a beta distribution, above 0.",
            },
            "b": {
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": True,
                "description": "The beta of a beta distribution, above 0.",
            },
            "when": {
                "type": "object",
                "description": "Conditions: this parameter (or group) exists only when each named "
                "parameter (by its path; one with values or value) has the value given, or one of "
                "a list of values, e.g. {optimizer: sgd}. Otherwise the run does not get it.",
                "maxProperties": MAX_CONDITIONS,
                "additionalProperties": {"x-kubernetes-preserve-unknown-fields": True},
            },
            "parameters": nested,
        },
        "x-kubernetes-validations": PARAMETER_RULES,
    }


# Nested parameters have the same schema and rules one level down; deeper levels are free JSON
# that the operator validates (a structural schema cannot recurse).
PARAMETER_SCHEMA: dict[str, Any] = _parameter_schema(
    {
        "type": "object",
        "description": "Nested parameters: the run gets a dictionary for this one.",
        "maxProperties": MAX_NESTED_PARAMETERS,
        "additionalProperties": _parameter_schema(
            {
                "type": "object",
                "description": "Nested parameters: the run gets a dictionary for this one.",
                "x-kubernetes-preserve-unknown-fields": True,
            }
        ),
    }
)


def _grid_leaf_ok(p: str) -> str:
    return f"[{cel_kind(p)}].all(t, !(t in {_cel_list(_NON_GRID_KINDS)}))"


def _grid_ok(p: str) -> str:
    nested = (
        f"{p}.parameters.all(j, has({p}.parameters[j].parameters) || {_grid_leaf_ok(f'{p}.parameters[j]')})"
    )
    return f"(has({p}.parameters) ? {nested} : {_grid_leaf_ok(p)})"


def _no_probabilities(p: str) -> str:
    nested = f"{p}.parameters.all(j, !has({p}.parameters[j].probabilities))"
    return f"(has({p}.parameters) ? {nested} : !has({p}.probabilities))"


SPEC_RULES: list[Any] = [
    _rule(
        "!(self.method in ['bayes', 'tpe', 'cmaes']) || has(self.metric) || has(self.metrics)",
        "bayes, tpe and cmaes search need a metric to optimize: set metric.name and goal",
        ".metric",
        messageExpression="self.method + ' search needs a metric to optimize: set metric.name and goal'",
    ),
    _rule(
        "!has(self.metric) || !has(self.metrics)",
        "give metric (one objective) or metrics (several), not both",
        ".metrics",
    ),
    _rule(
        "self.method != 'cmaes' || !has(self.metrics)",
        "cmaes optimizes a single metric: use bayes or tpe for several objectives",
        ".method",
    ),
    _rule(
        "!has(self.metrics) || self.metrics.all(m, self.metrics.exists_one(n, n.name == m.name))",
        "each of metrics names a different metric",
        ".metrics",
    ),
    # No rule reads `when`: its values are free JSON, which the API server hides from CEL
    # together with the map that holds them ("undefined field 'when'"), so an unknown name or
    # value in a condition is the operator's InvalidSpec.
    _rule(
        "!has(self.warmStart) || self.method in ['bayes', 'tpe']",
        "warmStart feeds what bayes and tpe learn from: use method bayes or tpe",
        ".warmStart",
    ),
    _rule(
        "!has(self.earlyTerminate) || has(self.metric)",
        "earlyTerminate needs a single metric (not metrics): set metric.name and goal",
        ".metric",
    ),
    _rule(
        f"self.method != 'grid' || self.parameters.all(k, {_grid_ok('self.parameters[k]')})",
        "a grid sweep can only use values, value, int_uniform or q_uniform parameters (min and max "
        "of whole numbers make an int_uniform range): give each parameter values, or use method "
        "random or bayes",
        ".parameters",
        messageExpression="'a grid sweep can only use values, value, int_uniform or q_uniform "
        "parameters (min and max of whole numbers make an int_uniform range); ' + "
        f"self.parameters.filter(k, !{_grid_ok('self.parameters[k]')})[0] + ' is not: give it "
        "values, or use method random or bayes'",
    ),
    _rule(
        f"self.method != 'grid' || self.parameters.all(k, {_no_probabilities('self.parameters[k]')})",
        "a grid sweep tries every value once, so probabilities do not apply: remove them",
        ".parameters",
    ),
    _rule(
        "!(self.method in ['bayes', 'tpe', 'cmaes']) || self.parameters.exists(k, has(self.parameters[k].parameters) || "
        f"{cel_kind('self.parameters[k]')} != 'constant')",
        "bayes, tpe and cmaes need at least one parameter to search, not only constant values",
        ".parameters",
    ),
]

JOB_TEMPLATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A batch/v1 JobTemplateSpec: the Job of every run. Parameters reach it through "
    "${args}, ${args_no_hyphens}, ${args_no_boolean_flags}, ${args_json}, ${params.NAME} and the "
    "KUBESWEEP_* env vars.",
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


class WandbMode(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    DISABLED = "disabled"


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
    metric_text: str | None = Field(
        default=None, description="The metric to 4 significant digits: the BEST column of kubectl get."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )


class FrontRun(_Model):
    name: str
    metrics: dict[str, float] = Field(default_factory=dict, description="Its value of each objective.")


class WarmStartStatus(_Model):
    runs: int = Field(default=0, description="The other sweeps' runs this sweep learns from.")
    missing: list[str] = Field(
        default_factory=list,
        description="Sweeps of spec.warmStart.fromSweeps that do not exist in the namespace.",
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
    start_time: str | None = None
    completion_time: str | None = None
    recorded_runs: list[RunRecord] = Field(
        default_factory=list,
        description=f"Records of ended runs: the newest {RUN_RECORDS_KEPT}, the best, and those not yet released.",
    )
    folded_runs: FoldedRuns | None = Field(
        default=None, description="Older ended runs, folded into counts and ranges."
    )
