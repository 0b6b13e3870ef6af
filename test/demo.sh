#!/usr/bin/env bash
# make demo: the product end to end on this machine, narrated.
#  1. the local cluster, radosgw as STS, the images and the webhook installed
#     from manifests/ with kubectl apply -k (test/stack.sh);
#  2. an annotated pod: prints what the webhook injected;
#  3. watches the sidecar refresh the credentials file (expiry and a short
#     fingerprint only: keys are never printed);
#  4. shows the app's successful S3 reads through the chained role;
#  5. tears everything down (KEEP=1 keeps it running).
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
demo_t0=$(date +%s)
finish() {
  rc=$?
  if [ -z "${KEEP:-}" ]; then
    echo; echo "==> tearing down (KEEP=1 keeps the cluster)"
    bash test/stack.sh down >/dev/null 2>&1 || true
  else
    echo; echo "==> kept: export KUBECONFIG=$KUBECONFIG; make cluster-down sts-down when done"
  fi
  echo "==> make demo took $(($(date +%s) - demo_t0))s (exit $rc)"
  exit $rc
}
trap finish EXIT
bash test/stack.sh up
set -a; . .cache/stack.env; . "$STS_ENV"; set +a
k() { "$KUBECTL" "$@"; }
NS=rolechain-demo

echo; echo "==> an annotated pod in namespace $NS"
k delete namespace "$NS" --ignore-not-found --wait >/dev/null
k create namespace "$NS" >/dev/null
k -n "$NS" create serviceaccount app >/dev/null
manifest=$(cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: demo
  namespace: $NS
  annotations:
    rolechain.dev/web-identity-role-arn: $WEB_ROLE_ARN
    rolechain.dev/role-arn: $TARGET_ROLE_ARN
    rolechain.dev/sts-endpoint: $STS_ENDPOINT
    rolechain.dev/region: $REGION
    rolechain.dev/refresh-interval: 10s
spec:
  serviceAccountName: app
  securityContext: {runAsNonRoot: true, runAsUser: 65532}
  containers:
  - name: app
    image: localhost/rolechain/e2e-app:dev
    imagePullPolicy: Never
    args: [read]
    env:
    - {name: APP_BUCKET, value: "$BUCKET"}
    - {name: APP_KEY, value: "$OBJECT_KEY"}
    - {name: APP_S3_ENDPOINT, value: "$STS_ENDPOINT"}
    - {name: APP_INTERVAL, value: 5s}
    - {name: APP_RELOAD, value: "true"}
  - name: toolbox
    image: localhost/rolechain/toolbox:dev
    imagePullPolicy: Never
    args: [sleep]
YAML
)
echo "$manifest" | sed 's/^/    /'
echo "$manifest" | k apply -f - >/dev/null
k -n "$NS" wait --for=condition=Ready pod/demo --timeout=180s >/dev/null

echo; echo "==> what the webhook injected"
k -n "$NS" get pod demo -o jsonpath='{range .spec.initContainers[*]}  init container {.name}: image={.image} restartPolicy={.restartPolicy} startupProbe={.startupProbe.exec.command}{"\n"}{end}{range .spec.volumes[*]}  volume {.name}{"\n"}{end}{range .spec.containers[*]}  container {.name}: {range .env[?(@.name=="AWS_SHARED_CREDENTIALS_FILE")]}{.name}={.value} {end}{range .volumeMounts[?(@.name=="rolechain-credentials")]}mount {.mountPath} readOnly={.readOnly}{end}{"\n"}{end}'
echo "  status: $(k -n "$NS" get pod demo -o jsonpath='{.metadata.annotations.rolechain\.dev/status}')"

echo; echo "==> the credentials file, refreshed every 10 s: the shortest refresh-interval (fingerprint = first 8 hex of sha256 of the access key id)"
for _ in 1 2 3 4 5 6; do
  json=$(k -n "$NS" exec demo -c toolbox -- /toolbox cat /var/run/rolechain/default.json)
  exp=$(printf '%s' "$json" | sed -n 's/.*"expiration": *\([0-9]*\).*/\1/p')
  fp=$(printf '%s' "$json" | sed -n 's/.*"access_key_id": *"\([^"]*\)".*/\1/p' | sha256sum | cut -c1-8)
  echo "  $(date -u +%T)  expires $(date -u -d "@$exp" +%T)  key fingerprint $fp"
  sleep 5
done

echo; echo "==> the app's reads of s3://$BUCKET/$OBJECT_KEY through the chained role"
k -n "$NS" logs demo -c app | tail -n 8 | sed 's/^/  /'
if k -n "$NS" logs demo -c app | grep -q FAILED; then echo "demo: the app saw a failed read" >&2; exit 1; fi
echo; echo "==> demo done"
