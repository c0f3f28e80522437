"""Running the sandbox: the emulated API server on 127.0.0.1 with its job controller and kubelet,
and a kubeconfig that kubectl, the kubernetes client, pykube-ng and `kubesweep run` all use."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import kmock
import yaml

from .emulator import SandboxEmulator
from .jobs import JobController
from .kubelet import Kubelet
from .store import CRDS

Executor = Literal["process", "simulated"]
T = TypeVar("T")
CONTEXT = "kubesweep-sandbox"


def kubeconfig(url: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {"token": "sandbox"}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}
        ],
        "current-context": CONTEXT,
    }


class SandboxServer:
    """`async with SandboxServer(...) as sandbox:` the API server, controllers and kubeconfig."""

    def __init__(
        self,
        *,
        port: int = 0,
        executor: Executor = "process",
        kubeconfig_path: Path | None = None,
        workdir: Path | None = None,
        install_crd: bool = True,
    ) -> None:
        self.port = port
        self.executor: Executor = executor
        self._tmp = tempfile.TemporaryDirectory(prefix="kubesweep-sandbox-")
        self.workdir = workdir or Path(self._tmp.name)
        self.kubeconfig_path = kubeconfig_path or self.workdir / "kubeconfig"
        self.install_crd = install_crd
        self.emulator = SandboxEmulator()
        self.url = ""
        self._stack = contextlib.AsyncExitStack()
        self.jobs = JobController(self.emulator.store)
        self.kubelet = Kubelet(self.emulator.store, executor=executor, workdir=self.workdir / "pods")

    async def __aenter__(self) -> SandboxServer:
        await self._stack.enter_async_context(self.emulator)
        server = await self._stack.enter_async_context(
            kmock.Server(self.emulator, host="127.0.0.1", port=self.port or None)
        )
        self.url = str(server.url).rstrip("/")
        self.kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
        self.kubeconfig_path.write_text(yaml.safe_dump(kubeconfig(self.url)))
        if self.install_crd:
            from kubesweep import crd

            await self.emulator.store.create(CRDS, crd.render())
        await self.jobs.start()
        await self.kubelet.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.kubelet.stop()
        await self.jobs.stop()
        self.emulator.close()
        await self._stack.aclose()
        self._tmp.cleanup()


class SandboxThread:
    """The sandbox on an event loop of its own thread, for tests and benchmarks that run the
    operator as a separate process."""

    backend = "sandbox"

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.loop = asyncio.new_event_loop()
        self.server: SandboxServer | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="sandbox", daemon=True)
        self._stop: asyncio.Event | None = None

    def start(self) -> SandboxThread:
        self._thread.start()
        ready: Future[None] = Future()

        async def serve() -> None:
            self._stop = asyncio.Event()
            try:
                async with SandboxServer(**self.options) as server:
                    self.server = server
                    ready.set_result(None)
                    await self._stop.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                raise

        self._task = asyncio.run_coroutine_threadsafe(serve(), self.loop)
        ready.result(timeout=30)
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
            with contextlib.suppress(Exception):
                self._task.result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def _server(self) -> SandboxServer:
        assert self.server is not None, "the sandbox is not started"
        return self.server

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def kubeconfig_path(self) -> Path:
        return self._server.kubeconfig_path

    @property
    def emulator(self) -> SandboxEmulator:
        return self._server.emulator

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
