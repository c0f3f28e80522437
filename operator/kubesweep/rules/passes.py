"""The pass: what one decision over one sweep starts from (the sweep, its spec, its runs as
observed and as its status remembers them) and what its rules have decided so far."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kubesweep import api, runs, search, warm_start
from kubesweep.actions import Action, RecordRun, StopPods, delete_pods
from kubesweep.api import Phase, RunState, State
from kubesweep.folding import Fold
from kubesweep.rules.history import recorded_runs
from kubesweep.rules.spec import InvalidSweep, parse_spec, raw_state
from kubesweep.runs import Run, Stage


@dataclass(frozen=True)
class Verdict:
    """The phase a rule settled the pass on, and why (the conditions' reason and message)."""

    phase: Phase
    reason: str
    message: str


@dataclass
class Pass:
    """One pass over one sweep: its inputs, and what its rules have decided so far."""

    sweep: Mapping[str, Any]
    now: str
    spec: api.SweepSpec | None  # None: the spec is invalid (`invalid` says why)
    invalid: InvalidSweep | None
    state: State
    taken: Collection[str] = ()  # Job names other objects hold: no run is given one
    actions: list[Action] = field(default_factory=list)
    runs: dict[str, Run] = field(default_factory=dict)
    folded: Fold = field(default_factory=Fold)
    hyperband: tuple[Mapping[str, Any], str] | None = None  # earlyTerminate and the metric's name
    metric: str | None = None  # the sweep's metric
    kept: tuple[str, ...] = ()  # what a record keeps first: the metric, or each objective
    prior: list[search.Trial] = field(default_factory=list)  # warm start: other sweeps' runs
    warm: dict[str, Any] | None = None  # status.warmStart
    refused_reruns: list[api.RefusedRerun] | None = None  # status.refusedReruns

    @classmethod
    def begin(
        cls,
        sweep: Mapping[str, Any],
        observed: Sequence[Run],
        now: str,
        taken: Collection[str],
        warm_from: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Pass:
        old_status: Mapping[str, Any] = sweep.get("status") or {}
        spec: api.SweepSpec | None
        try:
            spec, invalid = parse_spec(sweep.get("spec") or {}), None
        except InvalidSweep as exc:
            spec, invalid = None, exc
        p = cls(
            sweep=sweep,
            now=now,
            spec=spec,
            invalid=invalid,
            state=State(spec.state) if spec is not None else raw_state(sweep.get("spec") or {}),
            taken=taken,
            folded=Fold.from_status(old_status),
        )
        records = {r.name: r for r in recorded_runs(old_status)}
        for run in observed:
            # A Job that still exists is the truth about its run, except that the status may hold
            # the record of an ended run its Job does not carry yet (a pass wrote it, then could
            # not release the Job): that record stands.
            record = records.get(run.name)
            if record is not None and not run.recorded and not run.active:
                run = replace(
                    record,
                    stage=Stage.IN_STATUS,
                    deleting=run.deleting,
                    suspended=run.suspended,
                    pods_alive=run.pods_alive,
                    settled=run.settled,
                )
            p.runs[run.name] = run
        for run in records.values():
            p.runs.setdefault(run.name, run)
        for run in list(p.runs.values()):
            # A retry's Job names the attempt it replaces: that attempt is retried, even if a
            # restart came between the retry's creation and the status saying so.
            previous = p.runs.get(run.retry_of)
            if previous is not None and previous.retried_by != run.name:
                p.runs[previous.name] = replace(previous, retried_by=run.name)
        p.metric = spec.metric.name if spec is not None and spec.metric else None
        objectives = spec.metrics if spec is not None and spec.metrics else []
        p.kept = (p.metric,) if p.metric else tuple(m.name for m in objectives)
        if spec is not None:
            p.prior, p.warm = warm_start.learned_from(spec, warm_from or {})
        if spec is not None and spec.early_terminate is not None and spec.metric is not None:
            p.hyperband = (
                spec.early_terminate.model_dump(by_alias=True, exclude_none=True),
                spec.metric.name,
            )
        return p

    @property
    def meta(self) -> Mapping[str, Any]:
        meta: Mapping[str, Any] = self.sweep.get("metadata", {})
        return meta

    @property
    def generation(self) -> int | None:
        generation: int | None = self.meta.get("generation")
        return generation

    @property
    def old_status(self) -> Mapping[str, Any]:
        status: Mapping[str, Any] = self.sweep.get("status") or {}
        return status

    @property
    def conditions_before(self) -> Sequence[Mapping[str, Any]]:
        conditions: Sequence[Mapping[str, Any]] = self.old_status.get("conditions") or []
        return conditions

    def condition_before(self, kind: str) -> Mapping[str, Any]:
        return next((c for c in self.conditions_before if c.get("type") == kind), {})

    def spec_changed(self) -> bool:
        """Whether this generation of the spec is new to the status (its first pass)."""
        return bool(self.old_status.get("observedGeneration") != self.generation)

    def executing(self) -> list[Run]:
        """The runs that hold a place in parallelism: active ones, runs awaiting their pod's end
        (the sweep waits for their records), and runs killed or stopped whose pods have not
        terminated yet (SIGTERM and their grace period): a replacement started now would run
        beside them, beyond parallelism."""
        return [r for r in self.runs.values() if r.watched and (r.active or r.awaiting_pod or r.live_pods)]

    def record(self, run: Run, **changes: Any) -> Run:
        """An ended run's record goes into the status (its Job gets it when released); a killed
        run's goes on its Job at once, with the spec that keeps the Job from creating pods."""
        updated = replace(run, stage=Stage.IN_STATUS, **changes)
        updated = replace(updated, metrics=runs.bounded_metrics(updated.metrics, self.kept))
        if self.hyperband is not None and updated.band_values is None:
            # An ended run keeps its values at hyperband's bands: later thresholds count it.
            config, metric = self.hyperband
            steps = runs.metric_steps(updated.steps, metric)
            updated = replace(updated, band_values=tuple(search.hyperband_band_values(config, steps)))
        if updated.state == RunState.KILLED or updated.stuck:
            # Its pods are stopped: the record goes on the Job first, which keeps it from
            # creating more pods.
            updated = replace(updated, stage=Stage.ON_JOB)
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
