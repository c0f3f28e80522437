"""The sandbox's kubelet: it schedules every pod onto `sandbox-node` and runs it.

Executors:

- `process` runs the first container's `command` + `args` as a local process in its own process
  group (the image is ignored). The container's `env` is applied over a minimal environment
  (PATH with this Python's bin directory first, HOME, LANG, PYTHONUNBUFFERED=1); `$(VAR)` in
  command and args expands from it as Kubernetes does (`$$` escapes). The container's
  `terminationMessagePath` (default `/dev/termination-log`) is a per-pod file: every occurrence of
  that path in command, args and env values is rewritten to it, and it is exported as
  `TERMINATION_MESSAGE_PATH`. stdout and stderr are the pod's log (`kubectl logs`). The pid is
  shown in the pod annotation `sandbox.kubesweep.io/pid`.
- `simulated` runs nothing: a pod ends after `sandbox.kubesweep.io/duration` seconds (default 0.1)
  with exit code `sandbox.kubesweep.io/exit-code` (default 0), termination message
  `sandbox.kubesweep.io/termination-message` and log `sandbox.kubesweep.io/log`, all pod
  annotations. One timer per pod: thousands of pods stay cheap.

Deleting a pod with grace period 0 kills its process group with SIGKILL at once. A grace
period N sends SIGTERM, then SIGKILL after N seconds; the pod then ends (exit code 143 or 137,
reason Error) and the kubelet removes it.

`spec.activeDeadlineSeconds` is honoured as a real kubelet does, set at creation or lowered on a
running pod: once that many seconds passed since the pod's start, its containers get SIGTERM,
then SIGKILL after its `terminationGracePeriodSeconds` (default 30), and the pod stays, phase
Failed, reason DeadlineExceeded, with its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .store import PODS, Obj, Store, StoreError

logger = logging.getLogger("kubesweep.sandbox.kubelet")

NODE = "sandbox-node"
PID_ANNOTATION = "sandbox.kubesweep.io/pid"
DURATION = "sandbox.kubesweep.io/duration"
EXIT_CODE = "sandbox.kubesweep.io/exit-code"
MESSAGE = "sandbox.kubesweep.io/termination-message"
LOG = "sandbox.kubesweep.io/log"
DEFAULT_MESSAGE_PATH = "/dev/termination-log"
MAX_MESSAGE = 4096
DEFAULT_GRACE = 30.0
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# The pod conditions a kubelet writes; it keeps every other one (DisruptionTarget, which the
# eviction API or a controller sets before deleting the pod; readiness gates' conditions).
_KUBELET_CONDITIONS = frozenset({"PodScheduled", "Initialized", "ContainersReady", "Ready"})


def _not_ours(pod: Obj) -> list[dict[str, Any]]:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return [c for c in conditions if c.get("type") not in _KUBELET_CONDITIONS]


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: unknown variables stay as written, `$$` is a `$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR.sub(replace, text)


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


# Assigns a pod to the node: (namespace, pod name, node name).
Binder = Callable[[str, str, str], Awaitable[None]]


class Kubelet:
    """Runs the pods of one node. `bind` assigns a pod to it: a `pods/binding` for a real API
    server (whose pod spec is immutable); by default a patch of `spec.nodeName` in the sandbox's
    own store, which stands in for the scheduler."""

    def __init__(
        self,
        store: Store,
        *,
        executor: Literal["process", "simulated"] = "process",
        workdir: Path,
        bind: Binder | None = None,
        node: str = NODE,
    ) -> None:
        self.store = store
        self.node = node
        self.bind = bind
        self.executor = executor
        self.workdir = workdir
        self.pods: dict[str, Running] = {}  # pod uid -> what runs it
        self.logs: dict[tuple[str, str], Path | str] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store.set_log_source(self.read_log)
        events = self.store.watch(PODS)
        self.watcher = asyncio.create_task(self._follow(events))
        for pod in await self.store.list(PODS):
            self._spawn(self._admit(pod))

    async def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.watcher
        for running in list(self.pods.values()):
            self._kill(running, signal.SIGKILL)
            for timer in (running.timer, running.deadline_timer):
                if timer is not None:
                    timer.cancel()
        for task in list(self.tasks):
            task.cancel()
        for running in list(self.pods.values()):
            if running.process is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(running.process.wait(), 5)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def is_running(self, namespace: str, name: str) -> bool:
        """Whether a pod of that name still has a process or timer here (for `logs -f`)."""
        return any(
            r.namespace == namespace and r.name == name and not r.done for r in list(self.pods.values())
        )

    def read_log(self, namespace: str, name: str) -> str | None:
        source = self.logs.get((namespace, name))
        if source is None:
            return None
        if isinstance(source, str):
            return source
        try:
            return source.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _follow(self, events: Any) -> None:
        async for event in events:
            pod = event.object
            uid = pod["metadata"]["uid"]
            running = self.pods.get(uid)
            if event.type == "DELETED":
                if running is not None:
                    self._kill(running, signal.SIGKILL)
                    for timer in (running.timer, running.deadline_timer):
                        if timer is not None:
                            timer.cancel()
                    self.pods.pop(uid, None)
                self.logs.pop((pod["metadata"].get("namespace", ""), pod["metadata"]["name"]), None)
                continue
            if event.type == "ADDED":
                self._spawn(self._admit(pod))
            elif pod["metadata"].get("deletionTimestamp"):
                self._terminate(pod, running)
            elif running is not None:
                self._watch_deadline(pod, running)

    # -----------------------------------------------------------------------------------------

    async def _admit(self, pod: Obj) -> None:
        meta = pod["metadata"]
        if (pod.get("status") or {}).get("phase") not in (None, "Pending") or meta["uid"] in self.pods:
            return
        if meta.get("deletionTimestamp"):
            return
        if (pod.get("spec") or {}).get("nodeName") not in (None, "", self.node):
            return  # another node's pod
        namespace, name = meta.get("namespace", ""), meta["name"]
        directory = self.workdir / f"{namespace}_{name}"
        directory.mkdir(parents=True, exist_ok=True)
        running = Running(namespace, name, meta["uid"], _now(), directory)
        self.pods[meta["uid"]] = running
        annotations: dict[str, Any] = {}
        try:
            if self.executor == "process":
                await self._start_process(pod, running)
                assert running.process is not None
                annotations[PID_ANNOTATION] = str(running.process.pid)
            else:
                self._start_timer(pod, running)
            unbound = not (pod.get("spec") or {}).get("nodeName")
            if self.bind is None:  # the sandbox's store: one patch binds and annotates
                meta_patch = {"annotations": annotations} if annotations else {}
                node = {"nodeName": self.node} if unbound else {}
                await self.store.patch(PODS, namespace, name, {"metadata": meta_patch, "spec": node})
            else:
                if unbound:
                    await self.bind(namespace, name, self.node)
                if annotations:
                    await self.store.patch(PODS, namespace, name, {"metadata": {"annotations": annotations}})
            await self.store.patch(
                PODS, namespace, name, {"status": self._running_status(pod, running)}, subresource="status"
            )
        except StoreError:
            self._kill(running, signal.SIGKILL)  # the pod went away while starting
            return
        except Exception as exc:  # the command could not start: the container fails, as in Kubernetes
            logger.info("pod %s/%s could not start: %s", namespace, name, exc)
            await self._finish(running, 128, "StartError", str(exc))
            return
        if running.process is not None:
            self._spawn(self._wait_process(pod, running))
        self._watch_deadline(pod, running)

    def _environment(self, container: dict[str, Any], message_path: str, real_path: Path) -> dict[str, str]:
        env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONUNBUFFERED": "1",
            "TERMINATION_MESSAGE_PATH": str(real_path),
        }
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = expand(str(item["value"]), env).replace(message_path, str(real_path))
        return env

    async def _start_process(self, pod: Obj, running: Running) -> None:
        container = (pod.get("spec") or {}).get("containers", [{}])[0]
        message_path = container.get("terminationMessagePath") or DEFAULT_MESSAGE_PATH
        real_path = running.directory / "termination-log"
        env = self._environment(container, message_path, real_path)
        argv = [
            expand(str(a), env).replace(message_path, str(real_path))
            for a in (container.get("command") or []) + (container.get("args") or [])
        ]
        if not argv:
            raise RuntimeError("the container has no command: the sandbox cannot run an image's entrypoint")
        log_path = running.directory / "log"
        self.logs[(running.namespace, running.name)] = log_path
        cwd = container.get("workingDir")
        if not cwd or not Path(cwd).is_dir():
            cwd = str(running.directory)
        with log_path.open("wb") as log:
            running.process = await asyncio.create_subprocess_exec(
                *argv,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )

    async def _wait_process(self, pod: Obj, running: Running) -> None:
        assert running.process is not None
        code = await running.process.wait()
        if code < 0:  # killed by a signal: the shell convention Kubernetes reports
            code = 128 - code
        container = (pod.get("spec") or {}).get("containers", [{}])[0]
        message = ""
        path = running.directory / "termination-log"
        if path.exists():
            message = path.read_bytes()[:MAX_MESSAGE].decode(errors="replace")
        if not message and code != 0 and container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            log = self.read_log(running.namespace, running.name) or ""
            message = "\n".join(log.splitlines()[-80:])[-2048:]
        await self._finish(running, code, "Completed" if code == 0 else "Error", message)

    def _watch_deadline(self, pod: Obj, running: Running) -> None:
        """(Re)arms the pod's active deadline: from its start, activeDeadlineSeconds (which the
        API server lets only be set or lowered)."""
        deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        if deadline is None or running.done or running.deadline_exceeded or deadline == running.deadline:
            return
        if running.deadline_timer is not None:
            running.deadline_timer.cancel()
        running.deadline = deadline
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        grace = DEFAULT_GRACE if grace is None else float(grace)
        delay = max(0.0, running.started_at + float(deadline) - time.time())
        running.deadline_timer = asyncio.get_running_loop().call_later(
            delay, self._deadline_exceeded, running, grace
        )

    def _deadline_exceeded(self, running: Running, grace: float) -> None:
        """The kubelet stops the pod with its grace period; the pod stays, Failed."""
        if running.done or running.kill_task is not None:
            return
        running.deadline_exceeded = True
        running.kill_task = asyncio.create_task(self._graceful(running, grace))

    def _start_timer(self, pod: Obj, running: Running) -> None:
        annotations = pod["metadata"].get("annotations") or {}
        try:
            duration = float(annotations.get(DURATION, "0.1"))
            code = int(annotations.get(EXIT_CODE, "0"))
        except ValueError:
            duration, code = 0.1, 1
        message = annotations.get(MESSAGE, "")
        self.logs[(running.namespace, running.name)] = annotations.get(LOG, "")
        loop = asyncio.get_running_loop()
        running.timer = loop.call_later(
            duration,
            lambda: self._spawn(self._finish(running, code, "Completed" if code == 0 else "Error", message)),
        )

    def _running_status(self, pod: Obj, running: Running) -> dict[str, Any]:
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

    async def _finish(self, running: Running, code: int, reason: str, message: str) -> None:
        if running.done:
            return
        running.done = True
        pod = await self.store.get(PODS, running.namespace, running.name)
        if pod is None or pod["metadata"]["uid"] != running.uid:
            self.pods.pop(running.uid, None)
            return
        container = (pod.get("spec") or {}).get("containers", [{}])[0]
        restart = (pod.get("spec") or {}).get("restartPolicy", "Always")
        phase = "Succeeded" if code == 0 else "Failed"
        if restart == "Always":
            phase = "Failed" if code else "Succeeded"  # the sandbox does not restart containers
        if running.deadline_timer is not None:
            running.deadline_timer.cancel()
        if running.deadline_exceeded:
            phase = "Failed"  # whatever the container's exit code
        terminated: dict[str, Any] = {
            "exitCode": code,
            "reason": reason,
            "startedAt": running.started,
            "finishedAt": _now(),
            "containerID": f"sandbox://{running.uid}",
        }
        if message:
            terminated["message"] = message
        status = {
            "phase": phase,
            **(
                {"reason": "DeadlineExceeded", "message": DEADLINE_MESSAGE}
                if running.deadline_exceeded
                else {}
            ),
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": running.started},
                {"type": "Initialized", "status": "True", "lastTransitionTime": running.started},
                {
                    "type": "ContainersReady",
                    "status": "False",
                    "lastTransitionTime": _now(),
                    "reason": "PodCompleted",
                },
                {"type": "Ready", "status": "False", "lastTransitionTime": _now(), "reason": "PodCompleted"},
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
        with contextlib.suppress(StoreError):
            await self.store.patch(
                PODS, running.namespace, running.name, {"status": status}, subresource="status"
            )
        if pod["metadata"].get("deletionTimestamp"):
            # A graceful deletion has run its course: the kubelet removes the pod.
            with contextlib.suppress(StoreError):
                await self.store.delete(PODS, running.namespace, running.name, grace_period_seconds=0)
        self.pods.pop(running.uid, None)

    def _terminate(self, pod: Obj, running: Running | None) -> None:
        """A graceful deletion: SIGTERM now, SIGKILL after the grace period."""
        if running is None:
            self._spawn(self._remove(pod))
            return
        if running.kill_task is not None or running.done:
            return
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        running.kill_task = asyncio.create_task(self._graceful(running, grace))

    async def _remove(self, pod: Obj) -> None:
        with contextlib.suppress(StoreError):
            await self.store.delete(
                PODS, pod["metadata"].get("namespace"), pod["metadata"]["name"], grace_period_seconds=0
            )

    async def _graceful(self, running: Running, grace: float) -> None:
        if running.process is None:
            if running.timer is not None:
                running.timer.cancel()
            await self._finish(running, 143, "Error", "")
            return
        self._kill(running, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(running.process.wait()), grace)
        except TimeoutError:
            self._kill(running, signal.SIGKILL)

    @staticmethod
    def _kill(running: Running, sig: int) -> None:
        process = running.process
        if process is None or process.returncode is not None:
            return
        running.killed_by = sig
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
