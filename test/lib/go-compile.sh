#!/usr/bin/env bash
# go-compile.sh NAME [GO BUILD FLAGS...] compiles a module's library packages
# (the main module's, or GO_COMPILE_DIR's, e.g. test/chart) and everything they
# import into the Go build cache, with a progress line every 20 s (which
# package, how many so far, how long), its output in
# .cache/logs/go-compile-NAME.log. make lint, unit and chart-test run it first:
# with an empty build cache `go vet ./...`, `go test -race ./...` and the chart
# tests compile for minutes without printing a line, and this is that
# compilation, shown. When the cache is warm it prints nothing and takes a
# second or two.
#
# Library packages only: `go build` of several main packages links each of
# them, which costs half a minute on every warm run; their imports are what
# takes long, and the libraries import nearly all of it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/install.sh"
cd "$install_lib_root/${GO_COMPILE_DIR:-.}"
name=$1
shift
mapfile -t libs < <(go list -f '{{if ne .Name "main"}}{{.ImportPath}}{{end}}' ./... | grep .)
run_logged "compile for $name" "$INSTALL_LOGS/go-compile-$name.log" go_progress go build -v "$@" "${libs[@]}"
