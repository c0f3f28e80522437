"""The `kubesweep` command: run the operator, print the CRD, start the sandbox."""

from __future__ import annotations

import argparse
import sys

# The top-level modules of the `sandbox` extra (pyproject.toml): one missing means the extra is.
SANDBOX_EXTRA = {"kmock", "aiohttp", "jsonpatch", "cryptography", "cel"}
NO_SANDBOX = "kubesweep sandbox: needs the sandbox extra ({}): pip install 'kubesweep[sandbox]'"
NO_CLUSTER = (
    "kubesweep run: no cluster to connect to: not in a pod with a service account, and no usable "
    "kubeconfig (KUBECONFIG or ~/.kube/config: {})"
)


def cluster_config_error() -> str | None:
    """Why the operator has no cluster to connect to (the check cluster.Cluster and kopf's login
    make: in-cluster config, else the kubeconfig), or None. kopf would retry its login every
    minute with a traceback instead."""
    from kubernetes import client, config

    try:
        config.load_incluster_config(client_configuration=client.Configuration())
        return None
    except config.ConfigException:
        pass
    try:
        config.load_kube_config(client_configuration=client.Configuration())
        return None
    except (config.ConfigException, OSError, TypeError, ValueError) as exc:
        return str(exc) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    from kubesweep import __version__

    parser = argparse.ArgumentParser(prog="kubesweep", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kubesweep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the operator against the current kubeconfig context")
    run.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="watch only these namespaces (repeatable; globs like ml-* and exclusions like !kube-* work)",
    )
    run.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace (default)")
    run.add_argument(
        "--liveness", default=None, help="kopf's health endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    run.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port")
    run.add_argument("--peering", default=None, help="kopf peering name for HA replicas")
    run.add_argument(
        "--priority",
        type=int,
        default=None,
        help="kopf peering priority (default with --peering: random, so identical replicas differ)",
    )
    run.add_argument("--verbose", "-v", action="store_true", help="log at debug level")

    sub.add_parser("crd", help="print the Sweep CRD generated from the API models")

    sandbox = sub.add_parser("sandbox", help="an embedded cluster to try kubesweep without one")
    sandbox.add_argument("files", nargs="*", help="manifests to apply once it is up")
    sandbox.add_argument("--serve", action="store_true", help="serve until SIGINT/SIGTERM")
    sandbox.add_argument("--kubeconfig", default=None, help="where to write the kubeconfig")
    sandbox.add_argument("--port", type=int, default=0, help="the API server's port (default: a free one)")
    sandbox.add_argument(
        "--executor",
        choices=["process", "simulated"],
        default="process",
        help="process: run each pod's command (default); simulated: pods end after their "
        "sandbox.kubesweep.io/duration annotation, nothing runs",
    )
    sandbox.add_argument("--no-operator", action="store_true", help="leave the operator out")
    sandbox.add_argument(
        "--k8s-bin",
        default=None,
        metavar="DIR",
        help="a real control plane instead of the emulator: etcd, kube-apiserver and "
        "kube-controller-manager from DIR, with the sandbox's kubelet as its node",
    )

    args = parser.parse_args(argv)
    if args.command == "crd":
        from kubesweep import crd

        sys.stdout.write(crd.render_yaml())
        return 0
    if args.command == "run":
        if (why := cluster_config_error()) is not None:
            print(NO_CLUSTER.format(why), file=sys.stderr)
            return 1
        from kubesweep import operator_main

        return operator_main.run(args)
    try:
        from kubesweep.sandbox.cli import run as run_sandbox
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in SANDBOX_EXTRA:
            raise
        print(NO_SANDBOX.format(exc.msg), file=sys.stderr)
        return 1
    return run_sandbox(args)


if __name__ == "__main__":
    sys.exit(main())
