#!/usr/bin/env bash
# sts-up: Ceph radosgw as a real STS + IAM + S3 peer that trusts the cluster's
# service-account issuer, started from nothing on this machine.
#
#  1. read $CLUSTER_DIR/cluster.env (or the same variables from the
#     environment; without either, a key pair of our own stands in for the
#     cluster's service-account key so the STS can be tested alone);
#  2. stop whatever an earlier run left and start afresh (memstore keeps no
#     data across restarts anyway, so every run is a cold cluster);
#  3. install radosgw, ceph-mon, ceph-osd from Debian (every run: a no-op
#     when they are there);
#  4. publish the issuer's discovery + JWKS, with an x5c certificate over the
#     service-account public key, at ISSUER_URL;
#  5. one mon, one memstore OSD, radosgw on NODE_IP:STS_PORT, auth none;
#  6. an IAM administrator in tenant (account) STS_ACCOUNT, then the OIDC
#     provider, roles web and target, and the bucket (ststool setup);
#  7. write $STS_DIR/sts.env for the tests.
#
# Variables (defaults): NODE_IP (127.0.0.1), STS_PORT (7480), ISSUER_URL
# (https://127.0.0.1:18443), SA_KEY, SA_PUB, STS_SUBJECTS (rolechain-e2e:app;
# NS:SA list), STS_AUDIENCES (sts.amazonaws.com), STS_ACCOUNT (123456789012),
# BUCKET (rolechain-e2e), OBJECT_KEY (hello.txt), REGION (us-east-1),
# CEPH_MON_PORT (16789), STS_DEBUG (unset; 1 = verbose RGW log),
# RGW_VERIFY_SSL (false: RGW does not verify the issuer's TLS chain).
set -Eeuo pipefail
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/lib/install.sh
. "$(dirname "$0")/../lib/install.sh"
trap on_error ERR

load_cluster_env
NODE_IP=${NODE_IP:-127.0.0.1}
STS_PORT=${STS_PORT:-7480}
ISSUER_URL=${ISSUER_URL:-https://127.0.0.1:18443}
ISSUER_URL=${ISSUER_URL%/}
STS_SUBJECTS=${STS_SUBJECTS:-rolechain-e2e:app}
STS_AUDIENCES=${STS_AUDIENCES:-sts.amazonaws.com}
STS_ACCOUNT=${STS_ACCOUNT:-123456789012}
BUCKET=${BUCKET:-rolechain-e2e}
OBJECT_KEY=${OBJECT_KEY:-hello.txt}
REGION=${REGION:-us-east-1}
CEPH_MON_PORT=${CEPH_MON_PORT:-16789}
STS_ENDPOINT=http://$NODE_IP:$STS_PORT

echo "sts-up: STS $STS_ENDPOINT, issuer $ISSUER_URL, subjects [$STS_SUBJECTS], cluster.env ${CLUSTER_ENV_USED:-not found (standalone)}"

step "stop what an earlier run left"
stop_daemons
rm -rf "$CEPH" "$LOGS" "$RUN" "$STS_DIR/issuer" "$STS_DIR/sts.env" "$STS_DIR/admin.env" "$STS_DIR/minio" "$STS_DIR/minio.env"
mkdir -p "$CEPH" "$LOGS" "$RUN" "$STS_DIR/issuer"
step "ports free: mon 127.0.0.1:$CEPH_MON_PORT, STS $NODE_IP:$STS_PORT, issuer"
ISSUER_HOSTPORT=${ISSUER_URL#*://}
ISSUER_HOSTPORT=${ISSUER_HOSTPORT%%/*}
[[ $ISSUER_HOSTPORT == *:* ]] || ISSUER_HOSTPORT+=:$([[ $ISSUER_URL == https:* ]] && echo 443 || echo 80)
port_free "127.0.0.1:$CEPH_MON_PORT"
port_free "$NODE_IP:$STS_PORT"
port_free "$ISSUER_HOSTPORT"

step "install radosgw, ceph-mon, ceph-osd"
# Every run (test/lib/install.sh says why); a repeat is a no-op.
install_debian radosgw ceph-mon ceph-osd curl
radosgw --version

step "build ststool (test/sts)"
(cd "$ROOT/test/sts" && CGO_ENABLED=0 run_logged "go build ststool" "$INSTALL_LOGS/go-build-ststool.log" go_progress \
  go build -v -trimpath -o "$BIN/ststool" ./ststool)

step "service-account key"
if [[ -z ${SA_KEY:-} && -z ${SA_PUB:-} ]]; then
  # No cluster: a key of our own, kept across runs so tokens stay valid.
  SA_KEY=$STS_DIR/sa/sa.key
  SA_PUB=$STS_DIR/sa/sa.pub
  if [[ ! -f $SA_KEY || ! -f $SA_PUB ]]; then
    mkdir -p "$STS_DIR/sa"
    "$BIN/ststool" genkey --key "$SA_KEY" --pub "$SA_PUB"
  fi
  echo "   standalone: signing key $SA_KEY"
fi
SA_PUB=${SA_PUB:-$SA_KEY}
[[ -r $SA_PUB ]] || { echo "SA_PUB $SA_PUB is not readable" >&2; false; }

step "publish issuer discovery + JWKS (with x5c) at $ISSUER_URL" "$LOGS/issuer.log"
start_daemon issuer "$LOGS/issuer.log" "$BIN/ststool" issuer --issuer "$ISSUER_URL" \
  --public-key "$SA_PUB" ${SA_KEY:+--signing-key "$SA_KEY"} --dir "$STS_DIR/issuer"
wait_daemon issuer "$ISSUER_URL/.well-known/openid-configuration" 20 \
  curl -fsk "$ISSUER_URL/.well-known/openid-configuration"
THUMBPRINTS=$(cat "$STS_DIR/issuer/x5c.sha1")
[[ -f $STS_DIR/issuer/tls.sha1 ]] && THUMBPRINTS+=,$(cat "$STS_DIR/issuer/tls.sha1")

step "ceph.conf"
RGW_DEBUG=1
RGW_VERIFY_SSL=${RGW_VERIFY_SSL:-false}
[[ -n ${STS_DEBUG:-} ]] && RGW_DEBUG=20
FSID=$(cat /proc/sys/kernel/random/uuid)
STS_KEY=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n') # 16 hex chars: rgw sts key must be 16 bytes
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = v1:127.0.0.1:$CEPH_MON_PORT
mon initial members = a
public addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = $CEPH/keyring
run dir = $RUN
admin socket = $RUN/\$name.asok
log file = $LOGS/\$name.log
mon data = $CEPH/mon-\$id
osd data = $CEPH/osd-\$id
osd objectstore = memstore
memstore device bytes = 1073741824
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
auth allow insecure global id reclaim = false
mon osd auto mark new in = true
# Placed in CRUSH by this script before it starts: under load the OSD's own
# placement commands can leave before its monclient knows the fsid, the mon
# refuses them ('wrong fsid') and the OSD exits.
osd crush update on start = false
osd class update on start = false
[client.rgw.sts]
rgw frontends = beast endpoint=$NODE_IP:$STS_PORT
rgw data = $CEPH/rgw
rgw sts key = $STS_KEY
rgw s3 auth use sts = true
# The issuer's serving certificate is self-signed and RGW's libcurl trusts
# only the system CAs; RGW ties the keys to the provider by the registered
# thumbprint of the x5c certificate instead.
rgw verify ssl = $RGW_VERIFY_SSL
debug rgw = $RGW_DEBUG
EOF
ceph-authtool --create-keyring "$CEPH/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null

# ceph_cmd runs an idempotent ceph CLI command, retried: a young mon
# sometimes refuses or drops the first commands of a client.
ceph_cmd() {
  local n
  for ((n = 1; ; n++)); do
    if timeout 20 ceph -c "$CONF" "$@" 2>>"$LOGS/ceph-cli.log"; then return 0; fi
    ((n < 5)) || return 1
    sleep 1
  done
}

step "ceph-mon" "$LOGS/mon.a.log"
monmaptool --create --fsid "$FSID" --addv a "[v1:127.0.0.1:$CEPH_MON_PORT]" "$CEPH/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$CEPH/monmap" --keyring "$CEPH/keyring"
start_daemon mon "$LOGS/mon.a.stdout" ceph-mon -c "$CONF" -i a -f
wait_daemon mon "ceph-mon quorum" 30 timeout 5 ceph -c "$CONF" mon stat

step "ceph-osd (memstore)" "$LOGS/osd.0.log"
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(ceph_cmd osd new "$OSD_UUID") # idempotent for one uuid
mkdir -p "$CEPH/osd-$OSD_ID"
ceph_cmd osd crush add "osd.$OSD_ID" 1.0 root=default >/dev/null
ceph-osd -c "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" 2>>"$LOGS/osd.$OSD_ID.log"
start_daemon osd "$LOGS/osd.$OSD_ID.stdout" ceph-osd -c "$CONF" -i "$OSD_ID" -f
osd_up() { timeout 5 ceph -c "$CONF" osd dump 2>/dev/null | grep -q "^osd.$OSD_ID up"; }
wait_daemon osd "osd.$OSD_ID up" 60 osd_up

step "radosgw on $NODE_IP:$STS_PORT" "$LOGS/client.rgw.sts.log"
start_daemon rgw "$LOGS/client.rgw.sts.stdout" radosgw -c "$CONF" -n client.rgw.sts -f
wait_daemon rgw "radosgw at $STS_ENDPOINT" 120 curl -fs "$STS_ENDPOINT/"

step "IAM administrator in account $STS_ACCOUNT" "$LOGS/client.admin.log"
ADMIN_ACCESS_KEY=$(head -c 10 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
ADMIN_SECRET_KEY=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
radosgw-admin -c "$CONF" user create --tenant "$STS_ACCOUNT" --uid admin --display-name "rolechain harness admin" \
  --access-key "$ADMIN_ACCESS_KEY" --secret-key "$ADMIN_SECRET_KEY" >/dev/null
radosgw-admin -c "$CONF" caps add --uid "$STS_ACCOUNT\$admin" --caps 'roles=*;oidc-provider=*' >/dev/null
umask 077
cat >"$STS_DIR/admin.env" <<EOF
# IAM/S3 administrator of account $STS_ACCOUNT in the harness STS (not for pods)
STS_ADMIN_ACCESS_KEY=$ADMIN_ACCESS_KEY
STS_ADMIN_SECRET_KEY=$ADMIN_SECRET_KEY
EOF
umask 022

step "OIDC provider, roles web and target, bucket $BUCKET" "$LOGS/client.rgw.sts.log"
SETUP_OUT=$(STS_ADMIN_ACCESS_KEY=$ADMIN_ACCESS_KEY STS_ADMIN_SECRET_KEY=$ADMIN_SECRET_KEY \
  "$BIN/ststool" setup --endpoint "$STS_ENDPOINT" --region "$REGION" --account "$STS_ACCOUNT" \
  --issuer "$ISSUER_URL" --thumbprints "$THUMBPRINTS" --client-ids "$STS_AUDIENCES" \
  --subjects "$STS_SUBJECTS" --bucket "$BUCKET" --object-key "$OBJECT_KEY")
eval "$SETUP_OUT"

step "write $STS_DIR/sts.env"
cat >"$STS_DIR/sts.env" <<EOF
STS_ENDPOINT=$STS_ENDPOINT
NODE_IP=$NODE_IP
WEB_ROLE_ARN=$WEB_ROLE_ARN
TARGET_ROLE_ARN=$TARGET_ROLE_ARN
BUCKET=$BUCKET
OBJECT_KEY=$OBJECT_KEY
REGION=$REGION
ISSUER_URL=$ISSUER_URL
OIDC_PROVIDER_ARN=$OIDC_PROVIDER_ARN
STS_SUBJECTS="$STS_SUBJECTS"
STS_AUDIENCES=$STS_AUDIENCES
SA_KEY=${SA_KEY:-}
EOF
cat "$STS_DIR/sts.env"
step_done
echo "sts-up: ready in $(elapsed "$T0")s (logs in $LOGS; make sts-down to stop)"
