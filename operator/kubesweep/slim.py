"""What the operator keeps in memory of each Sweep, Job and pod it watches: only the fields the
reconcile reads, with the strings every object repeats interned once. The operator holds every
run of every sweep in kopf's indexes, so each byte here is multiplied by the number of runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from kubesweep.runs import CANNOT_START, DISRUPTION_POLICY, JOB_FAILED_BY_POLICY, is_disruption_policy

OURS = "kubesweep.io/"
_SWEEP_META = ("name", "namespace", "uid", "resourceVersion", "generation", "deletionTimestamp", "finalizers")
_JOB_META = ("name", "uid", "resourceVersion", "deletionTimestamp", "finalizers")
_POD_META = ("name", "creationTimestamp", "deletionTimestamp")


def _intern(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) else value


def _ours(mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    return {sys.intern(k): v for k, v in (mapping or {}).items() if k.startswith(OURS)}


def _meta(meta: Mapping[str, Any], keep: tuple[str, ...], *, annotations: bool) -> dict[str, Any]:
    out = {k: meta[k] for k in keep if meta.get(k) is not None}
    if annotations:
        out["annotations"] = _ours(meta.get("annotations"))
    out["labels"] = {k: _intern(v) for k, v in _ours(meta.get("labels")).items()}
    return out


class PackedRecords(Sequence[Any]):
    """A sweep's status.recordedRuns kept as its JSON text, decoded when read: parsed, a record
    costs about 700 bytes of dicts, as text about 100, and the operator holds every sweep's."""

    __slots__ = ("text",)

    def __init__(self, records: Iterable[Any]) -> None:
        self.text = json.dumps(list(records), separators=(",", ":"))

    def _items(self) -> list[Any]:
        items: list[Any] = json.loads(self.text)
        return items

    def __getitem__(self, index: Any) -> Any:
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items())

    def __bool__(self) -> bool:
        return self.text != "[]"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedRecords):
            return self.text == other.text
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self._items() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def sweep(body: Mapping[str, Any]) -> dict[str, Any]:
    meta = _meta(body.get("metadata", {}), _SWEEP_META, annotations=True)
    meta["creationTimestamp"] = body.get("metadata", {}).get("creationTimestamp")
    status = dict(body.get("status") or {})
    if isinstance(status.get("recordedRuns"), list):
        status["recordedRuns"] = PackedRecords(status["recordedRuns"])
    return {"metadata": meta, "spec": dict(body.get("spec") or {}), "status": status}


def job(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Job: its identity and our annotations; its conditions only until its outcome is saved
    on it (a recorded run is read from its kubesweep.io/result annotation alone)."""
    meta = _meta(body.get("metadata", {}), _JOB_META, annotations=True)
    out: dict[str, Any] = {"metadata": meta, "spec": {}, "status": {}}
    spec = body.get("spec") or {}
    if spec.get("suspend"):
        out["spec"]["suspend"] = True
    # What tells from the pods whether the run ended (runs.pod_outcome), where not the default.
    if spec.get("backoffLimit"):
        out["spec"]["backoffLimit"] = spec["backoffLimit"]
    if (spec.get("completions") or 1) != 1:
        out["spec"]["completions"] = spec["completions"]
    for key in ("podFailurePolicy", "backoffLimitPerIndex"):
        if spec.get(key) is not None:
            out["spec"][key] = True
    if is_disruption_policy(spec.get("podFailurePolicy")):
        out["spec"]["podFailurePolicy"] = DISRUPTION_POLICY  # kubesweep's own: one shared copy
    # A recorded run's Job keeps only whether it ended: a killed run's Job is let go once it did.
    recorded = bool(meta["annotations"].get(f"{OURS}result"))
    out["status"]["conditions"] = [
        {
            "type": _intern(c.get("type")),
            "status": "True",
            "reason": _intern(c.get("reason")),
            # Which pod condition failed it, where kubesweep's podFailurePolicy did (runs.observe).
            **({"message": c.get("message")} if c.get("reason") == JOB_FAILED_BY_POLICY else {}),
            # When the Job ended: how long its run waits for its pod's end (runs.observe), which
            # a recorded run does not.
            **(
                {"lastTransitionTime": c["lastTransitionTime"]}
                if not recorded and c.get("type") in ("Complete", "Failed") and c.get("lastTransitionTime")
                else {}
            ),
        }
        for c in (body.get("status") or {}).get("conditions") or []
        if c.get("status") == "True" and (not recorded or c.get("type") in ("Complete", "Failed"))
    ]
    if (body.get("status") or {}).get("failed"):
        out["status"]["failed"] = body["status"]["failed"]  # a stop's backoffLimit (runs.stop_job_patch)
    return out


def _state(state: Mapping[str, Any]) -> dict[str, Any]:
    if "terminated" in state:
        ended = state["terminated"] or {}
        return {
            "terminated": {
                "exitCode": ended.get("exitCode"),
                "reason": _intern(ended.get("reason")),
                "message": ended.get("message"),
            }
        }
    if "running" in state:
        return {"running": {}}
    if "waiting" in state:
        waiting = state["waiting"] or {}
        reason = _intern(waiting.get("reason"))
        # The message only of a container that cannot start: it says why (the image, the Secret).
        if waiting.get("message") and reason in CANNOT_START:
            return {"waiting": {"reason": reason, "message": waiting["message"]}}
        return {"waiting": {"reason": reason}}
    return {}


def pod(body: Mapping[str, Any]) -> dict[str, Any]:
    status = body.get("status") or {}
    containers = (body.get("spec") or {}).get("containers") or [{}]
    deadline = (body.get("spec") or {}).get("activeDeadlineSeconds")
    out = {
        "metadata": _meta(body.get("metadata", {}), _POD_META, annotations=False),
        "container": containers[0].get("name"),
        # Whether a stop reached it (runs.STOP_DEADLINE).
        "spec": {"activeDeadlineSeconds": deadline} if deadline is not None else {},
        "status": {
            "phase": _intern(status.get("phase")),
            "reason": _intern(status.get("reason")),
            "containerStatuses": [
                # restartCount where not 0: a restarted container's log is another one (handlers).
                {
                    "state": _state(s.get("state") or {}),
                    **({"restartCount": n} if (n := s.get("restartCount")) else {}),
                }
                for s in status.get("containerStatuses") or []
            ],
        },
    }
    if status.get("reason") and status.get("message"):  # Evicted: why, as the kubelet says it
        out["status"]["message"] = status["message"]
    # Taken away by the cluster (a drain's eviction, a taint, preemption): runs.disruption.
    disrupted = [
        {k: c.get(k) for k in ("type", "status", "reason", "message")}
        for c in status.get("conditions") or []
        if c.get("type") == "DisruptionTarget"
    ]
    if disrupted:
        out["status"]["conditions"] = disrupted
    return out
