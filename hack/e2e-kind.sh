#!/usr/bin/env bash
# Create a kind cluster, build and load the operator image, install the chart, and run the e2e
# suite against it. Needs docker, kind, helm and kubectl on PATH (not available in the sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=${CLUSTER:-kubesweep-e2e}
IMAGE=${IMAGE:-kubesweep:e2e}
KUBECONFIG_PATH=${KUBECONFIG_PATH:-$PWD/.cache/kind-kubeconfig}
mkdir -p "$(dirname "$KUBECONFIG_PATH")"

kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG_PATH"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"
helm upgrade --install kubesweep helm/kubesweep --kubeconfig "$KUBECONFIG_PATH" \
  --namespace kubesweep-system --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE#*:}" --set image.pullPolicy=Never --wait
KUBESWEEP_E2E_KUBECONFIG="$KUBECONFIG_PATH" .venv/bin/python -m pytest -q tests/e2e
