"""`kubectl sweep rerun RUN`: run an ended run again, as a new run with its parameters; and how
`kubectl sweep status` shows runs started again (retries and reruns).

The request is a count on the Sweep (annotation kubesweep.io/reruns: run name → how many reruns
by hand it should have had in all), which the operator honours once the run has ended. The
decisions (which sweep, whether the run can run again, the count to ask for, what to say) are
pure functions of what was read; `rerun` reads, decides and writes, again on a 409.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubesweep import api
from kubesweep.plugin_cluster import Cluster, Conflict, PluginError

# A write that lost a race with another (the operator writes the status often) reads again;
# this many times in a row means something keeps changing the Sweep.
ATTEMPTS = 5


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _meta(obj).get("annotations") or {}


def sweep_of_job(job: Mapping[str, Any]) -> str | None:
    """The sweep a run's Job belongs to: its owner, else its label (unless the label is a long
    name shortened with a hash, which no sweep is named)."""
    for owner in _meta(job).get("ownerReferences") or []:
        if owner.get("kind") == api.KIND and str(owner.get("apiVersion", "")).startswith(f"{api.GROUP}/"):
            return str(owner["name"])
    label = (_meta(job).get("labels") or {}).get(api.LABEL_SWEEP)
    return str(label) if label and "_" not in label else None


def run_number(sweep_name: str, run: str, job: Mapping[str, Any] | None) -> int | None:
    """The run's number: on its Job, else the name's last part if the sweep's run of that number
    has this name (a long sweep name is shortened with a hash: the name alone can mislead)."""
    from kubesweep import runs

    text = _annotations(job).get(api.ANNOTATION_RUN_NUMBER) if job else None
    if text and str(text).isdigit():
        return int(text)
    match = re.search(r"-(\d+)$", run)
    if match and runs.job_name(sweep_name, int(match.group(1))) == run:
        return int(match.group(1))
    return None


def sweeps_holding(run: str, sweeps: Sequence[Mapping[str, Any]]) -> list[str]:
    """The sweeps (of one namespace) whose records, or whose run names, include the run."""
    found = []
    for sweep in sweeps:
        name = str(_meta(sweep).get("name"))
        records = (sweep.get("status") or {}).get("recordedRuns") or []
        if any(r.get("name") == run for r in records) or run_number(name, run, None) is not None:
            found.append(name)
    return found


def _folded(sweep: Mapping[str, Any], number: int | None) -> bool:
    from kubesweep import folding

    text = ((sweep.get("status") or {}).get("foldedRuns") or {}).get("numbers") or ""
    try:
        return number is not None and number in folding.parse_ranges(str(text))
    except ValueError:
        return False


def asked(sweep: Mapping[str, Any]) -> dict[str, Any]:
    """The reruns asked for so far (the annotation), or PluginError saying how to fix it."""
    text = _annotations(sweep).get(api.ANNOTATION_RERUNS)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        name = _meta(sweep).get("name")
        raise PluginError(
            f"sweep {name}'s annotation {api.ANNOTATION_RERUNS} is not a JSON object of run names and "
            f"counts ({text!r}); remove it (`kubectl annotate sweep {name} {api.ANNOTATION_RERUNS}-`) and "
            "ask again"
        )
    return value


def existing_reruns(run: str, sweep: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]]) -> set[str]:
    """The reruns by hand of the run there are: their records, and the Jobs of those not
    recorded yet."""
    records = (sweep.get("status") or {}).get("recordedRuns") or []
    names = {str(r["name"]) for r in records if r.get("rerunOf") == run}
    names.update(str(_meta(j)["name"]) for j in jobs if _annotations(j).get(api.ANNOTATION_RERUN_OF) == run)
    return names


@dataclass(frozen=True)
class Request:
    """What to write: the annotation's new text and what it asks for."""

    annotation: str
    wanted: int  # reruns by hand of the run, in all
    existing: int  # of which there are so far


def request(
    run: str, sweep: Mapping[str, Any], job: Mapping[str, Any] | None, jobs: Sequence[Mapping[str, Any]]
) -> Request:
    """The rerun to ask for, or PluginError saying why the run cannot run again."""
    from kubesweep.rules import restarts

    name = str(_meta(sweep).get("name"))
    records = {r.get("name"): r for r in (sweep.get("status") or {}).get("recordedRuns") or []}
    if run not in records:
        result = _annotations(job).get(api.ANNOTATION_RESULT) if job else None
        if _folded(sweep, run_number(name, run, job)):
            raise PluginError(
                f"run {run}'s record is folded into sweep {name}'s status.foldedRuns (the sweep keeps "
                "its newest 500 records in full): its parameters are no longer kept, so it cannot run "
                "again; to try them again, put them in a new sweep"
            )
        if job is not None and not result:
            raise PluginError(
                f"run {run} has not ended yet: a rerun starts only once it has; wait for it "
                f"(`kubectl sweep status {name}`), or stop it (`kubectl sweep stop-run {run}`) and ask again"
            )
        if job is None:
            raise PluginError(f"sweep {name} has no run {run}; `kubectl sweep status {name}` lists its runs")
    counts = asked(sweep)
    current = counts.get(run)
    current = current if isinstance(current, int) and not isinstance(current, bool) and current > 0 else 0
    existing = len(existing_reruns(run, sweep, jobs))
    wanted = max(current, existing) + 1
    if wanted > restarts.MAX_RERUNS_OF_A_RUN:
        raise PluginError(
            f"run {run} has had {wanted - 1} reruns asked for; the operator does at most "
            f"{restarts.MAX_RERUNS_OF_A_RUN} of one run"
        )
    return Request(json.dumps({**counts, run: wanted}, separators=(",", ":")), wanted, existing)


def what_next(run: str, sweep: Mapping[str, Any], asked_for: Request) -> str:
    name = _meta(sweep).get("name")
    text = f"{run} runs again as a new run with the same parameters; `kubectl sweep status {name}` shows it"
    if asked_for.wanted > 1:
        text += f" ({asked_for.wanted} reruns of it asked for in all, {asked_for.existing} started so far)"
    state = (sweep.get("spec") or {}).get("state", "running")
    phase = (sweep.get("status") or {}).get("phase")
    if state != "running":
        text += f"\nit waits while the sweep is {state}: `kubectl sweep resume {name}` lets it start"
    elif phase == "Failed":
        text += (
            "\nit waits while the sweep is Failed (its failure budget spent): raise, or set, "
            "spec.maxFailedRuns to let it start"
        )
    elif phase == "Crashed":
        text += (
            f"\nit waits while the sweep is Crashed: fix what its Ready condition names "
            f"(`kubectl sweep status {name}`) to let it start"
        )
    return text


def find_sweep(cluster: Cluster, run: str, job: Mapping[str, Any] | None, given: str | None) -> str:
    """The run's sweep: --sweep, its Job's, or the one in the namespace that holds it."""
    owner = sweep_of_job(job) if job else None
    if given and owner and given != owner:
        raise PluginError(f"run {run} is a run of sweep {owner}, not of {given}")
    if given or owner:
        return str(given or owner)
    holding = sweeps_holding(run, cluster.sweeps(all_namespaces=False))
    if len(holding) == 1:
        return holding[0]
    if holding:
        raise PluginError(f"run {run} could be a run of sweeps {', '.join(holding)}; say which with --sweep")
    raise PluginError(
        f'no run {run} in namespace "{cluster.namespace}": no Job and no sweep records it; '
        "`kubectl sweep list` lists the sweeps, `kubectl sweep status NAME` their runs"
    )


def rerun(cluster: Cluster, run: str, given: str | None) -> str:
    job = cluster.find_job(run)
    name = find_sweep(cluster, run, job, given)
    for _ in range(ATTEMPTS):
        sweep = cluster.sweep(name)
        asked_for = request(run, sweep, job, cluster.jobs(name))
        # The resourceVersion makes the write fail (409) if the Sweep changed since it was read,
        # so two requests at once never ask for one rerun between them.
        patch = {
            "metadata": {
                "resourceVersion": _meta(sweep).get("resourceVersion"),
                "annotations": {api.ANNOTATION_RERUNS: asked_for.annotation},
            }
        }
        try:
            cluster.patch_sweep(name, patch)
        except Conflict:
            job = cluster.find_job(run)
            continue
        return what_next(run, sweep, asked_for)
    raise PluginError(f"sweep {name} kept changing while the rerun was asked for; ask again")


def again_text(record: Mapping[str, Any], annotations: Mapping[str, Any]) -> str:
    """A run started again or to be (from its record, else its Job's annotations), as the
    report says it: `retry 1 of s-0003`, `rerun of s-0003`, `disrupted, retried by s-0006`."""
    from kubesweep.report import data

    return data.again_text(data.again_of(record, annotations))


def refused_lines(status: Mapping[str, Any]) -> list[str]:
    """status.refusedReruns: reruns asked for that cannot be done, and why."""
    refused = status.get("refusedReruns") or []
    return [f"  Rerun refused: {r.get('run')}: {r.get('message')}" for r in refused if isinstance(r, dict)]
