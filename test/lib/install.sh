# shellcheck shell=bash
# Install steps shared by the harness scripts; source it, don't run it.
#
# Every function here runs its install on EVERY call and relies on the tool
# underneath to make a repeat cheap: `apt-get install` of packages already
# present is a no-op, and `go build`/`go install` neither recompile nor relink
# a target that is up to date. There is deliberately no "when missing" check in
# front of them: CI runs on a machine that earlier runs provisioned, and an
# install branch it never takes is one it cannot test (issue 10: a fresh machine
# failed on a log directory that only the skipped branch wrote to).
#
# Output of the tools goes to a log under INSTALL_LOGS (default
# <repo>/.cache/logs); the terminal gets one line per step, a progress line
# every PROGRESS_SECONDS (default 20) while a step runs, and the log's tail
# when it fails.

install_lib_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
INSTALL_LOGS=${INSTALL_LOGS:-$install_lib_root/.cache/logs}
PROGRESS_SECONDS=${PROGRESS_SECONDS:-20}

# install_clock prints the seconds since the epoch, with a fraction.
install_clock() { printf '%s' "${EPOCHREALTIME:-$(date +%s)}"; }

# install_minsec SECONDS prints 75 as "1m15s".
install_minsec() {
  local s=${1%.*}
  if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

# run_logged NAME LOG PROGRESS_FN CMD... runs CMD with its output in LOG. While
# it runs, a line every PROGRESS_SECONDS says how long NAME has taken so far,
# followed by what PROGRESS_FN (a function name, or "" for none) prints about
# LOG. On failure it prints the end of LOG and returns CMD's status.
run_logged() {
  local name=$1 log=$2 progress=$3 pid rc start now detail
  shift 3
  mkdir -p "$(dirname "$log")"
  start=$(install_clock)
  "$@" >"$log" 2>&1 &
  pid=$!
  while true; do
    # `wait -n`-free polling: sleep in short slices so a quick command does
    # not pay a whole progress period.
    local i
    for ((i = 0; i < PROGRESS_SECONDS * 5; i++)); do
      kill -0 "$pid" 2>/dev/null || break 2
      sleep 0.2
    done
    now=$(install_clock)
    detail=
    [[ -n $progress ]] && detail=$("$progress" "$log" 2>/dev/null)
    printf '      … %s: %s so far%s\n' "$name" "$(install_minsec "$(awk -v a="$start" -v b="$now" 'BEGIN{print b-a}')")" "${detail:+, $detail}"
  done
  rc=0
  wait "$pid" || rc=$?
  if ((rc != 0)); then
    echo "!!! $name failed (exit $rc); the last lines of $log:" >&2
    tail -n 30 "$log" >&2
  fi
  return "$rc"
}

# install_debian PKG... installs Debian packages, every run. `apt-get install`
# of what is installed already takes about a second and changes nothing; on a
# machine whose package lists are missing or stale the install fails, so the
# lists are updated once and the install retried.
install_debian() {
  local log=$INSTALL_LOGS/apt.log start
  start=$(install_clock)
  printf '      debian packages: %s\n' "$*"
  export DEBIAN_FRONTEND=noninteractive
  if ! run_logged "apt-get install" "$log" "" apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" 2>/dev/null; then
    echo "      apt-get install failed; apt-get update and once more (log: $log)"
    run_logged "apt-get update" "$log.update" "" apt-get -o DPkg::Lock::Timeout=600 update -q &&
      run_logged "apt-get install" "$log" "" apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" ||
      return 1
  fi
  # What apt did, in one line: "0 upgraded, 0 newly installed" on a repeat.
  printf '      %s (%s)\n' "$(grep -E '^[0-9]+ upgraded' "$log" | tail -n 1)" \
    "$(install_minsec "$(awk -v a="$start" -v b="$(install_clock)" 'BEGIN{print b-a}')")"
}

# go_progress LOG prints how many packages `go build -v` has compiled so far
# (it logs one line per package), out of GO_PROGRESS_TOTAL when that is set,
# and the latest one, which tells which part of the build it is in.
go_progress() {
  local n last
  n=$(grep -cv '^go: ' "$1")
  last=$(grep -v '^go: ' "$1" | tail -n 1)
  if ((n == 0)); then
    printf 'downloading modules (%s so far)' "$(grep -c '^go: downloading' "$1")"
    return 0
  fi
  if [[ -n ${GO_PROGRESS_TOTAL:-} ]]; then
    printf '%s of at most %s packages compiled' "$n" "$GO_PROGRESS_TOTAL"
  else
    printf '%s packages compiled' "$n"
  fi
  [[ -n $last ]] && printf ' (now: %s)' "$last"
  return 0
}

# go_install NAME DIR GOBIN PKG@VERSION [GO FLAGS...] installs a Go command
# from the module proxy into GOBIN, every run (go install relinks nothing
# when the binary is up to date), with progress while it compiles. DIR is where
# go runs (its go.mod's toolchain line applies). CGO_ENABLED and the rest of
# the environment pass through: changing them rebuilds everything. GOFLAGS
# does not: it carries the project's build tags (the sidecar image's), which
# are not the tool's.
go_install() {
  local name=$1 dir=$2 gobin=$3 pkg=$4 start
  shift 4
  start=$(install_clock)
  mkdir -p "$gobin"
  (cd "$dir" && GOBIN=$gobin GOFLAGS= run_logged "go install $name" "$INSTALL_LOGS/go-install-$name.log" go_progress \
    go install -v "$@" "$pkg") || return 1
  printf '      %s: %s (%s)\n' "$name" "$pkg" "$(install_minsec "$(awk -v a="$start" -v b="$(install_clock)" 'BEGIN{print b-a}')")"
}

# install_helm builds the helm CLI the harness installs the chart with
# (test/stack.sh, the kind run) into <repo>/bin, every run. It is built from
# test/chart's module (tools.go there): the same Helm release as the SDK the
# chart tests render with, one version pin, and their shared packages
# compiled once, with the same flags as `go test` there.
install_helm() {
  local start
  start=$(install_clock)
  mkdir -p "$install_lib_root/bin"
  (cd "$install_lib_root/test/chart" && GOFLAGS= run_logged "go build helm" "$INSTALL_LOGS/go-build-helm.log" go_progress \
    go build -v -o "$install_lib_root/bin/helm" helm.sh/helm/v3/cmd/helm) || return 1
  printf '      helm: %s (%s)\n' "$(cd "$install_lib_root/test/chart" && go list -m -f '{{.Version}}' helm.sh/helm/v3)" \
    "$(install_minsec "$(awk -v a="$start" -v b="$(install_clock)" 'BEGIN{print b-a}')")"
}
