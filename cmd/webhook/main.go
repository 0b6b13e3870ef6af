// Command rolechain-webhook is the mutating admission webhook that injects
// the rolechain sidecar into pods annotated with rolechain.dev/role-arn.
package main

import (
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/rolechain/rolechain/cmd/webhook/app"
)

func main() {
	ctx := ctrl.SetupSignalHandler()
	if err := app.NewCommand(app.Run).ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}
