"""A fake of the cluster (executor.ClusterAPI, runlogs.LogReader) for the shell's unit tests: it
records each call in order and answers as told."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubesweep.runs import LogParser


class FakeCluster:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        # Job name → what create_job answers: True (created), False (409) or an exception raised.
        self.creates: dict[str, bool | Exception] = {}
        self.jobs: dict[str, dict[str, Any]] = {}  # what read_job finds
        self.status_error: Exception | None = None
        self.release_ok = True
        self.rv = 0

    async def create_job(self, namespace: str, body: Mapping[str, Any]) -> bool:
        name = body["metadata"]["name"]
        self.calls.append(("create_job", name))
        answer = self.creates.get(name, True)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(("read_job", name))
        return self.jobs.get(name)

    async def patch_job(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        self.calls.append(("patch_job", name))

    async def release_job(
        self,
        namespace: str,
        name: str,
        finalizers: list[str],
        resource_version: str,
        *,
        recorded: bool = False,
        result: str | None = None,
    ) -> bool:
        self.calls.append(("release_job", name, recorded))
        return self.release_ok

    async def label_pod_recorded(self, namespace: str, name: str) -> None:
        self.calls.append(("label_pod_recorded", name))

    async def stop_pod(self, namespace: str, name: str) -> None:
        self.calls.append(("stop_pod", name))

    async def delete_pods(
        self,
        namespace: str,
        label_selector: str,
        grace_period_seconds: int | None,
        field_selector: str | None = None,
    ) -> None:
        self.calls.append(("delete_pods", label_selector))

    async def patch_sweep_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.calls.append(("patch_sweep_status", name))
        if self.status_error is not None:
            raise self.status_error
        self.rv += 1
        return {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": "u",
                "resourceVersion": f"w{self.rv}",
            },
            "spec": {},
            "status": dict(status),
        }

    async def post_event(
        self, sweep: Mapping[str, Any], type_: str, reason: str, message: str, component: str = "kubesweep"
    ) -> None:
        self.calls.append(("post_event", reason))

    async def read_log(
        self, namespace: str, pod: str, container: str | None = None, parser: LogParser | None = None
    ) -> LogParser:
        self.calls.append(("read_log", pod))
        return parser if parser is not None else LogParser()
