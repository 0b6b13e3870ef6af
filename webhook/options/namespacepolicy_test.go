package options

import (
	"testing"

	"github.com/rolechain/rolechain/webhook/policy"
)

func TestNamespacePolicyFlag(t *testing.T) {
	if o := parse(t, "--sidecar-image=i"); o.Validate() != nil || o.NamespacePolicy != string(policy.ModeOptional) {
		t.Fatalf("default --namespace-policy = %q", o.NamespacePolicy)
	}
	if o := parse(t, "--sidecar-image=i", "--namespace-policy=required"); o.Validate() != nil || o.NamespacePolicy != string(policy.ModeRequired) {
		t.Fatalf("--namespace-policy=required gives %q", o.NamespacePolicy)
	}
	err := parse(t, "--sidecar-image=i", "--namespace-policy=strict").Validate()
	if err == nil || err.Error() != "--namespace-policy=strict: must be optional or required" {
		t.Fatalf("got %v", err)
	}
}
