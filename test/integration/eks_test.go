//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/rolechain/rolechain/test/ekswebhook/mutation"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
)

const eksPath = "/eks-pod-identity-webhook"

// registerEKSStandIn serves the stand-in for EKS's pod identity webhook
// (test/ekswebhook's mutation, as EKS configures it with a region and
// regional STS) from the test's webhook server.
func registerEKSStandIn(mgr manager.Manager) {
	decoder := admission.NewDecoder(mgr.GetScheme())
	reader := mgr.GetAPIReader()
	cfg := mutation.Defaults()
	cfg.Region, cfg.RegionalSTS = "us-west-2", true
	mgr.GetWebhookServer().Register(eksPath, &webhook.Admission{Handler: admission.HandlerFunc(
		func(ctx context.Context, req admission.Request) admission.Response {
			pod := &corev1.Pod{}
			if err := decoder.Decode(req, pod); err != nil {
				return admission.Errored(400, err)
			}
			sa := &corev1.ServiceAccount{}
			if err := reader.Get(ctx, client.ObjectKey{Namespace: req.Namespace, Name: pod.Spec.ServiceAccountName}, sa); err != nil {
				return admission.Allowed("no ServiceAccount")
			}
			out, changed := mutation.Mutate(pod, sa, cfg)
			if !changed {
				return admission.Allowed("nothing to inject")
			}
			raw, err := json.Marshal(out)
			if err != nil {
				return admission.Errored(500, err)
			}
			return admission.PatchResponseFromRaw(req.Object.Raw, raw)
		})})
}

// The real API server's dispatch and reinvocation, with EKS's webhook
// registered under a name sorting before rolechain's (as on EKS) or after
// it, and with either reinvocation policy: the app gets rolechain's
// credentials variables and none of EKS's credentials or token mounts, the
// sidecar holds no EKS token, a container in rolechain.dev/skip-containers
// keeps EKS's injection. rolechain is called twice exactly when EKS's
// webhook changed the pod after rolechain's first call.
func TestEKSWebhookInEitherOrderOnTheAPIServer(t *testing.T) {
	wio := &env.WebhookInstallOptions
	url := fmt.Sprintf("https://%s%s", net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)), eksPath)
	for _, tc := range []struct {
		ns     string
		config string
		policy admissionregistrationv1.ReinvocationPolicyType
		// rolechainCalls: 2 when EKS's webhook changed the pod after
		// rolechain's first call.
		rolechainCalls float64
	}{
		{"eks-first-never", "pod-identity-webhook", admissionregistrationv1.NeverReinvocationPolicy, 1},
		// EKS's second call finds the app and the sidecar in its
		// skip-containers annotation and changes nothing.
		{"eks-first-ifneeded", "pod-identity-webhook", admissionregistrationv1.IfNeededReinvocationPolicy, 1},
		{"eks-second-never", "zz-pod-identity-webhook", admissionregistrationv1.NeverReinvocationPolicy, 2},
		{"eks-second-ifneeded", "zz-pod-identity-webhook", admissionregistrationv1.IfNeededReinvocationPolicy, 2},
	} {
		t.Run(tc.ns, func(t *testing.T) {
			ctx := context.Background()
			ns := tc.ns
			for _, obj := range []client.Object{
				&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
				&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns,
					Annotations: map[string]string{"eks.amazonaws.com/role-arn": irsa}}},
			} {
				if err := k8s.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatal(err)
				}
			}
			name := tc.config + "-" + ns
			mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Webhooks: []admissionregistrationv1.MutatingWebhook{{
					Name:         "pod-identity-webhook.amazonaws.com",
					ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: wio.LocalServingCAData},
					Rules: []admissionregistrationv1.RuleWithOperations{{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
					}},
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
					ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
						Key: "eks.amazonaws.com/skip-pod-identity-webhook", Operator: metav1.LabelSelectorOpDoesNotExist,
					}}},
					FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
					ReinvocationPolicy:      ptr.To(tc.policy),
					SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
					AdmissionReviewVersions: []string{"v1"},
				}},
			}
			if err := k8s.Create(ctx, mwc); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = k8s.Delete(ctx, mwc) })

			newEKSPod := func() *corev1.Pod {
				pod := newPod(ns, map[string]string{annotations.RoleARN: target, annotations.SkipContainers: "debug"})
				pod.Spec.ServiceAccountName = "app"
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "debug", Image: "debug:1"})
				return pod
			}
			// The API server picks new configurations up asynchronously.
			deadline := time.Now().Add(30 * time.Second)
			for {
				probe := newEKSPod()
				if err := k8s.Create(ctx, probe, client.DryRunAll); err == nil && strings.Contains(probe.Annotations[annotations.Status], `"eks":`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("EKS's stand-in never mutated a pod")
				}
				time.Sleep(200 * time.Millisecond)
			}

			before := calls(t, mainM)
			pod := newEKSPod()
			if err := k8s.Create(ctx, pod); err != nil {
				t.Fatal(err)
			}
			got := stored(t, pod)
			if n := calls(t, mainM) - before; n != tc.rolechainCalls {
				t.Errorf("rolechain called %v times, want %v", n, tc.rolechainCalls)
			}
			for _, c := range append(slices.Clone(got.Spec.InitContainers), got.Spec.Containers...) {
				env := map[string]string{}
				for _, e := range c.Env {
					env[e.Name] = e.Value
				}
				mounts := map[string]bool{}
				for _, m := range c.VolumeMounts {
					mounts[m.Name] = true
				}
				switch c.Name {
				case "debug":
					if env["AWS_ROLE_ARN"] != irsa || !mounts["aws-iam-token"] {
						t.Errorf("debug lost what EKS gave it: %v %v", c.Env, c.VolumeMounts)
					}
				case "app":
					if env["AWS_SHARED_CREDENTIALS_FILE"] == "" || env["AWS_ROLE_ARN"] != "" || env["AWS_WEB_IDENTITY_TOKEN_FILE"] != "" || mounts["aws-iam-token"] {
						t.Errorf("app: env %v mounts %v, want rolechain's credentials and none of EKS's", env, mounts)
					}
					// Both set a region here (rolechain's --default-region
					// is eu-west-1): region variables are never removed,
					// so the webhook that runs first wins (docs/eks.md, Which variable wins).
					wantRegion := "us-west-2"
					if strings.HasPrefix(tc.config, "zz-") {
						wantRegion = "eu-west-1"
					}
					if env["AWS_REGION"] != wantRegion || env["AWS_DEFAULT_REGION"] != wantRegion {
						t.Errorf("app: AWS_REGION %q, AWS_DEFAULT_REGION %q, want %s from the webhook that ran first", env["AWS_REGION"], env["AWS_DEFAULT_REGION"], wantRegion)
					}
				case inject.SidecarName:
					if env["AWS_ROLE_ARN"] != "" || mounts["aws-iam-token"] {
						t.Errorf("sidecar holds EKS's web identity: %v %v", env, mounts)
					}
				}
			}
			if !slices.ContainsFunc(got.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "aws-iam-token" }) {
				t.Error("EKS's volume is gone although debug mounts it")
			}
		})
	}
}
