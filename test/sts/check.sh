#!/usr/bin/env bash
# sts-check: proves the STS started by up.sh enforces what the harness relies
# on, with tokens signed by the service-account key exactly as Kubernetes
# signs them (ststool token):
#   - the allowed service account chains web → target and reads the object;
#   - the web role alone cannot read it;
#   - the target role trusts only the web role (no target → target, no web
#     identity straight into target);
#   - the first hop refuses another service account, another audience, an
#     expired token and a token signed by another key.
# Needs $STS_DIR/sts.env with SA_KEY (a cluster that signs with a key we
# cannot read can still use the app's chain mode with a real token).
# Prints one line per case and "N passed, M failed"; exits non-zero on any
# failure.
set -Eeuo pipefail
. "$(dirname "$0")/lib.sh"
trap on_error ERR

[[ -f $STS_DIR/sts.env ]] || { echo "no $STS_DIR/sts.env: run make sts-up first" >&2; exit 1; }
set -a
. "$STS_DIR/sts.env"
set +a
[[ -n ${SA_KEY:-} && -r $SA_KEY ]] || { echo "sts.env has no readable SA_KEY" >&2; exit 1; }

(cd "$ROOT/test/app" && CGO_ENABLED=0 go build -trimpath -o "$BIN/app" .)
(cd "$ROOT/test/sts" && CGO_ENABLED=0 go build -trimpath -o "$BIN/ststool" ./ststool)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
read -r FIRST_SUBJECT _ <<<"${STS_SUBJECTS//,/ }"
NS=${FIRST_SUBJECT%%:*} SA=${FIRST_SUBJECT#*:}
AUD=${STS_AUDIENCES%%,*}

token() { # token NAME [ststool token flags...]
  local name=$1
  shift
  "$BIN/ststool" token --signing-key "$SA_KEY" --issuer "$ISSUER_URL" --namespace "$NS" \
    --service-account "$SA" --audience "$AUD" --out "$TMP/$name" "$@"
}
token good
token other-sa --service-account "$SA-not-allowed"
token other-ns --namespace "$NS-not-allowed"
token other-aud --audience not-"$AUD"
token expired --expired
"$BIN/ststool" genkey --key "$TMP/foreign.key" --pub "$TMP/foreign.pub"
"$BIN/ststool" token --signing-key "$TMP/foreign.key" --issuer "$ISSUER_URL" --namespace "$NS" \
  --service-account "$SA" --audience "$AUD" --out "$TMP/foreign-key"

passed=0 failed=0
# expect NAME WANT_EXIT WANT_OUTPUT TOKEN WEB_ROLE TARGET_ROLES [APP_FLAGS...]
# runs app chain against $ENDPOINT.
expect() {
  local name=$1 want=$2 pattern=$3 tok=$4 web=$5 targets=$6 rc=0
  shift 6
  "$BIN/app" chain --token-file "$TMP/$tok" --web-role-arn "$web" --target-role-arn "$targets" \
    --sts-endpoint "$ENDPOINT" --region "$REGION" --bucket "$BUCKET" --key "$OBJECT_KEY" "$@" \
    >"$TMP/out" 2>"$TMP/err" || rc=$?
  if [[ $rc == "$want" ]] && grep -q -- "$pattern" "$TMP/out"; then
    passed=$((passed + 1))
    printf 'ok    %s\n' "$name"
  else
    failed=$((failed + 1))
    printf 'FAIL  %s: exit %s (want %s), output:\n' "$name" "$rc" "$want"
    sed 's/^/      /' "$TMP/out" "$TMP/err"
  fi
}

echo "radosgw at $STS_ENDPOINT:"
ENDPOINT=$STS_ENDPOINT
expect "system:serviceaccount:$NS:$SA chains web → target and reads s3://$BUCKET/$OBJECT_KEY" \
  0 "s3-get: ok" good "$WEB_ROLE_ARN" "$TARGET_ROLE_ARN"
expect "the web role alone cannot read the bucket (S3 403)" \
  5 "s3-list: FAILED .*HTTP 403" good "$WEB_ROLE_ARN" ""
expect "the target role does not trust itself: web → target → target is refused (STS 403)" \
  4 "assume-role: FAILED $TARGET_ROLE_ARN: HTTP 403" good "$WEB_ROLE_ARN" "$TARGET_ROLE_ARN,$TARGET_ROLE_ARN"
expect "the target role does not trust the web identity directly (STS 403)" \
  3 "web-identity: FAILED .*HTTP 403" good "$TARGET_ROLE_ARN" ""
expect "another service account in $NS is refused by the first hop (STS 403)" \
  3 "web-identity: FAILED .*HTTP 403" other-sa "$WEB_ROLE_ARN" "$TARGET_ROLE_ARN"
expect "service account $SA of another namespace is refused by the first hop (STS 403)" \
  3 "web-identity: FAILED .*HTTP 403" other-ns "$WEB_ROLE_ARN" "$TARGET_ROLE_ARN"
expect "a token for another audience is refused by the first hop (STS 403)" \
  3 "web-identity: FAILED .*HTTP 403" other-aud "$WEB_ROLE_ARN" "$TARGET_ROLE_ARN"
expect "an expired token is refused by the first hop (STS 403)" \
  3 "web-identity: FAILED .*HTTP 403" expired "$WEB_ROLE_ARN" "$TARGET_ROLE_ARN"
expect "a token signed by another key is refused by the first hop (STS 403)" \
  3 "web-identity: FAILED .*HTTP 403" foreign-key "$WEB_ROLE_ARN" "$TARGET_ROLE_ARN"

if [[ -f $STS_DIR/minio.env ]]; then
  . "$STS_DIR/minio.env"
  echo "minio at $MINIO_ENDPOINT (first hop only):"
  ENDPOINT=$MINIO_ENDPOINT
  expect "a valid token gets the readonly role and reads s3://$BUCKET/$OBJECT_KEY" \
    0 "s3-get: ok" good "$MINIO_ROLE_ARN" "" --list=false
  expect "MinIO refuses to chain sts:AssumeRole with temporary credentials" \
    4 "assume-role: FAILED" good "$MINIO_ROLE_ARN" "$MINIO_ROLE_ARN" --list=false
  expect "a token for another audience is refused" \
    3 "web-identity: FAILED" other-aud "$MINIO_ROLE_ARN" "" --list=false
  expect "an expired token is refused" \
    3 "web-identity: FAILED" expired "$MINIO_ROLE_ARN" "" --list=false
  expect "a token signed by another key is refused" \
    3 "web-identity: FAILED" foreign-key "$MINIO_ROLE_ARN" "" --list=false
fi

echo "sts-check: $passed passed, $failed failed"
[[ $failed == 0 ]] || exit 1
