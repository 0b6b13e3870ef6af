//go:build !rolechain_pprof

package app

import "github.com/spf13/pflag"

// addProfilingFlag adds nothing: see pprof.go.
func addProfilingFlag(*pflag.FlagSet) {}
