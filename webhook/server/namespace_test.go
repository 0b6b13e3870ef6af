package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
	"github.com/rolechain/rolechain/webhook/metrics"
	"github.com/rolechain/rolechain/webhook/policy"
)

func namespace(ann map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Annotations: ann}}
}

func withObjects(objs ...client.Object) client.Reader {
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}

// counting wraps a reader and counts its Gets of namespaces.
type counting struct {
	client.Reader
	gets int
}

func (c *counting) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if obj.GetObjectKind().GroupVersionKind().Kind == "Namespace" {
		c.gets++
	}
	return c.Reader.Get(ctx, key, obj, opts...)
}

func statusOf(t *testing.T, pod *corev1.Pod) inject.Status {
	t.Helper()
	var s inject.Status
	if err := json.Unmarshal([]byte(pod.Annotations[annotations.Status]), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

const teamA = "arn:aws:iam::222222222222:role/team-a-*"

func TestAPodWhoseRolesMatchIsAdmittedAndTheStatusNamesThePattern(t *testing.T) {
	ns := namespace(map[string]string{annotations.AllowedRoleARNs: "arn:aws:iam::111111111111:role/irsa, " + teamA})
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", Annotations: map[string]string{annotations.IRSARoleARN: irsa}}}
	api := &counting{Reader: withObjects()}
	h := newHandler(withObjects(ns, sa), api)
	req := request(t, newPod(map[string]string{annotations.RoleARN: "arn:aws:iam::222222222222:role/team-a-reader"}), admissionv1.Create)
	pod := applied(t, req, h.Handle(context.Background(), req))
	want := map[string]string{irsa: "arn:aws:iam::111111111111:role/irsa", "arn:aws:iam::222222222222:role/team-a-reader": teamA}
	if got := statusOf(t, pod).NamespacePolicy; got == nil || !got.Applied || len(got.AdmittedBy) != 2 ||
		got.AdmittedBy[irsa] != want[irsa] || got.AdmittedBy["arn:aws:iam::222222222222:role/team-a-reader"] != teamA {
		t.Fatalf("status namespacePolicy = %+v, want %v", got, want)
	}
	if api.gets != 0 {
		t.Errorf("%d API reads of the namespace although the cache had it", api.gets)
	}
	if got := testutil.ToFloat64(h.Metrics.NamespaceLookups.WithLabelValues("cache")); got != 1 {
		t.Errorf("namespace lookups{cache} = %v", got)
	}
}

func TestAPodWithARoleThePolicyDoesNotListIsDenied(t *testing.T) {
	ns := namespace(map[string]string{annotations.AllowedRoleARNs: teamA})
	h := newHandler(withObjects(ns), nil)
	req := request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create)
	resp := h.Handle(context.Background(), req)
	if resp.Allowed || resp.Result.Code != http.StatusForbidden {
		t.Fatalf("allowed=%v code=%d, want a 403 denial", resp.Allowed, resp.Result.Code)
	}
	want := `namespaces[team-a].metadata.annotations[rolechain.dev/allowed-role-arns]: Forbidden: role arn:aws:iam::222222222222:role/target (hop 1 of 1 of profile "default") ` +
		`is not allowed in namespace "team-a": it matches none of the patterns in the namespace's rolechain.dev/allowed-role-arns annotation: ` + teamA
	if resp.Result.Message != want {
		t.Fatalf("message:\n got: %s\nwant: %s", resp.Result.Message, want)
	}
	if got := testutil.ToFloat64(h.Metrics.Denials.WithLabelValues(DenialNamespacePolicy)); got != 1 {
		t.Errorf("denials{namespace-policy} = %v", got)
	}
	if got := testutil.ToFloat64(h.Metrics.Admissions.WithLabelValues(metrics.ResultDenied)); got != 1 {
		t.Errorf("admissions{denied} = %v", got)
	}
}

func TestANamespaceMissingFromTheCacheIsReadFromTheAPI(t *testing.T) {
	api := withObjects(namespace(map[string]string{annotations.AllowedRoleARNs: teamA}))
	h := newHandler(withObjects(), api) // the namespace was created a moment ago
	resp := h.Handle(context.Background(), request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create))
	if resp.Allowed {
		t.Fatal("admitted: the new namespace's policy was not honoured")
	}
	if got := testutil.ToFloat64(h.Metrics.NamespaceLookups.WithLabelValues("api")); got != 1 {
		t.Errorf("namespace lookups{api} = %v", got)
	}
}

// A cached namespace lags an admin's change by the watch's delay. A denial
// is re-checked against the API server, so a policy added or widened a
// moment before the pod is honoured.
func TestAStaleCachedNamespaceIsReadAgainBeforeADenial(t *testing.T) {
	pod := newPod(map[string]string{annotations.RoleARN: "arn:aws:iam::222222222222:role/team-a-reader"})
	for _, tc := range []struct {
		name         string
		mode         policy.Mode
		cached, live map[string]string
	}{
		{"policy added, --namespace-policy=required", policy.ModeRequired, nil, map[string]string{annotations.AllowedRoleARNs: teamA}},
		{"policy widened", policy.ModeOptional, map[string]string{annotations.AllowedRoleARNs: "arn:aws:iam::222222222222:role/other"}, map[string]string{annotations.AllowedRoleARNs: teamA}},
		{"typo fixed", policy.ModeOptional, map[string]string{annotations.AllowedRoleARNs: "team-a-*"}, map[string]string{annotations.AllowedRoleARNs: teamA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &counting{Reader: withObjects(namespace(tc.live))}
			h := newHandler(withObjects(namespace(tc.cached)), api)
			h.NamespacePolicy = tc.mode
			req := request(t, pod, admissionv1.Create)
			got := statusOf(t, applied(t, req, h.Handle(context.Background(), req))).NamespacePolicy
			if got == nil || got.AdmittedBy["arn:aws:iam::222222222222:role/team-a-reader"] != teamA {
				t.Fatalf("status namespacePolicy = %+v, want admitted by %s", got, teamA)
			}
			if api.gets != 1 {
				t.Errorf("%d API reads of the namespace, want 1 (the re-read)", api.gets)
			}
		})
	}
}

func TestRequiredModeDeniesANamespaceWithoutAPolicy(t *testing.T) {
	h := newHandler(withObjects(namespace(nil)), nil)
	h.NamespacePolicy = policy.ModeRequired
	resp := h.Handle(context.Background(), request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create))
	if resp.Allowed || !strings.Contains(resp.Result.Message, `namespace "team-a" has no rolechain.dev/allowed-role-arns annotation and this webhook runs with --namespace-policy=required`) {
		t.Fatalf("allowed=%v message=%q", resp.Allowed, resp.Result.Message)
	}
}

func TestOptionalModeAdmitsANamespaceWithoutAPolicyAndSaysSo(t *testing.T) {
	for name, cache := range map[string]client.Reader{
		"namespace without the annotation": withObjects(namespace(map[string]string{"owner": "team-a"})),
		"namespace the API does not know":  withObjects(),
	} {
		t.Run(name, func(t *testing.T) {
			h := newHandler(cache, nil)
			req := request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create)
			got := statusOf(t, applied(t, req, h.Handle(context.Background(), req))).NamespacePolicy
			if got == nil || got.Applied || got.AdmittedBy != nil {
				t.Fatalf("status namespacePolicy = %+v, want {applied: false}", got)
			}
		})
	}
}

func TestNamespaceLookupFailureIsAnErrorNotAGuess(t *testing.T) {
	failNamespaces := interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if obj.GetObjectKind().GroupVersionKind().Kind == "Namespace" {
			return errors.New("apiserver unavailable")
		}
		return c.Get(ctx, key, obj, opts...)
	}}
	broken := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(failNamespaces).Build()
	for _, mode := range policy.Modes {
		h := newHandler(broken, broken)
		h.NamespacePolicy = mode
		resp := h.Handle(context.Background(), request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create))
		if resp.Allowed || resp.Result.Code != http.StatusInternalServerError {
			t.Fatalf("%s: want a 500, got allowed=%v %v", mode, resp.Allowed, resp.Result)
		}
	}
}

// Invalid annotations are reported before the namespace is read: the roles
// must be valid ARNs before they can be matched.
func TestInvalidAnnotationsAreDeniedBeforeTheNamespaceIsRead(t *testing.T) {
	api := &counting{Reader: withObjects()}
	cache := &counting{Reader: withObjects(namespace(map[string]string{annotations.AllowedRoleARNs: teamA}))}
	h := newHandler(cache, api)
	resp := h.Handle(context.Background(), request(t, newPod(map[string]string{annotations.RoleARN: "not-an-arn"}), admissionv1.Create))
	if resp.Allowed || strings.Contains(resp.Result.Message, "allowed-role-arns") {
		t.Fatalf("allowed=%v message=%q", resp.Allowed, resp.Result.Message)
	}
	if got := testutil.ToFloat64(h.Metrics.NamespaceLookups.WithLabelValues("cache")); got != 0 {
		t.Errorf("the namespace was read %v times", got)
	}
}

// BenchmarkAdmissionWithANamespacePolicy is BenchmarkAdmission with the
// namespace and the ServiceAccount in the cache and a three-pattern policy
// that admits every role of both profiles: the added cost of the check on
// the common path.
func BenchmarkAdmissionWithANamespacePolicy(b *testing.B) {
	ns := namespace(map[string]string{annotations.AllowedRoleARNs: "arn:aws:iam::111111111111:role/*, arn:aws:iam::222222222222:role/target, arn:aws:iam::444444444444:role/logs"})
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a"}}
	benchmarkAdmission(b, newHandler(withObjects(ns, sa), nil))
}

// BenchmarkAdmissionWithoutANamespacePolicy is the same without the
// annotation (optional mode): the price of the namespace read alone.
func BenchmarkAdmissionWithoutANamespacePolicy(b *testing.B) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a"}}
	benchmarkAdmission(b, newHandler(withObjects(namespace(nil), sa), nil))
}
