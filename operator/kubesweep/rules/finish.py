"""The end of every pass: which ended runs' Jobs to release, the status that holds their records
(written once, as a whole), and the events of the pass's transitions."""

from __future__ import annotations

from collections.abc import Sequence

from kubesweep import api, objectives, runs, search
from kubesweep.actions import CreateRun, Decision, Event, RecordRun, ReleaseJob, WriteStatus
from kubesweep.api import Phase
from kubesweep.folding import Fold
from kubesweep.rules import status
from kubesweep.rules.history import best_run, counts_toward_cap, leaders, to_retry
from kubesweep.rules.passes import Pass, Verdict
from kubesweep.rules.reasons import RELEASES_PER_PASS
from kubesweep.runs import Run


def finish(p: Pass, verdict: Verdict) -> Decision:
    """The status of this pass, the events of its transitions, and the Job releases."""
    all_runs = sorted(p.runs.values(), key=lambda r: r.number)
    releases = _releases(p, all_runs)
    released = {r.name for r in releases}
    in_status = [
        r for r in all_runs if r.recorded and (not r.watched or not r.record_on_job or r.name in released)
    ]
    verdict = _wait_for_records(p, verdict, all_runs, in_status)

    counts = status.run_counts(all_runs, p.folded)
    best = best_run(all_runs, p.spec) if p.spec is not None else None
    kept = fold(in_status, p.folded, p.spec, best)  # after counting: folded runs are in all_runs
    completed = status.completion(verdict, all_runs, p.folded, p.spec, best)
    body = status.sweep_status(p, verdict, counts, completed, best, kept, all_runs).model_dump(by_alias=True)

    actions = list(p.actions)
    phase = verdict.phase
    if str(phase) != p.old_status.get("phase"):
        done, _, done_message = completed
        kind = (
            "Warning"
            if phase in (Phase.FAILED, Phase.CRASHED) or (not done and phase == Phase.FINISHED)
            else "Normal"
        )
        actions.append(Event(kind, str(phase), done_message if phase == Phase.FINISHED else verdict.message))
    if any(isinstance(a, CreateRun) for a in actions):
        names = ", ".join(a.name for a in actions if isinstance(a, CreateRun))
        actions.append(Event("Normal", "RunsStarted", f"Started {names}"))
    actions.append(WriteStatus(body))
    actions.extend(
        ReleaseJob(r.name, None if r.record_on_job else runs.result_annotation(r)) for r in releases
    )
    return Decision(actions=actions, phase=phase, status=body)


def _releases(p: Pass, all_runs: Sequence[Run]) -> list[Run]:
    """Ended runs whose Jobs are let go once this status holds their records and the Job
    controller is done with them (its Job marked Complete or Failed, or a killed run without
    pods: a write before would race the controller's status updates and delay it), and not in
    the pass that killed them (that changed their Job). A Job being deleted is let go as soon as
    its pods have terminated (only our finalizer holds it; until then they are watched, and hold
    their run's place in parallelism). A Job that carries its record needs the status only from
    its release on, so Jobs kept from before (an upgrade) are released a bounded number at a
    time."""
    killed_now = {a.name for a in p.actions if isinstance(a, RecordRun)}
    releasable = [
        r
        for r in all_runs
        if r.recorded
        and r.watched
        and ((r.deleting and not r.live_pods) or (r.settled and not r.pods_alive))
        and r.name not in killed_now
    ]
    only_here = [r for r in releasable if not r.record_on_job]
    carried = [r for r in releasable if r.record_on_job][: max(RELEASES_PER_PASS - len(only_here), 0)]
    return [*only_here, *carried]


def _wait_for_records(
    p: Pass, verdict: Verdict, all_runs: Sequence[Run], in_status: Sequence[Run]
) -> Verdict:
    """A sweep becomes Finished or Stopped once the status holds every run it counts: while an
    ended run's record is not in it yet (only on its Job, which the Job controller has not marked
    ended, or not made yet), the sweep drains. One that is so already stays so (Jobs kept from
    before an upgrade carry their records and are released a bounded number a pass)."""
    if str(verdict.phase) == p.old_status.get("phase"):
        return verdict
    shown = {r.name for r in in_status}
    unrecorded = sum(1 for r in all_runs if r.watched and not r.active and r.name not in shown)
    if unrecorded and verdict.phase == Phase.FINISHED:
        return Verdict(Phase.RUNNING, "Draining", f"{verdict.message}; waiting for {unrecorded} run(s)")
    if unrecorded and verdict.phase == Phase.STOPPED:
        return Verdict(Phase.STOPPING, "Stopping", f"waiting for {unrecorded} run(s)")
    return verdict


def fold(recorded: Sequence[Run], folded: Fold, spec: api.SweepSpec | None, best: Run | None) -> list[Run]:
    """Folds the oldest records beyond api.RUN_RECORDS_KEPT into `folded`; returns the records
    kept in full. The best runs stay in full (bestRun is chosen among records, and bayes learns
    from the best), and so does a run whose Job the operator still watches; nothing is folded
    while the spec is invalid."""
    excess = len(recorded) - api.RUN_RECORDS_KEPT
    if excess <= 0 or spec is None:
        return list(recorded)
    best_names = {r.name for r in leaders(recorded, spec, search.BAYES_KEEP_BEST)}
    if best is not None:
        best_names.add(best.name)
    best_names |= {r.name for r in objectives.front(recorded, spec)}
    # A run still to be retried keeps its record until its retry is started, and a rerun by hand
    # keeps its own: kubesweep.io/reruns asks for a count of them, which must never shrink.
    foldable = [
        r
        for r in recorded
        if not r.watched and r.name not in best_names and not r.rerun_of and not to_retry(r, spec)
    ]
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
