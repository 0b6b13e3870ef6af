package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
)

const (
	web    = "arn:aws:iam::111111111111:role/web"
	via    = "arn:aws:iam::222222222222:role/hops/via"
	target = "arn:aws:iam::333333333333:role/team-a-reader"
	other  = "arn:aws:iam::333333333333:role/team-b-reader"
	key    = "namespaces[team-a].metadata.annotations[rolechain.dev/allowed-role-arns]"
)

func chained(name string, roles ...string) contract.Profile {
	return contract.Profile{Name: name, WebIdentityRoleARN: roles[0], RoleARNs: roles[1:]}
}

func TestEveryRoleOfEveryProfileMustMatch(t *testing.T) {
	allowAll := "arn:aws:iam::111111111111:role/web, arn:aws:iam::222222222222:role/hops/*, arn:aws:iam::333333333333:role/team-a-*"
	cases := []struct {
		name     string
		profiles []contract.Profile
		denied   []string // the role named in each error, in order
	}{
		{"one profile, every hop allowed", []contract.Profile{chained("default", web, via, target)}, nil},
		{"a one-hop profile", []contract.Profile{chained("default", target)}, nil},
		{"the target is not allowed", []contract.Profile{chained("default", web, other)}, []string{other}},
		{"the first hop is not allowed", []contract.Profile{chained("default", "arn:aws:iam::111111111111:role/irsa", target)}, []string{"arn:aws:iam::111111111111:role/irsa"}},
		{"a via role deeper in the path is not allowed", []contract.Profile{chained("default", web, "arn:aws:iam::222222222222:role/hops/x/via", target)}, []string{"arn:aws:iam::222222222222:role/hops/x/via"}},
		{"the same target in another partition is not allowed", []contract.Profile{chained("default", "arn:aws-cn:iam::333333333333:role/team-a-reader")}, []string{"arn:aws-cn:iam::333333333333:role/team-a-reader"}},
		{"an extra profile's target is checked too", []contract.Profile{chained("default", web, target), chained("reports", web, other)}, []string{other}},
		{"a role denied in two profiles is reported once", []contract.Profile{chained("default", web, other), chained("reports", web, other)}, []string{other}},
		{"every denied role is reported", []contract.Profile{chained("default", "arn:aws:iam::111111111111:role/w2", other)}, []string{"arn:aws:iam::111111111111:role/w2", other}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			verdict, errs := Check("team-a", map[string]string{annotations.AllowedRoleARNs: allowAll}, ModeOptional, tc.profiles)
			if len(tc.denied) == 0 {
				if len(errs) > 0 || !verdict.Applied {
					t.Fatalf("verdict %+v, errors %v", verdict, errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != key || errs[0].Type != "FieldValueForbidden" {
				t.Fatalf("errors %v, want one Forbidden on %s", errs, key)
			}
			// The roles named, in order: each is followed by " (hop".
			var denied []string
			for _, part := range strings.Split(errs[0].Detail, " (hop")[:len(tc.denied)] {
				fields := strings.Fields(strings.TrimPrefix(part, ", "))
				denied = append(denied, fields[len(fields)-1])
			}
			if diff := cmp.Diff(tc.denied, denied); diff != "" {
				t.Fatalf("denied roles (-want +got):\n%s\n%s", diff, errs[0].Detail)
			}
			if strings.Count(errs[0].Detail, " (hop") != len(tc.denied) {
				t.Fatalf("detail names %d roles, want %d: %s", strings.Count(errs[0].Detail, " (hop"), len(tc.denied), errs[0].Detail)
			}
		})
	}
}

func TestTheDenialNamesTheRoleItsHopTheNamespaceAndTheAnnotation(t *testing.T) {
	_, errs := Check("team-a", map[string]string{annotations.AllowedRoleARNs: "arn:aws:iam::333333333333:role/team-a-*"}, ModeOptional,
		[]contract.Profile{chained("default", target), chained("reports", web, target)})
	want := key + `: Forbidden: role arn:aws:iam::111111111111:role/web (hop 1 of 2 of profile "reports") is not allowed in namespace "team-a": ` +
		`it matches none of the patterns in the namespace's rolechain.dev/allowed-role-arns annotation: arn:aws:iam::333333333333:role/team-a-*`
	if errs.ToAggregate() == nil || errs.ToAggregate().Error() != want {
		t.Fatalf("message:\n got: %v\nwant: %s", errs.ToAggregate(), want)
	}
}

func TestTheVerdictNamesThePatternThatAdmittedEachRole(t *testing.T) {
	verdict, errs := Check("team-a", map[string]string{
		annotations.AllowedRoleARNs: "arn:aws:iam::111111111111:role/web,\n arn:aws:iam::*:role/team-a-*, arn:aws:iam::333333333333:role/*",
	}, ModeRequired, []contract.Profile{chained("default", web, target), chained("logs", web, "arn:aws:iam::333333333333:role/logs")})
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	want := Verdict{Applied: true, AdmittedBy: map[string]string{
		web:                                   "arn:aws:iam::111111111111:role/web",
		target:                                "arn:aws:iam::*:role/team-a-*",
		"arn:aws:iam::333333333333:role/logs": "arn:aws:iam::333333333333:role/*",
	}}
	if diff := cmp.Diff(want, verdict); diff != "" {
		t.Fatalf("verdict (-want +got):\n%s", diff)
	}
}

func TestANamespaceWithoutThePolicy(t *testing.T) {
	profiles := []contract.Profile{chained("default", web, target)}
	t.Run("optional: unrestricted, and the verdict says so", func(t *testing.T) {
		verdict, errs := Check("team-a", map[string]string{"other": "x"}, ModeOptional, profiles)
		if len(errs) > 0 || verdict.Applied || len(verdict.AdmittedBy) > 0 {
			t.Fatalf("verdict %+v, errors %v", verdict, errs)
		}
	})
	t.Run("required: denied, naming the namespace, the annotation and the flag", func(t *testing.T) {
		_, errs := Check("team-a", nil, ModeRequired, profiles)
		want := key + `: Required value: namespace "team-a" has no rolechain.dev/allowed-role-arns annotation and this webhook runs with --namespace-policy=required: ` +
			`its pods may assume no role until a cluster admin lists the role ARN patterns the namespace may use`
		if errs.ToAggregate() == nil || errs.ToAggregate().Error() != want {
			t.Fatalf("message:\n got: %v\nwant: %s", errs.ToAggregate(), want)
		}
	})
}

func TestAnEmptyPolicyAllowsNoRole(t *testing.T) {
	_, errs := Check("team-a", map[string]string{annotations.AllowedRoleARNs: ""}, ModeOptional, []contract.Profile{chained("default", target)})
	if len(errs) != 1 || !strings.Contains(errs[0].Detail, "the namespace's rolechain.dev/allowed-role-arns annotation is empty, which allows no role") {
		t.Fatalf("errors = %v", errs)
	}
}

func TestAMalformedPolicyDeniesEveryPodAndNamesEachBadEntryOnce(t *testing.T) {
	_, errs := Check("team-a", map[string]string{annotations.AllowedRoleARNs: "arn:aws:iam::333333333333:role/team-a-*, *, arn:aws:iam::333333333333:role/a/**"},
		ModeOptional, []contract.Profile{chained("default", target)}) // the target matches the good entry
	want := key + `: Invalid value: "*, arn:aws:iam::333333333333:role/a/**": "*" must have the shape arn:<partition>:iam::<account>:role/[<path>/]<name>; ` +
		`"arn:aws:iam::333333333333:role/a/**" has "**": * matches within one segment or path element only; list one pattern per path depth; each entry must be ` + Form +
		`. Pods of namespace "team-a" that ask for a role are denied until a cluster admin fixes the annotation`
	if errs.ToAggregate() == nil || errs.ToAggregate().Error() != want {
		t.Errorf("message:\n got: %v\nwant: %s", errs.ToAggregate(), want)
	}
	_, errs = Check("team-a", map[string]string{annotations.AllowedRoleARNs: "arn:aws:iam::333333333333:role/team-a-*, team-a-*"}, ModeOptional, nil)
	want = key + `: Invalid value: "team-a-*": must have the shape arn:<partition>:iam::<account>:role/[<path>/]<name>; each entry must be ` + Form +
		`. Pods of namespace "team-a" that ask for a role are denied until a cluster admin fixes the annotation`
	if errs.ToAggregate() == nil || errs.ToAggregate().Error() != want {
		t.Errorf("one bad entry:\n got: %v\nwant: %s", errs.ToAggregate(), want)
	}
}

// With rolechain.dev/source: pod-identity a profile has no web-identity
// role: its chain is RoleARNs alone. Every such pod in a namespace with a
// policy was denied, for an empty first role no pattern matched (#20).
func TestAPodIdentityChainIsJudgedOnItsRealRoles(t *testing.T) {
	p := contract.Profile{Name: "default", RoleARNs: []string{via, target}}
	verdict, errs := Check("team-a", map[string]string{annotations.AllowedRoleARNs: "arn:aws:iam::222222222222:role/hops/*, arn:aws:iam::333333333333:role/team-a-*"}, ModeOptional, []contract.Profile{p})
	if len(errs) > 0 {
		t.Fatalf("denied: %v", errs.ToAggregate())
	}
	if _, ok := verdict.AdmittedBy[""]; ok || len(verdict.AdmittedBy) != 2 {
		t.Fatalf("admittedBy %v, want the two roles", verdict.AdmittedBy)
	}
}
