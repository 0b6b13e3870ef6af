//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/certs"
	"github.com/rolechain/rolechain/webhook/metrics"
	"github.com/rolechain/rolechain/webhook/options"
	"github.com/rolechain/rolechain/webhook/server"
)

// The RBAC the chart ships for self-managed mode (manifests/, generated
// from the chart and checked against it by test/chart) is enough for the
// webhook to start, write its Secret, set its caBundle and serve pods:
// the webhook runs here as its ServiceAccount's user with exactly those
// roles, where the other instances run as cluster admin.
// rbacNamespace is served by the webhook that runs with the chart's RBAC
// alone; the main instance leaves it out.
const rbacNamespace = "rbac-minimal"

func TestSelfManagedWebhookRunsWithOnlyTheChartsRBAC(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	root := filepath.Join("..", "..", "manifests")
	objs := []client.Object{&rbacv1.ClusterRoleBinding{}, &rbacv1.ClusterRole{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}}
	for i, f := range []string{
		"base/clusterrolebinding-rolechain.yaml",
		"overlays/self-managed/clusterrole-rolechain.yaml",
		"overlays/self-managed/role-rolechain-certs.yaml",
		"overlays/self-managed/rolebinding-rolechain-certs.yaml",
	} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(b, objs[i]); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := k8s.Create(ctx, objs[i]); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	sa := objs[0].(*rbacv1.ClusterRoleBinding).Subjects[0]
	user, err := env.AddUser(envtest.User{
		Name:   fmt.Sprintf("system:serviceaccount:%s:%s", sa.Namespace, sa.Name),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.Namespace, "system:authenticated"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// The names the chart renders the flags with (manifests/ are rendered
	// for release rolechain in rolechain-system).
	const ns = rbacNamespace
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/mutate-v1-pod", port)
	whc := server.WebhookConfiguration(sa.Name, admissionregistrationv1.WebhookClientConfig{URL: &url}, nil)
	whc.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	if err := k8s.Create(ctx, whc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), whc) })
	o := options.New()
	o.SidecarImage = "rolechain-sidecar:rbac"
	o.CertMode = options.CertModeSelfManaged
	o.WebhookConfigName = sa.Name
	o.ServiceName = sa.Name
	o.ServiceNamespace = sa.Namespace
	o.CertSecretName = sa.Name + "-tls"
	o.CertDir = t.TempDir()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(prometheus.NewRegistry())
	if err := startWebhook(ctx, user.Config(), o, m, "127.0.0.1", port, o.CertDir, []string{"127.0.0.1"}); err != nil {
		t.Fatalf("the webhook does not start with the chart's RBAC: %v", err)
	}

	secret := &corev1.Secret{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: o.ServiceNamespace, Name: o.CertSecretName}, secret); err != nil {
		t.Fatalf("self-managed Secret: %v", err)
	}
	got := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := k8s.Get(ctx, types.NamespacedName{Name: whc.Name}, got); err != nil {
		t.Fatal(err)
	}
	if ca := got.Webhooks[0].ClientConfig.CABundle; string(ca) != string(secret.Data[certs.CAKey]) {
		t.Fatal("caBundle is not the Secret's ca.crt")
	}
	pod := newPod(ns, map[string]string{annotations.RoleARN: target})
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if s := stored(t, pod); len(s.Spec.InitContainers) == 0 || s.Spec.InitContainers[0].Image != o.SidecarImage {
		t.Fatalf("pod not mutated by the webhook running with the chart's RBAC: %+v", s.Spec.InitContainers)
	}
}
