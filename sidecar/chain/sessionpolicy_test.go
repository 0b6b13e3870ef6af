package chain_test

import (
	"context"
	"slices"
	"testing"

	"github.com/rolechain/rolechain/internal/ststest"
	"github.com/rolechain/rolechain/sidecar/chain"
)

// The session policies narrow the target's session; every earlier hop
// needs its full permissions to assume the next role, so only the last
// call carries them, whichever call that is.
func TestSessionPoliciesGoOnTheTargetHopOnly(t *testing.T) {
	const policy = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Deny\", \"Action\": \"s3:GetObject\", \"Resource\": \"*\"}]\n}"
	arns := []string{"arn:aws:iam::333333333333:policy/b-first", "arn:aws:iam::aws:policy/ReadOnlyAccess"}
	cases := []struct {
		name   string
		source func(t *testing.T, srv *ststest.Server) chain.Source
		roles  []string
	}{
		{"web identity, three hops", webIdentitySource, []string{webRole, viaRole, targetRole}},
		{"web identity, one hop: AssumeRoleWithWebIdentity carries them", webIdentitySource, []string{targetRole}},
		{"static keys, two hops", func(t *testing.T, srv *ststest.Server) chain.Source {
			srv.AddKey(ststest.Credentials{AccessKeyID: "AKIASTATICSTATIC1", SecretAccessKey: "staticSecret"})
			return chain.Static{Dir: writeStatic(t, "AKIASTATICSTATIC1", "staticSecret")}
		}, []string{viaRole, targetRole}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := ststest.New(t)
			c := &chain.Chain{
				Source: tc.source(t, srv), Roles: tc.roles, SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL,
				SessionPolicy: policy, SessionPolicyARNs: arns,
			}
			if _, err := c.Retrieve(context.Background()); err != nil {
				t.Fatal(err)
			}
			calls := srv.Calls()
			if len(calls) != len(tc.roles) {
				t.Fatalf("%d calls for %d roles", len(calls), len(tc.roles))
			}
			for i, call := range calls {
				if i < len(calls)-1 {
					if call.Policy != "" || call.PolicyArns != nil {
						t.Errorf("hop %d (%s) carries session policies %q %v", i+1, call.RoleArn, call.Policy, call.PolicyArns)
					}
					continue
				}
				if call.RoleArn != tc.roles[len(tc.roles)-1] || call.Policy != policy || !slices.Equal(call.PolicyArns, arns) {
					t.Errorf("target hop into %s: Policy %q, PolicyArns %v; want exactly %q and %v", call.RoleArn, call.Policy, call.PolicyArns, policy, arns)
				}
			}
		})
	}
}

func TestNoSessionPolicyMeansNeitherParameterIsSent(t *testing.T) {
	srv := ststest.New(t)
	c := &chain.Chain{Source: webIdentitySource(t, srv), Roles: []string{webRole, targetRole}, SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL}
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, call := range srv.Calls() {
		if call.Policy != "" || call.PolicyArns != nil {
			t.Fatalf("hop into %s carries %q %v", call.RoleArn, call.Policy, call.PolicyArns)
		}
	}
}

func webIdentitySource(t *testing.T, _ *ststest.Server) chain.Source {
	return chain.WebIdentity{TokenFile: writeToken(t, t.TempDir(), "jwt")}
}
