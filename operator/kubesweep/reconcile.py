"""The decision: (sweep, its runs as observed) → actions. Pure; every lifecycle rule lives here.

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
import hashlib
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pydantic

from kubesweep import api, objectives, runs, search, warm_start
from kubesweep.api import Phase, RunState, State
from kubesweep.folding import FoldedRuns
from kubesweep.runs import Run

# ---------------------------------------------------------------------------------------------
# Actions.


@dataclass(frozen=True)
class CreateRun:
    name: str
    number: int
    parameters: Mapping[str, Any]
    job: Mapping[str, Any]


@dataclass(frozen=True)
class RecordRun:
    """Save a killed run's outcome on its Job (kubesweep.io/result) at once, with `job_spec`
    (runs.stop_job_patch) so the Job creates no more pods, whoever else controls it; its release
    waits for its pods to end."""

    name: str
    result: str
    job_spec: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class StopPods:
    """Stop these pods gracefully and keep them, logs and all: each gets
    spec.activeDeadlineSeconds runs.STOP_DEADLINE, and the kubelet stops it with its grace period."""

    names: tuple[str, ...]


# The pods a kill deletes: those not yet terminated. A pod that ended keeps its log (and an
# ended run's pods are its logs: `kubectl logs` must find them after a cancel).
ALIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
PENDING_PODS = "status.phase=Pending"


@dataclass(frozen=True)
class DeletePods:
    """One collection delete of the pods matching label_selector that are still alive. grace 0
    kills at once; None is a normal stop."""

    label_selector: str
    grace_period_seconds: int | None
    field_selector: str = ALIVE_PODS


def delete_pods(
    run: Run, grace_period_seconds: int | None, *, pending_only: bool = False
) -> list[DeletePods]:
    """Deletes of the run's pods, each by name: labels alone would reach any pod that carries
    them, and a pod is the run's only when its Job owns it (the shell observes only those). The
    phase is still checked by the API server, so a pod that ended meanwhile keeps its log."""
    names = run.pending_pods if pending_only else run.live_pods
    phases = PENDING_PODS if pending_only else ALIVE_PODS
    return [
        DeletePods(f"{api.LABEL_RUN}={run.name}", grace_period_seconds, f"metadata.name={name},{phases}")
        for name in names
    ]


@dataclass(frozen=True)
class WriteStatus:
    status: Mapping[str, Any]


@dataclass(frozen=True)
class ReleaseJob:
    """Let an ended run's Job go once status.recordedRuns holds its record: label it (and its
    pods) kubesweep.io/recorded, write `result` on it when it is not there yet, remove our
    finalizer."""

    name: str
    result: str | None = None


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


Action = CreateRun | RecordRun | StopPods | DeletePods | WriteStatus | ReleaseJob | Event


@dataclass(frozen=True)
class Decision:
    actions: list[Action]
    phase: Phase
    status: Mapping[str, Any]

    def of(self, kind: type) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]


# ---------------------------------------------------------------------------------------------
# Inputs.


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


def recorded_runs(status: Mapping[str, Any]) -> list[Run]:
    """Ended runs as status.recordedRuns remembers them (their Jobs released or gone)."""
    out = []
    for item in status.get("recordedRuns") or []:
        try:
            record = api.RunRecord.model_validate(item)
        except pydantic.ValidationError:
            continue
        out.append(
            Run(
                name=record.name,
                number=record.number,
                parameters=record.parameters,
                state=RunState(record.state),
                metrics=record.metrics,
                recorded=True,
                exists=False,
                band_values=tuple(record.bands) if record.bands is not None else None,
                # A finished run's record says no reason (its state says it): its Job's result
                # still gets the one an observed run has.
                reason=record.reason or ("Completed" if record.state == RunState.FINISHED else ""),
                exit_code=record.exit_code,
                message=record.message or "",
                early_stopped=bool(record.early_stopped),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Helpers.


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metric_of(run: Run, spec: api.SweepSpec) -> float | None:
    if spec.metric is None:
        return None
    return run.metrics.get(spec.metric.name)


def counts_toward_cap(run: Run, spec: api.SweepSpec) -> bool:
    """W&B's run_cap counting: every run started except killed runs that reported no metric."""
    if run.state != RunState.KILLED:
        return True
    return bool(run.metrics) if spec.metric is None else _metric_of(run, spec) is not None


def search_seed(spec: api.SweepSpec, uid: str | None) -> int | None:
    """spec.seed, else one derived from the sweep's uid: two unseeded sweeps draw different
    points, and a restarted operator draws the same ones again for the same sweep."""
    if spec.seed is not None:
        return spec.seed
    if not uid:
        return None
    return int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16)


def _better(a: float, b: float, goal: str) -> bool:
    return a < b if goal == api.Goal.MINIMIZE else a > b


def metric_text(value: float | None) -> str | None:
    """A metric as `kubectl get sweeps` shows it: the API server prints a number column in
    full (0.08312345678901234), so the status carries it to 4 significant digits."""
    return None if value is None else f"{value:.4g}"


def best_run(all_runs: Sequence[Run], spec: api.SweepSpec) -> Run | None:
    if spec.metric is None:
        return None
    best: Run | None = None
    for run in all_runs:
        value = _metric_of(run, spec)
        if value is None or run.state in (RunState.FAILED, RunState.CRASHED):
            continue
        if best is None or _better(value, best.metrics[spec.metric.name], str(spec.metric.goal)):
            best = run
    return best


def target_reached(all_runs: Sequence[Run], spec: api.SweepSpec) -> Run | None:
    metric = spec.metric
    if metric is None or metric.target is None:
        return None
    for run in sorted(all_runs, key=lambda r: r.number):
        value = _metric_of(run, spec)
        if value is None or run.state != RunState.FINISHED:
            continue
        if (value <= metric.target) if metric.goal == api.Goal.MINIMIZE else (value >= metric.target):
            return run
    return None


def trials(all_runs: Sequence[Run], spec: api.SweepSpec) -> list[search.Trial]:
    metric = spec.metric.name if spec.metric else None
    return [
        search.Trial(
            number=run.number,
            parameters=run.parameters,
            state=str(run.state),  # type: ignore[arg-type]
            metric=run.metrics.get(metric) if metric else None,
            steps=runs.metric_steps(run.steps, metric) if metric else (),
            band_values=run.band_values,
            values=objectives.point(run.metrics, spec),
        )
        for run in sorted(all_runs, key=lambda r: r.number)
    ]


def _condition(
    previous: Sequence[Mapping[str, Any]],
    kind: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: str,
) -> dict[str, Any]:
    """A metav1.Condition whose lastTransitionTime moves only when its status does."""
    value = "True" if status else "False"
    old = next((c for c in previous if c.get("type") == kind), None)
    since = (
        old["lastTransitionTime"]
        if old and old.get("status") == value and old.get("lastTransitionTime")
        else now
    )
    return {
        "type": kind,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
        "observedGeneration": generation,
    }


# Runs whose Jobs one pass releases at most: their records all go into one status write.
RELEASES_PER_PASS = 200

# Condition reasons a resumed sweep does not clear by itself.
TEMPLATE_REJECTED = "TemplateRejected"
INVALID_SPEC = "InvalidSpec"
# The API server refused to create a run's Job for lack of permission: the sweep keeps its phase
# and the operator retries, with a backoff of PERMISSION_RETRY_FIRST doubling to _MAX seconds.
PERMISSION_DENIED = "PermissionDenied"
PERMISSION_RETRY_FIRST = 1.0
PERMISSION_RETRY_MAX = 60.0
# The namespace's ResourceQuota refused a run's Job (a 403 too): not a permission error, the sweep
# waits for room, retrying as above but at most every QUOTA_RETRY_MAX seconds (the room comes
# back as runs end, in seconds).
QUOTA_EXCEEDED = "QuotaExceeded"
QUOTA_RETRY_MAX = 10.0
# A run that finished without the sweep's metric: a Warning event of this reason.
METRIC_MISSING = "MetricMissing"
# Without maxFailedRuns a sweep stops as W&B's agent does: its first runs all failed, none finished.
FIRST_RUNS_FAILED = 5
# Completed=False reasons of a sweep that ended without a result.
NO_RUN_FINISHED = "NoRunFinished"
NO_METRIC_REPORTED = "NoMetricReported"
# A Warning event: the template carries kubesweep.io/* labels or annotations, or KUBESWEEP_*
# environment variables, which the operator owns (runs.render_job leaves them out).
RESERVED_KEYS_IGNORED = "ReservedKeysIgnored"
# Progressing's reason, and a Warning event as it appears: a run's Job was suspended by hand.
RUNS_SUSPENDED = "RunsSuspended"
# The event that says, when a sweep starts, which distribution each parameter samples from.
SEARCH_SPACE = "SearchSpace"


def is_quota_refusal(server_message: str) -> bool:
    """Whether a 403 is a ResourceQuota's ("exceeded quota: ...", or "forbidden: ... quota")."""
    text = server_message.lower()
    return "exceeded quota" in text or ("forbidden" in text and "quota" in text)


def permission_retry_delay(failures: int, server_message: str = "") -> float:
    """Seconds before creating Jobs again after `failures` refusals in a row for lack of permission
    (or of quota, whose room comes back sooner)."""
    cap = QUOTA_RETRY_MAX if is_quota_refusal(server_message) else PERMISSION_RETRY_MAX
    return min(PERMISSION_RETRY_FIRST * 2.0 ** max(failures - 1, 0), cap)


def quota_exceeded_message(server_message: str) -> str:
    return (
        f"Waiting for quota: the API server refused to create the run's Job: {server_message}. "
        "Runs start by themselves as the namespace's ResourceQuota has room again (runs ending and "
        "their Jobs deleted, or the quota raised)"
    )


def permission_denied_message(server_message: str) -> str:
    """The API server's refusal, and the permission a cluster admin grants to fix it."""
    return (
        f"The API server refused to create the run's Job: {server_message}. The operator's service "
        "account needs create on jobs (batch) and update on sweeps/finalizers (kubesweep.io), which "
        "the OwnerReferencesPermissionEnforcement admission plugin checks (see the chart's RBAC, "
        "docs/install.md); runs start by themselves once it is granted"
    )


# ---------------------------------------------------------------------------------------------
# The decision.


@dataclass
class _Pass:
    """What one pass has decided so far."""

    actions: list[Action] = field(default_factory=list)
    runs: dict[str, Run] = field(default_factory=dict)
    folded: FoldedRuns = field(default_factory=FoldedRuns)
    hyperband: tuple[Mapping[str, Any], str] | None = None  # earlyTerminate and the metric's name
    metric: str | None = None  # the sweep's metric: a record keeps it first
    prior: list[search.Trial] = field(default_factory=list)  # warm start: other sweeps' runs
    warm: dict[str, Any] | None = None  # status.warmStart

    def record(self, run: Run, **changes: Any) -> Run:
        """An ended run's record goes into the status (its Job gets it when released); a killed
        run's goes on its Job at once, with the spec that keeps the Job from creating pods."""
        updated = replace(run, recorded=True, **changes)
        updated = replace(updated, metrics=runs.bounded_metrics(updated.metrics, self.metric))
        if self.hyperband is not None and updated.band_values is None:
            # An ended run keeps its values at hyperband's bands: later thresholds count it.
            config, metric = self.hyperband
            steps = runs.metric_steps(updated.steps, metric)
            updated = replace(updated, band_values=tuple(search.hyperband_band_values(config, steps)))
        if updated.state == RunState.KILLED or updated.stuck:
            # Its pods are stopped: the record goes on the Job first, which keeps it from
            # creating more pods.
            updated = replace(updated, record_on_job=True)
            self.actions.append(
                RecordRun(run.name, runs.result_annotation(updated), runs.stop_job_patch(run))
            )
        self.runs[run.name] = updated
        return updated

    def stop(self, run: Run) -> None:
        """A graceful stop that keeps the run's pods and logs (not a deletion, nor a suspend,
        whose pod deletion loses them). A pod not started yet has no log, and a deadline does
        not reach a pod no node runs: it is deleted."""
        if run.unstopped_pods:
            self.actions.append(StopPods(run.unstopped_pods))
        if run.state == RunState.PENDING and run.has_pods:
            self.actions.extend(delete_pods(run, None, pending_only=True))


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
    now = now or _now()
    meta = sweep.get("metadata", {})
    generation = meta.get("generation")
    old_status: Mapping[str, Any] = sweep.get("status") or {}
    old_phase = old_status.get("phase")
    conditions_before: Sequence[Mapping[str, Any]] = old_status.get("conditions") or []
    p = _Pass(folded=FoldedRuns.from_status(old_status))
    records = {r.name: r for r in recorded_runs(old_status)}
    for run in observed:
        # A Job that still exists is the truth about its run, except that the status may hold
        # the record of an ended run its Job does not carry yet (a pass wrote it, then could not
        # release the Job): that record stands.
        record = records.get(run.name)
        if record is not None and not run.recorded and not run.active:
            run = replace(
                record,
                exists=True,
                deleting=run.deleting,
                suspended=run.suspended,
                pods_alive=run.pods_alive,
                settled=run.settled,
            )
        p.runs[run.name] = run
    for run in records.values():
        p.runs.setdefault(run.name, run)

    def finish(phase: Phase, reason: str, message: str, spec: api.SweepSpec | None) -> Decision:
        return _finish(sweep, p, phase, reason, message, spec, now, old_phase, conditions_before, generation)

    # An invalid spec: say which field, start nothing, keep every record. The state and the
    # run-level controls (cancel, the stop annotation, a Job's deletion) need no search space:
    # they still apply.
    spec: api.SweepSpec | None
    try:
        spec, invalid = parse_spec(sweep.get("spec") or {}), None
    except InvalidSweep as exc:
        spec, invalid = None, exc
        # Once per change of the spec: every pass of this generation finds it invalid again.
        if old_status.get("observedGeneration") != generation:
            p.actions.append(Event("Warning", INVALID_SPEC, str(exc)))

    if spec is not None and not old_status.get("startTime"):
        # The sweep starts (no pass has written its status yet; a restart does not repeat
        # this): say what each parameter samples from, so that a range the API server turned
        # into integers (0.0 is stored as 0) shows before its runs do.
        p.actions.append(Event("Normal", SEARCH_SPACE, search.describe(spec.parameters)))

    # Once per change of the spec: the template carries keys the operator owns.
    reserved = runs.reserved_keys(spec.template) if spec is not None else []
    if reserved and old_status.get("observedGeneration") != generation:
        p.actions.append(
            Event(
                "Warning",
                RESERVED_KEYS_IGNORED,
                "spec.template carries the operator's own keys (kubesweep.io/* labels and annotations, "
                "KUBESWEEP_* environment variables), left out of every run's Job: " + ", ".join(reserved),
            )
        )

    state = State(spec.state) if spec is not None else raw_state(sweep.get("spec") or {})
    p.metric = spec.metric.name if spec is not None and spec.metric else None
    if spec is not None:
        p.prior, p.warm = warm_start.learned_from(spec, warm_from or {})
    if spec is not None and spec.early_terminate is not None and spec.metric is not None:
        p.hyperband = (spec.early_terminate.model_dump(by_alias=True, exclude_none=True), spec.metric.name)
    # Runs that ended: record them once, with their metrics (a bounded number per pass, so one
    # status write never carries thousands of new records; the write brings the next pass).
    # A run whose Job ended but whose pod's end has not reached us yet waits (awaiting_pod):
    # its record would lack the metrics of its termination message and why it failed.
    ended = [
        r for r in p.runs.values() if r.exists and not r.recorded and not r.active and not r.awaiting_pod
    ]
    for run in sorted(ended, key=lambda r: r.number)[:RELEASES_PER_PASS]:
        if state == State.CANCELLED and run.state in (RunState.FAILED, RunState.CRASHED) and run.pods_deleted:
            # Its pods were deleted, not ended by themselves, in a cancelled sweep: the cancel's
            # kill, whose record did not reach its Job (the operator restarted in between).
            run = p.record(run, state=RunState.KILLED, reason="Cancelled")
        else:
            run = p.record(run)
        p.actions.append(_run_event(run))
        if run.stuck:
            # Its pod cannot start (a wrong image, a missing Secret): nothing runs in it to stop
            # gracefully.
            p.actions.extend(delete_pods(run, 0))
        if run.state == RunState.FINISHED and p.metric is not None and p.metric not in run.metrics:
            p.actions.append(
                Event(
                    "Warning",
                    METRIC_MISSING,
                    f"Run {run.name} finished without reporting {p.metric}: print "
                    f"'{p.metric}=VALUE' or write it to /dev/termination-log",
                )
            )
        if run.state == RunState.FINISHED and (lacking := objectives.missing_message(run, spec)):
            p.actions.append(Event("Warning", METRIC_MISSING, lacking))

    # Runs stopped by a person (annotation or Job deletion): they end Killed, and their pods
    # stop with their normal grace period (no signal is skipped) and stay, with their logs (a
    # deleted Job's pods are then garbage-collected by the cluster).
    for run in list(p.runs.values()):
        if run.exists and run.active and (run.stop_requested or run.deleting):
            p.record(run, state=RunState.KILLED, reason="StoppedByUser")
            p.stop(run)
            p.actions.append(Event("Normal", "RunStopped", f"Run {run.name} stopped by a person: Killed"))
        elif run.exists and run.state == RunState.KILLED and run.record_on_job and state != State.CANCELLED:
            # Killed in an earlier pass whose stop did not reach every pod (the operator
            # restarted in between, or a pod appeared since): stop them now.
            p.stop(run)

    # Cancel: every pod of the sweep killed at once, in one collection delete, and every
    # active run recorded Killed with its Job kept from creating another pod.
    if state == State.CANCELLED:
        active = [r for r in p.runs.values() if r.exists and r.active]
        lingering = [r for r in p.runs.values() if r.exists and r.pods_alive]
        for run in active:
            p.record(run, state=RunState.KILLED, reason="Cancelled")
        # Each pod by name: only the pods of the sweep's own Jobs (the shell observes no other).
        killing = {r.name: r for r in [*active, *lingering]}
        p.actions[:0] = [d for r in killing.values() for d in delete_pods(r, 0)]
        if active:
            p.actions.append(Event("Normal", "RunsKilled", f"Killed {len(active)} active run(s)"))
        return finish(Phase.CANCELLED, "Cancelled", "active runs were killed", spec)
    if spec is None:
        return finish(Phase.CRASHED, INVALID_SPEC, str(invalid), None)

    # Hyperband: runs below the threshold stop like a normal stop and are marked stopped early.
    if p.hyperband is not None and state == State.RUNNING:
        to_stop = search.hyperband_to_stop(
            p.hyperband[0],
            str(spec.metric.goal) if spec.metric else "minimize",  # type: ignore[arg-type]
            trials([r for r in p.runs.values()], spec),
        )
        by_number = {r.number: r for r in p.runs.values() if r.exists and r.active}
        for number in to_stop:
            if (run := by_number.get(number)) is None:  # type: ignore[assignment]
                continue
            last = runs.metric_steps(run.steps, spec.metric.name)[-1:] if spec.metric else ()
            metrics = dict(run.metrics)
            if last and spec.metric:
                metrics[spec.metric.name] = last[0][1]
            p.record(
                run, state=RunState.KILLED, reason="EarlyTerminated", early_stopped=True, metrics=metrics
            )
            p.stop(run)
            p.actions.append(Event("Normal", "RunStoppedEarly", f"Hyperband stopped run {run.name}"))

    all_runs = list(p.runs.values())
    # Runs awaiting their pod's end still hold their place: the sweep waits for their records.
    # So do runs killed or stopped whose pods have not terminated yet (SIGTERM and their grace
    # period): a replacement started now would run beside them, beyond parallelism.
    active = [r for r in all_runs if r.exists and (r.active or r.awaiting_pod or r.live_pods)]

    if state == State.PAUSED:
        return finish(Phase.PAUSED, "Paused", f"{len(active)} run(s) still executing", spec)
    if state == State.STOPPED:
        if active:
            return finish(Phase.STOPPING, "Stopping", f"waiting for {len(active)} run(s)", spec)
        return finish(Phase.STOPPED, "Stopped", "no run is executing", spec)

    # Running.
    failures = sum(1 for r in all_runs if r.state in (RunState.FAILED, RunState.CRASHED))
    failures += p.folded.states[RunState.FAILED] + p.folded.states[RunState.CRASHED]
    if spec.max_failed_runs is not None and failures >= spec.max_failed_runs:
        return finish(
            Phase.FAILED,
            "MaxFailedRunsReached",
            f"{failures} run(s) failed, reaching maxFailedRuns={spec.max_failed_runs}; "
            "raise maxFailedRuns to continue",
            spec,
        )
    finished = sum(1 for r in all_runs if r.state == RunState.FINISHED) + p.folded.states[RunState.FINISHED]
    if spec.max_failed_runs is None and finished == 0 and failures >= FIRST_RUNS_FAILED:
        return finish(
            Phase.FAILED,
            "FirstRunsFailed",
            f"The first {failures} runs all failed and none finished (W&B's agent stops so); "
            "kubectl sweep status shows why each failed. Fix the template, or set maxFailedRuns "
            "to allow more failures",
            spec,
        )
    rejected = next(
        (
            c
            for c in conditions_before
            if c.get("reason") == TEMPLATE_REJECTED and c.get("observedGeneration") == generation
        ),
        None,
    )
    if template_error is not None or rejected is not None:
        message = template_error or str(rejected.get("message", "") if rejected else "")
        if template_error is not None:
            message = with_sweep_field(message)
        if template_error is not None:
            p.actions.append(Event("Warning", TEMPLATE_REJECTED, message))
        return finish(Phase.CRASHED, TEMPLATE_REJECTED, message, spec)

    winner = target_reached(all_runs, spec)
    counted = sum(1 for r in all_runs if counts_toward_cap(r, spec)) + p.folded.counted_toward_run_cap
    done_reason: tuple[str, str] | None = None
    if winner is not None:
        done_reason = ("TargetReached", f"Run {winner.name} reached metric.target")
    elif spec.run_cap is not None and counted >= spec.run_cap:
        done_reason = ("RunCapReached", f"runCap={spec.run_cap} runs started")

    if done_reason is None:
        free = spec.parallelism - len(active)
        if spec.run_cap is not None:
            free = min(free, spec.run_cap - counted)
        history = [*p.prior, *trials(all_runs, spec)]
        numbers = _free_numbers(
            {r.number for r in all_runs} | p.folded.numbers,
            lambda number: runs.job_name(meta.get("name", ""), number) in taken,
        )
        for _ in range(max(free, 0)):
            next_number = next(numbers)
            parameters = search.suggest(
                str(spec.method),
                spec.parameters,
                history,
                seed=search_seed(spec, meta.get("uid")),
                run_number=next_number,
                goal=str(spec.metric.goal) if spec.metric else "minimize",  # type: ignore[arg-type]
                grid_points_used=p.folded.grid_points,
                goals=objectives.goals(spec),  # type: ignore[arg-type]
            )
            if parameters is None:
                done_reason = ("SearchExhausted", "Every point of the search space has been tried")
                break
            name = runs.job_name(meta.get("name", ""), next_number)
            try:
                job = runs.render_job(sweep, next_number, parameters)
            except runs.UnknownParameterError as exc:
                # A template that names a parameter the sweep does not have: nothing to start.
                message = f"spec.template: {exc}"
                for action in p.actions:
                    if isinstance(action, CreateRun):
                        p.runs.pop(action.name, None)
                p.actions = [a for a in p.actions if not isinstance(a, CreateRun)]
                # Once per change of the spec (its condition says so since).
                if not any(
                    c.get("reason") == INVALID_SPEC and c.get("observedGeneration") == generation
                    for c in conditions_before
                ):
                    p.actions.append(Event("Warning", INVALID_SPEC, message))
                return finish(Phase.CRASHED, INVALID_SPEC, message, spec)
            p.actions.append(CreateRun(name, next_number, parameters, job))
            run = Run(name=name, number=next_number, parameters=parameters, state=RunState.PENDING)
            p.runs[name] = run
            history.append(search.Trial(number=next_number, parameters=parameters, state="Pending"))
            active.append(run)

    creations = [a for a in p.actions if isinstance(a, CreateRun)]
    if permission_denied is not None and creations:
        # Nothing is wrong with the sweep: keep its phase, say why no run starts (a Warning
        # event only as the condition appears), and let the operator retry.
        for action in creations:
            p.runs.pop(action.name, None)
        p.actions = [a for a in p.actions if not isinstance(a, CreateRun)]
        if is_quota_refusal(permission_denied):
            reason, message = QUOTA_EXCEEDED, quota_exceeded_message(permission_denied)
        else:
            reason, message = PERMISSION_DENIED, permission_denied_message(permission_denied)
        ready_before = next((c for c in conditions_before if c.get("type") == "Ready"), {})
        if ready_before.get("reason") != reason:
            p.actions.append(Event("Warning", reason, message))
        return finish(Phase.RUNNING, reason, message, spec)

    if held := suspended_by_hand(active, spec):
        # Someone suspended a run's Job: it waits, in its place, and the sweep says so.
        message = runs_suspended_message(len(active), [r.name for r in held])
        progressing_before = next((c for c in conditions_before if c.get("type") == "Progressing"), {})
        if progressing_before.get("reason") != RUNS_SUSPENDED:
            p.actions.append(Event("Warning", RUNS_SUSPENDED, message))
        return finish(Phase.RUNNING, RUNS_SUSPENDED, message, spec)
    if done_reason is not None:
        reason, message = done_reason
        if active:
            return finish(Phase.RUNNING, "Draining", f"{message}; waiting for {len(active)} run(s)", spec)
        return finish(Phase.FINISHED, reason, message, spec)
    return finish(Phase.RUNNING, "Running", f"{len(active)} run(s) executing", spec)


def suspended_by_hand(active: Sequence[Run], spec: api.SweepSpec) -> list[Run]:
    """Active runs whose Job is suspended (spec.suspend) though no queue manages the sweep's Jobs
    (the template has no queue label): someone suspended it (kubectl patch)."""
    labels = (spec.template.get("metadata") or {}).get("labels") or {}
    if api.LABEL_QUEUE in labels:
        return []
    return [r for r in active if r.exists and r.active and r.suspended]


def runs_suspended_message(executing: int, names: Sequence[str]) -> str:
    first = names[0]
    return (
        f"{executing} run(s) executing; suspended by hand (spec.suspend on the Job, which no queue "
        f"manages): {', '.join(names)}. Each waits, holding its place in parallelism, until resumed "
        f'(kubectl patch job {first} -p \'{{"spec":{{"suspend":false}}}}\') or stopped '
        f"(kubectl sweep stop-run {first})"
    )


def _fold(
    recorded: Sequence[Run], folded: FoldedRuns, spec: api.SweepSpec | None, best: Run | None
) -> list[Run]:
    """Folds the oldest records beyond api.RUN_RECORDS_KEPT into `folded`; returns the records
    kept in full. The best runs stay in full (bestRun is chosen among records, and bayes learns
    from the best), and so does a run whose Job the operator still watches; nothing is folded
    while the spec is invalid."""
    excess = len(recorded) - api.RUN_RECORDS_KEPT
    if excess <= 0 or spec is None:
        return list(recorded)
    leaders = {r.name for r in _leaders(recorded, spec, search.BAYES_KEEP_BEST)}
    if best is not None:
        leaders.add(best.name)
    leaders |= {r.name for r in objectives.front(recorded, spec)}
    foldable = [r for r in recorded if not r.exists and r.name not in leaders]
    oldest = sorted(foldable, key=lambda r: r.number)[:excess]
    grid_points: Sequence[int | None] = (
        search.grid_positions(spec.parameters, [r.parameters for r in oldest])
        if spec.method == api.Method.GRID
        else [None] * len(oldest)
    )
    for run, grid_point in zip(oldest, grid_points, strict=True):
        folded.add(run, counts_toward_run_cap=counts_toward_cap(run, spec), grid_point=grid_point)
    to_fold = {r.name for r in oldest}
    return [r for r in recorded if r.name not in to_fold]


def _leaders(recorded: Sequence[Run], spec: api.SweepSpec, count: int) -> list[Run]:
    """The `count` best runs by the metric's goal."""
    if spec.metric is None:
        return []
    name, sign = spec.metric.name, -1.0 if spec.metric.goal == api.Goal.MAXIMIZE else 1.0
    scored = [r for r in recorded if r.metrics.get(name) is not None]
    return sorted(scored, key=lambda r: sign * r.metrics[name])[:count]


def _free_numbers(used: set[int], taken: Callable[[int], bool] = lambda _: False) -> Iterator[int]:
    """Run numbers in order, those no run has first: a Job whose creation failed leaves a gap
    that the next run fills, so numbers (and random search's per-number points) stay dense.
    A number whose Job name another object holds (`taken`) is skipped."""
    number = 1
    while True:
        if number not in used and not taken(number):
            yield number
        number += 1


def _why(run: Run) -> dict[str, Any]:
    """A status record's reason, exit code and message: why a run that did not finish ended."""
    return {} if run.state == RunState.FINISHED else runs.why(run)


def _run_event(run: Run) -> Event:
    text = ", ".join(f"{k}={v:g}" for k, v in sorted(run.metrics.items()))
    detail = f" ({text})" if text else ""
    if run.state == RunState.FINISHED:
        return Event("Normal", "RunFinished", f"Run {run.name} finished{detail}")
    if run.state == RunState.KILLED:
        return Event("Normal", "RunKilled", f"Run {run.name} killed{detail}")
    code = f" (exit code {run.exit_code})" if run.exit_code is not None else ""
    said = f": {run.message}" if run.message else ""
    return Event(
        "Warning",
        f"Run{run.state}",
        f"Run {run.name} {str(run.state).lower()}: {run.reason or 'Failed'}{code}{said}",
    )


def _finish(
    sweep: Mapping[str, Any],
    p: _Pass,
    phase: Phase,
    reason: str,
    message: str,
    spec: api.SweepSpec | None,
    now: str,
    old_phase: str | None,
    conditions_before: Sequence[Mapping[str, Any]],
    generation: int | None,
) -> Decision:
    """The status of this pass, the events of its transitions, and the Job releases."""
    old_status: Mapping[str, Any] = sweep.get("status") or {}
    all_runs = sorted(p.runs.values(), key=lambda r: r.number)

    # Ended runs: their Jobs are let go once this status holds their records and the Job
    # controller is done with them (its Job marked Complete or Failed, or a killed run without
    # pods: a write before would race the controller's status updates and delay it), and not in
    # the pass that killed it (that changed its Job). A Job being deleted is let go as soon as its
    # pods have terminated (only our finalizer holds it; until then they are watched, and hold
    # their run's place in parallelism). A Job that carries its record needs the status only from its release
    # on, so Jobs kept from before (an upgrade) are released a bounded number at a time.
    recorded = [r for r in all_runs if r.recorded]
    killed_now = {a.name for a in p.actions if isinstance(a, RecordRun)}
    releasable = [
        r
        for r in recorded
        if r.exists
        and ((r.deleting and not r.live_pods) or (r.settled and not r.pods_alive))
        and r.name not in killed_now
    ]
    only_here = [r for r in releasable if not r.record_on_job]
    carried = [r for r in releasable if r.record_on_job][: max(RELEASES_PER_PASS - len(only_here), 0)]
    releases = [*only_here, *carried]
    released = {r.name for r in releases}
    in_status = [r for r in recorded if not r.exists or not r.record_on_job or r.name in released]

    counts = {state.value.lower(): 0 for state in RunState}
    counts["queued"] = 0
    for run in all_runs:
        # A run waiting in a queue (Kueue) is not running yet, nor pending on a node.
        counts["queued" if run.queued and run.active else run.state.value.lower()] += 1
    for state, count in p.folded.states.items():
        counts[state.value.lower()] += count
    counts["total"] = len(all_runs) + len(p.folded.numbers)

    best = best_run(all_runs, spec) if spec is not None else None
    kept = _fold(in_status, p.folded, spec, best)  # after counting: folded runs are in all_runs

    settled = phase in api.SETTLED_PHASES
    problem = (
        reason in (INVALID_SPEC, TEMPLATE_REJECTED, PERMISSION_DENIED, QUOTA_EXCEEDED)
        or phase == Phase.FAILED
    )
    # Finished is Completed only with a result: a run that finished and, with a metric, reported it.
    completed, completed_reason, completed_message = phase == Phase.FINISHED, reason, message
    if (
        completed
        and not any(r.state == RunState.FINISHED for r in all_runs)
        and not p.folded.states[RunState.FINISHED]
    ):
        completed, completed_reason = False, NO_RUN_FINISHED
        completed_message = f"{message}, but no run finished: kubectl sweep status shows why they failed"
    elif completed and spec is not None and spec.metric is not None and best is None:
        completed, completed_reason = False, NO_METRIC_REPORTED
        completed_message = (
            f"{message}, but no run reported {spec.metric.name}: print '{spec.metric.name}=VALUE' "
            "or write it to /dev/termination-log"
        )
    elif completed and spec is not None and spec.metrics and not objectives.front(all_runs, spec):
        completed, completed_reason = False, NO_METRIC_REPORTED
        completed_message = f"{message}, but {objectives.none_complete_message(spec)}"
    conditions = [
        _condition(
            conditions_before, "Ready", not problem, reason if problem else "Reconciled",
            message if problem else "The sweep is valid and reconciled", generation, now,
        ),
        _condition(
            conditions_before, "Progressing", phase in (Phase.RUNNING, Phase.STOPPING), reason, message,
            generation, now,
        ),
        _condition(
            conditions_before, "Completed", completed,
            completed_reason if phase == Phase.FINISHED else str(phase),
            completed_message, generation, now,
        ),
    ]  # fmt: skip

    status: dict[str, Any] = {
        "phase": str(phase),
        "observedGeneration": generation,
        "conditions": conditions,
        "runs": counts,
        "bestRun": (
            {
                "name": best.name,
                "metric": (value := _metric_of(best, spec)),
                "metricText": metric_text(value),
                "parameters": dict(best.parameters),
            }
            if best is not None and spec is not None
            else old_status.get("bestRun")
        ),
        **objectives.status_fields(all_runs, spec, old_status),
        "warmStart": p.warm if spec is not None else old_status.get("warmStart"),
        # A sweep whose spec is invalid has not started: its first valid pass starts it.
        "startTime": old_status.get("startTime") or (now if spec is not None else None),
        "completionTime": (old_status.get("completionTime") or now) if settled else None,
        "recordedRuns": [
            {
                "name": r.name,
                "number": r.number,
                "state": str(r.state),
                "parameters": dict(r.parameters),
                # Records written before metrics were bounded are bounded as they are kept.
                "metrics": runs.bounded_metrics(r.metrics, p.metric) if spec is not None else dict(r.metrics),
                **({"bands": list(r.band_values)} if r.band_values is not None else {}),
                **_why(r),
                **({"earlyStopped": True} if r.early_stopped else {}),
            }
            for r in kept
        ],
        "foldedRuns": p.folded.to_status(),
    }
    actions = list(p.actions)
    if str(phase) != old_phase:
        kind = (
            "Warning"
            if phase in (Phase.FAILED, Phase.CRASHED) or (not completed and phase == Phase.FINISHED)
            else "Normal"
        )
        actions.append(Event(kind, str(phase), completed_message if phase == Phase.FINISHED else message))
    if any(isinstance(a, CreateRun) for a in actions):
        names = ", ".join(a.name for a in actions if isinstance(a, CreateRun))
        actions.append(Event("Normal", "RunsStarted", f"Started {names}"))
    actions.append(WriteStatus(status))
    actions.extend(
        ReleaseJob(r.name, None if r.record_on_job else runs.result_annotation(r)) for r in releases
    )
    return Decision(actions=actions, phase=phase, status=status)
