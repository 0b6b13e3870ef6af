package annotations

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rolechain/rolechain/internal/contract"
)

const (
	target = "arn:aws:iam::222222222222:role/target"
	web    = "arn:aws:iam::111111111111:role/web"
	via    = "arn:aws:iam::333333333333:role/via"
	irsa   = "arn:aws:iam::111111111111:role/irsa"
)

var defaults = Defaults{
	Audience:               contract.DefaultAudience,
	TokenExpirationSeconds: 3600,
	CPURequest:             resource.MustParse("10m"),
	MemoryRequest:          resource.MustParse("16Mi"),
	MemoryLimit:            resource.MustParse("64Mi"),
}

func pod(ann map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", Annotations: ann},
		Spec: corev1.PodSpec{
			ServiceAccountName: "sa",
			InitContainers:     []corev1.Container{{Name: "init"}},
			Containers:         []corev1.Container{{Name: "app"}, {Name: "proxy"}},
		},
	}
}

func serviceAccount(roleARN string) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa", Namespace: "ns"}}
	if roleARN != "" {
		sa.Annotations = map[string]string{IRSARoleARN: roleARN}
	}
	return sa
}

// TestEveryKeyValidatesItsValue is the one table of (annotation, value,
// valid) over every key. Each row is applied on top of a valid one-hop pod
// (plus, for chained-only rules, a via role), and an invalid value must
// produce an error whose path names exactly that annotation.
func TestEveryKeyValidatesItsValue(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		key, value string
		valid      bool
		chained    bool // add a via role so the chain has two hops
	}{
		{RoleARN, target, true, false},
		{RoleARN, "arn:aws-cn:iam::222222222222:role/t", true, false},
		{RoleARN, "arn:aws-us-gov:iam::222222222222:role/t", true, false},
		{RoleARN, "arn:aws:iam::222222222222:role/a/b/c/name+=,.@-_", true, false},
		{RoleARN, "arn:aws:iam::222222222222:role/a~b/x", true, false},       // IAM's path rule: ! to DEL
		{RoleARN, "arn:aws:iam::222222222222:role/a\x7fb/x", true, false},    // DEL is the rule's last character
		{RoleARN, "arn:aws:iam::222222222222:role/a b/x", false, false},      // space is not
		{RoleARN, "arn:aws:iam::222222222222:role/a\u00e9b/x", false, false}, // nor anything above ASCII
		{RoleARN, "arn:aws:iam::222222222222:role/" + long(64), true, false},
		{RoleARN, "arn:aws:iam::222222222222:role/" + long(65), false, false},
		{RoleARN, "", false, false},
		{RoleARN, "target", false, false},
		{RoleARN, "arn:aws-iso:iam::222222222222:role/t", false, false},
		{RoleARN, "arn:aws:iam::22222222222:role/t", false, false},
		{RoleARN, "arn:aws:iam::222222222222:user/t", false, false},
		{RoleARN, "arn:aws:sts::222222222222:assumed-role/t/s", false, false},
		{RoleARN, "arn:aws:iam::222222222222:role/", false, false},
		{RoleARN, "arn:aws:iam::222222222222:role/t ", false, false},
		{WebIdentityRoleARN, web, true, false},
		{WebIdentityRoleARN, "arn:aws:iam::1:role/web", false, false},
		{WebIdentityRoleARN, "arn:aws-cn:iam::111111111111:role/web", false, false}, // other partition than the target
		{ViaRoleARNs, via, true, false},
		{ViaRoleARNs, via + ", " + via, true, false},
		{ViaRoleARNs, via + ",", false, false},
		{ViaRoleARNs, via + ",nope", false, false},
		{ViaRoleARNs, strings.Repeat(via+",", contract.MaxHops-1) + via, false, false}, // contract.MaxHops via roles + target
		{ExternalID, "ab", true, true},
		{ExternalID, "Ext_+=,.@:/-1", true, true},
		{ExternalID, long(1224), true, true},
		{ExternalID, "a", false, true},
		{ExternalID, long(1225), false, true},
		{ExternalID, "has space", false, true},
		{ExternalID, "semi;colon", false, true},
		{SessionName, "ab", true, false},
		{SessionName, "a+=,.@-_" + long(56), true, false},
		{SessionName, "a", false, false},
		{SessionName, long(65), false, false},
		{SessionName, "ns/pod", false, false},
		{SessionDuration, "900", true, false},
		{SessionDuration, "43200", true, false},
		{SessionDuration, "12h", true, false},
		{SessionDuration, "15m", true, false},
		{SessionDuration, "899", false, false},
		{SessionDuration, "43201", false, false},
		{SessionDuration, "1.5s", false, false},
		{SessionDuration, "-1h", false, false},
		{SessionDuration, "an hour", false, false},
		{SessionDuration, "3600", true, true},
		{SessionDuration, "3601", false, true},
		{SessionDuration, "2h", false, true},
		{Region, "eu-west-1", true, false},
		{Region, "us-gov-west-1", false, false}, // the roles are in aws: that endpoint cannot assume them
		{Region, "cn-north-1", false, false},
		{Region, "ap-southeast-4", true, false},
		{Region, "EU-WEST-1", false, false},
		{Region, "eu-west", false, false},
		{Region, "mars", false, false},
		{STSEndpoint, "https://sts.eu-west-1.amazonaws.com", true, false},
		{STSEndpoint, "http://127.0.0.1:8000", true, false},
		{STSEndpoint, "https://sts.example.test/base/", true, false},
		{STSEndpoint, "sts.amazonaws.com", false, false},
		{STSEndpoint, "ftp://sts.example.test", false, false},
		{STSEndpoint, "https://user:pw@sts.example.test", false, false},
		{STSEndpoint, "https://sts.example.test?x=1", false, false},
		{STSEndpoint, "https://sts.example.test?", false, false}, // an empty query is a query
		{STSEndpoint, "https://sts.example.test#", false, false},
		{STSEndpoint, "https://", false, false},
		{SessionTags, "true", false, false}, // one web-identity hop takes no tags
		{SessionTags, "true", true, true},
		{SessionTags, "false", true, false},
		{SessionTags, "yes", false, false},
		{SessionTags, "True", false, false},
		{Audience, "sts.amazonaws.com", true, false},
		{Audience, "https://example.test/aud", true, false},
		{Audience, "", false, false},
		{Audience, " padded", false, false},
		{TokenExpiration, "600", true, false},
		{TokenExpiration, "24h", true, false},
		{TokenExpiration, "599", false, false},
		{TokenExpiration, "9m", false, false},
		{TokenExpiration, "4294967296", false, false},
		{TokenExpiration, "soon", false, false},
		{Profile, "default", true, false},
		{Profile, "reports", true, false},
		{Profile, "team.a_b-1", true, false},
		{Profile, "", false, false},
		{Profile, "-lead", false, false},
		{Profile, "has space", false, false},
		{Profile, "[x]", false, false},
		{Profile, long(64), false, false},
		{SkipContainers, "proxy", true, false},
		{SkipContainers, "proxy, init", true, false},
		{SkipContainers, "not-yet-there", true, false},
		{SkipContainers, "Proxy", false, false},
		{SkipContainers, "proxy,,init", false, false},
		{CredentialsEndpoint, "true", true, false},
		{CredentialsEndpoint, "false", true, false},
		{CredentialsEndpoint, "1", false, false},
		{RefreshInterval, "10s", true, false},
		{RefreshInterval, "15m", true, false},
		{RefreshInterval, "12h", true, false},
		{RefreshInterval, "9s", false, false},
		{RefreshInterval, "13h", false, false},
		{RefreshInterval, "300", false, false}, // a bare number is ambiguous: say "300s"
		{RefreshInterval, "-1m", false, false},
		{SidecarCPURequest, "50m", true, false},
		{SidecarCPURequest, "0.1", true, false},
		{SidecarCPURequest, "fast", false, false},
		{SidecarCPURequest, "0", false, false},
		{SidecarCPURequest, "-1", false, false},
		{SidecarMemoryRequest, "32Mi", true, false},
		{SidecarMemoryRequest, "65Mi", false, false}, // above the 64Mi default limit
		{SidecarMemoryRequest, "lots", false, false},
		{SidecarMemoryLimit, "128Mi", true, false},
		{SidecarMemoryLimit, "8Mi", false, false}, // below the 16Mi default request
		{SessionPolicy, denyGet, true, false},
		{SessionPolicy, "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\"Effect\": \"Allow\", \"Action\": [\"s3:GetObject\"], \"Resource\": \"*\"}\n}\n", true, false},
		{SessionPolicy, denyGet, true, true},
		{SessionPolicy, "", false, false},
		{SessionPolicy, "s3:GetObject", false, false},
		{SessionPolicy, `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}`, false, false},
		{SessionPolicy, `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}` + strings.Repeat(" ", 2049-61), false, false}, // 2049 characters
		{SessionPolicyARNs, "arn:aws:iam::222222222222:policy/deny-writes", true, false},
		{SessionPolicyARNs, "arn:aws:iam::aws:policy/ReadOnlyAccess, arn:aws:iam::222222222222:policy/path/deny", true, true},
		{SessionPolicyARNs, strings.TrimSuffix(strings.Repeat("arn:aws:iam::222222222222:policy/p,", 9), ",") + ",arn:aws:iam::aws:policy/ReadOnlyAccess", false, false}, // p twice
		{SessionPolicyARNs, tenPolicies(10), true, false},
		{SessionPolicyARNs, tenPolicies(11), false, false},
		{SessionPolicyARNs, "arn:aws-cn:iam::222222222222:policy/deny-writes", false, false}, // the target is in aws
		{SessionPolicyARNs, "arn:aws:iam::222222222222:role/deny-writes", false, false},
		{SessionPolicyARNs, "arn:aws:iam::222222222222:policy/a,,arn:aws:iam::222222222222:policy/b", false, false},
		{SessionPolicyARNs, "", false, false},
		{AllowedRoleARNs, "arn:aws:iam::*:role/*", false, false}, // a namespace annotation
		{CredentialsMode, "endpoint", false, false},              // a namespace annotation
		{Status, "anything: written by the webhook", true, false},
		{Source, "web-identity", true, false},
		{Source, "pod-identity", true, false},
		{Source, "Pod-Identity", false, false},
		{Source, "irsa", false, false},
		{Prefix + "regoin", "eu-west-1", false, false},
		{Prefix + "role-arn.", target, false, false},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.key] = true
		name := strings.TrimPrefix(tc.key, Prefix) + "=" + tc.value
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			ann := map[string]string{RoleARN: target}
			if tc.chained {
				ann[ViaRoleARNs] = via
			}
			ann[tc.key] = tc.value
			_, errs, _ := Parse(pod(ann), nil, defaults)
			if tc.valid {
				if len(errs) > 0 {
					t.Fatalf("want valid, got %v", errs.ToAggregate())
				}
				return
			}
			if len(errs) == 0 {
				t.Fatal("want an error, got none")
			}
			for _, e := range errs {
				if want := "metadata.annotations[" + tc.key + "]"; e.Field != want {
					t.Errorf("error on %s, want it on %s: %v", e.Field, want, e)
				}
				if e.Detail == "" {
					t.Errorf("error without the accepted form: %v", e)
				}
			}
		})
	}
	for _, k := range Keys() {
		if !covered[k] {
			t.Errorf("no table row for %s", k)
		}
	}
}

const denyGet = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]}`

// tenPolicies lists n distinct managed policy ARNs of the target's account.
func tenPolicies(n int) string {
	arns := make([]string, n)
	for i := range arns {
		arns[i] = fmt.Sprintf("arn:aws:iam::222222222222:policy/p%d", i)
	}
	return strings.Join(arns, ",")
}

func TestEveryPerProfileKeyWorksWithASuffix(t *testing.T) {
	valid := map[string]string{
		RoleARN: target, WebIdentityRoleARN: web, ViaRoleARNs: via, ExternalID: "ext-id",
		SessionName: "sess", SessionDuration: "900", Region: "eu-west-1",
		STSEndpoint: "https://sts.example.test", SessionTags: "true",
		SessionPolicy: denyGet, SessionPolicyARNs: "arn:aws:iam::aws:policy/ReadOnlyAccess",
	}
	for _, k := range PerProfileKeys() {
		if _, ok := valid[k]; !ok {
			t.Fatalf("no valid value for %s", k)
		}
	}
	ann := map[string]string{RoleARN: target}
	for k, v := range valid {
		ann[k+".extra"] = v
	}
	cfg, errs, _ := Parse(pod(ann), nil, defaults)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	want := contract.Profile{
		Name: "extra", WebIdentityRoleARN: web, RoleARNs: []string{via, target}, ExternalID: "ext-id",
		SessionName: "sess", DurationSeconds: 900, Region: "eu-west-1",
		STSEndpoint: "https://sts.example.test", SessionTags: true,
		SessionPolicy: denyGet, SessionPolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
	}
	if len(cfg.Profiles) != 2 {
		t.Fatalf("want main + extra profile, got %+v", cfg.Profiles)
	}
	if diff := cmp.Diff(want, cfg.Profiles[1]); diff != "" {
		t.Fatalf("extra profile (-want +got):\n%s", diff)
	}
}

func TestFirstHopPodAnnotationPreferredOverServiceAccountIRSA(t *testing.T) {
	cfg, errs, _ := Parse(pod(map[string]string{RoleARN: target, WebIdentityRoleARN: web}), serviceAccount(irsa), defaults)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	if got := cfg.Main().Chain(); !slices.Equal(got, []string{web, target}) {
		t.Fatalf("chain = %v", got)
	}
}

func TestFirstHopFromServiceAccountIRSAWhenThePodNamesNone(t *testing.T) {
	cfg, errs, _ := Parse(pod(map[string]string{RoleARN: target, ViaRoleARNs: via}), serviceAccount(irsa), defaults)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	if got := cfg.Main().Chain(); !slices.Equal(got, []string{irsa, via, target}) {
		t.Fatalf("chain = %v", got)
	}
}

func TestWithoutAnyFirstHopTheFirstRoleIsAssumedWithTheWebIdentity(t *testing.T) {
	cfg, errs, _ := Parse(pod(map[string]string{RoleARN: target}), serviceAccount(""), defaults)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	if got := cfg.Main().Chain(); !slices.Equal(got, []string{target}) {
		t.Fatalf("chain = %v, want the target alone", got)
	}
}

func TestFirstHopEqualToTargetIsOneHop(t *testing.T) {
	cfg, errs, _ := Parse(pod(map[string]string{RoleARN: target, WebIdentityRoleARN: target, SessionDuration: "12h"}), nil, defaults)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	if got := cfg.Main().Chain(); !slices.Equal(got, []string{target}) {
		t.Fatalf("chain = %v, want the target alone", got)
	}
}

func TestInvalidIRSAAnnotationIsReportedOnTheServiceAccount(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{RoleARN: target}), serviceAccount("not-an-arn"), defaults)
	if len(errs) != 1 || errs[0].Field != "serviceaccounts[sa].metadata.annotations[eks.amazonaws.com/role-arn]" {
		t.Fatalf("want one error on the ServiceAccount annotation, got %v", errs)
	}
	if !strings.Contains(errs[0].Error(), WebIdentityRoleARN) {
		t.Errorf("the message should offer the pod annotation as a way out: %v", errs[0])
	}
}

func TestChainedDurationMessageSaysSTSCapsChainedSessionsAtOneHour(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{RoleARN: target, WebIdentityRoleARN: web, SessionDuration: "7200"}), nil, defaults)
	if len(errs) != 1 {
		t.Fatalf("want one error, got %v", errs)
	}
	msg := errs[0].Error()
	for _, want := range []string{"metadata.annotations[rolechain.dev/session-duration]", `"7200"`, "3600", "role chaining", "1 hour"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestIRSAFirstHopMakesTheChainSubjectToTheOneHourCap(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{RoleARN: target, SessionDuration: "2h"}), serviceAccount(irsa), defaults)
	if len(errs) != 1 || errs[0].Field != "metadata.annotations["+SessionDuration+"]" {
		t.Fatalf("want the chained-duration error, got %v", errs)
	}
}

func TestEveryErrorIsReportedAtOnce(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{
		RoleARN: "bad", Region: "bad", SessionName: "x", CredentialsEndpoint: "on", Prefix + "typo": "v",
	}), nil, defaults)
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	slices.Sort(fields)
	want := []string{
		"metadata.annotations[rolechain.dev/credentials-endpoint]",
		"metadata.annotations[rolechain.dev/region]",
		"metadata.annotations[rolechain.dev/role-arn]",
		"metadata.annotations[rolechain.dev/session-name]",
		"metadata.annotations[rolechain.dev/typo]",
	}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Fatalf("errors (-want +got):\n%s\n%v", diff, errs)
	}
}

func TestDefaultsApplyOnlyWhereThePodSetsNothing(t *testing.T) {
	d := defaults
	d.Region = "us-east-2"
	cfg, errs, _ := Parse(pod(map[string]string{RoleARN: target, RoleARN + ".other": via, Region + ".other": "eu-west-3"}), nil, d)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	if cfg.Main().Region != "us-east-2" || cfg.Profiles[1].Region != "eu-west-3" {
		t.Fatalf("regions = %q, %q", cfg.Main().Region, cfg.Profiles[1].Region)
	}
	if cfg.Audience != contract.DefaultAudience || cfg.TokenExpirationSeconds != 3600 {
		t.Fatalf("token defaults not applied: %+v", cfg)
	}
	want := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
	if !cmp.Equal(want, cfg.Resources) {
		t.Fatalf("resources = %v", cfg.Resources)
	}
}

func TestExtraProfilesInheritClusterSettingsButNotTargetSettings(t *testing.T) {
	cfg, errs, _ := Parse(pod(map[string]string{
		RoleARN: target, WebIdentityRoleARN: web, Region: "eu-west-1", STSEndpoint: "https://sts.example.test",
		SessionTags: "true", ExternalID: "main-ext", SessionName: "main-sess", SessionDuration: "1800", ViaRoleARNs: via,
		RoleARN + ".b": "arn:aws:iam::444444444444:role/b",
	}), nil, defaults)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	want := contract.Profile{
		Name: "b", WebIdentityRoleARN: web, RoleARNs: []string{"arn:aws:iam::444444444444:role/b"},
		Region: "eu-west-1", STSEndpoint: "https://sts.example.test", SessionTags: true,
	}
	if diff := cmp.Diff(want, cfg.Profiles[1]); diff != "" {
		t.Fatalf("extra profile (-want +got):\n%s", diff)
	}
}

func TestExtraProfilesAreOrderedByNameAfterTheMainProfile(t *testing.T) {
	cfg, errs, _ := Parse(pod(map[string]string{RoleARN: target, RoleARN + ".zeta": via, RoleARN + ".alpha": via, Profile: "main"}), nil, defaults)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	var names []string
	for _, p := range cfg.Profiles {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"main", "alpha", "zeta"}) {
		t.Fatalf("profiles = %v", names)
	}
}

func TestExtraProfileNamedLikeTheMainProfileIsDenied(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{RoleARN: target, RoleARN + ".default": via}), nil, defaults)
	if len(errs) != 1 || errs[0].Field != "metadata.annotations[rolechain.dev/role-arn.default]" {
		t.Fatalf("got %v", errs)
	}
}

func TestSuffixedKeyWithoutItsRoleARNIsDenied(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{RoleARN: target, Region + ".orphan": "eu-west-1"}), nil, defaults)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "rolechain.dev/role-arn.orphan") {
		t.Fatalf("got %v", errs)
	}
}

func TestMissingMainRoleARNIsRequired(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{RoleARN + ".x": target}), nil, defaults)
	if len(errs) != 1 || errs[0].Field != "metadata.annotations[rolechain.dev/role-arn]" || !strings.Contains(errs[0].Error(), "Required") {
		t.Fatalf("got %v", errs)
	}
}

func TestWarnings(t *testing.T) {
	cases := []struct {
		name string
		ann  map[string]string
		want string
	}{
		{"external id on a single web-identity hop", map[string]string{RoleARN: target, ExternalID: "abc"}, "only sent on sts:AssumeRole hops"},
		{"plain http STS endpoint", map[string]string{RoleARN: target, STSEndpoint: "http://sts.example.test"}, "plain http"},
		{"skipped container not in the pod", map[string]string{RoleARN: target, SkipContainers: "sidecar-x"}, `"sidecar-x" is not a container`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, warnings := Parse(pod(tc.ann), nil, defaults)
			if len(errs) > 0 {
				t.Fatal(errs.ToAggregate())
			}
			if len(warnings) != 1 || !strings.Contains(warnings[0], tc.want) {
				t.Fatalf("warnings = %q, want one containing %q", warnings, tc.want)
			}
		})
	}
}

// The sidecar rejects an external ID on a chain without sts:AssumeRole
// hops; the webhook warns and leaves it out, so the pod still starts.
func TestExternalIDOnASingleWebIdentityHopIsNotPassedOn(t *testing.T) {
	cfg, errs, warnings := Parse(pod(map[string]string{RoleARN: target, ExternalID: "abc"}), nil, defaults)
	if len(errs) > 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "ignored") {
		t.Fatalf("errs=%v warnings=%q", errs, warnings)
	}
	if got := cfg.Main().ExternalID; got != "" {
		t.Fatalf("ExternalID %q passed to the sidecar", got)
	}
}

func TestHostNetworkEndpointModeWarns(t *testing.T) {
	p := pod(map[string]string{RoleARN: target, CredentialsEndpoint: "true"})
	p.Spec.HostNetwork = true
	_, errs, warnings := Parse(p, nil, defaults)
	if len(errs) > 0 || len(warnings) != 2 || !strings.Contains(warnings[1], "host network") {
		t.Fatalf("errs=%v warnings=%q", errs, warnings)
	}
}

// Endpoint mode needs an SDK that reads AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
// the webhook cannot tell which SDK an image holds, so it says so (and
// names the minimum versions) whenever the mode is on.
func TestEndpointModeWarnsAboutOldSDKs(t *testing.T) {
	_, errs, warnings := Parse(pod(map[string]string{RoleARN: target, CredentialsEndpoint: "true"}), nil, defaults)
	if len(errs) > 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") || !strings.Contains(warnings[0], "401") {
		t.Fatalf("errs=%v warnings=%q", errs, warnings)
	}
	if _, _, warnings := Parse(pod(map[string]string{RoleARN: target, CredentialsEndpoint: "false"}), nil, defaults); len(warnings) != 0 {
		t.Fatalf("endpoint mode off: warnings %q", warnings)
	}
}

func TestRequested(t *testing.T) {
	if Requested(pod(nil)) || Requested(pod(map[string]string{"example.com/x": "y"})) || Requested(pod(map[string]string{Status: "{}"})) {
		t.Error("a pod without rolechain keys (or with only the status the webhook writes) did not ask for anything")
	}
	// Any other rolechain key asks, so that it is served or denied with
	// the key named, never admitted unchanged.
	for _, k := range []string{Region, RoleARN + ".reports", Prefix + "Role-Arn", Prefix + "role_arn"} {
		if !Requested(pod(map[string]string{k: "x"})) {
			t.Errorf("a pod with %s is not requested: it would be admitted unchanged", k)
		}
	}
	if !Requested(pod(map[string]string{RoleARN: ""})) {
		t.Error("an empty role-arn is an opt-in (and then an invalid value), not a silent skip")
	}
}

func TestIRSARoleInAnotherPartitionIsReportedOnTheServiceAccount(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{RoleARN: target}), serviceAccount("arn:aws-cn:iam::111111111111:role/irsa"), defaults)
	if len(errs) != 1 || errs[0].Field != "serviceaccounts[sa].metadata.annotations[eks.amazonaws.com/role-arn]" || !strings.Contains(errs[0].Detail, "partition") {
		t.Fatalf("got %v", errs)
	}
}

// Roles behind an STS-compatible endpoint outside AWS need not look like
// AWS's (MinIO names its roles arn:minio:iam:::role/<id>); AWS endpoints,
// and no endpoint, keep AWS's strict form.
func TestRoleARNFormDependsOnTheSTSEndpoint(t *testing.T) {
	const minioRole = "arn:minio:iam:::role/oxnUw3DAuQF1uggjXGxI2AmW8IA"
	const cephRole = "arn:aws:iam:::role/reader" // radosgw without a tenant
	cases := []struct {
		name     string
		ann      map[string]string
		wantErr  string // "" for admitted
		wantPart string // with wantErr, a fragment of the message
	}{
		{"MinIO role behind a MinIO endpoint", map[string]string{RoleARN: minioRole, STSEndpoint: "http://minio.storage:9000"}, "", ""},
		{"radosgw role without an account behind its endpoint", map[string]string{RoleARN: cephRole, WebIdentityRoleARN: cephRole, STSEndpoint: "https://rgw.example.test"}, "", ""},
		{"an extra profile inherits the endpoint and its rules", map[string]string{RoleARN: minioRole, RoleARN + ".b": minioRole, STSEndpoint: "http://minio.storage:9000"}, "", ""},
		{"MinIO role without an endpoint", map[string]string{RoleARN: minioRole},
			"metadata.annotations[rolechain.dev/role-arn]", "arn:<aws|aws-cn|aws-us-gov>"},
		{"MinIO role behind a regional AWS endpoint", map[string]string{RoleARN: minioRole, STSEndpoint: "https://sts.eu-west-1.amazonaws.com"},
			"metadata.annotations[rolechain.dev/role-arn]", "arn:<aws|aws-cn|aws-us-gov>"},
		{"MinIO role behind an AWS VPC endpoint", map[string]string{RoleARN: minioRole, STSEndpoint: "https://vpce-0a1b.sts.us-east-1.vpce.amazonaws.com"},
			"metadata.annotations[rolechain.dev/role-arn]", "arn:<aws|aws-cn|aws-us-gov>"},
		{"a peer still needs a role ARN", map[string]string{RoleARN: "minio-reader", STSEndpoint: "http://minio.storage:9000"},
			"metadata.annotations[rolechain.dev/role-arn]", "is not an AWS endpoint"},
		{"a peer's account is 12 digits or none", map[string]string{RoleARN: "arn:minio:iam::1234:role/r", STSEndpoint: "http://minio.storage:9000"},
			"metadata.annotations[rolechain.dev/role-arn]", "[<12-digit account>]"},
		{"a peer's roles share one partition", map[string]string{RoleARN: minioRole, WebIdentityRoleARN: cephRole, STSEndpoint: "http://minio.storage:9000"},
			"metadata.annotations[rolechain.dev/web-identity-role-arn]", `partition "aws" but the target is in "minio"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, errs, _ := Parse(pod(tc.ann), nil, defaults)
			if tc.wantErr == "" {
				if len(errs) > 0 {
					t.Fatal(errs.ToAggregate())
				}
				if got := cfg.Main().Target(); got != tc.ann[RoleARN] {
					t.Fatalf("target = %q, want %q", got, tc.ann[RoleARN])
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != tc.wantErr || !strings.Contains(errs[0].Error(), tc.wantPart) {
				t.Fatalf("errs = %v, want one on %s containing %q", errs, tc.wantErr, tc.wantPart)
			}
		})
	}
}

func TestPodIdentitySourceAssumesEveryRoleWithAssumeRoleAndIgnoresIRSA(t *testing.T) {
	cfg, errs, warnings := Parse(pod(map[string]string{
		RoleARN: target, ViaRoleARNs: via, Source: SourcePodIdentity, ExternalID: "ext-id",
		RoleARN + ".extra": target,
	}), serviceAccount(irsa), defaults)
	if len(errs) > 0 || len(warnings) > 0 {
		t.Fatalf("errors %v, warnings %v", errs.ToAggregate(), warnings)
	}
	if cfg.Source != SourcePodIdentity {
		t.Fatalf("Source = %q", cfg.Source)
	}
	main := cfg.Main()
	if main.WebIdentityRoleARN != "" || !slices.Equal(main.RoleARNs, []string{via, target}) || main.ExternalID != "ext-id" {
		t.Fatalf("main profile = %+v, want no web-identity hop, roles [via target] and the external ID (every hop is sts:AssumeRole)", main)
	}
	if extra := cfg.Profiles[1]; extra.WebIdentityRoleARN != "" || !slices.Equal(extra.RoleARNs, []string{target}) {
		t.Fatalf("extra profile = %+v, want the target alone, assumed with sts:AssumeRole", extra)
	}
}

func TestPodIdentitySourceRefusesWhatOnlyWebIdentityUses(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{
		RoleARN: target, Source: SourcePodIdentity, WebIdentityRoleARN: web, Audience: "sts.amazonaws.com",
		TokenExpiration: "1h", RoleARN + ".extra": target, WebIdentityRoleARN + ".other": web, RoleARN + ".other": target,
	}), nil, defaults)
	got := map[string]int{}
	for _, e := range errs {
		got[e.Field]++
		if !strings.Contains(e.Detail, "pod-identity") {
			t.Errorf("%s: the message does not name the source: %s", e.Field, e.Detail)
		}
	}
	want := map[string]int{
		"metadata.annotations[" + WebIdentityRoleARN + "]":       1, // once, not again for the inheriting "extra"
		"metadata.annotations[" + WebIdentityRoleARN + ".other]": 1,
		"metadata.annotations[" + Audience + "]":                 1,
		"metadata.annotations[" + TokenExpiration + "]":          1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("errors by field (-want +got):\n%s\n%v", diff, errs.ToAggregate())
	}
}

func TestPodIdentitySourceCapsEvenOneRoleAtOneHour(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{RoleARN: target, Source: SourcePodIdentity, SessionDuration: "2h"}), nil, defaults)
	if len(errs) != 1 || !strings.Contains(errs[0].Detail, "role chaining") || !strings.Contains(errs[0].Detail, "pod-identity") {
		t.Fatalf("want one error on the 1-hour cap of chained sessions, got %v", errs.ToAggregate())
	}
	cfg, errs, _ := Parse(pod(map[string]string{RoleARN: target, Source: SourcePodIdentity, SessionDuration: "1h"}), nil, defaults)
	if len(errs) > 0 || cfg.Main().DurationSeconds != 3600 {
		t.Fatalf("1h: %v, %+v", errs.ToAggregate(), cfg.Main())
	}
}

// EKS Pod Identity passes its tags down the chain as transitive tags, and
// STS refuses a hop that sets one of them again: the warning is about the
// keys the operator configured (--session-tag-keys), and only those that
// collide, in any case, since IAM compares keys case-insensitively.
func TestPodIdentitySourceWithSessionTagsWarnsOfEKSTransitiveTagsOnlyForCollidingKeys(t *testing.T) {
	ann := map[string]string{RoleARN: target, Source: SourcePodIdentity, SessionTags: "true"}
	cfg, errs, warnings := Parse(pod(ann), nil, defaults)
	if len(errs) > 0 || !cfg.Main().SessionTags {
		t.Fatalf("session tags must stay allowed: %v %+v", errs.ToAggregate(), cfg.Main())
	}
	if len(warnings) != 0 {
		t.Fatalf("the default keys collide with none of EKS's tags, yet: %q", warnings)
	}
	d := defaults
	d.SessionTagKeys = contract.SessionTagKeys{Namespace: "Kubernetes-Namespace", Pod: "kubernetes-pod", ServiceAccount: "kubernetes-service-account"}
	cfg, errs, warnings = Parse(pod(ann), nil, d)
	if len(errs) > 0 || cfg.SessionTagKeys != d.SessionTagKeys {
		t.Fatalf("%v, keys %+v", errs.ToAggregate(), cfg.SessionTagKeys)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "transitive") || !strings.Contains(warnings[0], "disableSessionTags") ||
		!strings.Contains(warnings[0], "transitively with Kubernetes-Namespace, kubernetes-service-account, which") ||
		!strings.Contains(warnings[0], "--session-tag-keys") {
		t.Fatalf("warnings = %q", warnings)
	}
}

func TestTheOperatorsSessionTagKeysReachTheConfig(t *testing.T) {
	cfg, errs, _ := Parse(pod(map[string]string{RoleARN: target, WebIdentityRoleARN: web, SessionTags: "true"}), nil, defaults)
	if len(errs) > 0 || cfg.SessionTagKeys != contract.DefaultSessionTagKeys {
		t.Fatalf("zero Defaults.SessionTagKeys: %v, keys %+v, want the contract's defaults", errs.ToAggregate(), cfg.SessionTagKeys)
	}
	d := defaults
	d.SessionTagKeys = contract.SessionTagKeys{Namespace: "team/ns", Pod: "team/pod", ServiceAccount: "team/sa"}
	if cfg, _, _ := Parse(pod(map[string]string{RoleARN: target, WebIdentityRoleARN: web, SessionTags: "true"}), nil, d); cfg.SessionTagKeys != d.SessionTagKeys {
		t.Fatalf("keys %+v", cfg.SessionTagKeys)
	}
}

// The cases of issue #20: each was admitted by the webhook and then
// refused by the sidecar (or admitted unchanged); each is now decided here,
// by the contract's rules or the key rules.
func TestANamedProfileWithoutTheMainProfileIsDenied(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{RoleARN + ".reports": target}), nil, defaults)
	if len(errs) != 1 || errs[0].Field != "metadata.annotations[rolechain.dev/role-arn]" || errs[0].Type != field.ErrorTypeRequired {
		t.Fatalf("got %v, want the main role-arn required", errs)
	}
}

func TestTheDefaultRegionAppliesOnlyToProfilesInItsPartition(t *testing.T) {
	d := defaults
	d.Region = "eu-west-1"
	cfg, errs, _ := Parse(pod(map[string]string{
		RoleARN: target, RoleARN + ".cn": "arn:aws-cn:iam::222222222222:role/t", RoleARN + ".peer": "arn:minio:iam:::role/x", STSEndpoint + ".peer": "https://minio.example.test",
	}), nil, d)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	got := map[string]string{}
	for _, p := range cfg.Profiles {
		got[p.Name] = p.Region
	}
	if want := map[string]string{"default": "eu-west-1", "cn": "", "peer": "eu-west-1"}; !maps.Equal(got, want) {
		t.Fatalf("regions %v, want %v: an aws-cn profile must not be sent to eu-west-1's endpoint", got, want)
	}
}

func TestSessionPolicyARNsOfAnotherPartitionAreDeniedWithPodIdentityToo(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{
		Source: SourcePodIdentity, RoleARN: target, SessionPolicyARNs: "arn:aws-cn:iam::222222222222:policy/p",
	}), nil, defaults)
	if len(errs) != 1 || errs[0].Field != "metadata.annotations[rolechain.dev/session-policy-arns]" || !strings.Contains(errs[0].Detail, "partition") {
		t.Fatalf("got %v", errs)
	}
}

func TestSessionTagsOnAOneHopChainAreDeniedWithTheReason(t *testing.T) {
	for _, ann := range []map[string]string{
		{RoleARN: target, SessionTags: "true"},
		{RoleARN: target, WebIdentityRoleARN: target, SessionTags: "true"}, // a first hop equal to the target is one hop
	} {
		_, errs, _ := Parse(pod(ann), nil, defaults)
		if len(errs) != 1 || errs[0].Field != "metadata.annotations[rolechain.dev/session-tags]" || !strings.Contains(errs[0].Detail, "AssumeRoleWithWebIdentity takes session tags only from the token") {
			t.Fatalf("%v: got %v", ann, errs)
		}
	}
	if _, errs, _ := Parse(pod(map[string]string{Source: SourcePodIdentity, RoleARN: target, SessionTags: "true"}), nil, defaults); len(errs) > 0 {
		t.Fatalf("pod-identity assumes its one role with sts:AssumeRole, which takes tags: %v", errs)
	}
}

func TestASharedProcessNamespaceWarns(t *testing.T) {
	p := pod(map[string]string{RoleARN: target})
	share := true
	p.Spec.ShareProcessNamespace = &share
	_, errs, warnings := Parse(p, nil, defaults)
	if len(errs) > 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "shareProcessNamespace") {
		t.Fatalf("errs=%v warnings=%q", errs, warnings)
	}
}

// A password in an STS endpoint never reaches the denial, which the API
// server returns to the user and may log.
func TestAPasswordInTheSTSEndpointIsNotInTheDenial(t *testing.T) {
	_, errs, _ := Parse(pod(map[string]string{RoleARN: target, STSEndpoint: "https://user:hunter2@sts.example.test"}), nil, defaults)
	if len(errs) != 1 || strings.Contains(errs.ToAggregate().Error(), "hunter2") || !strings.Contains(errs[0].Detail, "user information") {
		t.Fatalf("got %v", errs)
	}
}
