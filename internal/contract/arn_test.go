package contract

import (
	"regexp"
	"strings"
	"testing"
)

// Regular expressions of the rules ParseRoleARN checks: the test's oracle.
var (
	awsRoleARNOracle  = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):role/(?:[\x21-\x7f]{0,510}/)?([\w+=,.@-]{1,64})$`)
	peerRoleARNOracle = regexp.MustCompile(`^arn:([a-z][a-z0-9-]{0,62}):iam::([0-9]{12})?:role/(?:[\x21-\x7f]{0,510}/)?([\w+=,.@-]{1,64})$`)
)

func checkRoleARNAgainstOracle(t *testing.T, s string) {
	t.Helper()
	for _, c := range []struct {
		peer   bool
		oracle *regexp.Regexp
	}{{false, awsRoleARNOracle}, {true, peerRoleARNOracle}} {
		want := ""
		m := c.oracle.FindStringSubmatch(s)
		if m != nil {
			want = m[1]
		}
		got, ok := ParseRoleARN(s, c.peer)
		if ok != (m != nil) || got != want {
			t.Errorf("ParseRoleARN(%q, peer=%v) = %q, %v; the regular expression says %q, %v", s, c.peer, got, ok, want, m != nil)
		}
	}
}

var roleARNSeeds = []string{
	"arn:aws:iam::111122223333:role/target",
	"arn:aws-cn:iam::111122223333:role/a",
	"arn:aws-us-gov:iam::111122223333:role/team/app/Role_+=,.@-",
	"arn:aws:iam::111122223333:role//name",
	"arn:aws:iam::111122223333:role/" + strings.Repeat("p", 510) + "/name",
	"arn:aws:iam::111122223333:role/" + strings.Repeat("p", 511) + "/name",
	"arn:aws:iam::111122223333:role/" + strings.Repeat("n", 64),
	"arn:aws:iam::111122223333:role/" + strings.Repeat("n", 65),
	"arn:aws:iam::111122223333:role/",
	"arn:aws:iam::111122223333:role/path/",
	"arn:aws:iam::111122223333:role/pa th/name",
	"arn:aws:iam::111122223333:role/pä/name",
	"arn:aws:iam::111122223333:role/na/me\n",
	"arn:aws:iam::11112222333:role/x",
	"arn:aws:iam::1111222233334:role/x",
	"arn:aws:iam::11112222333a:role/x",
	"arn:aws:iam:::role/x",
	"arn:aws:iam:us-east-1:111122223333:role/x",
	"arn:aws:sts::111122223333:role/x",
	"arn:aws:iam::111122223333:user/x",
	"arn:aws:iam::111122223333:role",
	"arn:minio:iam:::role/oxnUw3DAuQF1uggjXGxI2AmW8IA",
	"arn:minio:iam::111122223333:role/x",
	"arn:Minio:iam:::role/x",
	"arn:9aws:iam:::role/x",
	"arn:a-" + strings.Repeat("b", 61) + ":iam:::role/x",
	"arn:a-" + strings.Repeat("b", 62) + ":iam:::role/x",
	"arn::iam:::role/x",
	"arn:aws",
	"arn:",
	"",
	" arn:aws:iam::111122223333:role/x",
	"arn:aws:iam::111122223333:role/x ",
	"arn:aws:iam::111122223333:role/a,b",
}

func TestParseRoleARNAgreesWithTheRegularExpressions(t *testing.T) {
	for _, s := range roleARNSeeds {
		checkRoleARNAgainstOracle(t, s)
	}
	// Each seed cut at every length: the prefixes of valid ARNs.
	for _, s := range roleARNSeeds[:4] {
		for i := range len(s) {
			checkRoleARNAgainstOracle(t, s[:i])
		}
	}
}

func FuzzParseRoleARN(f *testing.F) {
	for _, s := range roleARNSeeds {
		f.Add(s)
	}
	f.Fuzz(checkRoleARNAgainstOracle)
}
