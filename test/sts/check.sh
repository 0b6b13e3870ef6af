#!/usr/bin/env bash
# sts-check: proves the STS started by up.sh enforces what the harness relies
# on, with tokens signed by the service-account key exactly as Kubernetes
# signs them (ststool token):
#   - the allowed service account chains web → target and reads the object;
#   - the web role alone cannot read it;
#   - the target role trusts only the web role (no target → target, no web
#     identity straight into target);
#   - the first hop refuses another service account, another audience, an
#     expired token and a token signed by another key;
#   - the sidecar binary (--once, as a CI step runs it) gets credentials the
#     app can read with, and names the refusing hop, the HTTP status and the
#     peer's error code when refused, never printing the token.
# With $STS_DIR/minio.env (make minio-up) the same for MinIO, a peer for the
# web-identity hop only.
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
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$BIN/rolechain-sidecar" ./cmd/sidecar)

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
# report NAME WHY: WHY empty is a pass; otherwise prints the outputs, unless
# WHY says they hold a secret.
report() {
  if [[ -z $2 ]]; then
    passed=$((passed + 1))
    printf 'ok    %s\n' "$1"
  else
    failed=$((failed + 1))
    case $2 in
    *"in its output"*) # the output holds a secret: never print it
      printf 'FAIL  %s: %s (output withheld)\n' "$1" "$2" ;;
    *)
      printf 'FAIL  %s: %s, output:\n' "$1" "$2"
      sed 's/^/      /' "$TMP/out" "$TMP/err" ;;
    esac
  fi
}

# expect NAME WANT_EXIT WANT_OUTPUT TOKEN WEB_ROLE TARGET_ROLES [APP_FLAGS...]
# runs app chain against $ENDPOINT.
expect() {
  local name=$1 want=$2 pattern=$3 tok=$4 web=$5 targets=$6 rc=0 why=""
  shift 6
  "$BIN/app" chain --token-file "$TMP/$tok" --web-role-arn "$web" --target-role-arn "$targets" \
    --sts-endpoint "$ENDPOINT" --region "$REGION" --bucket "$BUCKET" --key "$OBJECT_KEY" "$@" \
    >"$TMP/out" 2>"$TMP/err" || rc=$?
  if [[ $rc != "$want" ]]; then why="exit $rc (want $want)"
  elif ! grep -q -- "$pattern" "$TMP/out"; then why="no line matches '$pattern'"
  fi
  report "$name" "$why"
}

# expect_sidecar NAME WANT_EXIT WANT_STDERR TOKEN WEB_ROLE ROLES
# runs the sidecar once against $ENDPOINT, writing a credentials file as a
# CI step would; on success the app must read the object with that file
# (SDK default chain). Its output must never hold the token or the keys.
expect_sidecar() {
  local name=$1 want=$2 pattern=$3 tok=$4 web=$5 roles=$6 rc=0 why="" secret
  rm -f "$TMP/creds"
  "$BIN/rolechain-sidecar" --once --format ini --output "$TMP/creds" --token-file "$TMP/$tok" \
    --web-identity-role-arn "$web" ${roles:+--role-arn "$roles"} --sts-endpoint "$ENDPOINT" \
    --region "$REGION" --session-name sts-check >"$TMP/out" 2>"$TMP/err" || rc=$?
  if [[ $rc != "$want" ]]; then why="exit $rc (want $want)"
  elif [[ -n $pattern ]] && ! grep -q -- "$pattern" "$TMP/err"; then why="stderr does not match '$pattern'"
  elif grep -qF -- "$(cat "$TMP/$tok")" "$TMP/out" "$TMP/err"; then why="the web-identity token is in its output"
  fi
  if [[ -z $why && $want == 0 ]]; then
    secret=$(sed -n 's/^aws_secret_access_key *= *//p' "$TMP/creds")
    if [[ -z $secret ]]; then why="no aws_secret_access_key in the credentials file"
    elif grep -qF -- "$secret" "$TMP/out" "$TMP/err"; then why="the secret key is in its output"
    elif ! env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
      AWS_SHARED_CREDENTIALS_FILE="$TMP/creds" AWS_CONFIG_FILE=/dev/null AWS_REGION="$REGION" \
      "$BIN/app" read --bucket "$BUCKET" --key "$OBJECT_KEY" --s3-endpoint "$ENDPOINT" >>"$TMP/out" 2>>"$TMP/err"; then
      why="the app cannot read s3://$BUCKET/$OBJECT_KEY with the credentials file"
    fi
  fi
  report "$name" "$why"
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
expect_sidecar "the sidecar chains web → target and the app reads with the credentials file it wrote" \
  0 "" good "$WEB_ROLE_ARN" "$TARGET_ROLE_ARN"
expect_sidecar "the sidecar names the refusing hop, the HTTP status and radosgw's code (target → target)" \
  1 "access_denied: assuming $TARGET_ROLE_ARN (hop 3 of 3): .*StatusCode: 403, RequestID: tx.*api error AccessDenied" \
  good "$WEB_ROLE_ARN" "$TARGET_ROLE_ARN,$TARGET_ROLE_ARN"
expect_sidecar "the sidecar reports an expired token as refused at hop 1 with radosgw's code" \
  1 "access_denied: assuming $WEB_ROLE_ARN (hop 1 of 2): .*StatusCode: 403.*api error AccessDenied" \
  expired "$WEB_ROLE_ARN" "$TARGET_ROLE_ARN"

if [[ -f $STS_DIR/minio.env ]]; then
  . "$STS_DIR/minio.env"
  echo "minio at $MINIO_ENDPOINT (first hop only):"
  ENDPOINT=$MINIO_ENDPOINT
  expect "a valid token gets the readonly role and reads s3://$BUCKET/$OBJECT_KEY" \
    0 "s3-get: ok" good "$MINIO_ROLE_ARN" "" --list=false
  expect "MinIO refuses to chain sts:AssumeRole with temporary credentials (STS 403)" \
    4 "assume-role: FAILED .*HTTP 403 AccessDenied" good "$MINIO_ROLE_ARN" "$MINIO_ROLE_ARN" --list=false
  expect "a token for another audience is refused (STS 400, azp must match the client ID)" \
    3 "web-identity: FAILED .*HTTP 400 InvalidParameterValue: .*azp" other-aud "$MINIO_ROLE_ARN" "" --list=false
  expect "an expired token is refused (STS 400)" \
    3 "web-identity: FAILED .*HTTP 400 InvalidParameterValue: Token is expired" expired "$MINIO_ROLE_ARN" "" --list=false
  expect "a token signed by another key is refused (STS 400, unknown kid)" \
    3 "web-identity: FAILED .*HTTP 400 InvalidParameterValue: No public key found" foreign-key "$MINIO_ROLE_ARN" "" --list=false
  expect_sidecar "the sidecar takes the web-identity hop and the app reads with the credentials file it wrote" \
    0 "" good "$MINIO_ROLE_ARN" ""
  expect_sidecar "the sidecar names MinIO's refusal to chain: hop 2, HTTP 403, AccessDenied" \
    1 "access_denied: assuming $MINIO_ROLE_ARN (hop 2 of 2): .*StatusCode: 403.*api error AccessDenied" \
    good "$MINIO_ROLE_ARN" "$MINIO_ROLE_ARN"
  expect_sidecar "the sidecar passes on MinIO's reason for an expired token" \
    1 "invalid_request: assuming $MINIO_ROLE_ARN (hop 1 of 1): .*StatusCode: 400.*Token is expired" \
    expired "$MINIO_ROLE_ARN" ""
fi

echo "sts-check: $passed passed, $failed failed"
[[ $failed == 0 ]] || exit 1
