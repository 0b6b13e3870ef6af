//go:build tools

// The helm CLI that test/stack.sh and the kind run install the chart with is
// built from this module (test/lib/install.sh: install_helm), so that it is
// the same Helm release as the SDK these tests render with, and so that the
// packages both need are compiled once.
package chart

import _ "helm.sh/helm/v3/cmd/helm"
