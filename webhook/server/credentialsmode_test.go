package server

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
	"github.com/rolechain/rolechain/webhook/metrics"
)

// appEnv is the app container's env by name.
func appEnv(pod *corev1.Pod) map[string]string {
	env := map[string]string{}
	for _, e := range pod.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	return env
}

// modeOf says which mode the app container was pointed at.
func modeOf(t *testing.T, pod *corev1.Pod) string {
	t.Helper()
	env := appEnv(pod)
	_, endpoint := env[inject.EnvContainerFullURI]
	_, file := env[inject.EnvSharedCredentialsFile]
	switch {
	case endpoint && !file:
		return annotations.CredentialsModeEndpoint
	case file && !endpoint:
		return annotations.CredentialsModeFile
	}
	t.Fatalf("app env %v is neither mode", env)
	return ""
}

// The precedence pod > namespace > cluster, through the whole admission:
// the app's env, the status and the metric agree, and the namespace is
// read once (from the cache) for both its role policy and its mode.
func TestTheCredentialsModeIsThePodsThenTheNamespacesThenTheClusters(t *testing.T) {
	for _, tc := range []struct {
		name          string
		pod, ns       map[string]string
		cluster       string
		mode, from    string
		modeWarnings  int
		endpointWarns bool
	}{
		{"nothing set, default flag", nil, nil, "", "file", "cluster", 1, false},
		{"cluster endpoint", nil, nil, "endpoint", "endpoint", "cluster", 0, false},
		{"namespace endpoint over cluster file", nil, map[string]string{annotations.CredentialsMode: "endpoint"}, "file", "endpoint", "namespace", 0, false},
		{"namespace file over cluster endpoint", nil, map[string]string{annotations.CredentialsMode: "file", annotations.AllowedRoleARNs: "arn:aws:iam::222222222222:role/*"}, "endpoint", "file", "namespace", 1, false},
		{"pod false over namespace endpoint", map[string]string{annotations.CredentialsEndpoint: "false"}, map[string]string{annotations.CredentialsMode: "endpoint"}, "endpoint", "file", "pod", 0, false},
		{"pod true over namespace file", map[string]string{annotations.CredentialsEndpoint: "true"}, map[string]string{annotations.CredentialsMode: "file"}, "file", "endpoint", "pod", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ann := map[string]string{annotations.RoleARN: target}
			for k, v := range tc.pod {
				ann[k] = v
			}
			cache := &counting{Reader: withObjects(namespace(tc.ns))}
			api := &counting{Reader: withObjects()}
			h := newHandler(cache, api)
			h.DefaultCredentialsMode = tc.cluster
			req := request(t, newPod(ann), admissionv1.Create)
			resp := h.Handle(context.Background(), req)
			pod := applied(t, req, resp)
			if got := modeOf(t, pod); got != tc.mode {
				t.Errorf("the app got %s mode, want %s", got, tc.mode)
			}
			want := annotations.CredentialsModeChoice{Mode: tc.mode, From: tc.from}
			if got := statusOf(t, pod).CredentialsMode; got == nil || *got != want {
				t.Errorf("status credentialsMode = %+v, want %+v", got, want)
			}
			if got := testutil.ToFloat64(h.Metrics.CredentialsModes.WithLabelValues(tc.mode, tc.from, "long-running")); got != 1 {
				t.Errorf("credentials_modes{%s,%s,long-running} = %v, want 1", tc.mode, tc.from, got)
			}
			if n := testutil.CollectAndCount(h.Metrics.CredentialsModes); n != 1 {
				t.Errorf("%d credentials_modes series, want 1", n)
			}
			if got := modeWarnings(resp.Warnings); len(got) != tc.modeWarnings {
				t.Errorf("mode warnings %q, want %d", got, tc.modeWarnings)
			}
			if got := slices.ContainsFunc(resp.Warnings, func(w string) bool { return strings.Contains(w, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") }); got != tc.endpointWarns {
				t.Errorf("SDK-version warning %v, want %v: %q", got, tc.endpointWarns, resp.Warnings)
			}
			// One read serves the role policy and the mode (the
			// injections metric's label reads the cache apart).
			if got := testutil.ToFloat64(h.Metrics.NamespaceLookups.WithLabelValues("cache")); got != 1 || api.gets != 0 {
				t.Errorf("namespace read %v times from the cache and %d from the API, want once from the cache", got, api.gets)
			}
		})
	}
}

// modeWarnings are the warnings about a mode a default chose.
func modeWarnings(ws []string) []string {
	return slices.DeleteFunc(slices.Clone(ws), func(w string) bool { return !isModeWarning(w) })
}

// withoutModeWarnings are the others, for tests of other warnings: their
// pods get the credentials file by the cluster's default.
func withoutModeWarnings(ws []string) []string {
	return slices.DeleteFunc(slices.Clone(ws), isModeWarning)
}

func isModeWarning(w string) bool {
	return strings.HasPrefix(w, "credentials file by the ") || strings.HasPrefix(w, "credentials endpoint by the ")
}

// A long-running pod (restartPolicy Always) that gets the credentials file
// by default is warned; a Job's pod (Never or OnFailure, which the API
// server requires of Jobs and CronJobs) is not.
func TestFileModeByDefaultWarnsLongRunningPodsAndNotJobs(t *testing.T) {
	job := func(policy corev1.RestartPolicy) *corev1.Pod {
		pod := newPod(map[string]string{annotations.RoleARN: target})
		pod.Spec.RestartPolicy = policy
		pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "report", UID: "u", Controller: ptr.To(true)}}
		return pod
	}
	for name, tc := range map[string]struct {
		pod      *corev1.Pod
		warn     bool
		lifetime string
	}{
		"bare pod, restartPolicy unset": {newPod(map[string]string{annotations.RoleARN: target}), true, "long-running"},
		"Job pod, Never":                {job(corev1.RestartPolicyNever), false, "run-to-completion"},
		"Job pod, OnFailure":            {job(corev1.RestartPolicyOnFailure), false, "run-to-completion"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHandler(withObjects(namespace(nil)), nil)
			req := request(t, tc.pod, admissionv1.Create)
			resp := h.Handle(context.Background(), req)
			applied(t, req, resp)
			w := modeWarnings(resp.Warnings)
			if (len(w) > 0) != tc.warn {
				t.Fatalf("mode warnings %q, want a warning: %v", w, tc.warn)
			}
			if tc.warn && (!strings.Contains(w[0], "cluster's default") || !strings.Contains(w[0], annotations.CredentialsEndpoint+`: "true"`)) {
				t.Errorf("the warning says neither where file mode came from nor what to set: %q", w[0])
			}
			if got := testutil.ToFloat64(h.Metrics.CredentialsModes.WithLabelValues("file", "cluster", tc.lifetime)); got != 1 {
				t.Errorf("credentials_modes{file,cluster,%s} = %v", tc.lifetime, got)
			}
		})
	}
}

// A malformed namespace default denies the pods it would decide, naming
// the namespace's annotation and what it accepts; a pod that chose its
// mode itself is admitted.
func TestAMalformedNamespaceCredentialsModeDeniesThePodsItDecides(t *testing.T) {
	ns := namespace(map[string]string{annotations.CredentialsMode: "Endpoint"})
	h := newHandler(withObjects(ns), nil)
	resp := h.Handle(context.Background(), request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create))
	want := `namespaces[team-a].metadata.annotations[rolechain.dev/credentials-mode]: Invalid value: "Endpoint": must be "file" or "endpoint"`
	if resp.Allowed || resp.Result.Code != http.StatusForbidden || !strings.HasPrefix(resp.Result.Message, want) {
		t.Fatalf("allowed=%v code=%d message=%q, want a 403 starting %q", resp.Allowed, resp.Result.Code, resp.Result.Message, want)
	}
	if got := testutil.ToFloat64(h.Metrics.Denials.WithLabelValues(DenialNamespaceCredentialsMode)); got != 1 {
		t.Errorf("denials{%s} = %v", DenialNamespaceCredentialsMode, got)
	}
	if got := testutil.ToFloat64(h.Metrics.Admissions.WithLabelValues(metrics.ResultDenied)); got != 1 {
		t.Errorf("admissions{denied} = %v", got)
	}
	req := request(t, newPod(map[string]string{annotations.RoleARN: target, annotations.CredentialsEndpoint: "true"}), admissionv1.Create)
	if got := statusOf(t, applied(t, req, h.Handle(context.Background(), req))).CredentialsMode; got == nil || got.From != "pod" {
		t.Fatalf("status credentialsMode = %+v, want the pod's", got)
	}
}

// Both namespace annotations are judged on one read: a pod denied by both
// hears both, and a stale cached copy is read again before the denial.
func TestANamespaceDenialNamesEveryBadAnnotationAndIsCheckedAgainstTheAPI(t *testing.T) {
	bad := namespace(map[string]string{annotations.CredentialsMode: "fast", annotations.AllowedRoleARNs: "team-a-*"})
	h := newHandler(withObjects(bad), nil)
	resp := h.Handle(context.Background(), request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create))
	if resp.Allowed || !strings.Contains(resp.Result.Message, annotations.CredentialsMode) || !strings.Contains(resp.Result.Message, annotations.AllowedRoleARNs) {
		t.Fatalf("allowed=%v message=%q, want both annotations named", resp.Allowed, resp.Result.Message)
	}

	fixed := namespace(map[string]string{annotations.CredentialsMode: "endpoint"})
	api := &counting{Reader: withObjects(fixed)}
	h = newHandler(withObjects(namespace(map[string]string{annotations.CredentialsMode: "Endpoint"})), api)
	req := request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create)
	pod := applied(t, req, h.Handle(context.Background(), req))
	if got := statusOf(t, pod).CredentialsMode; got == nil || *got != (annotations.CredentialsModeChoice{Mode: "endpoint", From: "namespace"}) {
		t.Fatalf("status credentialsMode = %+v: the admin's fix was not read", got)
	}
	if api.gets != 1 {
		t.Errorf("%d API reads of the namespace, want 1 (the re-read before the denial)", api.gets)
	}
}

// The API server calls the webhook again (reinvocation) with the pod it
// already injected; if the namespace's default changed in between, the
// pod keeps the mode its sidecar serves, and the status its first source.
func TestAReinvokedPodKeepsTheModeItsSidecarServes(t *testing.T) {
	h := newHandler(withObjects(namespace(map[string]string{annotations.CredentialsMode: "endpoint"})), nil)
	req := request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create)
	first := applied(t, req, h.Handle(context.Background(), req))

	h = newHandler(withObjects(namespace(map[string]string{annotations.CredentialsMode: "file"})), nil)
	req = request(t, first, admissionv1.Create)
	resp := h.Handle(context.Background(), req)
	second := applied(t, req, resp)
	if got := modeOf(t, second); got != "endpoint" {
		t.Fatalf("the app was switched to %s mode while its sidecar serves the endpoint", got)
	}
	if _, ok := appEnv(second)[inject.EnvSharedCredentialsFile]; ok {
		t.Fatal("the app got the file's variables too: keys in the file win over the endpoint")
	}
	if got := statusOf(t, second).CredentialsMode; got == nil || *got != (annotations.CredentialsModeChoice{Mode: "endpoint", From: "namespace"}) {
		t.Fatalf("status credentialsMode = %+v", got)
	}
	if len(modeWarnings(resp.Warnings)) != 0 {
		t.Errorf("warnings %q", resp.Warnings)
	}
}
