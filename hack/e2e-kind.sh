#!/usr/bin/env bash
# Create a kind cluster, build and load the operator image, install the chart, and run the e2e
# suite against it. Needs docker, kind, helm and kubectl on PATH (none of them runs in the sandbox).
#   hack/e2e-kind.sh                 # create (or reuse) the cluster, install, test
#   KEEP=1 hack/e2e-kind.sh          # leave the cluster running afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=${CLUSTER:-kubesweep-e2e}
IMAGE=${IMAGE:-kubesweep:e2e}
KUBECONFIG_PATH=${KUBECONFIG_PATH:-$PWD/.cache/kind-kubeconfig}
mkdir -p "$(dirname "$KUBECONFIG_PATH")"

for tool in docker kind helm kubectl; do
  command -v "$tool" >/dev/null || { echo "e2e-kind: $tool is not on PATH" >&2; exit 2; }
done

if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG_PATH" --wait 120s
  created=1
fi
kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG_PATH"
if [[ -z "${KEEP:-}" && -n "${created:-}" ]]; then
  trap 'kind delete cluster --name "$CLUSTER"' EXIT
fi

docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"
helm upgrade --install kubesweep helm/kubesweep --kubeconfig "$KUBECONFIG_PATH" \
  --namespace kubesweep-system --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
  --wait --timeout 5m
kubectl --kubeconfig "$KUBECONFIG_PATH" wait --for condition=established --timeout 60s crd/sweeps.kubesweep.io

KUBESWEEP_E2E_KUBECONFIG="$KUBECONFIG_PATH" .venv/bin/python -m pytest -q tests/e2e
