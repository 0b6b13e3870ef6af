#!/usr/bin/env bash
# The whole product on this machine: the local cluster (test/cluster), the STS
# peer (test/sts), the images (built without Docker) and the webhook installed
# from manifests/ or the Helm chart. `make e2e` and `make demo` both stand on it.
#
# Usage: stack.sh up [--e2e] | down
#   up    Kubernetes binaries, cluster-up, sts-up (trusting the ServiceAccount
#         "app" of every namespace in test/e2e/namespaces.txt and of
#         rolechain-demo), the images (compiled meanwhile), then the webhook
#         as a user without Helm installs it: kubectl apply -k of
#         manifests/overlays/self-managed, with the local images; writes
#         .cache/stack.env (KUBECONFIG, STS_ENV, MINIO_ENV, KUBECTL)
#         --e2e: what only the e2e suite needs, too: minio-up (same issuer;
#         web-identity hop only; built meanwhile too), the stand-in for
#         EKS's webhook image, and the helm CLI: the suite changes the
#         chart's values as it goes, so the webhook is installed with helm
#         upgrade --install instead. The demo does without them (and their
#         first builds: helm's alone takes about 4 min with an empty Go build
#         cache)
#   down  sts-down (MinIO too), cluster-down
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
stack_t0=$(date +%s)
step() { printf '\n==> [%4ss] %s\n' "$(($(date +%s) - stack_t0))" "$*"; }
# shellcheck source=lib/rollout.sh
. test/lib/rollout.sh

e2e=
case "${1:-} ${2:-}" in
"down ")
  bash test/sts/down.sh || true
  bash test/cluster/down.sh
  exit 0 ;;
"up ") ;;
"up --e2e") e2e=1 ;;
*) echo "usage: $0 up [--e2e] | down" >&2; exit 2 ;;
esac
mkdir -p .cache

start=$(date +%s)
step "Kubernetes binaries (test/tools/build.sh)"
bash test/tools/build.sh

# The images (and helm for the e2e suite) compile in the background while the
# cluster and the STS come up: those steps mostly wait on apt, dpkg and
# daemons, while a cold Go build needs both cores for minutes. crane goes
# first, in the foreground: the cluster's pause image needs it too, and two go
# installs of one binary at once would race.
step "crane; then the images${e2e:+, helm and MinIO}, built in the background"
. test/images/lib.sh
CRANE=$(ensure_crane)
export CRANE
builds_log=$INSTALL_LOGS/stack-builds.log
mkdir -p "$INSTALL_LOGS"
images=(webhook sidecar e2e-app toolbox)
builds=(images)
if [[ -n $e2e ]]; then images+=(ekswebhook); builds=(e2e-images helm); fi
make --no-print-directory "${builds[@]}" >"$builds_log" 2>&1 &
builds_pid=$!
minio_pid=
if [[ -n $e2e ]]; then
  # MinIO's first build is the longest (about 1,000 packages): started now,
  # it overlaps the cluster's and the STS's start instead of following them.
  # minio-up runs the same script again, a dry run by then.
  minio_log=$INSTALL_LOGS/stack-minio-build.log
  bash test/sts/minio-build.sh >"$minio_log" 2>&1 &
  minio_pid=$!
fi
trap 'kill $builds_pid $minio_pid 2>/dev/null || true' EXIT
echo "   (logs: $builds_log${e2e:+ $minio_log})"

step "cluster-up"
bash test/cluster/up.sh
set -a; . .cache/cluster/cluster.env; set +a

step "sts-up"
subjects=$(sed 's/$/:app/' test/e2e/namespaces.txt | tr '\n' ' ')
# The provider also accepts EKS Pod Identity's audience: the e2e suite's
# stand-in for EKS's agent trades the pod's Pod Identity token at the STS.
STS_SUBJECTS="$subjects rolechain-demo:app" STS_AUDIENCES=sts.amazonaws.com,pods.eks.amazonaws.com bash test/sts/up.sh
STS_ENV=$ROOT/.cache/sts/sts.env

minio_env=
if [[ -n $e2e ]]; then
  step "minio-up (second web-identity peer; built in the background since the start)"
  if ! wait "$minio_pid"; then
    echo "!!! building MinIO failed; the end of $minio_log:" >&2
    tail -n 40 "$minio_log" >&2
    exit 1
  fi
  grep -E '^      minio:' "$minio_log" | sed 's/^ */   /' || true
  bash test/sts/minio-up.sh
  minio_env=$ROOT/.cache/sts/minio.env
fi

step "${builds[*]} (built in the background since the start)"
if ! wait "$builds_pid"; then
  echo "!!! building ${builds[*]} failed; the end of $builds_log:" >&2
  tail -n 40 "$builds_log" >&2
  exit 1
fi
grep -E '^>> image|^      helm:' "$builds_log" | sed 's/^ */   /'
for t in "${images[@]}"; do
  bash test/images/import.sh ".cache/images/$t.tar"
done

REGION=$(. "$STS_ENV" && echo "$REGION")
existed=0
"$KUBECTL" -n rolechain-system get deployment rolechain >/dev/null 2>&1 && existed=1
if [[ -n $e2e ]]; then
  step "helm upgrade --install rolechain"
  if [[ $existed == 1 ]] && ! bin/helm status rolechain --namespace rolechain-system >/dev/null 2>&1; then
    # Kept from `make demo KEEP=1`: helm does not adopt objects it did not
    # create, so they go first.
    echo "   removing the webhook installed with kubectl apply -k"
    "$KUBECTL" delete -k manifests/overlays/self-managed --ignore-not-found --wait | sed 's/^/   /'
    existed=0
  fi
  bin/helm upgrade --install rolechain charts/rolechain --namespace rolechain-system --create-namespace \
    --set image.repository=localhost/rolechain/webhook --set image.tag=dev --set image.pullPolicy=Never \
    --set sidecar.image.repository=localhost/rolechain/sidecar --set sidecar.image.tag=dev \
    --set sidecar.image.pullPolicy=Never --set sidecar.defaultRegion="$REGION" \
    --wait --timeout 5m
  webhook_rolled_out
else
  step "kubectl apply -k manifests/overlays/self-managed, with the local images"
  # An overlay of the generated manifests, as a user would write one: the
  # local images, and the sidecar's image and the region as flags (the
  # webhook's flags take the last value given).
  mkdir -p .cache/install
  cat >.cache/install/kustomization.yaml <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../manifests/overlays/self-managed
images:
  - name: rolechain/webhook
    newName: localhost/rolechain/webhook
    newTag: dev
patches:
  - target: {kind: Deployment, name: rolechain}
    patch: |
      - {op: replace, path: /spec/template/spec/containers/0/imagePullPolicy, value: Never}
      - {op: add, path: /spec/template/spec/containers/0/args/-, value: --sidecar-image=localhost/rolechain/sidecar:dev}
      - {op: add, path: /spec/template/spec/containers/0/args/-, value: --sidecar-image-pull-policy=Never}
      - {op: add, path: /spec/template/spec/containers/0/args/-, value: --default-region=$REGION}
YAML
  "$KUBECTL" apply -k .cache/install | sed 's/^/   /'
  webhook_rolled_out
fi
# On a cluster kept from an earlier run the tag "dev" now names the images
# just imported, but the Deployment's spec is unchanged, so its pods would
# keep serving the old webhook: restart them onto the new image.
if [[ $existed == 1 ]]; then
  "$KUBECTL" -n rolechain-system rollout restart deployment/rolechain
  webhook_rolled_out
fi

# The API server calls the webhook through its ClusterIP; kube-proxy may not
# have programmed it yet although the pods are Ready (NOTES.md).
step "webhook Service reachable"
ip=$("$KUBECTL" -n rolechain-system get svc rolechain -o jsonpath='{.spec.clusterIP}')
for _ in $(seq 60); do
  if curl -sk -o /dev/null "https://$ip:443/"; then break; fi
  sleep 1
done

printf 'KUBECONFIG=%s\nSTS_ENV=%s\nMINIO_ENV=%s\nKUBECTL=%s\n' "$KUBECONFIG" "$STS_ENV" "$minio_env" "$KUBECTL" > .cache/stack.env
step "stack up in $(( $(date +%s) - start ))s (.cache/stack.env)"
