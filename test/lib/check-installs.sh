#!/usr/bin/env bash
# make lint: every install in the harness goes through test/lib/install.sh,
# whose functions run on every call. An `apt-get install` or `go install`
# written elsewhere tends to grow a "when missing" guard, and CI, on a machine
# that earlier runs provisioned, never takes such a branch (issue 10).
set -euo pipefail
cd "$(dirname "$0")/../.."
# A command position: line start, or after ; & | ( { then do, and env
# assignments. Comment lines are dropped after the match.
cmd='(^|[;&|({]|then|do)[[:space:]]*([A-Za-z_]+=[^ ]* )*'
rc=0
found=$(git grep -nE "$cmd(apt-get( -[^ ]+)* (install|update)|go install )" -- 'test/*.sh' 'Makefile' \
  ':!test/lib/install.sh' ':!test/lib/check-installs.sh') || rc=$?
# git grep exits 1 when nothing matches, and more when it could not search.
if ((rc > 1)); then
  echo "check-installs: git grep failed (exit $rc)" >&2
  exit 1
fi
bad=$(printf '%s\n' "$found" | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' | grep . || true)
if [ -n "$bad" ]; then
  echo "install outside test/lib/install.sh (use install_debian / go_install there):" >&2
  echo "$bad" >&2
  exit 1
fi
