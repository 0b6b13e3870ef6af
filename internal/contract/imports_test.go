package contract_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The contract is the only code both sides share: no package of the
// webhook imports the sidecar's, and none of the sidecar's imports the
// webhook's. (Tests may: webhook/inject's check its rendering with the
// sidecar's option parsing, as this package's agreement test does.)
func TestTheWebhookAndTheSidecarImportOnlyTheContractOfEachOther(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/rolechain/rolechain/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/rolechain/rolechain/"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		for side, other := range map[string]string{"webhook/": "sidecar/", "sidecar/": "webhook/"} {
			if !strings.HasPrefix(pkg, side) {
				continue
			}
			for _, imp := range fields[1:] {
				if strings.HasPrefix(imp, mod+other) {
					t.Errorf("%s imports %s: the two sides share only internal/contract", fields[0], imp)
				}
			}
		}
	}
}
