"""Runs started again with the parameters of an earlier run: retries of runs the cluster took
away (spec.maxRetries) and reruns by hand (the Sweep's kubesweep.io/reruns annotation, which
`kubectl sweep rerun` writes). Which are due in a pass, and which reruns asked for cannot be done.

Both are derived from the runs, never remembered apart from them: a retry's Job names the attempt
it replaces (kubesweep.io/retry-of), a rerun's the run it reruns (kubesweep.io/rerun-of), and the
annotation asks for a count of reruns per run. A pass after a restart, or after a write that was
retried, sees the retry or the rerun already started and starts nothing twice."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubesweep import api
from kubesweep.actions import Event
from kubesweep.rules.history import to_retry
from kubesweep.rules.passes import Pass
from kubesweep.rules.reasons import RERUN_REFUSED
from kubesweep.runs import Run

# A refusal of the annotation as a whole (not a JSON object of run names to counts).
WHOLE_ANNOTATION = api.ANNOTATION_RERUNS
# Bounds on what an annotation anyone can write costs a pass: reruns of one run, and refusals
# kept in the status (the rest are counted in the last one's message).
MAX_RERUNS_OF_A_RUN = 100
MAX_REFUSALS_KEPT = 10


@dataclass(frozen=True)
class Restart:
    """A run to start again: `of` is the run whose parameters it takes; `attempt` says a retry
    (which one, from 1), 0 a rerun by hand."""

    of: Run
    attempt: int = 0

    @property
    def annotations(self) -> dict[str, str]:
        """On its Job: which run it starts again, and how."""
        if self.attempt:
            return {api.ANNOTATION_RETRY_OF: self.of.name, api.ANNOTATION_ATTEMPT: str(self.attempt)}
        return {api.ANNOTATION_RERUN_OF: self.of.name}

    def event(self, name: str, spec: api.SweepSpec) -> Event:
        """Told as `name` starts."""
        if not self.attempt:
            return Event(
                "Normal", "RunRerun", f"Run {self.of.name} runs again as {name} (kubectl sweep rerun)"
            )
        said = f": {self.of.message}" if self.of.message else ""
        return Event(
            "Normal",
            "RunRetried",
            f"Run {self.of.name} was taken away by the cluster ({self.of.reason or 'disrupted'}{said}); "
            f"retrying it as {name} (retry {self.attempt} of spec.maxRetries={spec.max_retries})",
        )


def requested(sweep: Mapping[str, Any]) -> tuple[dict[str, int], list[api.RefusedRerun]]:
    """The reruns by hand asked for (run name → how many in all), and the entries that make no
    sense as such."""
    annotations = (sweep.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(api.ANNOTATION_RERUNS)
    if raw is None:
        return {}, []
    try:
        asked = json.loads(raw)
    except ValueError:
        asked = None
    if not isinstance(asked, dict):
        message = (
            f'not a JSON object of run names to counts (e.g. {{"{_example(sweep)}": 1}}); '
            "kubectl sweep rerun RUN writes it"
        )
        return {}, [api.RefusedRerun(run=WHOLE_ANNOTATION, message=message)]
    wanted: dict[str, int] = {}
    refused: list[api.RefusedRerun] = []
    for name, count in asked.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            message = f"{str(count)[:40]!r} is not a number of reruns (0 or more)"
            refused.append(api.RefusedRerun(run=str(name)[:253], message=message))
        elif count > MAX_RERUNS_OF_A_RUN:
            message = f"{count} reruns of one run asked for; at most {MAX_RERUNS_OF_A_RUN}"
            refused.append(api.RefusedRerun(run=str(name)[:253], message=message))
        else:
            wanted[str(name)] = count
    return wanted, refused


def _example(sweep: Mapping[str, Any]) -> str:
    return f"{(sweep.get('metadata') or {}).get('name', 'sweep')}-0001"


def _reruns_made(p: Pass) -> Counter[str]:
    return Counter(r.rerun_of for r in p.runs.values() if r.rerun_of)


def tell_refused(p: Pass) -> None:
    """Reruns asked for that cannot be done go into status.refusedReruns, each told once as a
    Warning event: the run is unknown (not a run of this sweep, or its record folded with its
    parameters), or the entry is no count."""
    wanted, refused = requested(p.sweep)
    made = _reruns_made(p)
    for name, count in sorted(wanted.items()):
        if count > made[name] and name not in p.runs:
            refused.append(
                api.RefusedRerun(
                    run=name,
                    message=f"no run {name} in this sweep's records (a run of another sweep, or one "
                    f"older than the {api.RUN_RECORDS_KEPT} records kept whole, whose parameters are gone)",
                )
            )
    if len(refused) > MAX_REFUSALS_KEPT:
        more = len(refused) - MAX_REFUSALS_KEPT + 1
        refused = [
            *refused[: MAX_REFUSALS_KEPT - 1],
            api.RefusedRerun(run=WHOLE_ANNOTATION, message=f"{more} more entries refused (not shown)"),
        ]
    before = {(r.get("run"), r.get("message")) for r in p.old_status.get("refusedReruns") or []}
    for refusal in refused:
        if (refusal.run, refusal.message) not in before:
            p.actions.append(
                Event(
                    "Warning",
                    RERUN_REFUSED,
                    f"Annotation {api.ANNOTATION_RERUNS}: rerun of {refusal.run} refused: {refusal.message}",
                )
            )
    p.refused_reruns = refused or None


def due(p: Pass, spec: api.SweepSpec, *, retries: bool, limit: int) -> list[Restart]:
    """What to start again now, at most `limit`, oldest first: retries (if `retries`: not once the
    target is reached), then reruns by hand of runs that have ended (a rerun of a run still
    executing waits for its end)."""
    if limit <= 0:
        return []
    restarts: list[Restart] = []
    if retries:
        # Once recorded: its record says it was taken away, and holds its place until retried.
        ended = (r for r in p.runs.values() if r.recorded and to_retry(r, spec))
        restarts.extend(Restart(run, run.attempt + 1) for run in sorted(ended, key=lambda r: r.number))
    wanted, _ = requested(p.sweep)
    made = _reruns_made(p)
    for name, count in sorted(wanted.items()):
        run = p.runs.get(name)
        if run is None or run.active or run.awaiting_pod:
            continue
        restarts.extend(Restart(run) for _ in range(min(count - made[name], limit)))
        if len(restarts) >= limit:
            break
    return restarts[:limit]
