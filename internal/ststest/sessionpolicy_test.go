package ststest_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/rolechain/rolechain/internal/ststest"
)

func TestSessionPoliciesAreRecordedAsSentAndBoundedAsSTSBoundsThem(t *testing.T) {
	srv := ststest.New(t)
	ctx := context.Background()
	policy := "{\n \"Statement\": {\"Effect\": \"Deny\", \"Action\": \"s3:GetObject\", \"Resource\": \"*\"}\n}"
	arns := []ststypes.PolicyDescriptorType{
		{Arn: aws.String("arn:aws:iam::222222222222:policy/b")},
		{Arn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")},
	}
	webIdentity := func(policy string, arns []ststypes.PolicyDescriptorType) (*sts.AssumeRoleWithWebIdentityOutput, error) {
		in := &sts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String("arn:aws:iam::111111111111:role/web"), RoleSessionName: aws.String("s1"), WebIdentityToken: aws.String("jwt"),
			PolicyArns: arns,
		}
		if policy != "" {
			in.Policy = aws.String(policy)
		}
		return client(srv, aws.AnonymousCredentials{}).AssumeRoleWithWebIdentity(ctx, in)
	}
	out, err := webIdentity(policy, arns)
	if err != nil {
		t.Fatal(err)
	}
	if out.PackedPolicySize == nil {
		t.Error("no PackedPolicySize in the answer to a call with session policies")
	}
	c := srv.Calls()[0]
	if c.Policy != policy || !slices.Equal(c.PolicyArns, []string{"arn:aws:iam::222222222222:policy/b", "arn:aws:iam::aws:policy/ReadOnlyAccess"}) {
		t.Fatalf("recorded Policy %q, PolicyArns %v", c.Policy, c.PolicyArns)
	}

	if _, err := webIdentity("", nil); err != nil {
		t.Fatal(err)
	}
	if c := srv.Calls()[1]; c.Policy != "" || c.PolicyArns != nil {
		t.Fatalf("a call without session policies recorded %q, %v", c.Policy, c.PolicyArns)
	}

	long := `{"Statement":[]` + strings.Repeat(" ", 2048-16) + "}"
	if _, err := webIdentity(long, nil); err != nil {
		t.Fatalf("a 2048-character policy: %v", err)
	}
	if _, err := webIdentity(long+" ", nil); code(err) != ststest.CodeValidationError {
		t.Fatalf("a 2049-character policy: %v, want ValidationError", err)
	}
	if _, err := webIdentity("Deny everything", nil); code(err) != ststest.CodeMalformedPolicy {
		t.Fatalf("a policy that is not JSON: %v, want MalformedPolicyDocument", err)
	}
	eleven := make([]ststypes.PolicyDescriptorType, 11)
	for i := range eleven {
		eleven[i] = ststypes.PolicyDescriptorType{Arn: aws.String("arn:aws:iam::222222222222:policy/p" + string(rune('a'+i)))}
	}
	if _, err := webIdentity("", eleven); code(err) != ststest.CodeValidationError {
		t.Fatalf("11 policy ARNs: %v, want ValidationError", err)
	}
}
