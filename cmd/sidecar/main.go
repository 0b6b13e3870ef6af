// Command rolechain-sidecar keeps AWS credentials for a chain of roles
// fresh next to an application; see app for the command line.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rolechain/rolechain/cmd/sidecar/app"
	"github.com/rolechain/rolechain/sidecar/harden"
)

func main() {
	// Before anything is read: co-tenant containers of the same UID must
	// not read this process's memory or environment (package harden).
	if err := harden.NonDumpable(); err != nil {
		fmt.Fprintln(os.Stderr, "rolechain-sidecar:", err)
		os.Exit(app.ExitFailure)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	env := app.OSEnv()
	code := app.Execute(ctx, os.Args[1:], env, app.Run(env))
	stop()
	os.Exit(code)
}
