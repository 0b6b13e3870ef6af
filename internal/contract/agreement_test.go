package contract_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/sidecar/options"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
)

// values offers, per key, valid values, borderline ones and invalid ones,
// in every partition and for peers; the generator picks among them. A
// suffix ".<name>" is added for extra profiles.
var values = map[string][]string{
	annotations.RoleARN: {
		"arn:aws:iam::222222222222:role/target", "arn:aws-cn:iam::222222222222:role/t", "arn:aws-us-gov:iam::222222222222:role/t",
		"arn:aws:iam::222222222222:role/a~b/x", "arn:aws:iam::222222222222:role/p\x7f/x", "arn:aws:iam::222222222222:role/" + strings.Repeat("n", 64),
		"arn:minio:iam:::role/abc", "arn:aws:iam::222222222222:role/a b/x", "not-an-arn", "",
	},
	annotations.WebIdentityRoleARN: {"arn:aws:iam::111111111111:role/web", "arn:aws-cn:iam::111111111111:role/web", "arn:aws:iam::222222222222:role/target", "arn:aws:iam::111111111111:role/x!y/web"},
	annotations.ViaRoleARNs: {
		"arn:aws:iam::333333333333:role/via", "arn:aws:iam::333333333333:role/v1,arn:aws:iam::333333333333:role/v2",
		strings.TrimSuffix(strings.Repeat("arn:aws:iam::333333333333:role/v,", 8), ","), strings.TrimSuffix(strings.Repeat("arn:aws:iam::333333333333:role/v,", 9), ","), "arn:aws-cn:iam::333333333333:role/via", ",",
	},
	annotations.ExternalID:      {"ext-1234", "ab", "a", strings.Repeat("e", 1224)},
	annotations.SessionName:     {"web", "ab", "a", strings.Repeat("s", 64)},
	annotations.SessionDuration: {"900", "3600", "3601", "43200", "2h", "899", "1.5s"},
	annotations.Region:          {"eu-west-1", "cn-north-1", "us-gov-west-1", "ap-southeast-4", "eu-west"},
	annotations.STSEndpoint:     {"https://sts.eu-west-1.amazonaws.com", "https://sts.cn-north-1.amazonaws.com.cn", "http://127.0.0.1:8000", "https://minio.example.test", "https://host?", "https://host#x", "https://u:p@host"},
	annotations.SessionTags:     {"true", "false"},
	annotations.SessionPolicy:   {`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}`, `{"Statement":"x"}`},
	annotations.SessionPolicyARNs: {
		"arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws-cn:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/A,arn:aws:iam::aws:policy/A",
	},
	annotations.Source:              {"web-identity", "pod-identity"},
	annotations.Profile:             {"default", "reports", strings.Repeat("p", 63), strings.Repeat("p", 64)},
	annotations.CredentialsEndpoint: {"true", "false"},
	annotations.RefreshInterval:     {"10s", "5m", "12h"},
}

// genPod builds a pod with a random set of rolechain annotations: a main
// profile and up to two named ones, each key present with some chance.
func genPod(r *rand.Rand) *corev1.Pod {
	ann := map[string]string{}
	// The first value of each key is valid: it is chosen half the time, so
	// that many pods get through to the sidecar's side of the check.
	pick := func(key string) string {
		vs := values[key]
		if r.IntN(2) == 0 {
			return vs[0]
		}
		return vs[r.IntN(len(vs))]
	}
	for _, suffix := range []string{"", ".logs", ".b"}[:1+r.IntN(3)] {
		for _, key := range annotations.PerProfileKeys() {
			if key == annotations.RoleARN || r.IntN(3) == 0 {
				ann[key+suffix] = pick(key)
			}
		}
	}
	for _, key := range []string{annotations.Source, annotations.Profile, annotations.CredentialsEndpoint, annotations.RefreshInterval} {
		if r.IntN(3) == 0 {
			ann[key] = pick(key)
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", Annotations: ann},
		Spec:       corev1.PodSpec{ServiceAccountName: "app", Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
}

// sidecarAccepts runs the sidecar's own option parsing and validation on
// the environment the webhook rendered into its container, as the kubelet
// would give it (the downward API filled in, and for pod-identity the
// variables EKS's webhook adds).
func sidecarAccepts(t *testing.T, pod *corev1.Pod, c corev1.Container) error {
	t.Helper()
	env := map[string]string{
		contract.EnvPodName: pod.Name, contract.EnvPodNamespace: pod.Namespace, contract.EnvServiceAccount: pod.Spec.ServiceAccountName,
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	if env[contract.EnvSource] == contract.SourcePodIdentity {
		env[contract.EnvContainerCredentialsFullURI] = "http://169.254.170.23/v1/credentials"
		env[contract.EnvContainerAuthorizationTokenFile] = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"
	}
	cfg := options.New()
	fs := pflag.NewFlagSet("sidecar", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := fs.Parse(c.Args); err != nil {
		return err
	}
	if err := cfg.ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		return err
	}
	_, err := cfg.Validate()
	return err
}

// TestEveryPodTheWebhookAdmitsHasASidecarThatAcceptsItsConfiguration is the
// contract's promise, checked end to end: generated annotation sets go
// through the webhook's parsing and mutation; for every admitted pod, the
// rendered sidecar's environment goes through the sidecar's real option
// parsing and validation, which must accept it. A denial must name a
// rolechain annotation (or the ServiceAccount's).
func TestEveryPodTheWebhookAdmitsHasASidecarThatAcceptsItsConfiguration(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 21))
	// Session tag keys of the operator's, at the edges of IAM's rule (the
	// fuzz target below runs the defaults).
	defaults := annotations.Defaults{Region: "eu-west-1", Audience: contract.DefaultAudience, TokenExpirationSeconds: 3600,
		SessionTagKeys: contract.SessionTagKeys{Namespace: "team/namespace", Pod: "Pod name:=+-@", ServiceAccount: strings.Repeat("é", 128)}}
	admitted, denied := 0, 0
	for n := 0; n < 3000; n++ {
		pod := genPod(r)
		var sa *corev1.ServiceAccount
		if r.IntN(2) == 0 {
			sa = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Annotations: map[string]string{annotations.IRSARoleARN: values[annotations.WebIdentityRoleARN][r.IntN(4)]}}}
		}
		checkAgreement(t, pod, sa, defaults, &admitted, &denied)
	}
	t.Logf("%d admitted (each checked in both sidecar modes), %d denied", admitted, denied)
	if admitted < 200 || denied < 200 {
		t.Fatalf("admitted %d, denied %d: the generator no longer covers both sides", admitted, denied)
	}
}

func checkAgreement(t *testing.T, pod *corev1.Pod, sa *corev1.ServiceAccount, d annotations.Defaults, admitted, denied *int) {
	t.Helper()
	cfg, errs, _ := annotations.Parse(pod, sa, d)
	if len(errs) > 0 {
		*denied++
		for _, e := range errs {
			if !strings.HasPrefix(e.Field, "metadata.annotations["+annotations.Prefix) && !strings.HasPrefix(e.Field, "serviceaccounts[") {
				t.Errorf("%v: a denial that names no annotation: %v", pod.Annotations, e)
			}
		}
		return
	}
	*admitted++
	for _, native := range []bool{true, false} {
		out, _, err := inject.Injector{Image: "sidecar", NativeSidecars: native}.Mutate(pod, cfg, nil)
		if err != nil {
			t.Fatalf("%v: Mutate: %v", pod.Annotations, err)
		}
		for _, c := range slices.Concat(out.Spec.InitContainers, out.Spec.Containers) {
			if c.Name != inject.SidecarName && c.Name != inject.InitName {
				continue
			}
			if err := sidecarAccepts(t, out, c); err != nil {
				t.Errorf("admitted, but container %s would exit 2:\nannotations %q\nsidecar: %v", c.Name, pod.Annotations, err)
			}
		}
	}
}

// FuzzAgreement is the same promise over any annotation values.
func FuzzAgreement(f *testing.F) {
	f.Add("arn:aws:iam::222222222222:role/a~b/x", "cn-north-1", "true", "", "")
	f.Add("arn:aws:iam::222222222222:role/t", "", "true", "https://host?", "arn:aws-cn:iam::aws:policy/P")
	f.Fuzz(func(t *testing.T, role, region, tags, endpoint, policyARNs string) {
		ann := map[string]string{annotations.RoleARN: role}
		for k, v := range map[string]string{annotations.Region: region, annotations.SessionTags: tags, annotations.STSEndpoint: endpoint, annotations.SessionPolicyARNs: policyARNs} {
			if v != "" {
				ann[k] = v
			}
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", Annotations: ann}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
		var a, d int
		checkAgreement(t, pod, nil, annotations.Defaults{Audience: contract.DefaultAudience, TokenExpirationSeconds: 3600}, &a, &d)
	})
}
