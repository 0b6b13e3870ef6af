#!/usr/bin/env bash
# minio-up: MinIO as a second web-identity peer, trusting the same issuer
# that sts-up publishes (run sts-up first). MinIO checks a token's
# signature, kid, exp and aud against the issuer's discovery document and
# JWKS, grants the built-in readonly policy to every valid token (role-policy
# mode), and refuses sts:AssumeRole signed with temporary credentials: it is
# a peer for the first hop only.
#
#  1. build minio into bin/ from the Go module proxy (minio-build.sh: the
#     first build takes 4–10 min of CPU; later runs keep it by a stamp and
#     only dry-run it);
#  2. start it on NODE_IP:MINIO_PORT with the issuer's serving certificate
#     among its trusted CAs;
#  3. a bucket with one object (root credentials, S3 API);
#  4. write $STS_DIR/minio.env (MINIO_ENDPOINT, MINIO_ROLE_ARN, BUCKET,
#     OBJECT_KEY, REGION). check.sh runs the MinIO cases when it exists.
#
# Variables (defaults): MINIO_PORT (9000), MINIO_VERSION (pinned in
# minio-build.sh).
# sts-down and minio-down stop it.
set -Eeuo pipefail
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/lib/install.sh
. "$(dirname "$0")/../lib/install.sh"
trap on_error ERR

MINIO_PORT=${MINIO_PORT:-9000}
[[ -f $STS_DIR/sts.env ]] || { echo "no $STS_DIR/sts.env: run make sts-up first (it publishes the issuer)" >&2; exit 1; }
set -a
. "$STS_DIR/sts.env"
set +a
NODE_IP=${NODE_IP:-127.0.0.1}
MDIR=$STS_DIR/minio
MINIO_ENDPOINT=http://$NODE_IP:$MINIO_PORT
CLIENT_ID=${STS_AUDIENCES%%,*}

bash "$(dirname "$0")/minio-build.sh"

step "stop an earlier minio"
stop_pidfile "$RUN/minio.pid"
rm -rf "$MDIR" "$STS_DIR/minio.env"
mkdir -p "$MDIR/data" "$MDIR/certs/CAs" "$RUN" "$LOGS"
port_free "$NODE_IP:$MINIO_PORT"

step "minio on $MINIO_ENDPOINT" "$LOGS/minio.log"
# MinIO fetches the discovery document itself and verifies TLS against the
# system roots plus certs/CAs: trust the issuer's self-signed certificate.
[[ -f $STS_DIR/issuer/tls.crt ]] && cp "$STS_DIR/issuer/tls.crt" "$MDIR/certs/CAs/issuer.crt"
ROOT_USER=minio-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
ROOT_PASSWORD=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
: >"$LOGS/minio.log"
MINIO_ROOT_USER=$ROOT_USER MINIO_ROOT_PASSWORD=$ROOT_PASSWORD \
  MINIO_IDENTITY_OPENID_CONFIG_URL=$ISSUER_URL/.well-known/openid-configuration \
  MINIO_IDENTITY_OPENID_CLIENT_ID=$CLIENT_ID \
  MINIO_IDENTITY_OPENID_ROLE_POLICY=readonly \
  MINIO_BROWSER=off MINIO_UPDATE=off \
  start_daemon minio "$LOGS/minio.log" "$BIN/minio" server --quiet --anonymous \
  --address "$NODE_IP:$MINIO_PORT" --certs-dir "$MDIR/certs" "$MDIR/data"
wait_daemon minio "minio at $MINIO_ENDPOINT" 60 curl -fs "$MINIO_ENDPOINT/minio/health/ready"

step "bucket $BUCKET with $OBJECT_KEY"
STS_ADMIN_ACCESS_KEY=$ROOT_USER STS_ADMIN_SECRET_KEY=$ROOT_PASSWORD \
  "$BIN/ststool" s3put --endpoint "$MINIO_ENDPOINT" --region "$REGION" --bucket "$BUCKET" --object-key "$OBJECT_KEY"

step "write $STS_DIR/minio.env"
# MinIO names the role after the client ID: base64url(SHA-1(client ID)).
ROLE_ID=$(printf %s "$CLIENT_ID" | openssl dgst -sha1 -binary | base64 | tr '+/' '-_' | tr -d '=')
umask 077
cat >"$MDIR/root.env" <<EOF
MINIO_ROOT_USER=$ROOT_USER
MINIO_ROOT_PASSWORD=$ROOT_PASSWORD
EOF
umask 022
cat >"$STS_DIR/minio.env" <<EOF
MINIO_ENDPOINT=$MINIO_ENDPOINT
MINIO_ROLE_ARN=arn:minio:iam:::role/$ROLE_ID
BUCKET=$BUCKET
OBJECT_KEY=$OBJECT_KEY
REGION=$REGION
EOF
cat "$STS_DIR/minio.env"
step_done
echo "minio-up: ready in $(elapsed "$T0")s"
