package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/rolechain/rolechain/webhook/annotations"
)

// BenchmarkAdmission measures one admission end to end as the server sees
// it: AdmissionReview JSON in, decode, ServiceAccount lookup, parse,
// mutate, JSON patch, AdmissionReview JSON out.
func BenchmarkAdmission(b *testing.B) {
	benchmarkAdmission(b, newHandler(nil, nil))
}

// benchmarkAdmission serves a pod with two profiles and an IRSA first hop
// through h as the webhook server does (h's own ServeHTTP).
func benchmarkAdmission(b *testing.B, h *Handler) {
	benchmarkServe(b, h, review(b, newPod(map[string]string{
		annotations.RoleARN:            target,
		annotations.WebIdentityRoleARN: irsa,
		annotations.Region:             "eu-west-1",
		annotations.RoleARN + ".logs":  "arn:aws:iam::444444444444:role/logs",
	})))
}

// benchmarkServe posts body to h once per iteration and fails unless the
// answer is a patch.
func benchmarkServe(b *testing.B, h http.Handler, body []byte) {
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"patch"`)) {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
}

// BenchmarkDeploymentPodReview serves the AdmissionReview kube-apiserver
// 1.33 sent for a Deployment's pod (captured by test/bench/admission:
// defaulted, with the ServiceAccount token volume and managedFields), whose
// ServiceAccount names an IRSA role, as in the load benchmark.
func BenchmarkDeploymentPodReview(b *testing.B) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "bench", Annotations: map[string]string{annotations.IRSARoleARN: irsa}}}
	h := newHandler(fake.NewClientBuilder().WithScheme(scheme).WithObjects(sa).Build(), nil)
	body, err := os.ReadFile("testdata/deployment-pod.review.json")
	if err != nil {
		b.Fatal(err)
	}
	benchmarkServe(b, h, body)
}
