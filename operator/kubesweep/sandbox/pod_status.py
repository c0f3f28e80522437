"""What the sandbox's kubelet knows of a pod it runs, and the status it writes for it: running,
then terminated (exit code, reason, message; DeadlineExceeded past activeDeadlineSeconds)."""

from __future__ import annotations

import asyncio
import datetime
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .store import Obj

DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Running:
    namespace: str
    name: str
    uid: str
    started: str
    directory: Path
    process: asyncio.subprocess.Process | None = None
    timer: asyncio.TimerHandle | None = None
    killed_by: int | None = None
    done: bool = False
    log_text: str = ""
    kill_task: asyncio.Task[None] | None = field(default=None)
    started_at: float = field(default_factory=time.time)
    deadline: float | None = None  # the activeDeadlineSeconds its timer was set for
    deadline_timer: asyncio.TimerHandle | None = None
    deadline_exceeded: bool = False


# The pod conditions a kubelet writes; it keeps every other one (DisruptionTarget, which the
# eviction API or a controller sets before deleting the pod; readiness gates' conditions).
_KUBELET_CONDITIONS = frozenset({"PodScheduled", "Initialized", "ContainersReady", "Ready"})


def _not_ours(pod: Obj) -> list[dict[str, Any]]:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return [c for c in conditions if c.get("type") not in _KUBELET_CONDITIONS]


def started(pod: Obj, running: Running) -> dict[str, Any]:
    """The status of a pod whose container has started."""
    container = (pod.get("spec") or {}).get("containers", [{}])[0]
    return {
        "phase": "Running",
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        "startTime": running.started,
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": running.started}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]
        + _not_ours(pod),
        "containerStatuses": [
            {
                "name": container.get("name", ""),
                "image": container.get("image", ""),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": running.started}},
            }
        ],
    }


def ended(pod: Obj, running: Running, phase: str, code: int, reason: str, message: str) -> dict[str, Any]:
    """The status of a pod whose container exited with `code` (the pod in `phase`)."""
    container = (pod.get("spec") or {}).get("containers", [{}])[0]
    terminated: dict[str, Any] = {
        "exitCode": code,
        "reason": reason,
        "startedAt": running.started,
        "finishedAt": now(),
        "containerID": f"sandbox://{running.uid}",
    }
    if message:
        terminated["message"] = message
    status = {
        "phase": phase,
        **({"reason": "DeadlineExceeded", "message": DEADLINE_MESSAGE} if running.deadline_exceeded else {}),
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": running.started},
            {"type": "Initialized", "status": "True", "lastTransitionTime": running.started},
            {
                "type": "ContainersReady",
                "status": "False",
                "lastTransitionTime": now(),
                "reason": "PodCompleted",
            },
            {"type": "Ready", "status": "False", "lastTransitionTime": now(), "reason": "PodCompleted"},
            *_not_ours(pod),
        ],
        "containerStatuses": [
            {
                "name": container.get("name", ""),
                "image": container.get("image", ""),
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {"terminated": terminated},
            }
        ],
    }
    return status
