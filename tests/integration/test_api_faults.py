"""A flaky API server: 500s, 409 conflicts, 429 with Retry-After, dropped watch streams and 410
Gone, injected at a steady rate into the operator's requests with kmock's DSL. Every sweep
still ends with exactly the runs it would have had without faults."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kmock
import pytest

from .conftest import Kube, Operator, python_run, released_jobs, result_of

pytestmark = [pytest.mark.integration, pytest.mark.emulator]

REPORT = "import json, os; p = json.loads(os.environ['KUBESWEEP_PARAMETERS']); print('loss=%s' % p['g'])"


def status(code: int, reason: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": f"injected {reason}",
    }


class Faults:
    """Every n-th matching request of the operator fails; counted per kind of fault."""

    def __init__(self) -> None:
        self.on = True
        self.counters: dict[str, Iterator[int]] = {}
        self.injected: dict[str, int] = {}
        self.lock = threading.Lock()

    def every(self, name: str, n: int, match: Callable[[Any], bool]) -> Callable[[Any], bool]:
        self.counters[name] = itertools.count(1)
        self.injected[name] = 0

        def criterion(request: Any) -> bool:
            agent = request.headers.get("User-Agent") or ""
            if (
                not self.on
                or not (agent.startswith("kopf") or agent.startswith("kubesweep-operator"))
                or not match(request)
            ):
                return False
            with self.lock:
                hit = next(self.counters[name]) % n == 0
                self.injected[name] += hit
            return hit

        return criterion


def method(request: Any) -> str:
    return str(getattr(request.method, "value", request.method)).upper()


def path(request: Any) -> str:
    return str(request.url.path)


def is_watch(request: Any) -> bool:
    return request.params.get("watch") in ("true", "1")


@pytest.fixture
def faults(sandbox: Any) -> Iterator[Faults]:
    emulator = sandbox.emulator
    injected = Faults()
    (
        emulator[
            injected.every("job-create-500", 4, lambda r: method(r) == "POST" and path(r).endswith("/jobs"))
        ]
        << 500
        << status(500, "InternalError")
    )
    (
        emulator[
            injected.every("status-409", 5, lambda r: method(r) == "PATCH" and path(r).endswith("/status"))
        ]
        << 409
        << status(409, "Conflict")
    )
    (
        emulator[injected.every("job-patch-429", 6, lambda r: method(r) == "PATCH" and "/jobs/" in path(r))]
        << 429
        << kmock.headers({"Retry-After": "1"})
        << status(429, "TooManyRequests")
    )
    emulator[injected.every("watch-dropped", 3, is_watch)] << b""
    gone = {"type": "ERROR", "object": status(410, "Expired")}
    emulator[injected.every("watch-410", 4, is_watch)] << (json.dumps(gone).encode() + b"\n")
    yield injected
    injected.on = False


def test_sweeps_finish_exactly_through_a_flaky_api(
    sandbox: Any, kube: Kube, tmp_path: Path, faults: Faults
) -> None:
    op = Operator(Path(sandbox.kubeconfig_path), tmp_path / "operator.log", namespaces="f-*")
    ns = kube.namespace("f")
    sweeps = {f"flaky-{i}": 3 + i for i in range(4)}
    for name, points in sweeps.items():
        spec = {
            "method": "grid",
            "parallelism": 2,
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"g": {"values": list(range(points))}},
            "template": python_run(REPORT),
        }
        kube.create_sweep(ns, name, spec)
    op.start()
    try:
        for name, points in sweeps.items():
            sweep = kube.wait_phase(ns, name, "Finished", timeout=120)
            jobs = released_jobs(kube, ns, name)
            assert sorted(j["metadata"]["name"] for j in jobs) == [
                f"{name}-{i:04d}" for i in range(1, points + 1)
            ]
            seen = sorted(
                json.loads(j["metadata"]["annotations"]["kubesweep.io/parameters"])["g"] for j in jobs
            )
            assert seen == list(range(points))
            assert all(result_of(j)["state"] == "Finished" for j in jobs)
            assert sweep["status"]["runs"]["finished"] == points
    finally:
        op.stop()
    assert all(count > 0 for count in faults.injected.values()), faults.injected
    assert "Traceback" not in op.log
