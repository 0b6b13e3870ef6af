package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/rolechain/rolechain/test/e2e/framework"
)

// The cluster-wide default credentials mode. test/e2e/credentialsmode.sh
// switches the installed webhook to --default-credentials-mode=endpoint
// (the chart's sidecar.defaultCredentialsMode) and runs these specs with
// E2E_CREDENTIALS_MODE=endpoint; in the main run they skip.

func skipUnlessClusterDefaultEndpoint(t *testing.T) {
	t.Helper()
	if os.Getenv("E2E_CREDENTIALS_MODE") != "endpoint" {
		t.Skip("the webhook runs with the default credentials mode (file); test/e2e/credentialsmode.sh runs this spec with endpoint")
	}
}

// warningClient is a client whose requests record the API server's
// warnings (the admission response's, among them).
type warningClient struct {
	kubernetes.Interface
	mu   sync.Mutex
	seen []string
}

func newWarningClient(t *testing.T) *warningClient {
	t.Helper()
	w := &warningClient{}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WarningHandler = w
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.Interface = c
	return w
}

func (w *warningClient) HandleWarningHeader(_ int, _, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

// modeWarnings returns, and forgets, the warnings about a mode a default chose.
func (w *warningClient) modeWarnings() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, s := range w.seen {
		if strings.HasPrefix(s, "credentials file by the ") || strings.HasPrefix(s, "credentials endpoint by the ") {
			out = append(out, s)
		}
	}
	w.seen = nil
	return out
}

type credentialsModeStatus struct {
	CredentialsMode struct{ Mode, From string } `json:"credentialsMode"`
}

func statusCredentialsMode(t *testing.T, pod *corev1.Pod) (mode, from string) {
	t.Helper()
	var s credentialsModeStatus
	if err := json.Unmarshal([]byte(pod.Annotations["rolechain.dev/status"]), &s); err != nil {
		t.Fatalf("rolechain.dev/status %q: %v", pod.Annotations["rolechain.dev/status"], err)
	}
	return s.CredentialsMode.Mode, s.CredentialsMode.From
}

func TestWithTheClusterDefaultEndpointAPodWithoutTheAnnotationKeepsItsLongRunningClientWorking(t *testing.T) {
	skipUnlessClusterDefaultEndpoint(t)
	t.Parallel()
	ns := setupNamespace(t, "e2e-mode-endpoint", nil)
	// No rolechain.dev/credentials-endpoint: the cluster decides. One Go v2
	// client for the life of the container (reload=false), the client the
	// credentials file fails after its first keys expire.
	b := annotatedPod(ns, "service").annotate("rolechain.dev/refresh-interval", refreshEvery).reader("app", 2*time.Second, 0, false)
	if _, ok := b.pod.Annotations["rolechain.dev/credentials-endpoint"]; ok {
		t.Fatal("the pod sets credentials-endpoint itself: the spec proves nothing about the default")
	}
	client := newWarningClient(t)
	created, err := client.CoreV1().Pods(ns).Create(context.Background(), b.pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w := client.modeWarnings(); len(w) != 0 {
		t.Errorf("a long-running pod given the endpoint was warned: %q", w)
	}
	if mode, from := statusCredentialsMode(t, created); mode != "endpoint" || from != "cluster" {
		t.Fatalf("status credentialsMode = %s from %s, want endpoint from cluster", mode, from)
	}
	pod := cluster.WaitForPod(t, ns, created.Name, 3*time.Minute, "running", framework.PodRunning)
	app := findContainer(pod.Spec.Containers, "app")
	if v := envValue(app, "AWS_CONTAINER_CREDENTIALS_FULL_URI"); !strings.HasPrefix(v, "http://127.0.0.1:") {
		t.Fatalf("AWS_CONTAINER_CREDENTIALS_FULL_URI = %q", v)
	}
	if v := envValue(app, "AWS_SHARED_CREDENTIALS_FILE"); v != "" {
		t.Fatalf("the cluster's endpoint default also set AWS_SHARED_CREDENTIALS_FILE=%q: file keys would win over the endpoint", v)
	}
	// The first fetch and two refreshes within 2×refreshEvery (+ jitter);
	// keep reading well past them.
	time.Sleep(40 * time.Second)
	ok, failed := readLines(t, ns, pod.Name, "app")
	if len(failed) > 0 {
		t.Fatalf("%d failed reads, first: %s", len(failed), failed[0])
	}
	if len(ok) < 15 {
		t.Fatalf("only %d successful reads in 40 s", len(ok))
	}
	if last := ok[len(ok)-1]; !strings.Contains(last, "source=") || strings.Contains(last, "SharedConfigCredentials") {
		t.Fatalf("the reads did not use the endpoint: %s", last)
	}
	if n := strings.Count(cluster.Logs(t, ns, pod.Name, sidecarName), "credentials refreshed"); n < 3 {
		t.Fatalf("the sidecar refreshed %d times in the window, want ≥ 3 (first fetch + 2 refreshes)", n)
	}
}

// In the same cluster, a namespace that keeps the credentials file
// (rolechain.dev/credentials-mode: file): its Job runs to completion, and
// the Job's pod gets no warning, while a long-running pod there does (the
// warning is seen, so its absence for the Job means something). The Job
// controller creates the pod and no test can read the warnings it gets,
// so the Job's own pod, as stored, is sent again as a server-side dry run
// by a client that records them.
func TestInANamespaceThatKeepsTheFileAJobsPodGetsNoWarningAndALongRunningPodDoes(t *testing.T) {
	skipUnlessClusterDefaultEndpoint(t)
	t.Parallel()
	ns := setupNamespace(t, "e2e-mode-job", nil)
	ctx := context.Background()
	nsObj, err := cluster.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if nsObj.Annotations == nil {
		nsObj.Annotations = map[string]string{}
	}
	nsObj.Annotations["rolechain.dev/credentials-mode"] = "file"
	if _, err := cluster.Client.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	b := annotatedPod(ns, "").reader("app", time.Second, 1, false)
	b.pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "job", Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template:     corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: b.pod.Annotations}, Spec: b.pod.Spec},
		},
	}
	if _, err := cluster.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		j, err := cluster.Client.BatchV1().Jobs(ns).Get(ctx, "job", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if j.Status.Failed > 0 {
			return false, errors.New("the job failed")
		}
		return j.Status.Succeeded == 1, nil
	})
	if err != nil {
		t.Fatalf("job: %v", err)
	}
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=job"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("job pods: %v (%d)", err, len(pods.Items))
	}
	jobPod := pods.Items[0]
	if mode, from := statusCredentialsMode(t, &jobPod); mode != "file" || from != "namespace" {
		t.Fatalf("the Job's pod: status credentialsMode = %s from %s, want file from namespace", mode, from)
	}
	if ok, failed := readLines(t, ns, jobPod.Name, "app"); len(ok) != 1 || len(failed) != 0 {
		t.Fatalf("the Job's app: %d ok, %d failed reads, want exactly one ok", len(ok), len(failed))
	}

	// The pod as the Job controller sent it: its owner, labels and spec,
	// before rolechain's injection.
	again := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "job-", Namespace: ns, Labels: jobPod.Labels,
			Annotations: job.Spec.Template.Annotations, OwnerReferences: jobPod.OwnerReferences,
		},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
	client := newWarningClient(t)
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, again, dryRun); err != nil {
		t.Fatal(err)
	}
	if w := client.modeWarnings(); len(w) != 0 {
		t.Errorf("the Job's pod was warned: %q", w)
	}
	service := annotatedPod(ns, "service").reader("app", time.Second, 0, false).pod
	if _, err := client.CoreV1().Pods(ns).Create(ctx, service, dryRun); err != nil {
		t.Fatal(err)
	}
	if w := client.modeWarnings(); len(w) != 1 || !strings.Contains(w[0], "namespace's default") {
		t.Errorf("a long-running pod given the file by the namespace: warnings %q, want one naming the namespace's default", w)
	}
}
