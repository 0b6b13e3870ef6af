//go:build rolechain_pprof

package app

import "github.com/spf13/pflag"

// addProfilingFlag exists only in builds with -tags rolechain_pprof: the
// load benchmark (test/bench/admission) uses it to take a CPU profile of the
// webhook under load. Release builds and the chart have no such flag.
func addProfilingFlag(fs *pflag.FlagSet) {
	fs.StringVar(&pprofBindAddress, "pprof-bind-address", "", "address of /debug/pprof (benchmark builds only); empty disables it")
}
