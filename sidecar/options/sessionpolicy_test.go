package options_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rolechain/rolechain/internal/contract"
)

const denyGet = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]}`

func TestSessionPolicyFlagsAndTheirEnvironmentTwins(t *testing.T) {
	want := contract.Profile{
		Name: "default", WebIdentityRoleARN: web, RoleARNs: []string{target}, SessionName: "rolechain", DurationSeconds: 3600,
		SessionPolicy: denyGet, SessionPolicyARNs: []string{"arn:aws:iam::222222222222:policy/a", "arn:aws:iam::aws:policy/ReadOnlyAccess"},
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flags", []string{"--web-identity-role-arn", web, "--role-arn", target, "--session-policy", denyGet,
			"--session-policy-arns", "arn:aws:iam::222222222222:policy/a", "--session-policy-arns", "arn:aws:iam::aws:policy/ReadOnlyAccess"}, nil},
		{"environment", []string{"--web-identity-role-arn", web, "--role-arn", target}, map[string]string{
			"ROLECHAIN_SESSION_POLICY":      denyGet,
			"ROLECHAIN_SESSION_POLICY_ARNS": "arn:aws:iam::222222222222:policy/a,arn:aws:iam::aws:policy/ReadOnlyAccess",
		}},
		{"profile JSON", []string{"--profiles", `[{"name":"default","webIdentityRoleARN":"` + web + `","roleARNs":["` + target + `"],` +
			`"sessionPolicy":` + jsonString(denyGet) + `,"sessionPolicyARNs":["arn:aws:iam::222222222222:policy/a","arn:aws:iam::aws:policy/ReadOnlyAccess"]}]`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ps, err := parse(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 1 || !reflect.DeepEqual(ps[0], want) {
				t.Fatalf("got %+v\nwant %+v", ps, want)
			}
		})
	}
}

func TestBadSessionPoliciesNameTheirFlag(t *testing.T) {
	base := []string{"--web-identity-role-arn", web, "--role-arn", target}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"not JSON", append(base, "--session-policy", "deny all"), nil, "--session-policy: Invalid value: \"deny all\": the policy is not a JSON object"},
		{"a principal", append(base, "--session-policy", `{"Statement":{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}}`), nil,
			"statement 1 has Principal"},
		{"too long, from the environment", base, map[string]string{"ROLECHAIN_SESSION_POLICY": strings.TrimSuffix(denyGet, "}") + strings.Repeat(" ", 2000) + "}"},
			"(2095 characters)\": the policy is 2095 characters long: STS accepts at most 2048"},
		{"not a policy ARN", append(base, "--session-policy-arns", "arn:aws:iam::222222222222:role/a"), nil, `--session-policy-arns: Invalid value: "arn:aws:iam::222222222222:role/a": must be a managed policy ARN`},
		{"another partition", append(base, "--session-policy-arns", "arn:aws-cn:iam::aws:policy/ReadOnlyAccess"), nil,
			`--session-policy-arns: Invalid value: "arn:aws-cn:iam::aws:policy/ReadOnlyAccess": is in partition "aws-cn" but the target role`},
		{"eleven", append(base, "--session-policy-arns", strings.TrimSuffix(strings.Repeat("arn:aws:iam::aws:policy/P,", 11), ",")), nil, "--session-policy-arns: Invalid value: 11: lists 11 policies; STS accepts at most 10"},
		{"twice", append(base, "--session-policy-arns", "arn:aws:iam::aws:policy/P,arn:aws:iam::aws:policy/P"), nil, `--session-policy-arns: Invalid value: "arn:aws:iam::aws:policy/P": is listed twice`},
		{"with --profiles", []string{"--profiles", `[{"name":"a","webIdentityRoleARN":"` + web + `"}]`, "--session-policy", denyGet}, nil, "--session-policy: cannot be combined with --profiles"},
		{"in profile JSON", []string{"--profiles", `[{"name":"a","webIdentityRoleARN":"` + web + `","sessionPolicyARNs":["x"]}]`}, nil, `--profiles[0].sessionPolicyARNs[0]: Invalid value: "x": must be a managed policy ARN`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parse(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func jsonString(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
