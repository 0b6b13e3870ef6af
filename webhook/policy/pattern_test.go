package policy

import (
	"strings"
	"testing"
)

// TestPatternMatch is the table of the '*' rule: (pattern, role ARN,
// match). '*' matches any run within one segment or path element, at any
// position, and never a ':' or a '/'.
func TestPatternMatch(t *testing.T) {
	const (
		role     = "arn:aws:iam::111111111111:role/reader"
		pathRole = "arn:aws:iam::111111111111:role/team-a/reader"
		deepRole = "arn:aws:iam::111111111111:role/team-a/batch/reader"
	)
	cases := []struct {
		pattern, arn string
		match        bool
	}{
		// Literal patterns match only themselves, case-sensitively.
		{role, role, true},
		{role, "arn:aws:iam::111111111111:role/Reader", false},
		{role, "arn:aws:iam::111111111111:role/reader2", false},
		{role, "arn:aws:iam::111111111111:role/reade", false},
		{role, "arn:aws:iam::222222222222:role/reader", false},

		// Partitions: a literal partition is one partition.
		{role, "arn:aws-cn:iam::111111111111:role/reader", false},
		{role, "arn:aws-us-gov:iam::111111111111:role/reader", false},
		{"arn:aws-cn:iam::111111111111:role/reader", "arn:aws-cn:iam::111111111111:role/reader", true},
		{"arn:*:iam::111111111111:role/reader", "arn:aws:iam::111111111111:role/reader", true},
		{"arn:*:iam::111111111111:role/reader", "arn:aws-cn:iam::111111111111:role/reader", true},
		{"arn:*:iam::111111111111:role/reader", "arn:aws-us-gov:iam::111111111111:role/reader", true},
		{"arn:aws*:iam::111111111111:role/reader", "arn:aws-us-gov:iam::111111111111:role/reader", true},
		{"arn:aws-*:iam::111111111111:role/reader", "arn:aws:iam::111111111111:role/reader", false},
		{"arn:*:iam::111111111111:role/reader", "arn:minio:iam:::role/reader", false},

		// '*' in the account segment.
		{"arn:aws:iam::*:role/reader", role, true},
		{"arn:aws:iam::*:role/reader", "arn:aws:iam::222222222222:role/reader", true},
		{"arn:aws:iam::1111*:role/reader", role, true},
		{"arn:aws:iam::*1111:role/reader", role, true},
		{"arn:aws:iam::2222*:role/reader", role, false},
		{"arn:aws:iam::*:role/reader", "arn:minio:iam:::role/reader", false},  // partition differs
		{"arn:minio:iam::*:role/reader", "arn:minio:iam:::role/reader", true}, // '*' may match nothing

		// '*' in the role name: at the end, the start, the middle, alone, twice.
		{"arn:aws:iam::111111111111:role/read*", role, true},
		{"arn:aws:iam::111111111111:role/*er", role, true},
		{"arn:aws:iam::111111111111:role/r*r", role, true},
		{"arn:aws:iam::111111111111:role/r*d*r", role, true},
		{"arn:aws:iam::111111111111:role/*", role, true},
		{"arn:aws:iam::111111111111:role/reader*", role, true}, // empty run
		{"arn:aws:iam::111111111111:role/*reader*", role, true},
		{"arn:aws:iam::111111111111:role/w*", role, false},
		{"arn:aws:iam::111111111111:role/*x", role, false},
		{"arn:aws:iam::111111111111:role/r*x*r", role, false},
		{"arn:aws:iam::111111111111:role/a*a*a*b", "arn:aws:iam::111111111111:role/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", true},
		{"arn:aws:iam::111111111111:role/a*a*a*b", "arn:aws:iam::111111111111:role/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},

		// Paths: '*' never crosses '/'.
		{"arn:aws:iam::111111111111:role/*", pathRole, false},
		{"arn:aws:iam::111111111111:role/team-a*", pathRole, false},
		{"arn:aws:iam::111111111111:role/team-a/*", pathRole, true},
		{"arn:aws:iam::111111111111:role/team-a/*", deepRole, false},
		{"arn:aws:iam::111111111111:role/team-a/*", role, false},
		{"arn:aws:iam::111111111111:role/team-a/*/*", deepRole, true},
		{"arn:aws:iam::111111111111:role/*/reader", pathRole, true},
		{"arn:aws:iam::111111111111:role/*/reader", role, false},
		{"arn:aws:iam::111111111111:role/team-*/reader", pathRole, true},
		{"arn:aws:iam::111111111111:role/team-*/reader", "arn:aws:iam::111111111111:role/team-b/reader", true},
		{"arn:aws:iam::111111111111:role/team-*/reader", "arn:aws:iam::111111111111:role/ops/reader", false},
		{"arn:aws:iam::111111111111:role/team-a/reader", pathRole, true},
		{"arn:aws:iam::111111111111:role/team-a/reader", role, false},

		// '*' never crosses ':' either.
		{"arn:aws:iam::*:role/*", role, true},
		{"arn:*:iam::*:role/*", "arn:aws-cn:iam::999999999999:role/x", true},
		{"arn:*:iam::*:role/*", "arn:aws:sts::111111111111:assumed-role/reader/s", false},
		{"arn:aws:iam::111111111111:role/a*/reader", "arn:aws:iam::111111111111:role/a:b/reader", false}, // a ':' in a path
		{"arn:aws:iam::111111111111:role/a:*/reader", "arn:aws:iam::111111111111:role/a:b/reader", true},
	}
	for _, tc := range cases {
		p, err := ParsePattern(tc.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tc.pattern, err)
		}
		if got := p.Match(tc.arn); got != tc.match {
			t.Errorf("%q matches %q = %v, want %v", tc.pattern, tc.arn, got, tc.match)
		}
	}
}

func TestMalformedPatternsSayWhatIsWrong(t *testing.T) {
	cases := []struct{ pattern, want string }{
		{"*", "must have the shape arn:<partition>:iam::<account>:role/"},
		{"", "is empty"},
		{"team-a-*", "must have the shape"},
		{"arn:aws:iam::111111111111:user/x", "must have the shape"},
		{"arn:aws:sts::111111111111:assumed-role/x/y", "must have the shape"},
		{"arn:aws:iam:eu-west-1:111111111111:role/x", "must have the shape"},
		{"arn:aws:iam::111111111111", "must have the shape"},
		{"ARN:aws:iam::111111111111:role/x", "must have the shape"},
		{"arn:AWS:iam::111111111111:role/x", `partition "AWS"`},
		{"arn::iam::111111111111:role/x", `partition ""`},
		{"arn:aws:iam::1111111111111:role/x", `account "1111111111111"`},
		{"arn:aws:iam::team-a:role/x", `account "team-a"`},
		{"arn:aws:iam::11111:role/x", `account "11111" must be 12 digits`},
		{"arn:aws:iam::111111111111:role/", "has no role name after the last '/'"},
		{"arn:aws:iam::111111111111:role/team-a/", "has no role name after the last '/'"},
		{"arn:aws:iam::111111111111:role/team-a//x", "empty path element"},
		{"arn:aws:iam::111111111111:role/has space", `role name "has space"`},
		{"arn:aws:iam::111111111111:role/" + strings.Repeat("n", 65), "role name"},
		{"arn:aws:iam::111111111111:role/**", `has "**"`},
		{"arn:aws:iam::111111111111:role/team-a/**/x", `has "**"`},
		{"arn:aws:iam::111111111111:role/reade?", `has "?": only * is a wildcard`},
	}
	for _, tc := range cases {
		_, err := ParsePattern(tc.pattern)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePattern(%q) = %v, want an error containing %q", tc.pattern, err, tc.want)
		}
	}
}

func TestParseListsEveryMalformedEntryAndKeepsTheOthers(t *testing.T) {
	pol, errs := Parse(" arn:aws:iam::1:role/x,\n  arn:aws:iam::111111111111:role/a-* ,, arn:aws:iam::111111111111:role/b\n")
	if len(errs) != 2 {
		t.Fatalf("errors = %v, want 2", errs)
	}
	if want := `"arn:aws:iam::1:role/x" account "1" must be 12 digits, or digits and * (at most 12 characters)`; errs[0].Error() != want {
		t.Errorf("first error = %q, want %q", errs[0].Error(), want)
	}
	if errs[1].Entry != "" || errs[1].Error() != `"" is empty` {
		t.Errorf("second error = %q, want the empty entry between the two commas", errs[1].Error())
	}
	if pol.String() != "arn:aws:iam::111111111111:role/a-*, arn:aws:iam::111111111111:role/b" {
		t.Errorf("patterns = %q", pol.String())
	}
}

func TestAnEmptyValueIsAPolicyThatAllowsNothing(t *testing.T) {
	for _, v := range []string{"", "  ", "\n"} {
		pol, errs := Parse(v)
		if pol == nil || len(pol) != 0 || len(errs) != 0 {
			t.Fatalf("Parse(%q) = %v, %v", v, pol, errs)
		}
		if _, ok := pol.Match("arn:aws:iam::111111111111:role/x"); ok {
			t.Fatalf("an empty policy matched")
		}
	}
}

func TestPolicyMatchReturnsTheFirstMatchingPattern(t *testing.T) {
	pol, errs := Parse("arn:aws:iam::111111111111:role/b*, arn:aws:iam::111111111111:role/*, arn:aws:iam::111111111111:role/a")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for arn, want := range map[string]string{
		"arn:aws:iam::111111111111:role/a":  "arn:aws:iam::111111111111:role/*",
		"arn:aws:iam::111111111111:role/bb": "arn:aws:iam::111111111111:role/b*",
	} {
		if p, ok := pol.Match(arn); !ok || p.Text != want {
			t.Errorf("Match(%q) = %q, %v; want %q", arn, p.Text, ok, want)
		}
	}
	if _, ok := pol.Match("arn:aws:iam::111111111111:role/p/a"); ok {
		t.Error("matched a role under a path")
	}
}

// FuzzPatternMatch checks the rule against its definition: a pattern
// without '*' matches exactly itself, and no pattern ever matches an ARN
// whose ':' and '/' are not where the pattern has them.
func FuzzPatternMatch(f *testing.F) {
	f.Add("arn:aws:iam::*:role/a*b", "arn:aws:iam::111111111111:role/axxb")
	f.Add("arn:*:iam::111111111111:role/p/*", "arn:aws:iam::111111111111:role/p/q/r")
	f.Fuzz(func(t *testing.T, pattern, arn string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			return
		}
		got := p.Match(arn)
		if !strings.Contains(pattern, "*") && got != (pattern == arn) {
			t.Fatalf("literal %q matches %q = %v", pattern, arn, got)
		}
		if got && separators(pattern) != separators(arn) {
			t.Fatalf("%q matched %q across a separator", pattern, arn)
		}
	})
}

func separators(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == ':' || r == '/' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
