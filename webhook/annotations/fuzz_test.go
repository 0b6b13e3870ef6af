package annotations

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rolechain/rolechain/internal/contract"
)

// FuzzParse feeds arbitrary keys and values next to a valid role-arn. Parse
// must not panic, must return the same result twice, and whatever it
// accepts must satisfy the contract the sidecar relies on.
func FuzzParse(f *testing.F) {
	seeds := [][4]string{
		{RoleARN, target, Region, "eu-west-1"},
		{ViaRoleARNs, via + "," + via, SessionDuration, "1h"},
		{ExternalID, "ext:1/2", SessionName, "ns.pod"},
		{STSEndpoint, "http://127.0.0.1:1/x", TokenExpiration, "10m"},
		{RoleARN + ".p", via, Region + ".p", "us-east-1"},
		{Profile, "x.y", SkipContainers, "a,b"},
		{SidecarMemoryRequest, "1Gi", SidecarMemoryLimit, "1Mi"},
		{Prefix + "role-arn.", "", Prefix + ".", "x"},
		{SessionDuration, "9223372036854775807", TokenExpiration, "-9223372036854775808ns"},
		{SessionPolicy, `{"Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*"}}`, SessionPolicyARNs, "arn:aws:iam::aws:policy/ReadOnlyAccess"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		ann := map[string]string{RoleARN: target, k1: v1, k2: v2}
		p := pod(ann)
		cfg, errs, warnings := Parse(p, serviceAccount(irsa), defaults)
		cfg2, errs2, warnings2 := Parse(p, serviceAccount(irsa), defaults)
		if !reflect.DeepEqual(cfg, cfg2) || !reflect.DeepEqual(errs, errs2) || !reflect.DeepEqual(warnings, warnings2) {
			t.Fatal("Parse is not deterministic")
		}
		for _, e := range errs {
			if !strings.HasPrefix(e.Field, "metadata.annotations[") && !strings.HasPrefix(e.Field, "serviceaccounts[") {
				t.Fatalf("error not rooted at an annotation: %v", e)
			}
		}
		if len(errs) > 0 {
			return
		}
		if len(cfg.Profiles) == 0 {
			t.Fatal("accepted without a profile")
		}
		names := map[string]bool{}
		for _, pr := range cfg.Profiles {
			if names[pr.Name] {
				t.Fatalf("duplicate profile %q", pr.Name)
			}
			names[pr.Name] = true
			chain := pr.Chain()
			if pr.WebIdentityRoleARN == "" || len(chain) > contract.MaxHops {
				t.Fatalf("bad chain %v", chain)
			}
			if pr.DurationSeconds != 0 && (pr.DurationSeconds < contract.MinDurationSeconds || pr.DurationSeconds > contract.MaxDurationSeconds) {
				t.Fatalf("duration %d out of range", pr.DurationSeconds)
			}
			if len(chain) > 1 && pr.DurationSeconds > contract.MaxChainedDurationSeconds {
				t.Fatalf("chained duration %d accepted", pr.DurationSeconds)
			}
			if pr.SessionPolicy != "" && contract.ValidateSessionPolicy(pr.SessionPolicy) != nil || len(pr.SessionPolicyARNs) > contract.MaxSessionPolicyARNs {
				t.Fatalf("session policy %q / %d ARNs accepted", pr.SessionPolicy, len(pr.SessionPolicyARNs))
			}
		}
		s, err := contract.Encode(cfg.Profiles)
		if err != nil {
			t.Fatal(err)
		}
		back, err := contract.Decode(s)
		if err != nil || !reflect.DeepEqual(back, cfg.Profiles) {
			t.Fatalf("profiles do not survive the sidecar's decoding: %v", err)
		}
		if cfg.TokenExpirationSeconds < MinTokenExpirationSeconds {
			t.Fatalf("token expiration %d accepted", cfg.TokenExpirationSeconds)
		}
	})
}
