package options_test

import (
	"strings"
	"testing"

	"github.com/rolechain/rolechain/internal/contract"
)

// eksPodIdentityTags are the session tags EKS Pod Identity sets itself
// (transitively) on every session it issues. AWS sets them, so admins trust
// them in aws:PrincipalTag conditions; a tag the sidecar sends is chosen by
// whoever holds the previous hop, so it must never be mistaken for one.
var eksPodIdentityTags = []string{
	"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-service-account", "kubernetes-pod-name", "kubernetes-pod-uid",
}

var podEnv = map[string]string{contract.EnvPodNamespace: "team-a", contract.EnvPodName: "app-1", contract.EnvServiceAccount: "app"}

func tagKeys(t *testing.T, args []string, env map[string]string) []string {
	t.Helper()
	c, ps, err := parse(t, args, env)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, tag := range c.Tags(ps[0]) {
		keys = append(keys, tag.Key)
	}
	return keys
}

// The default tags are caller-set, and their keys say so: none is (in any
// case: IAM compares tag keys case-insensitively) a key EKS Pod Identity
// sets, which an aws:PrincipalTag condition written for EKS would trust.
func TestDefaultSessionTagKeysAreNotEKSPodIdentitysKeys(t *testing.T) {
	keys := tagKeys(t, []string{"--web-identity-role-arn", web, "--role-arn", target, "--session-tags"}, podEnv)
	if strings.Join(keys, ",") != "rolechain-namespace,rolechain-pod,rolechain-service-account" {
		t.Fatalf("default session tag keys %q", keys)
	}
	for _, k := range keys {
		for _, eks := range eksPodIdentityTags {
			if strings.EqualFold(k, eks) {
				t.Errorf("the sidecar sets %q, a key EKS Pod Identity sets itself: anyone holding the first hop could forge it", k)
			}
		}
	}
}

func TestSessionTagKeysAreConfigurableByFlagAndEnvironment(t *testing.T) {
	base := []string{"--web-identity-role-arn", web, "--role-arn", target, "--session-tags"}
	if got := tagKeys(t, append(base, "--session-tag-keys", "kubernetes-namespace,kubernetes-pod,kubernetes-service-account"), podEnv); strings.Join(got, ",") != "kubernetes-namespace,kubernetes-pod,kubernetes-service-account" {
		t.Errorf("--session-tag-keys: tags %q", got)
	}
	env := map[string]string{contract.EnvSessionTagKeys: "team/ns,team/pod,team/sa"}
	for k, v := range podEnv {
		env[k] = v
	}
	if got := tagKeys(t, base, env); strings.Join(got, ",") != "team/ns,team/pod,team/sa" {
		t.Errorf("%s: tags %q", contract.EnvSessionTagKeys, got)
	}
}

// A key STS would refuse is refused at start, naming the flag (and the
// variable) and what a key must be, rather than on every AssumeRole call.
func TestInvalidSessionTagKeysNameTheirFlag(t *testing.T) {
	base := []string{"--web-identity-role-arn", web, "--role-arn", target, "--session-tags"}
	for _, tc := range []struct {
		name string
		keys string
		env  bool
		want string
	}{
		{"two keys", "a,b", false, `--session-tag-keys: Invalid value: "a,b": must be three keys, comma-separated`},
		{"reserved prefix", "aws:ns,b,c", false, `--session-tag-keys[0]: Invalid value: "aws:ns": must not start with aws:`},
		{"reserved prefix in capitals", "a,AWS:pod,c", false, `--session-tag-keys[1]: Invalid value: "AWS:pod": must not start with aws:`},
		{"character STS refuses", "a,b,c!", false, `--session-tag-keys[2]: Invalid value: "c!": must be 1-128 characters`},
		{"empty key", "a,,c", false, `--session-tag-keys[1]: Invalid value: "": must be 1-128 characters`},
		{"too long", "a,b," + strings.Repeat("k", 129), false, `--session-tag-keys[2]: Invalid value: "` + strings.Repeat("k", 129) + `": must be 1-128 characters`},
		{"same key in another case", "ns,pod,NS", false, `--session-tag-keys[2]: Duplicate value: "NS": is key [0] to IAM, which compares tag keys case-insensitively`},
		{"from the environment", "", true, `--session-tag-keys (from ROLECHAIN_SESSION_TAG_KEYS)[0]: Invalid value: "aws:x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, env := base, map[string]string{}
			for k, v := range podEnv {
				env[k] = v
			}
			if tc.env {
				env[contract.EnvSessionTagKeys] = "aws:x,b,c"
			} else {
				args = append(args, "--session-tag-keys", tc.keys)
			}
			_, _, err := parse(t, args, env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, _, err := parse(t, append(base, "--session-tag-keys", strings.Repeat("k", 128)+",a b,x_.:/=+-@é"), podEnv); err != nil {
		t.Fatalf("keys IAM accepts are refused: %v", err)
	}
}
