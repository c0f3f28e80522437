"""`kubesweep sandbox`: try kubesweep without a cluster.

`kubesweep sandbox FILE...` starts the sandbox, runs the operator (`kubesweep run`, its own
process, as in production), applies the files, and shows each sweep's progress until all have
ended. `kubesweep sandbox --serve --kubeconfig PATH` serves until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from kubesweep import api

from .apierrors import ApiError
from .emulator import SandboxEmulator
from .server import SandboxServer
from .store import ResourceRef, Store, StoreError

ENDED = {"Finished", "Failed", "Crashed", "Stopped", "Cancelled"}


Resolver = Callable[[str, str], Awaitable[ResourceRef]]  # (apiVersion, kind) -> its resource


def emulator_resolver(emulator: SandboxEmulator) -> Resolver:
    async def resolve(api_version: str, kind: str) -> ResourceRef:
        res = emulator.objects.resources.of_kind(api_version, kind)
        if res is not None:
            return res.ref
        raise ApiError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')

    return resolve


async def apply_files(store: Store, resolve: Resolver, files: list[str]) -> list[tuple[str, str]]:
    """Create every object of the files; the Sweeps among them, as (namespace, name)."""
    sweeps = []
    for file in files:
        try:
            documents = [d for d in yaml.safe_load_all(Path(file).read_text()) if d]
        except (OSError, yaml.YAMLError) as exc:
            raise SystemExit(f"kubesweep sandbox: cannot read {file}: {exc}") from None
        for doc in documents:
            if not isinstance(doc, dict):
                raise SystemExit(f"kubesweep sandbox: {file}: not a Kubernetes object")
            doc.setdefault("metadata", {}).setdefault("namespace", "default")
            try:
                ref = await resolve(str(doc.get("apiVersion", "")), str(doc.get("kind", "")))
                created = await store.create(ref, doc)
            except (ApiError, StoreError) as exc:
                raise SystemExit(f"kubesweep sandbox: {file}: {exc.message}") from None
            meta = created["metadata"]
            print(f"{doc['kind'].lower()}/{meta['name']} created", flush=True)
            if doc.get("kind") == api.KIND:
                sweeps.append((meta.get("namespace", "default"), meta["name"]))
    return sweeps


def start_operator(kubeconfig: Path, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "kubesweep.main", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
        )


def _line(sweep: dict[str, Any]) -> str:
    status = sweep.get("status") or {}
    runs = status.get("runs") or {}
    best = status.get("bestRun") or {}
    best_text = (
        f"  best {best.get('metric'):g} ({best.get('name')})" if best.get("metric") is not None else ""
    )
    return (
        f"{sweep['metadata']['name']:<24} {status.get('phase', 'Pending'):<10} "
        f"runs: {runs.get('running', 0)} running, {runs.get('finished', 0)} finished, "
        f"{runs.get('failed', 0)} failed, {runs.get('killed', 0)} killed{best_text}"
    )


def best_run_lines(sweep: dict[str, Any]) -> list[str]:
    """The sweep's result as the last lines of `kubesweep sandbox`: its best run and that run's
    parameters, or why there is none."""
    name = sweep["metadata"]["name"]
    metric = ((sweep.get("spec") or {}).get("metric") or {}).get("name", "the metric")
    status = sweep.get("status") or {}
    if (sweep.get("spec") or {}).get("metrics"):
        # Several objectives: the Pareto front, not one best run.
        front = status.get("paretoFront") or []
        if not front:
            return [f"{name}: no run reported every objective"]
        lines = [f"{name}: Pareto front of {status.get('paretoFrontSize') or len(front)} run(s)"]
        for run in front:
            values = " ".join(f"{k}={v:g}" for k, v in (run.get("metrics") or {}).items())
            lines.append(f"  {run.get('name')}: {values}")
        return lines
    best = status.get("bestRun") or {}
    if best.get("metric") is None:
        return [f"{name}: no run reported {metric}"]
    parameters = " ".join(f"{k}={v}" for k, v in sorted((best.get("parameters") or {}).items()))
    return [
        f"{name}: best run {best.get('name')}, {metric}={best['metric']:g}",
        f"  parameters: {parameters}",
    ]


async def follow(
    store: Store, sweeps: list[tuple[str, str]], operator: subprocess.Popen[bytes] | None
) -> int:
    ref = ResourceRef(api.GROUP, api.VERSION, api.PLURAL)
    shown: dict[tuple[str, str], str] = {}
    while True:
        ended = 0
        for key in sweeps:
            sweep = await store.get(ref, *key)
            if sweep is None:
                ended += 1
                continue
            line = _line(sweep)
            if shown.get(key) != line:
                shown[key] = line
                print(line, flush=True)
            if (sweep.get("status") or {}).get("phase") in ENDED:
                ended += 1
        if ended == len(sweeps):
            return 0
        if operator is not None and operator.poll() is not None:
            print(f"kubesweep sandbox: the operator exited with {operator.returncode}", file=sys.stderr)
            return 1
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def cluster(args: argparse.Namespace) -> AsyncIterator[tuple[Store, Resolver, Path, str]]:
    """The sandbox, or with --k8s-bin a real control plane: (store, resolver, kubeconfig, url)."""
    kubeconfig = Path(args.kubeconfig) if args.kubeconfig else None
    if not args.k8s_bin:
        async with SandboxServer(
            port=args.port, executor=args.executor, kubeconfig_path=kubeconfig
        ) as sandbox:
            yield (
                sandbox.emulator.store,
                emulator_resolver(sandbox.emulator),
                sandbox.kubeconfig_path,
                sandbox.url,
            )
        return
    from .controlplane import ControlPlane, ControlPlaneError
    from .remote_store import RemoteStore

    print(f"Starting a control plane from {args.k8s_bin} ...", flush=True)
    try:
        plane = await asyncio.to_thread(ControlPlane(args.k8s_bin, executor=args.executor).start)
    except ControlPlaneError as exc:
        raise SystemExit(f"kubesweep sandbox: {exc}") from None
    store = RemoteStore(plane.url, plane.token, str(plane.paths.ca))
    try:
        await store.start()
        path = plane.kubeconfig_path
        if kubeconfig is not None:
            kubeconfig.parent.mkdir(parents=True, exist_ok=True)
            kubeconfig.write_text(path.read_text())
            path = kubeconfig
        yield store, store.resolve, path, plane.url
    finally:
        await store.close()
        await asyncio.to_thread(plane.stop)


async def main_async(args: argparse.Namespace) -> int:
    async with cluster(args) as (store, resolve, kubeconfig_path, url):
        operator = None
        log_path = kubeconfig_path.parent / "operator.log"
        if not args.no_operator:
            operator = start_operator(kubeconfig_path, log_path)
            # Beside the kubeconfig: in the sandbox's own directory unless --kubeconfig names one.
            kept = "" if args.kubeconfig else " (deleted on exit; kept beside --kubeconfig PATH)"
            print(f"Operator log: {log_path}{kept}", flush=True)
        result: list[str] = []  # printed last, after the operator stopped
        try:
            if args.serve:
                print(f"API server on {url}", flush=True)
                print(f"Kubeconfig: {kubeconfig_path}", flush=True)
                print(f"  export KUBECONFIG={kubeconfig_path}", flush=True)
                print("  kubectl get sweeps -A   # Ctrl-C stops it", flush=True)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                await apply_files(store, resolve, args.files)
                await stop.wait()
                return 0
            sweeps = await apply_files(store, resolve, args.files)
            if not sweeps:
                print("kubesweep sandbox: no Sweep in the files; nothing to follow", file=sys.stderr)
                return 0
            started = time.monotonic()
            code = await follow(store, sweeps, operator)
            print(f"All sweeps ended in {time.monotonic() - started:.1f}s.", flush=True)
            ref = ResourceRef(api.GROUP, api.VERSION, api.PLURAL)
            for key in sweeps:
                if (sweep := await store.get(ref, *key)) is not None:
                    result += best_run_lines(sweep)
            return code
        finally:
            if operator is not None:
                operator.terminate()
                # Waited for off the event loop: the sandbox's API server runs on it, and the
                # operator's last requests must be answered for it to stop within the 10 s.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(operator.wait, 10)
                if operator.poll() is None:
                    operator.kill()
                if operator.returncode not in (0, -signal.SIGTERM) and log_path.exists():
                    print(
                        f"kubesweep sandbox: the operator exited with {operator.returncode}; "
                        f"the end of its log ({log_path}):",
                        file=sys.stderr,
                    )
                    sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
            if result:
                print("\n".join(result), flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(main_async(args))
    except KeyboardInterrupt:
        return 130
