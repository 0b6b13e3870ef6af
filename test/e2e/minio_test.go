package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/rolechain/rolechain/test/e2e/framework"
)

// MinIO is a second STS peer, independent of radosgw: its own OIDC code
// checks the kubelet-projected token's signature, key ID, expiry and
// audience against the cluster's published issuer. It refuses sts:AssumeRole
// signed with temporary credentials, so it serves one-hop profiles only.
// test/sts/minio-up.sh starts it and writes minio.env; make e2e passes that
// file as MINIO_ENV. The kind run starts no MinIO, and these specs skip.
type minioPeer struct{ Endpoint, RoleARN, Bucket, ObjectKey, Region string }

func loadMinIO(t *testing.T) minioPeer {
	t.Helper()
	path := os.Getenv("MINIO_ENV")
	if path == "" {
		t.Skip("MINIO_ENV is not set: no MinIO peer to test against (make e2e starts one)")
	}
	env, err := framework.LoadEnvFile(path)
	if err != nil {
		t.Fatalf("reading the MinIO description (MINIO_ENV): %v", err)
	}
	m := minioPeer{Endpoint: env["MINIO_ENDPOINT"], RoleARN: env["MINIO_ROLE_ARN"], Bucket: env["BUCKET"], ObjectKey: env["OBJECT_KEY"], Region: env["REGION"]}
	if m.Endpoint == "" || m.RoleARN == "" || m.Bucket == "" || m.ObjectKey == "" || m.Region == "" {
		t.Fatalf("%s lacks one of MINIO_ENDPOINT, MINIO_ROLE_ARN, BUCKET, OBJECT_KEY, REGION", path)
	}
	return m
}

// minioPod is an annotated pod whose profile goes to MinIO instead of
// radosgw: firstHop "" leaves the target as the only (web-identity) hop.
func minioPod(ns, name string, m minioPeer, firstHop, target string) *podBuilder {
	b := annotatedPod(ns, name)
	delete(b.pod.Annotations, "rolechain.dev/web-identity-role-arn")
	b.annotate("rolechain.dev/role-arn", target, "rolechain.dev/sts-endpoint", m.Endpoint, "rolechain.dev/region", m.Region)
	if firstHop != "" {
		b.annotate("rolechain.dev/web-identity-role-arn", firstHop)
	}
	return b
}

// readFrom points the pod's readers at another S3 endpoint and object.
func (b *podBuilder) readFrom(endpoint, bucket, key string) *podBuilder {
	for i := range b.pod.Spec.Containers {
		for j := range b.pod.Spec.Containers[i].Env {
			e := &b.pod.Spec.Containers[i].Env[j]
			switch e.Name {
			case "APP_S3_ENDPOINT":
				e.Value = endpoint
			case "APP_BUCKET":
				e.Value = bucket
			case "APP_KEY":
				e.Value = key
			}
		}
	}
	return b
}

func TestMinIOValidatesTheKubeletProjectedTokenForAOneHopProfile(t *testing.T) {
	t.Parallel()
	m := loadMinIO(t)
	ns := setupNamespace(t, "e2e-minio", nil)
	pod := minioPod(ns, "one-hop", m, "", m.RoleARN).
		reader("app", 2*time.Second, 0, true).readFrom(m.Endpoint, m.Bucket, m.ObjectKey).create(t)
	cluster.WaitForPod(t, ns, pod.Name, 3*time.Minute, "running", framework.PodRunning)
	// Only credentials MinIO issued can read MinIO's bucket.
	waitForReads(t, ns, pod.Name, "app", 2)
}

func TestARefusedHopKeepsTheAppWaitingAndTheSidecarSaysWhichAndWhy(t *testing.T) {
	t.Parallel()
	m := loadMinIO(t)
	ns := setupNamespace(t, "e2e-minio-refused", nil)
	// MinIO grants the web-identity hop, then refuses the chained one.
	const target = "arn:minio:iam:::role/rolechain-e2e-unreachable"
	pod := minioPod(ns, "refused", m, m.RoleARN, target).
		reader("app", 2*time.Second, 0, true).readFrom(m.Endpoint, m.Bucket, m.ObjectKey).create(t)

	want := []string{`"reason":"access_denied"`, "assuming " + target + " (hop 2 of 2)", "StatusCode: 403", "api error AccessDenied"}
	var logs string
	err := wait.PollUntilContextTimeout(context.Background(), 2*time.Second, 3*time.Minute, true, func(context.Context) (bool, error) {
		logs = sidecarLogs(ns, pod.Name)
		for _, w := range want {
			if !strings.Contains(logs, w) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the sidecar's log never said %q; log:\n%s", want, logs)
	}
	// Web-identity tokens and MinIO's session tokens are JWTs: a JWT's
	// header always starts with "eyJ" ({" in base64url).
	if strings.Contains(logs, "eyJ") {
		t.Errorf("the sidecar's log holds a JWT (a token leaked)")
	}
	p, err := cluster.Client.CoreV1().Pods(ns).Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == "app" && (s.State.Running != nil || s.State.Terminated != nil || s.RestartCount > 0) {
			t.Errorf("the app container started without credentials: %+v", s.State)
		}
	}
}

// sidecarLogs is the sidecar's log so far, or "" while it has none.
func sidecarLogs(ns, pod string) string {
	raw, err := cluster.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: sidecarName}).DoRaw(context.Background())
	if err != nil {
		return fmt.Sprintf("(no log yet: %v)", err)
	}
	return string(raw)
}
