// Command rolechain-sidecar keeps AWS credentials for a chain of roles
// fresh next to an application; see app for the command line.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rolechain/rolechain/cmd/sidecar/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	env := app.OSEnv()
	code := app.Execute(ctx, os.Args[1:], env, app.Run(env))
	stop()
	os.Exit(code)
}
