"""Starting runs: as many as parallelism and runCap leave room for, at the points the search
suggests, until the target is reached, runCap is, or the search space is exhausted; and the
phase of a running sweep."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from kubesweep import api, runs, search
from kubesweep.actions import CreateRun, Event
from kubesweep.api import Phase, RunState
from kubesweep.rules import restarts
from kubesweep.rules.history import counts_toward_cap, search_seed, target_reached, trials
from kubesweep.rules.passes import Pass, Verdict
from kubesweep.rules.reasons import (
    INVALID_SPEC,
    PERMISSION_DENIED,
    QUOTA_EXCEEDED,
    RUNS_SUSPENDED,
    is_quota_refusal,
    permission_denied_message,
    quota_exceeded_message,
)
from kubesweep.runs import Run


def start_runs(p: Pass, spec: api.SweepSpec, permission_denied: str | None) -> Verdict:
    """`permission_denied` is the API server's message when it refused to create a run's Job for
    lack of permission (in this pass, or in an earlier one whose retry is not due yet): no run
    starts, and the sweep keeps running, saying why."""
    meta = p.meta
    all_runs = list(p.runs.values())
    active = p.executing()
    winner = target_reached(all_runs, spec)
    counted = sum(1 for r in all_runs if counts_toward_cap(r, spec)) + p.folded.counted_toward_run_cap
    done_reason: tuple[str, str] | None = None
    if winner is not None:
        done_reason = ("TargetReached", f"Run {winner.name} reached metric.target")
    elif spec.run_cap is not None and counted >= spec.run_cap:
        done_reason = ("RunCapReached", f"runCap={spec.run_cap} runs started")

    numbers = free_numbers(
        {r.number for r in all_runs} | p.folded.numbers,
        lambda number: runs.job_name(meta.get("name", ""), number) in p.taken,
    )
    history = [*p.prior, *trials(all_runs, spec)]
    told: list[Event] = []  # a restart's event, once its creation stands
    # Runs started again first, in the places parallelism leaves (runCap does not count them):
    # retries, unless the target is reached, and reruns by hand.
    for restart in restarts.due(p, spec, retries=winner is None, limit=spec.parallelism - len(active)):
        try:
            run = _start_run(p, next(numbers), restart.of.parameters, history, active, restart.annotations)
        except runs.UnknownParameterError as exc:
            return _template_names_unknown(p, exc)
        told.append(restart.event(run.name, spec))

    if done_reason is None:
        free = spec.parallelism - len(active)
        if spec.run_cap is not None:
            free = min(free, spec.run_cap - counted)
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
            )
            if parameters is None:
                done_reason = ("SearchExhausted", "Every point of the search space has been tried")
                break
            try:
                _start_run(p, next_number, parameters, history, active)
            except runs.UnknownParameterError as exc:
                return _template_names_unknown(p, exc)

    if permission_denied is not None and any(isinstance(a, CreateRun) for a in p.actions):
        # Nothing is wrong with the sweep: keep its phase, say why no run starts (a Warning
        # event only as the condition appears), and let the operator retry.
        _withdraw_creations(p)
        if is_quota_refusal(permission_denied):
            reason, message = QUOTA_EXCEEDED, quota_exceeded_message(permission_denied)
        else:
            reason, message = PERMISSION_DENIED, permission_denied_message(permission_denied)
        if p.condition_before("Ready").get("reason") != reason:
            p.actions.append(Event("Warning", reason, message))
        return Verdict(Phase.RUNNING, reason, message)

    p.actions.extend(told)
    if held := suspended_by_hand(active, spec):
        # Someone suspended a run's Job: it waits, in its place, and the sweep says so.
        message = runs_suspended_message(len(active), [r.name for r in held])
        if p.condition_before("Progressing").get("reason") != RUNS_SUSPENDED:
            p.actions.append(Event("Warning", RUNS_SUSPENDED, message))
        return Verdict(Phase.RUNNING, RUNS_SUSPENDED, message)
    if done_reason is not None:
        reason, message = done_reason
        if active:
            return Verdict(Phase.RUNNING, "Draining", f"{message}; waiting for {len(active)} run(s)")
        return Verdict(Phase.FINISHED, reason, message)
    return Verdict(Phase.RUNNING, "Running", f"{len(active)} run(s) executing")


def _start_run(
    p: Pass,
    number: int,
    parameters: Mapping[str, Any],
    history: list[search.Trial],
    active: list[Run],
    started_again: Mapping[str, str] | None = None,
) -> Run:
    """Run `number` starts with these parameters (a retry's or a rerun's: `started_again`, its
    Job's annotations): its Job is to be created, and the rest of the pass counts it executing
    and in the search's history. UnknownParameterError: the template names a parameter the sweep
    does not have."""
    name = runs.job_name(p.meta.get("name", ""), number)
    job = runs.render_job(p.sweep, number, parameters, started_again=started_again)
    p.actions.append(CreateRun(name, number, parameters, job))
    run = Run(
        name=name,
        number=number,
        parameters=parameters,
        state=RunState.PENDING,
        **runs.started_again(started_again or {}),
    )
    p.runs[name] = run
    history.append(search.Trial(number=number, parameters=parameters, state="Pending"))
    active.append(run)
    return run


def _template_names_unknown(p: Pass, exc: runs.UnknownParameterError) -> Verdict:
    """A template that names a parameter the sweep does not have: nothing to start."""
    message = f"spec.template: {exc}"
    _withdraw_creations(p)
    # Once per change of the spec (its condition says so since).
    if not any(
        c.get("reason") == INVALID_SPEC and c.get("observedGeneration") == p.generation
        for c in p.conditions_before
    ):
        p.actions.append(Event("Warning", INVALID_SPEC, message))
    return Verdict(Phase.CRASHED, INVALID_SPEC, message)


def _withdraw_creations(p: Pass) -> None:
    """No run starts in this pass after all: its creations and their runs are taken back."""
    for action in p.actions:
        if isinstance(action, CreateRun):
            p.runs.pop(action.name, None)
    p.actions = [a for a in p.actions if not isinstance(a, CreateRun)]


def suspended_by_hand(active: Sequence[Run], spec: api.SweepSpec) -> list[Run]:
    """Active runs whose Job is suspended (spec.suspend) though no queue manages the sweep's Jobs
    (the template has no queue label): someone suspended it (kubectl patch)."""
    labels = (spec.template.get("metadata") or {}).get("labels") or {}
    if api.LABEL_QUEUE in labels:
        return []
    return [r for r in active if r.watched and r.active and r.suspended]


def runs_suspended_message(executing: int, names: Sequence[str]) -> str:
    first = names[0]
    return (
        f"{executing} run(s) executing; suspended by hand (spec.suspend on the Job, which no queue "
        f"manages): {', '.join(names)}. Each waits, holding its place in parallelism, until resumed "
        f'(kubectl patch job {first} -p \'{{"spec":{{"suspend":false}}}}\') or stopped '
        f"(kubectl sweep stop-run {first})"
    )


def free_numbers(used: set[int], taken: Callable[[int], bool] = lambda _: False) -> Iterator[int]:
    """Run numbers in order, those no run has first: a Job whose creation failed leaves a gap
    that the next run fills, so numbers (and random search's per-number points) stay dense.
    A number whose Job name another object holds (`taken`) is skipped."""
    number = 1
    while True:
        if number not in used and not taken(number):
            yield number
        number += 1
