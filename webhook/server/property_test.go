package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	jsonpatch4 "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/randfill"

	"github.com/rolechain/rolechain/test/ekswebhook/mutation"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
)

// optionalAnnotations are the pod's choices that change the shape of the
// mutation; every subset of them is tried. The keys that only change the
// sidecar's profile string (via roles, external ID, session name …) go in
// or out together, as one more choice.
var optionalAnnotations = []map[string]string{
	{annotations.Region: "eu-west-1"},
	{annotations.CredentialsEndpoint: "true"},
	{annotations.Profile: "reports"},
	{annotations.SkipContainers: "app"},
	{annotations.RefreshInterval: "5m"},
	{annotations.Audience: "sts.example.com", annotations.TokenExpiration: "2h"},
	{annotations.SidecarCPURequest: "50m", annotations.SidecarMemoryRequest: "32Mi", annotations.SidecarMemoryLimit: "128Mi"},
	{annotations.RoleARN + ".logs": "arn:aws:iam::444444444444:role/logs", annotations.Region + ".logs": "us-east-1"},
	{
		annotations.WebIdentityRoleARN: irsa, annotations.ViaRoleARNs: "arn:aws:iam::333333333333:role/via",
		annotations.ExternalID: "ext-1234", annotations.SessionName: "web", annotations.SessionDuration: "1800",
		annotations.STSEndpoint: "https://sts.eu-west-1.amazonaws.com", annotations.SessionTags: "true",
		annotations.SessionPolicy:     `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`,
		annotations.SessionPolicyARNs: "arn:aws:iam::aws:policy/ReadOnlyAccess",
	},
}

// eksInjections are what EKS's pod identity webhook may have done to the
// pod before rolechain sees it (it runs first on EKS): nothing, IRSA,
// Pod Identity, and Pod Identity that the pod uses as its chain's source.
// Rolechain then removes EKS's variables, mounts and volumes, so the patch
// has remove operations at shifting indexes.
var eksInjections = []struct {
	name       string
	saKey      string
	annotation map[string]string
}{
	{name: "none"},
	{name: "irsa", saKey: "eks.amazonaws.com/role-arn"},
	{name: "pod-identity", saKey: mutation.AssociationAnnotation},
	{name: "pod-identity-source", saKey: mutation.AssociationAnnotation, annotation: map[string]string{annotations.Source: annotations.SourcePodIdentity}},
}

// words make random pods whose names collide with each other and with the
// names rolechain uses and looks for.
var words = []string{"", "app", "web", "x/y", inject.SidecarName, inject.InitName, inject.CredentialsVolume, inject.TokenVolume,
	"AWS_REGION", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "/var/run/rolechain", "eu-west-1"}

func randomPod(seed int64) *corev1.Pod {
	quantities := []string{"0", "10m", "16Mi", "1Gi"}
	f := randfill.NewWithSeed(seed).NilChance(0.7).NumElements(0, 3).MaxDepth(6).Funcs(
		func(s *string, c randfill.Continue) { *s = words[c.Intn(len(words))] },
		func(q *resource.Quantity, c randfill.Continue) {
			*q = resource.MustParse(quantities[c.Intn(len(quantities))])
		},
		func(t *metav1.Time, c randfill.Continue) { *t = metav1.Unix(c.Int63n(2e9), 0) },
		func(x *intstr.IntOrString, c randfill.Continue) { *x = intstr.FromInt32(c.Int31n(65536)) },
		func(f *metav1.FieldsV1, c randfill.Continue) { f.Raw = []byte(`{"f:spec":{}}`) },
	)
	pod := &corev1.Pod{}
	f.Fill(pod)
	// Container names may collide with rolechain's, but each is non-empty
	// and unique, as the API server's validation requires: a pod without
	// that is refused after admission whatever the webhooks did.
	seen := map[string]bool{}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			for n := 0; list[i].Name == "" || seen[list[i].Name]; n++ {
				list[i].Name = fmt.Sprintf("c%d", n)
			}
			seen[list[i].Name] = true
		}
	}
	pod.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	pod.Namespace = "team-a"
	pod.Spec.ServiceAccountName = "app"
	return pod
}

// TestEveryAnnotationCombinationPatchesTheSentPodIntoTheMutatedPod is the
// guard of the patch: for random pods under every combination of the
// annotations, natively and in fallback mode (every other combination
// with an IRSA ServiceAccount), each as EKS's webhook may have left it,
// the patch the webhook answers over HTTP,
// applied to the exact pod JSON of the request with the JSON Patch library
// kube-apiserver uses, gives the typed mutation's output; and sending that
// pod again (the API server's reinvocation) gives no patch.
func TestEveryAnnotationCombinationPatchesTheSentPodIntoTheMutatedPod(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", Annotations: map[string]string{annotations.IRSARoleARN: irsa}}}
	withSA := newHandler(fake.NewClientBuilder().WithScheme(scheme).WithObjects(sa).Build(), nil)
	withoutSA := newHandler(nil, nil)
	combinations := 1 << len(optionalAnnotations)
	injected, removals, managedFields := 0, 0, 0
	for mask := range combinations {
		for n, native := range []bool{true, false} {
			// Each EKS injection with a quarter of the combinations keeps
			// the test quick under -race; the rotation gives every one of
			// them both modes and every annotation.
			injection := eksInjections[(mask+n+mask/len(eksInjections))%len(eksInjections)]
			h, saUsed := withoutSA, (*corev1.ServiceAccount)(nil)
			if bits.OnesCount(uint(mask))%2 == 1 {
				h, saUsed = withSA, sa
			}
			h.Injector.NativeSidecars = native
			pod := randomPod(int64(mask)*2 + map[bool]int64{true: 0, false: 1}[native])
			r := rand.New(rand.NewSource(int64(mask)))
			ann := map[string]string{annotations.RoleARN: target}
			for k, v := range pod.Annotations {
				if !strings.HasPrefix(k, annotations.Prefix) && r.Intn(2) == 0 {
					ann[k] = v
				}
			}
			for i, set := range optionalAnnotations {
				if mask&(1<<i) != 0 {
					for k, v := range set {
						ann[k] = v
					}
				}
			}
			for k, v := range injection.annotation {
				ann[k] = v
			}
			pod.Annotations = ann
			if injection.saKey != "" {
				eksSA := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", Annotations: map[string]string{injection.saKey: irsa}}}
				pod, _ = mutation.Mutate(pod, eksSA, mutation.Defaults())
			}

			podJSON, err := json.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			resp := serve(t, h, reviewOf(t, podJSON))
			want := typedMutation(t, h, podJSON, saUsed)
			if want == nil {
				if resp.Allowed || len(resp.Patch) != 0 {
					t.Fatalf("mask %b native=%v eks=%s: denied by Parse, answered %+v", mask, native, injection.name, resp)
				}
				continue
			}
			injected++
			if len(pod.ManagedFields) > 0 {
				// The webhook does not decode them; the patch must keep them.
				managedFields++
			}
			got := applyPatch(t, resp, podJSON)
			if !jsonEqual(t, got, want) {
				t.Fatalf("mask %b native=%v eks=%s: patched pod is not the typed mutation's output\nsent:  %s\npatch: %s\ngot:   %s\nwant:  %s", mask, native, injection.name, podJSON, resp.Patch, got, want)
			}
			again := serve(t, h, reviewOf(t, got))
			if !again.Allowed || len(again.Patch) != 0 {
				t.Fatalf("mask %b native=%v eks=%s: the mutated pod sent again got a patch: %s\nfirst: %s\nsent: %s", mask, native, injection.name, again.Patch, resp.Patch, podJSON)
			}
			if injection.name != "none" && strings.Contains(string(resp.Patch), `"op":"remove"`) {
				removals++
			}
		}
	}
	cases := 2 * combinations
	t.Logf("%d of %d cases injected (%d with removals of EKS's injections, %d with managed fields), the others denied by Parse", injected, cases, removals, managedFields)
	if injected < cases/2 {
		t.Fatalf("only %d of %d cases were injected: the test pods are mostly denied, and prove little", injected, cases)
	}
	if managedFields < injected/8 {
		t.Fatalf("only %d of %d injected pods had managed fields: the patch's keeping them is barely exercised", managedFields, injected)
	}
	if removals < combinations/4 {
		t.Fatalf("only %d cases removed something EKS injected: the patch's remove operations are barely exercised", removals)
	}
}

// typedMutation is what the patched pod must equal: Parse and Mutate on
// the pod as decoded from the request, encoded; nil when Parse denies it.
func typedMutation(t *testing.T, h *Handler, podJSON []byte, sa *corev1.ServiceAccount) []byte {
	t.Helper()
	pod := &corev1.Pod{}
	if err := json.Unmarshal(podJSON, pod); err != nil {
		t.Fatal(err)
	}
	cfg, errs, _ := annotations.Parse(pod, sa, h.Defaults)
	if len(errs) > 0 {
		return nil
	}
	// The handler also records the namespace policy's verdict and sets
	// the credentials mode.
	verdict, _, resp, _, denied := h.applyNamespace(context.Background(), pod.Namespace, pod, &cfg, nil)
	if denied {
		t.Fatalf("the namespace denied the pod: %+v", resp)
	}
	out, _, err := h.Injector.Mutate(pod, cfg, verdict)
	if mismatch := (*inject.MismatchError)(nil); errors.As(err, &mismatch) {
		return nil // a random container or volume named like rolechain's: denied
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func reviewOf(t testing.TB, podJSON []byte) []byte {
	t.Helper()
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "uid-1",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "team-a",
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: podJSON},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serve posts body to the handler as the API server does and returns the
// review's response.
func serve(t testing.TB, h http.Handler, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Response == nil {
		t.Fatalf("no response: %s", rec.Body)
	}
	return out.Response
}

func applyPatch(t *testing.T, resp *admissionv1.AdmissionResponse, doc []byte) []byte {
	t.Helper()
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v", resp.PatchType)
	}
	p, err := jsonpatch4.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("applying %s: %v", resp.Patch, err)
	}
	return out
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
