"""A Helm post-renderer: the chart's manifests with the operator Deployment at zero replicas.

The real control plane tier has no container runtime for the operator's image, so the tests run
the operator as a local process (as the chart's ServiceAccount) instead of the Deployment's pod.
"""

from __future__ import annotations

import sys

import yaml


def main() -> None:
    documents = [d for d in yaml.safe_load_all(sys.stdin) if d]
    for doc in documents:
        if doc.get("kind") == "Deployment":
            doc["spec"]["replicas"] = 0
    yaml.safe_dump_all(documents, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
