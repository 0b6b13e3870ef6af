package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/metrics"
)

// TestForgedNamespacesAddNoMetricSeries: anyone who can reach the webhook
// can send reviews naming namespaces that do not exist. Each must not add
// an injections series; they are counted under metrics.OtherNamespace,
// and a namespace the cache holds keeps its own series.
func TestForgedNamespacesAddNoMetricSeries(t *testing.T) {
	cache := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}).Build()
	h := newHandler(cache, nil)
	const forged = 50
	for i := range forged {
		pod := newPod(map[string]string{annotations.RoleARN: target})
		pod.Namespace = fmt.Sprintf("invented-%d", i)
		if resp := h.Handle(context.Background(), request(t, pod, admissionv1.Create)); !resp.Allowed {
			t.Fatalf("forged review denied (%v): the test proves nothing", resp.Result)
		}
	}
	h.Handle(context.Background(), request(t, newPod(map[string]string{annotations.RoleARN: target}), admissionv1.Create))
	if n := testutil.CollectAndCount(h.Metrics.Injections); n != 2 {
		t.Errorf("%d injections series after %d invented namespaces and team-a, want 2 (team-a and %s)", n, forged, metrics.OtherNamespace)
	}
	if got := testutil.ToFloat64(h.Metrics.Injections.WithLabelValues(metrics.OtherNamespace)); got != forged {
		t.Errorf("injections{%s} = %v, want %d", metrics.OtherNamespace, got, forged)
	}
	if got := testutil.ToFloat64(h.Metrics.Injections.WithLabelValues("team-a")); got != 1 {
		t.Errorf("injections{team-a} = %v, want 1", got)
	}
}
