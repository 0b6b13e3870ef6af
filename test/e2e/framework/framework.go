// Package framework holds what every e2e spec needs and nothing specific to
// one spec: a client for the cluster under test (any kubeconfig: the local
// cluster of test/cluster or kind), throw-away namespaces, waiting, exec and
// a diagnostics dump when a spec fails.
package framework

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	"sigs.k8s.io/yaml"
)

// Cluster is the cluster under test.
type Cluster struct {
	Config *rest.Config
	Client kubernetes.Interface
}

// Connect builds a client from $KUBECONFIG; it fails the test run when the
// variable is unset, because an e2e suite that silently skips proves nothing.
func Connect() (*Cluster, error) {
	path := os.Getenv("KUBECONFIG")
	if path == "" {
		return nil, fmt.Errorf("KUBECONFIG is not set: the e2e suite needs a cluster (make e2e brings one up)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Cluster{Config: cfg, Client: client}, nil
}

// LoadEnvFile reads KEY=VALUE lines (the format of sts.env and cluster.env).
func LoadEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		env[k] = strings.Trim(v, `"'`)
	}
	return env, sc.Err()
}

// Namespace creates the namespace name (replacing one left by an earlier run)
// and deletes it when the test ends. When the test has failed by then, it
// first dumps what the namespace holds, so a red run explains itself. Names
// are fixed, not random, because the STS trust policy names the
// ServiceAccounts it trusts.
func (c *Cluster) Namespace(t testing.TB, name string, labels map[string]string) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			_ = c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.Dump(t, name)
		}
		_ = c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}

// ServiceAccount creates a ServiceAccount (with optional annotations).
func (c *Cluster) ServiceAccount(t testing.TB, ns, name string, annotations map[string]string) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: annotations}}
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(context.Background(), sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating service account %s/%s: %v", ns, name, err)
	}
}

// WaitForPod polls the pod until done returns true or an error, or timeout.
func (c *Cluster) WaitForPod(t testing.TB, ns, name string, timeout time.Duration, what string, done func(*corev1.Pod) (bool, error)) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = pod
		return done(pod)
	})
	if err != nil {
		phase := "not found"
		if last != nil {
			phase = string(last.Status.Phase)
		}
		t.Fatalf("pod %s/%s: waiting for %s: %v (phase %s)", ns, name, what, err, phase)
	}
	return last
}

// PodRunning is a WaitForPod condition: every container is running and ready.
func PodRunning(pod *corev1.Pod) (bool, error) {
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		return false, fmt.Errorf("pod ended in phase %s", pod.Status.Phase)
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue, nil
		}
	}
	return false, nil
}

// PodSucceeded is a WaitForPod condition for pods that run to completion.
func PodSucceeded(pod *corev1.Pod) (bool, error) {
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return true, nil
	case corev1.PodFailed:
		return false, fmt.Errorf("pod failed")
	}
	return false, nil
}

// Logs returns a container's log.
func (c *Cluster) Logs(t testing.TB, ns, pod, container string) string {
	t.Helper()
	raw, err := c.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).Do(context.Background()).Raw()
	if err != nil {
		t.Fatalf("logs of %s/%s[%s]: %v", ns, pod, container, err)
	}
	return string(raw)
}

// Exec runs a command in a container and returns its stdout, stderr and error
// (a non-zero exit is an error).
func (c *Cluster) Exec(ns, pod, container string, command ...string) (string, string, error) {
	req := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	exec, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
	if err != nil {
		return "", "", err
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	return stdout.String(), stderr.String(), err
}

// Dump logs the namespace's pods (spec and status), events and every
// container's log tail, and the webhook's logs, for a failed spec.
func (c *Cluster) Dump(t testing.TB, ns string) {
	ctx := context.Background()
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("dump: listing pods: %v", err)
		return
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		pod.ManagedFields = nil
		b, _ := yaml.Marshal(pod)
		t.Logf("dump: pod %s/%s:\n%s", ns, pod.Name, b)
		var names []string
		for _, ctr := range pod.Spec.InitContainers {
			names = append(names, ctr.Name)
		}
		for _, ctr := range pod.Spec.Containers {
			names = append(names, ctr.Name)
		}
		for _, name := range names {
			tail := int64(60)
			raw, err := c.Client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: name, TailLines: &tail}).Do(ctx).Raw()
			if err == nil {
				t.Logf("dump: logs %s/%s[%s]:\n%s", ns, pod.Name, name, raw)
			}
		}
	}
	events, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		var b strings.Builder
		for _, e := range events.Items {
			fmt.Fprintf(&b, "%s %s/%s %s: %s\n", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
		t.Logf("dump: events in %s:\n%s", ns, b.String())
	}
	c.DumpWebhookLogs(t)
}

// WebhookNamespace is where the suite installs the chart.
var WebhookNamespace = envOr("ROLECHAIN_E2E_NAMESPACE", "rolechain-system")

// DumpWebhookLogs logs the tail of every webhook replica's log.
func (c *Cluster) DumpWebhookLogs(t testing.TB) {
	ctx := context.Background()
	pods, err := c.Client.CoreV1().Pods(WebhookNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, pod := range pods.Items {
		tail := int64(80)
		raw, err := c.Client.CoreV1().Pods(WebhookNamespace).GetLogs(pod.Name, &corev1.PodLogOptions{TailLines: &tail}).Do(ctx).Raw()
		if err == nil {
			t.Logf("dump: webhook logs %s:\n%s", pod.Name, raw)
		}
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
