package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Images the harness builds and imports (test/e2e/run.sh); kind loads the
// same names.
var (
	appImage     = envOr("E2E_APP_IMAGE", "localhost/rolechain/e2e-app:dev")
	toolboxImage = envOr("E2E_TOOLBOX_IMAGE", "localhost/rolechain/toolbox:dev")
)

const (
	sidecarName = "rolechain-sidecar"
	// fallbackInitName is the one-shot init container of fallback mode.
	fallbackInitName = "rolechain-init"
	credsDir         = "/var/run/rolechain"
	tokenPath        = "/var/run/secrets/rolechain/serviceaccount/token"
	// refreshEvery makes the sidecar refresh often enough to watch several
	// refreshes in a test (STS's shortest session is 15 min).
	refreshEvery = "15s"
)

// podBuilder builds the pods of the specs; every spec states only what
// differs from an annotated pod whose app reads the bucket.
type podBuilder struct{ pod *corev1.Pod }

func annotatedPod(ns, name string) *podBuilder {
	return &podBuilder{pod: &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{
			"rolechain.dev/role-arn":              sts.TargetRoleARN,
			"rolechain.dev/web-identity-role-arn": sts.WebRoleARN,
			"rolechain.dev/sts-endpoint":          sts.Endpoint,
			"rolechain.dev/region":                sts.Region,
		}},
		Spec: corev1.PodSpec{
			ServiceAccountName:            "app",
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
		},
	}}
}

func (b *podBuilder) annotate(kv ...string) *podBuilder {
	for i := 0; i+1 < len(kv); i += 2 {
		b.pod.Annotations[kv[i]] = kv[i+1]
	}
	return b
}

// reader adds a container that reads the object every interval (reload: a
// fresh SDK configuration per read, as a new process would; otherwise one
// long-lived client). count 0 reads until the pod stops.
func (b *podBuilder) reader(name string, interval time.Duration, count int, reload bool, env ...corev1.EnvVar) *podBuilder {
	b.pod.Spec.Containers = append(b.pod.Spec.Containers, b.readerContainer(name, interval, count, reload, env...))
	return b
}

func (b *podBuilder) readerContainer(name string, interval time.Duration, count int, reload bool, env ...corev1.EnvVar) corev1.Container {
	return restricted(corev1.Container{
		Name: name, Image: appImage, ImagePullPolicy: corev1.PullIfNotPresent,
		Args: []string{"read"},
		Env: append([]corev1.EnvVar{
			{Name: "APP_BUCKET", Value: sts.Bucket},
			{Name: "APP_KEY", Value: sts.ObjectKey},
			{Name: "APP_S3_ENDPOINT", Value: sts.Endpoint},
			{Name: "APP_INTERVAL", Value: interval.String()},
			{Name: "APP_COUNT", Value: fmt.Sprint(count)},
			{Name: "APP_RELOAD", Value: fmt.Sprint(reload)},
		}, env...),
	})
}

// toolbox adds a container that only sleeps, for exec.
func (b *podBuilder) toolbox() *podBuilder {
	b.pod.Spec.Containers = append(b.pod.Spec.Containers, restricted(corev1.Container{
		Name: "toolbox", Image: toolboxImage, ImagePullPolicy: corev1.PullIfNotPresent,
		Args: []string{"sleep"},
	}))
	return b
}

func restricted(c corev1.Container) corev1.Container {
	c.SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	return c
}

func (b *podBuilder) create(t *testing.T) *corev1.Pod {
	t.Helper()
	pod, err := cluster.Client.CoreV1().Pods(b.pod.Namespace).Create(context.Background(), b.pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", b.pod.Namespace, b.pod.Name, err)
	}
	return pod
}

// credentialsFile is the sidecar's <profile>.json as the app sees it. The
// test never logs the keys: only whether they changed.
type credentialsFile struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token"`
	Expiration      int64  `json:"expiration"`
}

func readCredentials(t *testing.T, ns, pod, profileName string) (credentialsFile, error) {
	t.Helper()
	out, _, err := cluster.Exec(ns, pod, "toolbox", "/toolbox", "cat", credsDir+"/"+profileName+".json")
	if err != nil {
		return credentialsFile{}, fmt.Errorf("reading %s.json in the app container: %w", profileName, err)
	}
	var c credentialsFile
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		// The content may hold keys: name the problem, not the bytes.
		return credentialsFile{}, fmt.Errorf("%s.json is not valid JSON (%d bytes)", profileName, len(out))
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" || c.Expiration == 0 {
		return credentialsFile{}, fmt.Errorf("%s.json lacks a field", profileName)
	}
	return c, nil
}

// readLines returns the app's "read N: …" lines.
func readLines(t *testing.T, ns, pod, container string) (ok, failed []string) {
	for _, line := range strings.Split(cluster.Logs(t, ns, pod, container), "\n") {
		switch {
		case strings.Contains(line, ": ok "):
			ok = append(ok, line)
		case strings.Contains(line, ": FAILED"):
			failed = append(failed, line)
		}
	}
	return ok, failed
}

func envOr(key, def string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return def
}
