"""`kubesweep run`: the operator against the current kubeconfig context (or in-cluster config)."""

from __future__ import annotations

import argparse
import logging

import kopf


def run(args: argparse.Namespace) -> int:
    # Importing the handlers registers them with kopf.
    from kubesweep import handlers, metrics

    del handlers
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.metrics_port:
        metrics.start_metrics_server(args.metrics_port)
    namespaces = list(args.namespace)
    kopf.configure(verbose=args.verbose)
    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=args.liveness or None,
        standalone=args.peering is None,
        peering_name=args.peering or "default",
    )
    return 0
