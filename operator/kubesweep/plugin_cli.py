"""`kubectl sweep`: steer and inspect sweeps from the command line.

    kubectl sweep pause|resume|stop|cancel NAME
    kubectl sweep list [-A] [-o json|yaml]
    kubectl sweep status NAME [-o json|yaml]
    kubectl sweep stop-run RUN
    kubectl sweep rerun RUN [--sweep NAME]
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
from typing import Any

from kubesweep import api
from kubesweep.export import FORMATS

# The docstring above is what `kubectl sweep --help` prints first (the root parser's description).

# The commands that set a sweep's spec.state, and the state each sets.
STATES = {"pause": "paused", "resume": "running", "stop": "stopped", "cancel": "cancelled"}
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
    rerun = command("rerun", "run an ended run again, as a new run with the same parameters")
    rerun.add_argument("run", help="the run: its Job's name, e.g. lr-search-0007")
    rerun.add_argument(
        "--sweep",
        metavar="NAME",
        default=None,
        help="the run's sweep (default: found from the run's Job or the records)",
    )
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
