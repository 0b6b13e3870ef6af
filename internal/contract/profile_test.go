package contract

import (
	"reflect"
	"strings"
	"testing"
)

func TestEncodeDecodeRoundTripsEveryField(t *testing.T) {
	in := []Profile{{
		Name:               "target",
		WebIdentityRoleARN: "arn:aws:iam::111111111111:role/web",
		RoleARNs:           []string{"arn:aws:iam::222222222222:role/via", "arn:aws:iam::333333333333:role/target"},
		ExternalID:         "ext-123",
		SessionName:        "ns.pod",
		DurationSeconds:    1800,
		Region:             "eu-west-1",
		STSEndpoint:        "https://sts.example.test",
		SessionTags:        true,
	}}
	s, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed profiles:\n in: %+v\nout: %+v", in, out)
	}
}

func TestDecodeRejectsUnknownFields(t *testing.T) {
	_, err := Decode(`[{"name":"default","webIdentityRoleARN":"arn:aws:iam::1:role/a","roleArn":"typo"}]`)
	if err == nil || !strings.Contains(err.Error(), "roleArn") {
		t.Fatalf("want an error naming the unknown field, got %v", err)
	}
}

func TestChainPutsWebIdentityRoleFirstAndTargetLast(t *testing.T) {
	p := Profile{WebIdentityRoleARN: "a", RoleARNs: []string{"b", "c"}}
	if got := p.Chain(); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("Chain() = %v", got)
	}
	if p.Target() != "c" {
		t.Fatalf("Target() = %q, want c", p.Target())
	}
	if one := (Profile{WebIdentityRoleARN: "a"}); one.Target() != "a" {
		t.Fatalf("one-hop Target() = %q, want a", one.Target())
	}
}
