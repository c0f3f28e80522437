"""What a spec means, told as events: an invalid spec (once per change of it), the search space
as the sweep starts, and the template's keys the operator owns (once per change)."""

from __future__ import annotations

from kubesweep import runs, search
from kubesweep.actions import Event
from kubesweep.rules.passes import Pass
from kubesweep.rules.reasons import INVALID_SPEC, RESERVED_KEYS_IGNORED, SEARCH_SPACE


def tell_spec(p: Pass) -> None:
    spec = p.spec
    if p.invalid is not None and p.spec_changed():
        # Once per change of the spec: every pass of this generation finds it invalid again.
        p.actions.append(Event("Warning", INVALID_SPEC, str(p.invalid)))

    if spec is not None and not p.old_status.get("startTime"):
        # The sweep starts (no pass has written its status yet; a restart does not repeat
        # this): say what each parameter samples from, so that a range the API server turned
        # into integers (0.0 is stored as 0) shows before its runs do.
        p.actions.append(Event("Normal", SEARCH_SPACE, search.describe(spec.parameters)))

    # Once per change of the spec: the template carries keys the operator owns.
    reserved = runs.reserved_keys(spec.template) if spec is not None else []
    if reserved and p.spec_changed():
        p.actions.append(
            Event(
                "Warning",
                RESERVED_KEYS_IGNORED,
                "spec.template carries the operator's own keys (kubesweep.io/* labels and annotations, "
                "KUBESWEEP_* environment variables), left out of every run's Job: " + ", ".join(reserved),
            )
        )
