package annotations

import (
	"strings"
	"testing"
)

// rolechain.dev/credentials-mode belongs on the namespace; on a pod it
// would do nothing, so it is refused with the pod key that does the job.
func TestTheNamespaceCredentialsModeOnAPodIsDeniedAsANamespaceAnnotation(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{RoleARN: target, CredentialsMode: "endpoint"}), nil, defaults)
	if len(errs) != 1 || errs[0].Field != "metadata.annotations["+CredentialsMode+"]" ||
		!strings.Contains(errs[0].Detail, "is a namespace annotation") || !strings.Contains(errs[0].Detail, CredentialsEndpoint) {
		t.Fatalf("errors = %v", errs)
	}
}

// The pod's own credentials-endpoint decides its mode, and Parse records
// that the pod decided; without it the mode is left to the defaults.
func TestThePodsOwnCredentialsEndpointIsRecordedAsThePodsChoice(t *testing.T) {
	for _, tc := range []struct {
		ann  map[string]string
		want *CredentialsModeChoice
	}{
		{map[string]string{RoleARN: target}, nil},
		{map[string]string{RoleARN: target, CredentialsEndpoint: "true"}, &CredentialsModeChoice{Mode: CredentialsModeEndpoint, From: CredentialsModeFromPod}},
		{map[string]string{RoleARN: target, CredentialsEndpoint: "false"}, &CredentialsModeChoice{Mode: CredentialsModeFile, From: CredentialsModeFromPod}},
	} {
		cfg, errs, _ := Parse(pod(tc.ann), nil, defaults)
		if len(errs) > 0 {
			t.Fatal(errs.ToAggregate())
		}
		got := cfg.CredentialsMode
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("%v: CredentialsMode = %+v, want %+v", tc.ann, got, tc.want)
		}
		if got != nil && cfg.CredentialsEndpoint != (got.Mode == CredentialsModeEndpoint) {
			t.Errorf("%v: CredentialsEndpoint = %v disagrees with %+v", tc.ann, cfg.CredentialsEndpoint, got)
		}
	}
}
