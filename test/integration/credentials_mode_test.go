//go:build integration

package integration

import (
	"context"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rolechain/rolechain/cmd/webhook/app"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
)

// The main webhook instance runs with the default --default-credentials-mode
// (file); these tests set the namespace's default.

func newModeNamespace(t *testing.T, prefix string, mode *string) string {
	t.Helper()
	ns := newNamespace(t, prefix, nil, nil)
	if mode != nil {
		setNamespaceAnnotation(t, ns, annotations.CredentialsMode, *mode)
	}
	return ns
}

func setNamespaceAnnotation(t *testing.T, namespace, key, value string) {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: namespace}, ns); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	ns.Annotations[key] = value
	if err := k8s.Patch(context.Background(), ns, patch); err != nil {
		t.Fatal(err)
	}
}

// storedMode says which mode the stored pod's app container got, and the
// status's record of it.
func storedMode(t *testing.T, pod *corev1.Pod) (mode, status string) {
	t.Helper()
	got := stored(t, pod)
	_, endpoint := envValue(got.Spec.Containers[0], inject.EnvContainerFullURI)
	_, file := envValue(got.Spec.Containers[0], inject.EnvSharedCredentialsFile)
	switch {
	case endpoint && !file:
		mode = "endpoint"
	case file && !endpoint:
		mode = "file"
	default:
		t.Fatalf("the app's env is neither mode: %+v", got.Spec.Containers[0].Env)
	}
	return mode, got.Annotations[annotations.Status]
}

// A namespace's rolechain.dev/credentials-mode, set a moment before its
// first pod, is its pods' default over the cluster's; a pod's own
// credentials-endpoint still wins; a namespace without it keeps the
// cluster's.
func TestANamespaceCredentialsModeIsItsPodsDefault(t *testing.T) {
	ctx := context.Background()
	endpoint := "endpoint"
	ns := newModeNamespace(t, "mode-endpoint", &endpoint)
	for _, tc := range []struct {
		name string
		ns   string
		ann  map[string]string
		mode string
		from string
	}{
		{"the namespace's endpoint", ns, nil, "endpoint", "namespace"},
		{"the pod's own false", ns, map[string]string{annotations.CredentialsEndpoint: "false"}, "file", "pod"},
		{"no namespace default: the cluster's file", newModeNamespace(t, "mode-none", nil), nil, "file", "cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ann := map[string]string{annotations.RoleARN: target}
			for k, v := range tc.ann {
				ann[k] = v
			}
			pod := newPod(tc.ns, ann)
			if err := k8s.Create(ctx, pod); err != nil {
				t.Fatal(err)
			}
			mode, status := storedMode(t, pod)
			if mode != tc.mode {
				t.Errorf("the app got %s mode, want %s", mode, tc.mode)
			}
			if want := `"credentialsMode":{"mode":"` + tc.mode + `","from":"` + tc.from + `"}`; !strings.Contains(status, want) {
				t.Errorf("status %s lacks %s", status, want)
			}
		})
	}
}

// A misspelt namespace default denies the namespace's pods that leave
// their mode to it, with the message kubectl shows; the admin's fix is
// honoured by the very next pod, whatever the webhook's cache says.
func TestAMalformedNamespaceCredentialsModeDeniesUntilItIsFixed(t *testing.T) {
	ctx := context.Background()
	bad := "Endpoint"
	ns := newModeNamespace(t, "mode-bad", &bad)
	err := k8s.Create(ctx, newPod(ns, map[string]string{annotations.RoleARN: target}))
	want := `admission webhook "pod.rolechain.dev" denied the request: namespaces[` + ns + `].metadata.annotations[rolechain.dev/credentials-mode]: Invalid value: "Endpoint": ` +
		`must be "file" or "endpoint". Pods of namespace "` + ns + `" that do not set rolechain.dev/credentials-endpoint themselves are denied until a cluster admin fixes the annotation`
	if err == nil || err.Error() != want {
		t.Fatalf("create error:\n got: %v\nwant: %s", err, want)
	}
	// A pod that chose its mode is not the namespace's to decide.
	if err := k8s.Create(ctx, newPod(ns, map[string]string{annotations.RoleARN: target, annotations.CredentialsEndpoint: "true"})); err != nil {
		t.Fatalf("a pod with its own credentials-endpoint: %v", err)
	}

	setNamespaceAnnotation(t, ns, annotations.CredentialsMode, "endpoint")
	pod := newPod(ns, map[string]string{annotations.RoleARN: target})
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatalf("denied right after the fix: %v", err)
	}
	if mode, status := storedMode(t, pod); mode != "endpoint" || !strings.Contains(status, `"from":"namespace"`) {
		t.Fatalf("mode %s, status %s", mode, status)
	}
}

// warnings collects the API server's warning headers.
type warnings struct {
	mu   sync.Mutex
	seen []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

func (w *warnings) fileModeWarnings() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, s := range w.seen {
		if strings.HasPrefix(s, "credentials file by the ") {
			out = append(out, s)
		}
	}
	return out
}

// The warning reaches the client that creates the pod: a long-running pod
// given the file by a default hears it, a Job's pod does not.
func TestFileModeByDefaultWarnsTheCreatorOfALongRunningPodOnly(t *testing.T) {
	ns := newModeNamespace(t, "mode-warn", ptr.To("file"))
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		warn   bool
	}{
		{"restartPolicy Always", corev1.RestartPolicyAlways, true},
		{"a Job's pod, restartPolicy Never", corev1.RestartPolicyNever, false},
		{"a Job's pod, restartPolicy OnFailure", corev1.RestartPolicyOnFailure, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &warnings{}
			cfg := rest.CopyConfig(env.Config)
			cfg.WarningHandler = w
			c, err := client.New(cfg, client.Options{Scheme: app.Scheme()})
			if err != nil {
				t.Fatal(err)
			}
			pod := newPod(ns, map[string]string{annotations.RoleARN: target})
			pod.Spec.RestartPolicy = tc.policy
			if !tc.warn {
				pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "report", UID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}}
			}
			if err := c.Create(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
			got := w.fileModeWarnings()
			if (len(got) == 1) != tc.warn || len(got) > 1 {
				t.Fatalf("file-mode warnings %q (all: %q), want one: %v", got, w.seen, tc.warn)
			}
			if tc.warn && !strings.Contains(got[0], "namespace's default") {
				t.Errorf("the warning does not say the namespace chose: %q", got[0])
			}
		})
	}
}
