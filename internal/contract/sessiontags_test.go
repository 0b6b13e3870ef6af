package contract_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rolechain/rolechain/internal/contract"
)

// A session tag key is what STS accepts: IAM's characters and length,
// and not AWS's reserved prefix in any case.
func TestSessionTagKeyIsIAMsRule(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"rolechain-namespace", true},
		{"k", true},
		{strings.Repeat("k", 128), true},
		{strings.Repeat("é", 128), true}, // IAM counts characters, not bytes
		{"a b_.:/=+-@7", true},
		{"名前空間", true},
		{"awsns", true},
		{"x:aws:", true},
		{"", false},
		{strings.Repeat("k", 129), false},
		{"aws:ns", false},
		{"AWS:ns", false},
		{"Aws:ns", false},
		{"awſ:ns", false}, // ſ is s to IAM
		{"aws:", false},
		{"a,b", false},
		{"a!", false},
		{"a\nb", false},
		{"a\tb", false},
		{"a*", false},
		{"a\"b", false},
	} {
		if got := contract.SessionTagKeyProblem(tc.key) == ""; got != tc.ok {
			t.Errorf("SessionTagKeyProblem(%q) accepts = %v, want %v", tc.key, got, tc.ok)
		}
	}
}

func TestSessionTagKeysMustDifferCaseInsensitively(t *testing.T) {
	path := field.NewPath("--session-tag-keys")
	for _, s := range []string{"ns,pod,sa", "ns,Pod,pods"} {
		if _, errs := contract.ParseSessionTagKeys(s, path); len(errs) > 0 {
			t.Errorf("%q: %v", s, errs)
		}
	}
	for s, at := range map[string]string{
		"ns,pod,NS": "--session-tag-keys[2]", "ns,ns,sa": "--session-tag-keys[1]", "a,pod,POD": "--session-tag-keys[2]",
		"ns,poſ,pos": "--session-tag-keys[2]", "ns,pıd,pid": "--session-tag-keys[2]", "ns,İd,id": "--session-tag-keys[2]",
	} {
		_, errs := contract.ParseSessionTagKeys(s, path)
		if len(errs) != 1 || errs[0].Field != at || errs[0].Type != field.ErrorTypeDuplicate || !strings.Contains(errs[0].Detail, "case-insensitively") {
			t.Errorf("%q: got %v, want a duplicate at %s", s, errs, at)
		}
	}
	for _, s := range []string{"", "a,b", "a,b,c,d"} {
		if _, errs := contract.ParseSessionTagKeys(s, path); len(errs) != 1 || errs[0].Field != "--session-tag-keys" {
			t.Errorf("%q: got %v, want one error at the flag", s, errs)
		}
	}
}

func TestDefaultSessionTagKeysRoundTripAndAreValid(t *testing.T) {
	k, errs := contract.ParseSessionTagKeys(contract.DefaultSessionTagKeys.String(), field.NewPath("x"))
	if len(errs) > 0 || k != contract.DefaultSessionTagKeys {
		t.Fatalf("%v %+v", errs, k)
	}
	for _, key := range k.Keys() {
		for _, eks := range contract.EKSPodIdentityTagKeys {
			if strings.EqualFold(key, eks) {
				t.Errorf("default key %q is one EKS Pod Identity sets", key)
			}
		}
	}
}
