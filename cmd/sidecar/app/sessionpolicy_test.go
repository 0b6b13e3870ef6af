package app_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/rolechain/rolechain/internal/ststest"
)

// --once is the CI step: its session policies reach the target hop exactly
// as given, and the keys it prints are the target's.
func TestOnceSendsTheSessionPoliciesOnTheTargetHop(t *testing.T) {
	srv := ststest.New(t)
	policy := `{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"}]}`
	r := execute(context.Background(), []string{"--once", "--format", "env", "--token-file", tokenFile(t),
		"--web-identity-role-arn", webRole, "--role-arn", targetRole, "--sts-endpoint", srv.URL,
		"--session-policy", policy, "--session-policy-arns", "arn:aws:iam::222222222222:policy/read-only,arn:aws:iam::aws:policy/ReadOnlyAccess",
	}, nil, io.Discard)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	calls := srv.Calls()
	if len(calls) != 2 || calls[0].Policy != "" || calls[0].PolicyArns != nil {
		t.Fatalf("calls %+v: want two, the first without session policies", calls)
	}
	if calls[1].Policy != policy || !slices.Equal(calls[1].PolicyArns, []string{"arn:aws:iam::222222222222:policy/read-only", "arn:aws:iam::aws:policy/ReadOnlyAccess"}) {
		t.Fatalf("target hop: Policy %q PolicyArns %v", calls[1].Policy, calls[1].PolicyArns)
	}
	if !strings.Contains(r.stdout, calls[1].Issued.SessionToken) {
		t.Fatal("the printed keys are not the target hop's")
	}

	help := execute(context.Background(), []string{"--help"}, nil, io.Discard)
	for _, f := range []string{"--session-policy ", "--session-policy-arns", `"sessionPolicy"`, `"sessionPolicyARNs"`} {
		if !strings.Contains(help.stdout, f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
}

func TestOnceRefusesAnInvalidSessionPolicyBeforeCallingSTS(t *testing.T) {
	srv := ststest.New(t)
	r := execute(context.Background(), []string{"--once", "--token-file", tokenFile(t), "--web-identity-role-arn", webRole,
		"--sts-endpoint", srv.URL, "--session-policy", `{"Statement": "deny"}`}, nil, io.Discard)
	if r.code != 2 || !strings.Contains(r.stderr, "the policy has a Statement that is neither an object nor a non-empty list of objects") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	if n := len(srv.Calls()); n != 0 {
		t.Fatalf("%d STS calls", n)
	}
}
