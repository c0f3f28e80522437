"""`kubectl sweep`: steer and inspect sweeps from the command line.

    kubectl sweep pause|resume|stop|cancel NAME
    kubectl sweep list [-A] [-o json|yaml]
    kubectl sweep status NAME [-o json|yaml]
    kubectl sweep stop-run RUN
    kubectl sweep logs RUN [-f]
    kubectl sweep report NAME [-o FILE]
    kubectl sweep export NAME [--format csv|json|optuna] [-o FILE]
    kubectl sweep import-wandb sweep.yaml|- --image IMAGE [--name NAME] [--parallelism N]
        [--wandb-mode online|offline|disabled] [--api-key-secret NAME[:KEY]]

Every command takes --kubeconfig, --context and -n/--namespace, before or after the command.
Exit codes: 0 ok, 1 an error (said on stderr with what to do), 2 usage.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from kubesweep import api
from kubesweep.export import FORMATS

STATES = {"pause": "paused", "resume": "running", "stop": "stopped", "cancel": "cancelled"}
PAST = {"paused": "paused", "running": "resumed", "stopped": "stopped", "cancelled": "cancelled"}


class PluginError(Exception):
    """A failure to tell the user, with what to do about it."""


# ---------------------------------------------------------------------------------------------
# Pure parts: tables and ordering.


def age(timestamp: str | None, now: datetime.datetime | None = None) -> str:
    if not timestamp:
        return "<unknown>"
    now = now or datetime.datetime.now(datetime.UTC)
    then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in header], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _metric_text(value: Any) -> str:
    if isinstance(value, dict):  # several objectives: each one's value
        return " ".join(f"{k}={_metric_text(v)}" for k, v in value.items())
    return f"{value:g}" if isinstance(value, int | float) else ""


def _objectives_of(metrics: dict[str, Any], names: Sequence[str]) -> dict[str, Any] | None:
    """A run's values of a sweep's several objectives, those it reported."""
    found = {n: metrics[n] for n in names if n in metrics}
    return found or None


def front_lines(status: dict[str, Any]) -> list[str]:
    """status.paretoFront: the runs no other beats in every objective."""
    front = status.get("paretoFront") or []
    size = status.get("paretoFrontSize") or len(front)
    shown = f", {len(front)} shown (spread along it)" if size > len(front) else ""
    lines = [f"  Pareto front: {size} run(s){shown}"]
    lines.extend(f"    {r.get('name')} {_metric_text(r.get('metrics') or {})}" for r in front)
    return lines


def _best_text(best: dict[str, Any]) -> str:
    """The best metric as `kubectl get sweeps` shows it (a status from before metricText: rounded
    the same way here)."""
    value = best.get("metric")
    return str(best.get("metricText") or (f"{value:.4g}" if isinstance(value, int | float) else ""))


def sweep_rows(sweeps: Sequence[dict[str, Any]], all_namespaces: bool) -> tuple[list[str], list[list[Any]]]:
    header = ["NAME", "STATE", "PHASE", "RUNNING", "FINISHED", "FAILED", "TOTAL", "BEST", "AGE"]
    if all_namespaces:
        header = ["NAMESPACE", *header]
    rows = []
    for sweep in sweeps:
        status = sweep.get("status") or {}
        runs = status.get("runs") or {}
        row = [
            sweep["metadata"]["name"],
            (sweep.get("spec") or {}).get("state", "running"),
            status.get("phase", "Pending"),
            runs.get("running", 0),
            runs.get("finished", 0),
            runs.get("failed", 0),
            runs.get("total", 0),
            _best_text(status.get("bestRun") or {}),
            age(sweep["metadata"].get("creationTimestamp")),
        ]
        rows.append([sweep["metadata"].get("namespace", ""), *row] if all_namespaces else row)
    return header, rows


def run_records(sweep: dict[str, Any], jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every run of the sweep (its Jobs, and the runs whose Jobs are gone as the status
    remembers them), best first."""
    metric = ((sweep.get("spec") or {}).get("metric") or {}).get("name")
    goal = ((sweep.get("spec") or {}).get("metric") or {}).get("goal", "minimize")
    objectives = [
        str(m.get("name")) for m in (sweep.get("spec") or {}).get("metrics") or [] if isinstance(m, dict)
    ]
    in_status = {r["name"]: r for r in (sweep.get("status") or {}).get("recordedRuns") or []}
    records = []
    for job in jobs:
        name = job["metadata"]["name"]
        annotations = job["metadata"].get("annotations") or {}
        # The status holds a run's record a moment before its Job does.
        result = json.loads(annotations.get(api.ANNOTATION_RESULT) or "{}") or in_status.get(name) or {}
        state = result.get("state") or _live_state(job)
        records.append(
            {
                "name": name,
                "state": state,
                "metric": _objectives_of(result.get("metrics") or {}, objectives)
                if objectives
                else (result.get("metrics") or {}).get(metric)
                if metric
                else None,
                "parameters": json.loads(annotations.get(api.ANNOTATION_PARAMETERS) or "{}"),
                "why": why_text(result),
            }
        )
    with_jobs = {job["metadata"]["name"] for job in jobs}
    for removed in in_status.values():
        if removed["name"] in with_jobs:
            continue
        records.append(
            {
                "name": removed["name"],
                "state": f"{removed.get('state')} (Job deleted)",
                "metric": _objectives_of(removed.get("metrics") or {}, objectives)
                if objectives
                else (removed.get("metrics") or {}).get(metric)
                if metric
                else None,
                "parameters": removed.get("parameters") or {},
                "why": why_text(removed),
            }
        )
    sign = -1 if goal == "maximize" else 1

    def order(record: dict[str, Any]) -> tuple[int, float, str]:
        value = record["metric"]
        if not isinstance(value, int | float):
            return (1, 0.0, record["name"])
        return (0, sign * float(value), record["name"])

    return sorted(records, key=order)


def why_text(result: dict[str, Any], limit: int = 80) -> str:
    """Why a run that did not finish ended: `StartError (exit 128): exec: "trian": ...`."""
    if result.get("state") in (None, "Finished"):
        return ""
    text = str(result.get("reason") or "")
    if isinstance(result.get("exitCode"), int):
        text += f" (exit {result['exitCode']})"
    if result.get("message"):
        text += f": {' '.join(str(result['message']).split())}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _live_state(job: dict[str, Any]) -> str:
    status = job.get("status") or {}
    if status.get("active"):
        return "Running"
    if (job.get("spec") or {}).get("suspend"):
        return "Queued"  # waiting for its queue (Kueue) to admit it
    return "Pending"


RUN_COUNTS = ("queued", "pending", "running", "finished", "failed", "crashed", "killed")


def counts_line(runs: dict[str, Any]) -> str:
    """`Runs: 5 (1 queued, 2 running, 2 finished)`: the counts that are not zero."""
    parts = [f"{runs[k]} {k}" for k in RUN_COUNTS if runs.get(k)]
    return f"  Runs: {runs.get('total', 0)}" + (f" ({', '.join(parts)})" if parts else "")


def status_text(sweep: dict[str, Any], records: Sequence[dict[str, Any]]) -> str:
    status = sweep.get("status") or {}
    meta = sweep["metadata"]
    lines = [
        f"Sweep {meta.get('namespace')}/{meta['name']}: {status.get('phase', 'Pending')} "
        f"(spec.state {(sweep.get('spec') or {}).get('state', 'running')})"
    ]
    for condition in status.get("conditions") or []:
        lines.append(
            f"  {condition['type']}={condition['status']} {condition.get('reason', '')}: {condition.get('message', '')}"
        )
    if status.get("runs"):
        lines.append(counts_line(status["runs"]))
    best = status.get("bestRun")
    if best:
        lines.append(
            f"  Best: {best.get('name')} {_metric_text(best.get('metric'))} {json.dumps(best.get('parameters', {}))}"
        )
    if status.get("paretoFront"):
        lines.extend(front_lines(status))
    warm = status.get("warmStart")
    if isinstance(warm, dict):
        sources = ((sweep.get("spec") or {}).get("warmStart") or {}).get("fromSweeps") or []
        missing = f" (no such sweep: {', '.join(warm['missing'])})" if warm.get("missing") else ""
        lines.append(
            f"  Warm start: learns from {warm.get('runs', 0)} run(s) of {', '.join(sources)}{missing}"
        )
    lines.extend(parameter_lines(sweep))
    lines.append("")
    rows = [
        [
            r["name"],
            r["state"],
            _metric_text(r["metric"]),
            json.dumps(r["parameters"], separators=(",", ":")),
            r.get("why") or "",
        ]
        for r in records
    ]
    lines.append(table(["RUN", "STATE", "METRIC", "PARAMETERS", "WHY"], rows) if rows else "No runs yet.")
    folded = status.get("foldedRuns") or {}
    if folded.get("numbers"):
        lines.append(
            f"\n(and older runs {folded['numbers']}, whose Jobs were deleted: counted, not listed; "
            f"{folded.get('finished', 0)} finished, {folded.get('failed', 0)} failed, "
            f"{folded.get('crashed', 0)} crashed, {folded.get('killed', 0)} killed)"
        )
    return "\n".join(lines)


def parameter_lines(sweep: dict[str, Any]) -> list[str]:
    """What each parameter samples from, inferred distributions included: `min: 0.0` reads back
    from the API server as `0`, and bare integers mean int_uniform."""
    from kubesweep.search import space

    parameters = (sweep.get("spec") or {}).get("parameters") or {}
    try:
        described = space.descriptions(parameters)
    except space.SearchSpaceError as exc:
        return [f"  Parameters: invalid: {exc}"]
    return ["  Parameters:", *(f"    {d}" for d in described)]


def dump(data: Any, output: str) -> str:
    if output == "json":
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False)


# ---------------------------------------------------------------------------------------------
# The API, through pykube-ng.


class Cluster:
    def __init__(self, kubeconfig: str | None, context: str | None, namespace: str | None) -> None:
        import pykube

        try:
            config = (
                pykube.KubeConfig.from_env()
                if kubeconfig is None
                else pykube.KubeConfig.from_file(kubeconfig)
            )
        except Exception as exc:
            raise PluginError(
                f"cannot load a kubeconfig ({exc}); set KUBECONFIG or pass --kubeconfig"
            ) from None
        if context:
            if context not in config.contexts:
                raise PluginError(f"no context {context!r} in the kubeconfig")
            config.set_current_context(context)
        self.http = pykube.HTTPClient(config, timeout=15)
        self.namespace = namespace or config.namespace or "default"

    def request(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        import requests

        url = f"{self.http.url.rstrip('/')}{path}"
        try:
            response = self.http.session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            raise PluginError(
                f"cannot reach the API server at {self.http.url} ({exc.__class__.__name__}); is the cluster up and the context right?"
            ) from None
        if response.status_code == 404:
            raise PluginError(
                f'{what} not found in namespace "{self.namespace}"; see `kubectl sweep list -A`'
            )
        if response.status_code == 403:
            raise PluginError(
                f"forbidden: {_message(response)}; ask for {method.lower()} permission on the resource in "
                f'namespace "{self.namespace}" (see `kubectl auth can-i`)'
            )
        if response.status_code >= 400:
            raise PluginError(f"the API server refused: {_message(response)}")
        return response

    def sweep_path(self, name: str | None = None, namespace: str | None = None) -> str:
        ns = namespace if namespace is not None else self.namespace
        base = f"/apis/{api.GROUP}/{api.VERSION}"
        path = f"{base}/namespaces/{ns}/{api.PLURAL}" if ns else f"{base}/{api.PLURAL}"
        return f"{path}/{name}" if name else path

    def sweep(self, name: str) -> dict[str, Any]:
        return dict(self.request("GET", self.sweep_path(name), what=f'sweep "{name}"').json())

    def sweeps(self, all_namespaces: bool) -> list[dict[str, Any]]:
        path = self.sweep_path(namespace="" if all_namespaces else None)
        return list(self.request("GET", path, what="sweeps").json()["items"])

    def patch_sweep(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return dict(
            self.request(
                "PATCH",
                self.sweep_path(name),
                what=f'sweep "{name}"',
                data=json.dumps(patch),
                headers={"Content-Type": "application/merge-patch+json"},
            ).json()
        )

    def jobs(self, sweep: str) -> list[dict[str, Any]]:
        from kubesweep import runs

        path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs"
        params = {"labelSelector": f"{api.LABEL_SWEEP}={runs.label_value(sweep)}"}
        return list(self.request("GET", path, what="jobs", params=params).json()["items"])

    def job(self, name: str) -> dict[str, Any]:
        path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs/{name}"
        job = dict(self.request("GET", path, what=f'run "{name}"').json())
        if api.LABEL_SWEEP not in (job["metadata"].get("labels") or {}):
            raise PluginError(f'job "{name}" is not a run of any sweep')
        return job

    def patch_job(self, name: str, patch: dict[str, Any]) -> None:
        path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs/{name}"
        self.request(
            "PATCH",
            path,
            what=f'run "{name}"',
            data=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )

    def pods_of_run(self, run: str) -> list[dict[str, Any]]:
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        items = self.request("GET", path, what="pods", params={"labelSelector": f"job-name={run}"}).json()[
            "items"
        ]
        return sorted(items, key=lambda p: p["metadata"].get("creationTimestamp") or "")

    def log(self, pod: str, follow: bool, write: Callable[[str], None]) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/pods/{pod}/log"
        response = self.request(
            "GET", path, what=f'pod "{pod}"', params={"follow": "true" if follow else "false"}, stream=follow
        )
        if not follow:
            write(response.text)
            return
        for chunk in response.iter_content(chunk_size=None, decode_unicode=True):
            write(chunk)


def _message(response: Any) -> str:
    try:
        return str(response.json().get("message") or response.reason)
    except ValueError:
        return str(response.text or response.reason)


# ---------------------------------------------------------------------------------------------
# Commands.


def set_state(cluster: Cluster, name: str, wanted: str) -> str:
    sweep = cluster.sweep(name)
    current = (sweep.get("spec") or {}).get("state", "running")
    if current == wanted:
        return f"sweep {name} is already {wanted}; nothing to do"
    cluster.patch_sweep(name, {"spec": {"state": wanted}})
    return f"sweep {name} {PAST[wanted]} (was {current})"


def run_command(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    if args.command == "import-wandb":
        return import_wandb(args, out)

    cluster = Cluster(args.kubeconfig, args.context, args.namespace)
    if args.command in STATES:
        out(set_state(cluster, args.name, STATES[args.command]))
    elif args.command == "list":
        sweeps = cluster.sweeps(args.all_namespaces)
        if args.output:
            out(dump({"apiVersion": "v1", "kind": "List", "items": sweeps}, args.output))
        elif not sweeps:
            where = "any namespace" if args.all_namespaces else f'namespace "{cluster.namespace}"'
            out(f"No sweeps in {where}.")
        else:
            out(table(*sweep_rows(sweeps, args.all_namespaces)))
    elif args.command == "status":
        sweep = cluster.sweep(args.name)
        if args.output:
            out(dump(sweep, args.output))  # the object, as `kubectl get sweep NAME -o json` prints it
        else:
            out(status_text(sweep, run_records(sweep, cluster.jobs(args.name))))
    elif args.command == "report":
        from kubesweep import report

        sweep = cluster.sweep(args.name)
        runs = report.runs_of(sweep, cluster.jobs(args.name))
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        target = Path(args.output or f"{args.name}.html")
        _write_file(target, report.render(sweep, runs, generated=now))
        out(f"wrote {target} ({len(runs)} runs): open it in a browser")
    elif args.command == "export":
        from kubesweep import export, report

        sweep = cluster.sweep(args.name)
        runs = report.runs_of(sweep, cluster.jobs(args.name))
        if args.format == "optuna":
            target = Path(args.output or f"{args.name}.optuna.log")
            try:
                study = export.write_optuna(target, sweep, runs)
            except OSError as exc:
                raise PluginError(f"cannot write {target}: {exc}") from None
            out(
                f"wrote {target}: study {study!r}, {len(runs)} trials; open it with `optuna-dashboard {target}`"
            )
            return 0
        spec = sweep.get("spec") or {}
        text = export.to_csv(spec, runs) if args.format == "csv" else export.to_json(sweep, runs)
        if args.output:
            _write_file(Path(args.output), text)
        else:
            _write(text)
    elif args.command == "stop-run":
        job = cluster.job(args.run)
        if (job["metadata"].get("annotations") or {}).get(api.ANNOTATION_RESULT):
            out(f"run {args.run} has already ended; nothing to stop")
            return 0
        cluster.patch_job(args.run, {"metadata": {"annotations": {api.ANNOTATION_STOP: "true"}}})
        out(f"run {args.run} stopping (its sweep starts the next run in its place)")
    elif args.command == "logs":
        cluster.job(args.run)
        pods = cluster.pods_of_run(args.run)
        if not pods:
            raise PluginError(
                f"run {args.run} has no pod (any more); its metrics are in `kubectl sweep status`"
            )
        cluster.log(pods[-1]["metadata"]["name"], args.follow, _write)
    return 0


def _write_file(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise PluginError(f"cannot write {path}: {exc}") from None


def import_wandb(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    """Prints the Sweep of a W&B sweep config (`-`: standard input), once the operator's own
    rules accept it: a Sweep it would refuse (min above max, bayes without a metric) is an error."""
    from kubesweep import reconcile, wandb_import

    source = "standard input" if args.file == "-" else args.file
    mode = args.wandb_mode or ("online" if args.api_key_secret else "offline")
    wandb: dict[str, Any] = {"mode": mode}
    if args.api_key_secret:
        secret, _, key = args.api_key_secret.partition(":")
        wandb["apiKeySecret"] = {"name": secret, "key": key or "api-key"}
    try:
        config = yaml.safe_load(sys.stdin.read() if args.file == "-" else Path(args.file).read_text())
        manifest, warnings = wandb_import.convert(
            config, image=args.image, name=args.name, parallelism=args.parallelism, wandb=wandb
        )
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise PluginError(f"cannot import {source}: {exc}") from None
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    try:
        reconcile.parse_spec(manifest["spec"])
    except reconcile.InvalidSweep as exc:
        raise PluginError(f"{source} makes a Sweep kubesweep would refuse: {exc}") from None
    out(yaml.safe_dump(manifest, sort_keys=False))
    return 0


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


GLOBAL_FLAGS = ("--kubeconfig", "--context", "-n/--namespace")


def _global_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    """kubectl's own flags. On the root they default to None; on each subcommand to SUPPRESS,
    so `kubectl sweep -n ml list` and `kubectl sweep list -n ml` both work (a subcommand's
    default would otherwise overwrite what was given before it)."""
    parser.add_argument(
        "--kubeconfig",
        default=default,
        metavar="FILE",
        help="the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)",
    )
    parser.add_argument("--context", default=default, help="the kubeconfig context to use")
    parser.add_argument(
        "-n", "--namespace", default=default, help="the sweep's namespace (default: the context's)"
    )


def parser() -> argparse.ArgumentParser:
    from kubesweep import __version__

    common = argparse.ArgumentParser(add_help=False)
    _global_flags(common, argparse.SUPPRESS)
    root = argparse.ArgumentParser(
        prog="kubectl sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    root.add_argument("--version", action="version", version=f"kubectl-sweep (kubesweep) {__version__}")
    _global_flags(root, None)
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=summary, description=f"{summary}.")

    for name, state in STATES.items():
        p = command(name, f"{name} a sweep: set its spec.state to {state}")
        p.add_argument("name", help="the sweep")
    listing = command("list", "the sweeps and their progress")
    listing.add_argument("-A", "--all-namespaces", action="store_true", help="the sweeps of every namespace")
    listing.add_argument("-o", "--output", choices=["json", "yaml"], help="print the Sweep objects")
    status = command("status", "a sweep's phase, conditions, parameters and runs, best first")
    status.add_argument("name", help="the sweep")
    status.add_argument(
        "-o", "--output", choices=["json", "yaml"], help="print the Sweep object, as `kubectl get -o` does"
    )
    stop_run = command("stop-run", "stop one run; the next takes its place")
    stop_run.add_argument("run", help="the run: its Job's name, e.g. lr-search-0007")
    logs = command("logs", "the log of a run's pod")
    logs.add_argument("run", help="the run: its Job's name, e.g. lr-search-0007")
    logs.add_argument("-f", "--follow", action="store_true", help="stream the log while the run writes it")
    report = command("report", "write a sweep's charts and best runs as one self-contained HTML page")
    report.add_argument("name", help="the sweep")
    report.add_argument(
        "-o", "--output", metavar="FILE", default=None, help="where to write it (default: NAME.html)"
    )
    exported = command("export", "write a sweep's runs as CSV, JSON or an Optuna journal")
    exported.add_argument("name", help="the sweep")
    exported.add_argument(
        "--format",
        choices=FORMATS,
        default="csv",
        help="csv and json (default csv), or optuna: a journal file that `optuna-dashboard FILE` opens",
    )
    exported.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=None,
        help="where to write it (default: standard output; for optuna NAME.optuna.log)",
    )
    imported = command("import-wandb", "print a Sweep manifest from a W&B sweep config")
    imported.add_argument("file", help="the W&B sweep config (sweep.yaml); - reads standard input")
    imported.add_argument("--image", required=True, help="the container image that runs the program")
    imported.add_argument("--name", default=None, help="the Sweep's name (default: the config's name)")
    imported.add_argument(
        "--parallelism", type=int, default=None, help="runs at once (the number of W&B agents; default 1)"
    )
    imported.add_argument(
        "--wandb-mode",
        choices=[str(m) for m in api.WandbMode],
        default=None,
        help="spec.wandb.mode of the runs (default: online with --api-key-secret, else offline)",
    )
    imported.add_argument(
        "--api-key-secret",
        metavar="NAME[:KEY]",
        default=None,
        help="the Secret (and its key, default api-key) holding the W&B API key for mode online",
    )
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run_command(args, print)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
