"""`kubesweep run`: the operator against the current kubeconfig context (or in-cluster config)."""

from __future__ import annotations

import argparse
from typing import Any

import kopf


def run(args: argparse.Namespace) -> int:
    # Importing the handlers registers them with kopf.
    from kubesweep import handlers, metrics

    del handlers
    if args.metrics_port:
        metrics.start_metrics_server(args.metrics_port)
    namespaces = list(args.namespace)
    kopf.configure(verbose=args.verbose)
    # A peering name makes kopf wait for its peering CRD: give it only for HA replicas.
    peering: dict[str, Any] = (
        {"peering_name": args.peering, "standalone": False} if args.peering else {"standalone": True}
    )
    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=args.liveness or None,
        **peering,
    )
    return 0
