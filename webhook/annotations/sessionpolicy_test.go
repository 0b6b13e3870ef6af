package annotations

import (
	"slices"
	"strings"
	"testing"
)

func TestSessionPoliciesGoToTheirProfileAndAreNotInherited(t *testing.T) {
	cfg, errs, _ := Parse(pod(map[string]string{
		RoleARN: target, WebIdentityRoleARN: web,
		SessionPolicy: denyGet, SessionPolicyARNs: "arn:aws:iam::222222222222:policy/deny-writes",
		RoleARN + ".b": "arn:aws:iam::444444444444:role/b",
	}), nil, defaults)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	main, extra := cfg.Profiles[0], cfg.Profiles[1]
	if main.SessionPolicy != denyGet || !slices.Equal(main.SessionPolicyARNs, []string{"arn:aws:iam::222222222222:policy/deny-writes"}) {
		t.Errorf("main profile: policy %q, ARNs %v", main.SessionPolicy, main.SessionPolicyARNs)
	}
	if extra.SessionPolicy != "" || extra.SessionPolicyARNs != nil {
		t.Errorf("extra profile inherited a session policy: %q, %v", extra.SessionPolicy, extra.SessionPolicyARNs)
	}
}

func TestASessionPolicyIsSentAsWrittenOnAOneHopChain(t *testing.T) {
	indented := "{\n  \"Statement\": [\n    {\"Effect\": \"Deny\", \"Action\": \"s3:PutObject\", \"Resource\": \"*\"}\n  ]\n}\n"
	cfg, errs, _ := Parse(pod(map[string]string{RoleARN: target, SessionPolicy: indented}), nil, defaults)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	if got := cfg.Main(); len(got.Chain()) != 1 || got.SessionPolicy != indented {
		t.Fatalf("profile %+v: want the one-hop chain with the policy byte for byte", got)
	}
}

func TestABadSessionPolicyIsQuotedShortWithWhatIsWrong(t *testing.T) {
	long := `{"Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"*","Principal":"*"}]` + strings.Repeat(" ", 100) + "}"
	_, errs, _ := Parse(pod(map[string]string{RoleARN: target, SessionPolicy: long}), nil, defaults)
	want := `metadata.annotations[rolechain.dev/session-policy]: Invalid value: "{\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"s3:GetObject\",\"Reso… (188 characters)": ` +
		`statement 1 has Principal: a session policy applies to the session itself and names no principal; ` +
		`it must be an IAM policy as a JSON object {"Version": "2012-10-17", "Statement": [{"Effect": "Allow"|"Deny", "Action"|"NotAction": …, "Resource"|"NotResource": …}]}`
	if errs.ToAggregate() == nil || errs.ToAggregate().Error() != want {
		t.Fatalf("message:\n got: %v\nwant: %s", errs.ToAggregate(), want)
	}
}

func TestSessionPolicyARNsMustBeInTheTargetsPartition(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{
		RoleARN:           "arn:aws-cn:iam::222222222222:role/t",
		SessionPolicyARNs: "arn:aws-cn:iam::222222222222:policy/ok, arn:aws:iam::aws:policy/ReadOnlyAccess",
	}), nil, defaults)
	want := `metadata.annotations[rolechain.dev/session-policy-arns]: Invalid value: "arn:aws:iam::aws:policy/ReadOnlyAccess": ` +
		`is in partition "aws" but the target role arn:aws-cn:iam::222222222222:role/t is in "aws-cn": session policies must be in the role's partition`
	if errs.ToAggregate() == nil || errs.ToAggregate().Error() != want {
		t.Fatalf("message:\n got: %v\nwant: %s", errs.ToAggregate(), want)
	}
}

func TestTheNamespacePolicyOnAPodIsDeniedAsANamespaceAnnotation(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{RoleARN: target, AllowedRoleARNs: "arn:aws:iam::*:role/*"}), nil, defaults)
	if len(errs) != 1 || !strings.Contains(errs[0].Detail, "is a namespace annotation: cluster admins set it on the namespace") {
		t.Fatalf("errors = %v", errs)
	}
}
