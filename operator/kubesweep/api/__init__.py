"""The Sweep API: pydantic models of spec and status, the one source of truth.

The CRD in crds/ is generated from these models (see `crd.py`); field names are camelCase on
the wire, as in every Kubernetes API, and snake_case in Python. The names (`names`), the
enumerations (`enums`), the spec (`spec`, with the hand-written schemas of its free-JSON fields
in `schemas` and their CEL rules in `cel`) and the status (`status`) are modules of their own;
the rest of kubesweep uses them from here, as `api.X`.
"""

from __future__ import annotations

from kubesweep.api.cel import EARLY_TERMINATE_RULES, PARAMETER_RULES, SPEC_RULES, cel_kind
from kubesweep.api.enums import (
    ACTIVE_RUN_STATES,
    SETTLED_PHASES,
    Goal,
    Method,
    Phase,
    RunState,
    State,
    WandbMode,
)
from kubesweep.api.names import (
    ANNOTATION_PARAMETERS,
    ANNOTATION_RESULT,
    ANNOTATION_RUN_NUMBER,
    ANNOTATION_STOP,
    API_VERSION,
    CATEGORIES,
    GROUP,
    JOB_FINALIZER,
    KIND,
    LABEL_MANAGED_BY,
    LABEL_QUEUE,
    LABEL_RECORDED,
    LABEL_RUN,
    LABEL_SWEEP,
    MANAGED_BY,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
)
from kubesweep.api.schemas import (
    JOB_TEMPLATE_SCHEMA,
    MAX_CONDITIONS,
    MAX_NESTED_PARAMETERS,
    MAX_PARAMETERS,
    PARAMETER_SCHEMA,
)
from kubesweep.api.spec import (
    MAX_OBJECTIVES,
    EarlyTerminate,
    Metric,
    Objective,
    SecretKeyRef,
    SweepSpec,
    Wandb,
    WarmStart,
)
from kubesweep.api.status import (
    PARETO_FRONT_KEPT,
    RUN_RECORDS_KEPT,
    BestRun,
    Condition,
    FoldedRuns,
    FrontRun,
    RunCounts,
    RunRecord,
    SweepStatus,
    WarmStartStatus,
)

__all__ = [
    "ACTIVE_RUN_STATES",
    "ANNOTATION_PARAMETERS",
    "ANNOTATION_RESULT",
    "ANNOTATION_RUN_NUMBER",
    "ANNOTATION_STOP",
    "API_VERSION",
    "CATEGORIES",
    "EARLY_TERMINATE_RULES",
    "GROUP",
    "JOB_FINALIZER",
    "JOB_TEMPLATE_SCHEMA",
    "KIND",
    "LABEL_MANAGED_BY",
    "LABEL_QUEUE",
    "LABEL_RECORDED",
    "LABEL_RUN",
    "LABEL_SWEEP",
    "MANAGED_BY",
    "MAX_CONDITIONS",
    "MAX_NESTED_PARAMETERS",
    "MAX_OBJECTIVES",
    "MAX_PARAMETERS",
    "PARAMETER_RULES",
    "PARAMETER_SCHEMA",
    "PARETO_FRONT_KEPT",
    "PLURAL",
    "RUN_RECORDS_KEPT",
    "SETTLED_PHASES",
    "SHORT_NAMES",
    "SINGULAR",
    "SPEC_RULES",
    "VERSION",
    "BestRun",
    "Condition",
    "EarlyTerminate",
    "FoldedRuns",
    "FrontRun",
    "Goal",
    "Method",
    "Metric",
    "Objective",
    "Phase",
    "RunCounts",
    "RunRecord",
    "RunState",
    "SecretKeyRef",
    "State",
    "SweepSpec",
    "SweepStatus",
    "Wandb",
    "WandbMode",
    "WarmStart",
    "WarmStartStatus",
    "cel_kind",
]
