"""`kubectl sweep`: steer and inspect sweeps from the command line (`plugin_cli` holds its usage
and its arguments, `plugin_cluster` its API client). The commands, and the tables and text they
print, are here.
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
from kubesweep.plugin_cli import STATES
from kubesweep.plugin_cli import parser as parser
from kubesweep.plugin_cluster import Cluster, PluginError
from kubesweep.plugin_rerun import again_text, refused_lines, rerun

PAST = {"paused": "paused", "running": "resumed", "stopped": "stopped", "cancelled": "cancelled"}


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
                "again": again_text({**result, **in_status.get(name, {})}, annotations),
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
                "again": again_text(removed, {}),
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
    again = f"; {runs['retries']} of them retries or reruns" if runs.get("retries") else ""
    return f"  Runs: {runs.get('total', 0)}" + (f" ({', '.join(parts)}{again})" if parts else "")


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
    lines.extend(refused_lines(status))
    lines.extend(parameter_lines(sweep))
    lines.append("")
    # AGAIN (retries and reruns) only in a sweep that has some.
    again = any(r.get("again") for r in records)
    rows = [
        [
            r["name"],
            r["state"],
            _metric_text(r["metric"]),
            json.dumps(r["parameters"], separators=(",", ":")),
            *([r.get("again") or ""] if again else []),
            r.get("why") or "",
        ]
        for r in records
    ]
    header = ["RUN", "STATE", "METRIC", "PARAMETERS", *(["AGAIN"] if again else []), "WHY"]
    lines.append(table(header, rows) if rows else "No runs yet.")
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
    elif args.command == "rerun":
        out(rerun(cluster, args.run, args.sweep))
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


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run_command(args, print)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
