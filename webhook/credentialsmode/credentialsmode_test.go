package credentialsmode

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
)

func choice(mode, from string) annotations.CredentialsModeChoice {
	return annotations.CredentialsModeChoice{Mode: mode, From: from}
}

// TestPrecedenceIsPodThenNamespaceThenCluster: the pod's own
// credentials-endpoint wins, then its namespace's credentials-mode, then
// the cluster's --default-credentials-mode; a malformed namespace default
// denies only the pods it would decide.
func TestPrecedenceIsPodThenNamespaceThenCluster(t *testing.T) {
	ns := func(v string) map[string]string { return map[string]string{annotations.CredentialsMode: v} }
	podSays := func(endpoint bool) map[string]string {
		v := "false"
		if endpoint {
			v = "true"
		}
		return map[string]string{annotations.CredentialsEndpoint: v}
	}
	for _, tc := range []struct {
		name    string
		pod     map[string]string
		ns      map[string]string
		cluster string
		want    annotations.CredentialsModeChoice
		wantErr bool
	}{
		{"nothing set: file, from the cluster", nil, nil, "file", choice("file", "cluster"), false},
		{"cluster default endpoint", nil, nil, "endpoint", choice("endpoint", "cluster"), false},
		{"an empty cluster default is file", nil, nil, "", choice("file", "cluster"), false},
		{"namespace file beats cluster endpoint", nil, ns("file"), "endpoint", choice("file", "namespace"), false},
		{"namespace endpoint beats cluster file", nil, ns("endpoint"), "file", choice("endpoint", "namespace"), false},
		{"other namespace annotations leave the cluster's", nil, map[string]string{annotations.AllowedRoleARNs: "arn:aws:iam::*:role/*"}, "endpoint", choice("endpoint", "cluster"), false},
		{"pod true beats namespace file", podSays(true), ns("file"), "file", choice("endpoint", "pod"), false},
		{"pod false beats namespace endpoint", podSays(false), ns("endpoint"), "endpoint", choice("file", "pod"), false},
		{"pod false beats cluster endpoint", podSays(false), nil, "endpoint", choice("file", "pod"), false},
		{"a malformed namespace default denies", nil, ns("Endpoint"), "file", annotations.CredentialsModeChoice{}, true},
		{"an empty namespace default denies", nil, ns(""), "endpoint", annotations.CredentialsModeChoice{}, true},
		{"a malformed namespace default does not concern a pod that chose", podSays(true), ns("bogus"), "file", choice("endpoint", "pod"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: tc.pod}}
			cfg := parsed(t, pod)
			got, err := Resolve(pod, cfg, "team-a", tc.ns, tc.cluster)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
			if err != nil && (err.Field != "namespaces[team-a].metadata.annotations["+annotations.CredentialsMode+"]" || !strings.Contains(err.Detail, `must be "file" or "endpoint"`)) {
				t.Fatalf("the error names neither the namespace's annotation nor what it accepts: %v", err)
			}
			Apply(&cfg, got)
			if !tc.wantErr && (cfg.CredentialsEndpoint != (tc.want.Mode == "endpoint") || cfg.CredentialsMode == nil || *cfg.CredentialsMode != tc.want) {
				t.Fatalf("after Apply: CredentialsEndpoint=%v CredentialsMode=%+v, want %+v", cfg.CredentialsEndpoint, cfg.CredentialsMode, tc.want)
			}
		})
	}
}

// parsed is the pod's Config as Parse reads it (with a role, so it parses).
func parsed(t *testing.T, pod *corev1.Pod) annotations.Config {
	t.Helper()
	p := pod.DeepCopy()
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[annotations.RoleARN] = "arn:aws:iam::222222222222:role/target"
	cfg, errs, _ := annotations.Parse(p, nil, annotations.Defaults{Audience: "sts.amazonaws.com", TokenExpirationSeconds: 3600})
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	return cfg
}

// A pod that already carries rolechain's sidecar (the API server calling
// the webhook again, or a pod copied from an injected one) keeps it as it
// is: its app containers must get the mode that sidecar serves, whatever
// the defaults say now. The earlier pass's status says where the choice
// came from when it agrees with the sidecar.
func TestAPodThatCarriesTheSidecarKeepsTheModeItServes(t *testing.T) {
	sidecar := func(endpoint bool) corev1.Container {
		c := corev1.Container{Name: inject.SidecarName}
		if endpoint {
			c.Env = []corev1.EnvVar{{Name: contract.EnvCredentialsEndpointPort, Value: "9911"}}
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		endpoint bool
		status   string
		ns       map[string]string
		want     annotations.CredentialsModeChoice
	}{
		{"endpoint sidecar, file namespace, earlier pass from the cluster", true, `{"credentialsMode":{"mode":"endpoint","from":"cluster"}}`, map[string]string{annotations.CredentialsMode: "file"}, choice("endpoint", "cluster")},
		{"file sidecar, endpoint cluster, no status", false, "", nil, choice("file", "pod")},
		{"a status that contradicts the sidecar is not believed", false, `{"credentialsMode":{"mode":"endpoint","from":"namespace"}}`, nil, choice("file", "pod")},
		{"a status with an unknown source is not believed", true, `{"credentialsMode":{"mode":"endpoint","from":"x\"y"}}`, nil, choice("endpoint", "pod")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{annotations.Status: tc.status}},
				Spec:       corev1.PodSpec{InitContainers: []corev1.Container{sidecar(tc.endpoint)}, Containers: []corev1.Container{{Name: "app"}}},
			}
			got, err := Resolve(pod, parsed(t, &corev1.Pod{}), "team-a", tc.ns, "endpoint")
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// The warning's signal is the pod's restartPolicy: the API server refuses
// a Job (and so a CronJob) whose pods do not set Never or OnFailure, and
// Deployments, StatefulSets, DaemonSets and ReplicaSets allow only Always.
// Only a mode left to a default warns: a pod that chose file mode chose.
func TestFileModeByDefaultWarnsALongRunningPodOnly(t *testing.T) {
	file := choice("file", "cluster")
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		choice annotations.CredentialsModeChoice
		warn   bool
	}{
		{"Deployment-like pod, cluster's file", corev1.RestartPolicyAlways, file, true},
		{"restartPolicy unset (Always)", "", file, true},
		{"namespace's file", corev1.RestartPolicyAlways, choice("file", "namespace"), true},
		{"Job pod, Never", corev1.RestartPolicyNever, file, false},
		{"Job pod, OnFailure", corev1.RestartPolicyOnFailure, file, false},
		{"the pod chose file itself", corev1.RestartPolicyAlways, choice("file", "pod"), false},
		{"endpoint by default", corev1.RestartPolicyAlways, choice("endpoint", "cluster"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: tc.policy}}
			w := Warnings(pod, tc.choice)
			if got := len(w) > 0; got != tc.warn {
				t.Fatalf("warnings %q, want a warning: %v", w, tc.warn)
			}
			for _, s := range w {
				// The API server may truncate longer warnings.
				if len(s) > 256 || !strings.Contains(s, annotations.CredentialsEndpoint) || !strings.Contains(s, tc.choice.From) {
					t.Errorf("warning (%d characters) does not say where the mode came from and what to set, in 256 characters: %q", len(s), s)
				}
			}
		})
	}
}

// Endpoint mode on the host network binds the node's loopback port: a
// default that gives it to such a pod says so.
func TestEndpointModeByDefaultOnTheHostNetworkWarns(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true}}
	if w := Warnings(pod, choice("endpoint", "namespace")); len(w) != 1 || !strings.Contains(w[0], "host network") || len(w[0]) > 256 {
		t.Fatalf("warnings %q", w)
	}
	// A pod that chose it gets the annotations package's warning instead.
	if w := Warnings(pod, choice("endpoint", "pod")); len(w) != 0 {
		t.Fatalf("warnings %q", w)
	}
}

func TestLifetimeLabelIsBounded(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range []corev1.RestartPolicy{"", corev1.RestartPolicyAlways, corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure, "Sometimes"} {
		seen[Lifetime(&corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: p}})] = true
	}
	if len(seen) != 2 || !seen[LifetimeLongRunning] || !seen[LifetimeRunToCompletion] {
		t.Fatalf("labels %v", seen)
	}
}
