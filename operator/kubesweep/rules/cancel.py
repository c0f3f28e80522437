"""Cancel: every pod of the sweep killed at once, and every active run recorded Killed with its
Job kept from creating another pod."""

from __future__ import annotations

from kubesweep.actions import Event, delete_pods
from kubesweep.api import Phase, RunState, State
from kubesweep.rules.passes import Pass, Verdict


def cancel(p: Pass) -> Verdict | None:
    """Cancelled at once (the spec need not be valid): None when the sweep is not cancelled."""
    if p.state != State.CANCELLED:
        return None
    active = [r for r in p.runs.values() if r.watched and r.active]
    lingering = [r for r in p.runs.values() if r.watched and r.pods_alive]
    for run in active:
        p.record(run, state=RunState.KILLED, reason="Cancelled")
    # Each pod by name: only the pods of the sweep's own Jobs (the shell observes no other). The
    # kills go first, before the records.
    killing = {r.name: r for r in [*active, *lingering]}
    p.actions[:0] = [d for r in killing.values() for d in delete_pods(r, 0)]
    if active:
        p.actions.append(Event("Normal", "RunsKilled", f"Killed {len(active)} active run(s)"))
    return Verdict(Phase.CANCELLED, "Cancelled", "active runs were killed")
