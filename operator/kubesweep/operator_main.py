"""`kubesweep run`: the operator against the current kubeconfig context (or in-cluster config)."""

from __future__ import annotations

import argparse
import random
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
    # A peering name makes kopf wait for its peering object: give it only for HA replicas. kopf
    # freezes every replica that shares the highest priority, so identical pods of one
    # Deployment each draw their own.
    peering: dict[str, Any] = {"standalone": True}
    if args.peering:
        priority = args.priority if args.priority is not None else random.SystemRandom().randint(1, 2**30)
        peering = {"peering_name": args.peering, "standalone": False, "priority": priority}
    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=args.liveness or None,
        **peering,
    )
    return 0
