"""The decision: (sweep, its runs as observed) → actions. Pure; every lifecycle rule lives in
`kubesweep.rules`, one module per step, and `decide` applies them in order.

The shell (`handlers`) observes the cluster, calls `decide`, and carries out the actions in
order: kills and the records of killed runs first, then Job creations, then the status write,
then the release of ended runs whose records the status now holds.

An ended run's record lives in status.recordedRuns. Once the status holds it, the run's Job is
released: its outcome written on it (kubesweep.io/result), labelled kubesweep.io/recorded so the
operator's watches let it go, and our finalizer removed. Memory then follows the runs executing,
not every run ever kept, and a restart rebuilds each sweep from its status and its live Jobs.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from kubesweep.actions import (
    ALIVE_PODS,
    PENDING_PODS,
    Action,
    CreateRun,
    Decision,
    DeletePods,
    Event,
    RecordRun,
    ReleaseJob,
    StopPods,
    WriteStatus,
    delete_pods,
)
from kubesweep.api import Phase
from kubesweep.rules import restarts
from kubesweep.rules.cancel import cancel
from kubesweep.rules.ended import record_ended
from kubesweep.rules.finish import finish
from kubesweep.rules.history import (
    best_run,
    counts_toward_cap,
    metric_text,
    recorded_runs,
    search_seed,
    target_reached,
    trials,
)
from kubesweep.rules.holds import hold
from kubesweep.rules.hyperband import stop_early
from kubesweep.rules.notices import tell_spec
from kubesweep.rules.passes import Pass, Verdict
from kubesweep.rules.reasons import (
    FIRST_RUNS_FAILED,
    INVALID_SPEC,
    METRIC_MISSING,
    NO_METRIC_REPORTED,
    NO_RUN_FINISHED,
    PERMISSION_DENIED,
    PERMISSION_RETRY_FIRST,
    PERMISSION_RETRY_MAX,
    QUOTA_EXCEEDED,
    QUOTA_RETRY_MAX,
    RELEASES_PER_PASS,
    RESERVED_KEYS_IGNORED,
    RUNS_SUSPENDED,
    SEARCH_SPACE,
    TEMPLATE_REJECTED,
    is_quota_refusal,
    permission_denied_message,
    permission_retry_delay,
    quota_exceeded_message,
)
from kubesweep.rules.spec import InvalidSweep, parse_spec, raw_state, with_sweep_field
from kubesweep.rules.start import runs_suspended_message, start_runs, suspended_by_hand
from kubesweep.rules.stops import stop_by_user
from kubesweep.runs import Run

# The names the shell, the plugin and the tests use: the decision's whole vocabulary.
__all__ = [
    "ALIVE_PODS",
    "FIRST_RUNS_FAILED",
    "INVALID_SPEC",
    "METRIC_MISSING",
    "NO_METRIC_REPORTED",
    "NO_RUN_FINISHED",
    "PENDING_PODS",
    "PERMISSION_DENIED",
    "PERMISSION_RETRY_FIRST",
    "PERMISSION_RETRY_MAX",
    "QUOTA_EXCEEDED",
    "QUOTA_RETRY_MAX",
    "RELEASES_PER_PASS",
    "RESERVED_KEYS_IGNORED",
    "RUNS_SUSPENDED",
    "SEARCH_SPACE",
    "TEMPLATE_REJECTED",
    "Action",
    "CreateRun",
    "Decision",
    "DeletePods",
    "Event",
    "InvalidSweep",
    "RecordRun",
    "ReleaseJob",
    "StopPods",
    "WriteStatus",
    "best_run",
    "counts_toward_cap",
    "decide",
    "delete_pods",
    "is_quota_refusal",
    "metric_text",
    "parse_spec",
    "permission_denied_message",
    "permission_retry_delay",
    "quota_exceeded_message",
    "raw_state",
    "recorded_runs",
    "runs_suspended_message",
    "search_seed",
    "suspended_by_hand",
    "target_reached",
    "trials",
    "with_sweep_field",
]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decide(
    sweep: Mapping[str, Any],
    observed: Sequence[Run],
    *,
    now: str | None = None,
    template_error: str | None = None,
    permission_denied: str | None = None,
    taken: Collection[str] = (),
    warm_from: Mapping[str, Mapping[str, Any]] | None = None,
) -> Decision:
    """Everything the operator does to one sweep in one pass.

    `observed` are the runs read from the sweep's Jobs and pods; `template_error` is the API
    server's message when it rejected a run's Job in this pass; `permission_denied` its message
    when it refused to create one for lack of permission (in this pass, or in an earlier one
    whose retry is not due yet): no run starts, and the sweep keeps running, saying why.
    `taken` are Job names that objects other than this sweep's runs hold (a Job of an earlier
    sweep of the same name, anyone's Job): no run is given one. `warm_from` are the Sweeps of
    spec.warmStart.fromSweeps that exist, by name (warm_start.sources).
    """
    p = Pass.begin(sweep, observed, now=now or _now(), taken=taken, warm_from=warm_from)
    tell_spec(p)
    # Runs that ended, and runs stopped by a person, whatever the sweep's state and spec: the
    # run-level controls need no search space.
    record_ended(p)
    stop_by_user(p)
    restarts.tell_refused(p)
    return finish(p, _verdict(p, template_error, permission_denied))


def _verdict(p: Pass, template_error: str | None, permission_denied: str | None) -> Verdict:
    if (cancelled := cancel(p)) is not None:
        return cancelled
    if p.spec is None:
        # An invalid spec: say which field, start nothing, keep every record.
        return Verdict(Phase.CRASHED, INVALID_SPEC, str(p.invalid))
    stop_early(p, p.spec)
    return hold(p, p.spec, template_error) or start_runs(p, p.spec, permission_denied)
