package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rolechain/rolechain/cmd/webhook/app"
	"github.com/rolechain/rolechain/test/bench/benchenv"
	"github.com/rolechain/rolechain/webhook/annotations"
)

// The objects every webhook under test sees: a namespace, and a
// ServiceAccount whose IRSA annotation makes EKS's webhook mutate the pod
// and gives rolechain its first hop.
const (
	namespace      = "bench"
	serviceAccount = "web"
	irsaRole       = "arn:aws:iam::111111111111:role/web-identity"
	targetRole     = "arn:aws:iam::222222222222:role/web-target"
	region         = "eu-west-1"
)

// benchObjects are what every webhook under test reads from the API
// server.
func benchObjects() []client.Object {
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
			Name: serviceAccount, Namespace: namespace,
			Annotations: map[string]string{annotations.IRSARoleARN: irsaRole},
		}},
	}
}

type capturedReview struct {
	body        []byte
	objectBytes int
}

// captureReview registers a webhook of its own with the API server, creates
// a Deployment's pod as the ReplicaSet controller would (same user, same
// field manager, generateName and owner), and returns the AdmissionReview
// the API server sent: after defaulting, the ServiceAccount admission
// plugin's token volume, and managedFields, byte for byte.
func captureReview(ctx context.Context, c *benchenv.Cluster) (capturedReview, error) {
	ca, err := benchenv.NewCA()
	if err != nil {
		return capturedReview{}, err
	}
	cert, err := ca.Serving()
	if err != nil {
		return capturedReview{}, err
	}
	got := make(chan []byte, 1)
	srv := &http.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var ar admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &ar); err != nil || ar.Request == nil {
				http.Error(w, "bad review", http.StatusBadRequest)
				return
			}
			select {
			case got <- body:
			default:
			}
			ar.Response = &admissionv1.AdmissionResponse{UID: ar.Request.UID, Allowed: true}
			ar.Request = nil
			_ = json.NewEncoder(w).Encode(ar)
		}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return capturedReview{}, err
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	defer srv.Close()

	url := "https://" + ln.Addr().String() + "/capture"
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-capture"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         "capture.bench.rolechain.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca.PEM},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		}},
	}
	if err := c.Client.Create(ctx, mwc); err != nil {
		return capturedReview{}, err
	}
	defer func() { _ = c.Client.Delete(context.Background(), mwc) }()

	// The ReplicaSet controller creates pods as its ServiceAccount, with
	// kube-controller-manager's user agent (the managedFields manager).
	rsCfg := rest.CopyConfig(c.Config)
	rsCfg.UserAgent = "kube-controller-manager/" + c.Version + " (linux/amd64) kubernetes/bench"
	rsCfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:kube-system:replicaset-controller",
		UID:      "4c3b0a6e-2f57-4d0e-9a1b-7f2c6d1e8a90",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
	}
	rsClient, err := client.New(rsCfg, client.Options{Scheme: app.Scheme()})
	if err != nil {
		return capturedReview{}, err
	}
	// A webhook configuration takes effect once the API server's informer
	// has seen it: retry until the capture server is called.
	deadline := time.Now().Add(30 * time.Second)
	for {
		pod := deploymentPod()
		if err := rsClient.Create(ctx, pod); err != nil {
			return capturedReview{}, fmt.Errorf("creating the pod: %w", err)
		}
		_ = c.Client.Delete(ctx, pod)
		select {
		case body := <-got:
			var ar admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &ar); err != nil {
				return capturedReview{}, err
			}
			return capturedReview{body: body, objectBytes: len(ar.Request.Object.Raw)}, nil
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return capturedReview{}, errors.New("the API server never called the capture webhook")
		}
	}
}

// deploymentPod is the pod the ReplicaSet controller creates for an
// ordinary Deployment "web": generateName and owner from the ReplicaSet,
// the template's labels (with pod-template-hash) and the opt-in
// annotation, one container with a port, env, resources and a readiness
// probe. With the API server's defaults, the ServiceAccount token volume
// and managedFields, its AdmissionReview is 3.9 KB (the pod 3.2 KB).
func deploymentPod() *corev1.Pod {
	const rs = "web-6f8d9c7b5d"
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: rs + "-",
			Namespace:    namespace,
			Labels:       map[string]string{"app": "web", "pod-template-hash": "6f8d9c7b5d"},
			Annotations:  map[string]string{annotations.RoleARN: targetRole},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs, UID: "0b7d3c1e-5a9f-4e62-8d41-3f6a2b9c7e15",
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: serviceAccount,
			Containers: []corev1.Container{{
				Name:  "web",
				Image: "registry.example.com/team/web:1.27.2",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env:   []corev1.EnvVar{{Name: "BUCKET", Value: "team-web-assets"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")}},
				},
			}},
		},
	}
}
