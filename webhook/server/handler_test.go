package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
	"github.com/rolechain/rolechain/webhook/metrics"
)

const (
	target = "arn:aws:iam::222222222222:role/target"
	irsa   = "arn:aws:iam::111111111111:role/irsa"
)

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

func newHandler(cache, api client.Reader) *Handler {
	if cache == nil {
		cache = fake.NewClientBuilder().WithScheme(scheme).Build()
	}
	if api == nil {
		api = cache
	}
	return &Handler{
		Cache:   cache,
		API:     api,
		Decoder: admission.NewDecoder(scheme),
		Defaults: annotations.Defaults{
			Audience: contract.DefaultAudience, TokenExpirationSeconds: 3600,
			MemoryLimit: resource.MustParse("64Mi"),
		},
		Injector:           inject.Injector{Image: "sidecar:test", PullPolicy: corev1.PullIfNotPresent, NativeSidecars: true},
		ExcludedNamespaces: []string{"kube-system"},
		Metrics:            metrics.New(nil),
	}
}

func newPod(ann map[string]string, env ...corev1.EnvVar) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "app-", Namespace: "team-a", Annotations: ann},
		Spec: corev1.PodSpec{
			ServiceAccountName: "app",
			Containers:         []corev1.Container{{Name: "app", Image: "app:1", Env: env}},
		},
	}
}

func request(t testing.TB, pod *corev1.Pod, op admissionv1.Operation) admission.Request {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "uid-1",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: pod.Namespace,
		Operation: op,
		Object:    runtime.RawExtension{Raw: raw},
	}}
}

// applied applies the response's patch to the request's pod.
func applied(t *testing.T, req admission.Request, resp admission.Response) *corev1.Pod {
	t.Helper()
	if !resp.Allowed {
		t.Fatalf("denied: %v", resp.Result)
	}
	patch, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(req.Object.Raw)
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(out, pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

func sidecarProfiles(t *testing.T, pod *corev1.Pod) []contract.Profile {
	t.Helper()
	i := slices.IndexFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == inject.SidecarName })
	if i != 0 {
		t.Fatalf("sidecar not first init container: %+v", pod.Spec.InitContainers)
	}
	for _, e := range pod.Spec.InitContainers[0].Env {
		if e.Name == contract.EnvProfiles {
			ps, err := contract.Decode(e.Value)
			if err != nil {
				t.Fatal(err)
			}
			return ps
		}
	}
	t.Fatal("no profiles env")
	return nil
}

func TestPatchAppliedToThePodYieldsTheInjectedPod(t *testing.T) {
	h := newHandler(fake.NewClientBuilder().WithScheme(scheme).WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}).Build(), nil)
	req := request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create)
	resp := h.Handle(context.Background(), req)
	pod := applied(t, req, resp)
	if got := sidecarProfiles(t, pod); len(got) != 1 || got[0].Target() != target {
		t.Fatalf("profiles = %+v", got)
	}
	if pod.Annotations[annotations.Status] == "" {
		t.Error("no status annotation")
	}
	if got := testutil.ToFloat64(h.Metrics.Admissions.WithLabelValues(metrics.ResultInjected)); got != 1 {
		t.Errorf("admissions{injected} = %v", got)
	}
	if got := testutil.ToFloat64(h.Metrics.Injections.WithLabelValues("team-a")); got != 1 {
		t.Errorf("injections{team-a} = %v", got)
	}
}

func TestPodsThatDidNotOptInAreAllowedUnchanged(t *testing.T) {
	cases := map[string]admission.Request{
		"no role-arn": request(t, newPod(map[string]string{"other": "x"}), admissionv1.Create),
		"excluded namespace": request(t, func() *corev1.Pod {
			p := newPod(map[string]string{annotations.RoleARN: target})
			p.Namespace = "kube-system"
			return p
		}(), admissionv1.Create),
		"update": request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Update),
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHandler(nil, nil)
			resp := h.Handle(context.Background(), req)
			if !resp.Allowed || len(resp.Patches) != 0 {
				t.Fatalf("want allowed without patches, got allowed=%v patches=%v", resp.Allowed, resp.Patches)
			}
			if got := testutil.ToFloat64(h.Metrics.Admissions.WithLabelValues(metrics.ResultSkipped)); got != 1 {
				t.Errorf("admissions{skipped} = %v", got)
			}
		})
	}
}

func TestInvalidAnnotationsAreDeniedWithMessagesNamingEachAnnotation(t *testing.T) {
	h := newHandler(nil, nil)
	req := request(t, newPod(map[string]string{
		annotations.RoleARN: target, annotations.WebIdentityRoleARN: irsa, annotations.SessionDuration: "2h", annotations.Region: "Europe",
	}), admissionv1.Create)
	resp := h.Handle(context.Background(), req)
	if resp.Allowed {
		t.Fatal("allowed an invalid pod")
	}
	if resp.Result.Code != http.StatusForbidden {
		t.Errorf("code = %d, want 403", resp.Result.Code)
	}
	msg := resp.Result.Message
	for _, want := range []string{
		`metadata.annotations[rolechain.dev/session-duration]: Invalid value: "2h": must be at most 3600 seconds`,
		"STS caps sessions reached by role chaining at 1 hour",
		`metadata.annotations[rolechain.dev/region]: Invalid value: "Europe": must be an AWS region such as us-east-1`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	for _, reason := range []string{"session-duration", "region"} {
		if got := testutil.ToFloat64(h.Metrics.Denials.WithLabelValues(reason)); got != 1 {
			t.Errorf("denials{%s} = %v", reason, got)
		}
	}
}

func TestServiceAccountMissingFromTheCacheIsReadFromTheAPI(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", Annotations: map[string]string{annotations.IRSARoleARN: irsa}}}
	cache := fake.NewClientBuilder().WithScheme(scheme).Build() // not synced yet
	api := fake.NewClientBuilder().WithScheme(scheme).WithObjects(sa).Build()
	h := newHandler(cache, api)
	req := request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create)
	pod := applied(t, req, h.Handle(context.Background(), req))
	if got := sidecarProfiles(t, pod)[0].Chain(); !slices.Equal(got, []string{irsa, target}) {
		t.Fatalf("chain = %v, want the IRSA role first", got)
	}
	if got := testutil.ToFloat64(h.Metrics.ServiceAccountLookups.WithLabelValues("api")); got != 1 {
		t.Errorf("lookups{api} = %v", got)
	}
}

func TestServiceAccountFoundInTheCacheIsNotReadAgain(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", Annotations: map[string]string{annotations.IRSARoleARN: irsa}}}
	cache := fake.NewClientBuilder().WithScheme(scheme).WithObjects(sa, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}).Build()
	api := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			t.Error("API read although the cache had the ServiceAccount")
			return nil
		},
	}).Build()
	h := newHandler(cache, api)
	req := request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create)
	if got := sidecarProfiles(t, applied(t, req, h.Handle(context.Background(), req)))[0].Chain(); !slices.Equal(got, []string{irsa, target}) {
		t.Fatalf("chain = %v", got)
	}
}

func TestAbsentServiceAccountMeansNoIRSAHop(t *testing.T) {
	h := newHandler(nil, nil)
	req := request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create)
	if got := sidecarProfiles(t, applied(t, req, h.Handle(context.Background(), req)))[0].Chain(); !slices.Equal(got, []string{target}) {
		t.Fatalf("chain = %v", got)
	}
}

func TestServiceAccountLookupFailureIsAnErrorNotAGuess(t *testing.T) {
	broken := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return errors.New("apiserver unavailable")
		},
	}).Build()
	h := newHandler(broken, broken)
	resp := h.Handle(context.Background(), request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create))
	if resp.Allowed || resp.Result.Code != http.StatusInternalServerError {
		t.Fatalf("want a 500, got allowed=%v %v", resp.Allowed, resp.Result)
	}
}

func TestKeptUserEnvIsReportedAsAWarningWithoutItsValue(t *testing.T) {
	secretish := "AKIAVALUE-THAT-MUST-NOT-LEAK"
	var logs bytes.Buffer
	ctx := logf.IntoContext(context.Background(), funcr.New(func(prefix, args string) { logs.WriteString(prefix + args + "\n") }, funcr.Options{Verbosity: 10}))
	h := newHandler(nil, nil)
	req := request(t, newPod(map[string]string{annotations.RoleARN: target},
		corev1.EnvVar{Name: "AWS_SHARED_CREDENTIALS_FILE", Value: secretish}), admissionv1.Create)
	resp := h.Handle(ctx, req)
	pod := applied(t, req, resp)
	if pod.Spec.Containers[0].Env[0].Value != secretish {
		t.Fatal("user env overwritten")
	}
	if w := withoutModeWarnings(resp.Warnings); len(w) != 1 || !strings.Contains(w[0], `container "app" sets AWS_SHARED_CREDENTIALS_FILE itself`) {
		t.Fatalf("warnings = %q", resp.Warnings)
	}
	if strings.Contains(strings.Join(resp.Warnings, " "), secretish) || strings.Contains(logs.String(), secretish) {
		t.Fatalf("a user env value reached a warning or a log:\n%s", logs.String())
	}
	if logs.Len() == 0 {
		t.Fatal("captured no logs: the leak check above proves nothing")
	}
}

// TestOverHTTP runs one AdmissionReview through the handler's HTTP side
// as the API server sends it.
func TestOverHTTP(t *testing.T) {
	srv := httptest.NewTLSServer(newHandler(nil, nil))
	defer srv.Close()
	body := review(t, newPod(map[string]string{annotations.RoleARN: target}))
	res, err := srv.Client().Post(srv.URL+Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" {
		t.Errorf("answered %s %s", out.APIVersion, out.Kind)
	}
	if out.Response == nil || !out.Response.Allowed || out.Response.UID != "uid-1" || len(out.Response.Patch) == 0 {
		t.Fatalf("response = %+v", out.Response)
	}
	if out.Response.Result == nil || out.Response.Result.Code != http.StatusOK {
		t.Errorf("result = %+v", out.Response.Result)
	}
}

// Requests the API server would never send get the answers
// controller-runtime's webhook gives them, as an AdmissionReview.
func TestBadRequestsAreAnsweredWithTheirHTTPCode(t *testing.T) {
	good := review(t, newPod(map[string]string{annotations.RoleARN: target}))
	cases := map[string]struct {
		body        []byte
		contentType string
		code        int32
		msg         string
		noLength    bool // sent chunked, without Content-Length
	}{
		"empty body":                 {nil, "application/json", http.StatusBadRequest, "request body is empty", false},
		"wrong type":                 {good, "text/plain", http.StatusBadRequest, "expected application/json", false},
		"not JSON":                   {[]byte("{"), "application/json", http.StatusBadRequest, "decoding the AdmissionReview", false},
		"no request":                 {[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), "application/json", http.StatusBadRequest, "no request", false},
		"larger than 7 MiB":          {bytes.Repeat([]byte(" "), 7<<20+1), "application/json", http.StatusRequestEntityTooLarge, "too large", false},
		"larger than 7 MiB, chunked": {bytes.Repeat([]byte(" "), 7<<20+1), "application/json", http.StatusRequestEntityTooLarge, "too large", true},
		"shorter than its length":    {good[:100], "application/json", http.StatusBadRequest, "unexpected EOF", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			var body io.Reader = http.NoBody
			if c.body != nil {
				body = bytes.NewReader(c.body)
			}
			req := httptest.NewRequest(http.MethodPost, Path, body)
			req.Header.Set("Content-Type", c.contentType)
			if c.noLength {
				req.ContentLength = -1
			}
			if name == "shorter than its length" {
				req.ContentLength = int64(len(good))
			}
			newHandler(nil, nil).ServeHTTP(rec, req)
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
				t.Fatalf("not a review: %s", rec.Body)
			}
			if out.Response.Allowed || out.Response.Result.Code != c.code || !strings.Contains(out.Response.Result.Message, c.msg) {
				t.Fatalf("got %+v, want code %d and %q", out.Response.Result, c.code, c.msg)
			}
		})
	}
}

// A v1beta1 review (same shape) is answered as v1beta1, and an object that
// does not decode as a pod is allowed unchanged like any other kind.
func TestReviewVersionAndOtherKinds(t *testing.T) {
	h := newHandler(nil, nil)
	body := bytes.Replace(review(t, newPod(map[string]string{annotations.RoleARN: target})), []byte(`"admission.k8s.io/v1"`), []byte(`"admission.k8s.io/v1beta1"`), 1)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.APIVersion != "admission.k8s.io/v1beta1" || out.Response == nil || len(out.Response.Patch) == 0 {
		t.Fatalf("answered %s: %+v", out.APIVersion, out.Response)
	}

	// spec.containers as a string cannot be a pod's.
	other := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"uid-2",` +
		`"kind":{"group":"example.com","version":"v1","kind":"Widget"},"operation":"CREATE","namespace":"team-a",` +
		`"object":{"apiVersion":"example.com/v1","kind":"Widget","spec":{"containers":"none"}}}}`)
	resp := serve(t, h, other)
	if !resp.Allowed || len(resp.Patch) != 0 || resp.UID != "uid-2" {
		t.Fatalf("response = %+v", resp)
	}
}

func review(t testing.TB, pod *corev1.Pod) []byte {
	t.Helper()
	req := request(t, pod, admissionv1.Create)
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req.AdmissionRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A pod as EKS's pod identity webhook leaves it (it runs first on EKS):
// the patch takes EKS's credentials variables and token out of the app,
// and the response warns about each removal, so kubectl shows it, without
// any value (the role ARN is not a secret, but the rule is simple).
func TestEKSInjectionsRemovedAreReportedAsWarnings(t *testing.T) {
	h := newHandler(nil, nil)
	pod := newPod(map[string]string{annotations.RoleARN: target},
		corev1.EnvVar{Name: "AWS_REGION", Value: "us-west-2"},
		corev1.EnvVar{Name: "AWS_ROLE_ARN", Value: irsa},
		corev1.EnvVar{Name: "AWS_WEB_IDENTITY_TOKEN_FILE", Value: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"})
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "aws-iam-token", MountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount", ReadOnly: true}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "aws-iam-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "sts.amazonaws.com", Path: "token"}}},
	}}}}
	req := request(t, pod, admissionv1.Create)
	resp := h.Handle(context.Background(), req)
	out := applied(t, req, resp)
	app := out.Spec.Containers[0]
	for _, e := range app.Env {
		if e.Name == "AWS_ROLE_ARN" || e.Name == "AWS_WEB_IDENTITY_TOKEN_FILE" {
			t.Errorf("the patched app still has %s", e.Name)
		}
	}
	if len(app.Env) == 0 || app.Env[0].Name != "AWS_REGION" {
		t.Errorf("the app's own AWS_REGION is gone: %v", app.Env)
	}
	want := []string{
		`container "app": removed AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, volumeMount aws-iam-token, injected by EKS's pod identity webhook: the AWS SDKs would pick them over rolechain's credentials`,
		`removed EKS's token volume aws-iam-token: no container mounts it any more`,
		`eks.amazonaws.com/skip-containers names app, rolechain-sidecar, so that EKS's pod identity webhook leaves them alone if it is called again`,
	}
	if !slices.Equal(withoutModeWarnings(resp.Warnings), want) {
		t.Fatalf("warnings:\n%q\nwant:\n%q", resp.Warnings, want)
	}
	if strings.Contains(strings.Join(resp.Warnings, " "), irsa) {
		t.Fatal("a warning carries an env value")
	}
}

// TestAHandWrittenSidecarIsDeniedAndCounted: a pod that keeps an allowed
// role-arn and brings its own rolechain-sidecar (here assuming another
// role) is denied, with the field named and the pod's values not repeated;
// the webhook's own second pass over what it rendered is served.
func TestAHandWrittenSidecarIsDeniedAndCounted(t *testing.T) {
	h := newHandler(fake.NewClientBuilder().WithScheme(scheme).WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}).Build(), nil)
	req := request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create)
	first := applied(t, req, h.Handle(context.Background(), req))

	again := h.Handle(context.Background(), request(t, first, admissionv1.Create))
	if !again.Allowed || len(again.Patches) != 0 {
		t.Fatalf("second pass: allowed=%v patches=%v, want allowed unchanged", again.Allowed, again.Patches)
	}

	forged := first.DeepCopy()
	c := &forged.Spec.InitContainers[0]
	for i := range c.Env {
		if c.Env[i].Name == contract.EnvProfiles {
			c.Env[i].Value = strings.ReplaceAll(c.Env[i].Value, "role/target", "role/team-b-admin")
		}
	}
	resp := h.Handle(context.Background(), request(t, forged, admissionv1.Create))
	if resp.Allowed || resp.Result.Code != http.StatusForbidden {
		t.Fatalf("allowed=%v code=%d, want a 403 denial", resp.Allowed, resp.Result.Code)
	}
	if !strings.Contains(resp.Result.Message, "spec.initContainers[0].env: Forbidden") || strings.Contains(resp.Result.Message, "team-b-admin") {
		t.Fatalf("message %q: want the field named and the pod's value left out", resp.Result.Message)
	}
	if got := testutil.ToFloat64(h.Metrics.Denials.WithLabelValues(DenialHandWritten)); got != 1 {
		t.Errorf("denials{hand-written} = %v", got)
	}
}
