package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/rolechain/rolechain/test/e2e/framework"
)

// The specs of this file run rolechain next to a stand-in for EKS's pod
// identity webhook (test/ekswebhook, which applies EKS's documented
// mutation) registered under a name that sorts before rolechain's, as on
// EKS ("pod-identity-webhook"), or after it, both with reinvocationPolicy
// IfNeeded, the case in which EKS's webhook is called again after
// rolechain's last call.
var ekswebhookImage = envOr("E2E_EKSWEBHOOK_IMAGE", "localhost/rolechain/ekswebhook:dev")

const (
	eksStandInNamespace = "e2e-ekswebhook"
	// eksAssociation on a ServiceAccount stands for an EKS Pod Identity
	// association (the stand-in's mutation.AssociationAnnotation).
	eksAssociation  = "ekswebhook.rolechain.test/pod-identity-association"
	eksIRSATokenDir = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
	eksAgentURL     = "http://169.254.170.23/v1/credentials"
)

func TestOnEKSTheAppGetsTheChainedRoleWhicheverWebhookRunsFirst(t *testing.T) {
	t.Parallel()
	eks := deployEKSStandIn(t)
	for _, tc := range []struct {
		name        string
		ns          string
		eksFirst    bool
		podIdentity bool
	}{
		{"IRSA, EKS's webhook first", "e2e-eks-irsa-first", true, false},
		{"IRSA, EKS's webhook second", "e2e-eks-irsa-second", false, false},
		{"Pod Identity, endpoint mode, EKS's webhook first", "e2e-eks-podid-first", true, true},
		{"Pod Identity, endpoint mode, EKS's webhook second", "e2e-eks-podid-second", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sa := map[string]string{"eks.amazonaws.com/role-arn": sts.WebRoleARN}
			if tc.podIdentity {
				sa = map[string]string{eksAssociation: "true"}
			}
			ns := setupNamespaceWithServiceAccount(t, tc.ns, sa)
			eks.register(t, ns, tc.eksFirst)

			b := annotatedPod(ns, "app").annotate("rolechain.dev/skip-containers", "eks-kept")
			if tc.podIdentity {
				b.annotate("rolechain.dev/credentials-endpoint", "true").reader("app", 2*time.Second, 0, false)
				b.pod.Spec.Containers = append(b.pod.Spec.Containers, restricted(corev1.Container{
					Name: "eks-kept", Image: toolboxImage, ImagePullPolicy: corev1.PullIfNotPresent, Args: []string{"sleep"},
				}))
			} else {
				// The documented way to name the first hop on EKS: the
				// ServiceAccount's IRSA role, which EKS's webhook uses too.
				delete(b.pod.Annotations, "rolechain.dev/web-identity-role-arn")
				b.reader("app", 2*time.Second, 0, true)
				// A container that keeps EKS's injection reads with the
				// first hop's credentials (Go v2's web-identity provider,
				// against the STS peer), which cannot read the object.
				b.reader("eks-kept", 2*time.Second, 0, true, corev1.EnvVar{Name: "AWS_ENDPOINT_URL_STS", Value: sts.Endpoint})
			}
			b.toolbox()
			waitForEKSStandIn(t, b.pod)
			pod := b.create(t)
			pod = cluster.WaitForPod(t, ns, pod.Name, 3*time.Minute, "running", framework.PodRunning)

			t.Run("the app reads the object through the chained role", func(t *testing.T) {
				waitForReads(t, ns, pod.Name, "app", 2)
				ok, _ := readLines(t, ns, pod.Name, "app")
				want := "SharedConfigCredentials"
				if tc.podIdentity {
					// EKS's agent address has no agent here: only rolechain's endpoint answers.
					want = "CredentialsEndpointProvider"
				}
				if !strings.Contains(ok[0], want) {
					t.Fatalf("the app read with another provider than %s: %s", want, ok[0])
				}
			})
			t.Run("the app container has rolechain's variables and none of EKS's credentials or token", func(t *testing.T) {
				app := findContainer(pod.Spec.Containers, "app")
				for _, name := range []string{"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
					if v := envValue(app, name); v != "" {
						t.Errorf("app has %s=%s", name, v)
					}
				}
				if tc.podIdentity && envValue(app, "AWS_CONTAINER_CREDENTIALS_FULL_URI") == eksAgentURL {
					t.Errorf("app has EKS's AWS_CONTAINER_CREDENTIALS_FULL_URI")
				}
				for _, c := range append([]corev1.Container{*app, *findContainer(pod.Spec.Containers, "toolbox")}, pod.Spec.InitContainers...) {
					for _, m := range c.VolumeMounts {
						if m.Name == "aws-iam-token" || m.Name == "eks-pod-identity-token" {
							t.Errorf("%s mounts EKS's %s", c.Name, m.Name)
						}
					}
				}
				if _, _, err := cluster.Exec(ns, pod.Name, "toolbox", "/toolbox", "exists", eksIRSATokenDir+"/token"); err == nil {
					t.Errorf("EKS's web-identity token is readable in a container rolechain serves")
				}
			})
			t.Run("a container in skip-containers keeps what EKS gave it", func(t *testing.T) {
				kept := findContainer(pod.Spec.Containers, "eks-kept")
				if tc.podIdentity {
					if v := envValue(kept, "AWS_CONTAINER_CREDENTIALS_FULL_URI"); v != eksAgentURL {
						t.Fatalf("eks-kept: AWS_CONTAINER_CREDENTIALS_FULL_URI = %q", v)
					}
					return
				}
				if envValue(kept, "AWS_ROLE_ARN") != sts.WebRoleARN {
					t.Fatalf("eks-kept lost EKS's AWS_ROLE_ARN: %v", kept.Env)
				}
				// ... and so the first hop alone, which cannot read.
				err := wait.PollUntilContextTimeout(context.Background(), time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
					ok, failed := readLines(t, ns, pod.Name, "eks-kept")
					if len(ok) > 0 {
						return false, fmt.Errorf("the first hop's credentials read the object: %s", ok[0])
					}
					return len(failed) > 0 && strings.Contains(failed[0], "403"), nil
				})
				if err != nil {
					t.Fatalf("eks-kept: %v", err)
				}
			})
			t.Run("the status and the EKS annotation record what was removed and prevented", func(t *testing.T) {
				var status struct {
					EKS struct {
						Removed        map[string][]string `json:"removed"`
						SkipContainers []string            `json:"skipContainers"`
					} `json:"eks"`
				}
				if err := json.Unmarshal([]byte(pod.Annotations["rolechain.dev/status"]), &status); err != nil {
					t.Fatal(err)
				}
				if len(status.EKS.Removed["app"]) == 0 || !slices.Contains(status.EKS.SkipContainers, "app") {
					t.Fatalf("rolechain.dev/status = %s", pod.Annotations["rolechain.dev/status"])
				}
				if !strings.Contains(pod.Annotations["eks.amazonaws.com/skip-containers"], "app") {
					t.Fatalf("eks.amazonaws.com/skip-containers = %q", pod.Annotations["eks.amazonaws.com/skip-containers"])
				}
			})
		})
	}

	// rolechain.dev/source: pod-identity, EKS's webhook first as on EKS.
	// A stand-in for EKS's Pod Identity Agent runs in the pod (an ephemeral
	// container, which the kubelet starts even while the sidecar holds the
	// pod in initialization) at the agent's address, and serves the
	// association role's credentials: the STS's web role, obtained with the
	// pod's Pod Identity token.
	t.Run("Pod Identity as the chain's source", func(t *testing.T) {
		t.Parallel()
		ns := setupNamespaceWithServiceAccount(t, "e2e-eks-source", map[string]string{eksAssociation: "true"})
		eks.register(t, ns, true)
		b := annotatedPod(ns, "app").reader("app", 2*time.Second, 0, true)
		delete(b.pod.Annotations, "rolechain.dev/web-identity-role-arn")
		b.annotate("rolechain.dev/source", "pod-identity", "rolechain.dev/external-id", "e2e-pod-identity")
		waitForEKSStandIn(t, b.pod)
		pod := b.create(t)

		agent := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "eks-pod-identity-agent", Image: appImage, ImagePullPolicy: corev1.PullIfNotPresent,
			Args: []string{"agent", "--role-arn", sts.WebRoleARN, "--sts-endpoint", sts.Endpoint, "--region", sts.Region},
			SecurityContext: &corev1.SecurityContext{
				RunAsUser: ptr.To[int64](0), RunAsNonRoot: ptr.To(false),
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}},
			},
		}}
		err := wait.PollUntilContextTimeout(context.Background(), time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
			p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, agent)
			_, err = cluster.Client.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, pod.Name, p, metav1.UpdateOptions{})
			return err == nil, nil
		})
		if err != nil {
			t.Fatalf("adding the agent: %v", err)
		}
		pod = cluster.WaitForPod(t, ns, pod.Name, 3*time.Minute, "running", framework.PodRunning)
		waitForReads(t, ns, pod.Name, "app", 2)

		sidecar := findContainer(pod.Spec.InitContainers, sidecarName)
		if envValue(sidecar, "AWS_CONTAINER_CREDENTIALS_FULL_URI") != eksAgentURL || !hasMount(sidecar, "eks-pod-identity-token") {
			t.Errorf("the sidecar lacks EKS's Pod Identity variables or token: %v %v", sidecar.Env, sidecar.VolumeMounts)
		}
		if hasMount(sidecar, "rolechain-token") || slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "rolechain-token" }) {
			t.Errorf("a projected token of rolechain's in a Pod Identity pod")
		}
		app := findContainer(pod.Spec.Containers, "app")
		if envValue(app, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") != "" || hasMount(app, "eks-pod-identity-token") {
			t.Errorf("the app holds EKS's Pod Identity token: %v %v", app.Env, app.VolumeMounts)
		}
		if logs := cluster.Logs(t, ns, pod.Name, "eks-pod-identity-agent"); !strings.Contains(logs, "agent: served") {
			t.Errorf("the agent served nothing:\n%s", logs)
		}
	})
}

func hasMount(c *corev1.Container, volume string) bool {
	return c != nil && slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == volume })
}

// waitForEKSStandIn creates the pod in a dry run until rolechain's status
// says that EKS's webhook was there: the stand-in's configuration is
// active and its Service programmed (a Ready pod may not be reachable yet).
func waitForEKSStandIn(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		out, err := cluster.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = out.Annotations["rolechain.dev/status"]
		return strings.Contains(last, `"eks":`), nil
	})
	if err != nil {
		t.Fatalf("EKS's stand-in webhook never mutated a pod in %s: %v (last: %s)", pod.Namespace, err, last)
	}
}

type eksStandIn struct{ caBundle []byte }

// deployEKSStandIn runs test/ekswebhook in its own namespace, configured as
// EKS configures its webhook on a cluster of the STS's region
// (--aws-default-region, --sts-regional-endpoint).
func deployEKSStandIn(t *testing.T) *eksStandIn {
	t.Helper()
	ctx := context.Background()
	ns := cluster.Namespace(t, eksStandInNamespace, nil)
	caPEM, certPEM, keyPEM := servingCertificate(t, "ekswebhook."+ns+".svc")
	core := cluster.Client.CoreV1()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	must(core.Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ekswebhook-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM}}, metav1.CreateOptions{}))
	must(core.ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ekswebhook"}}, metav1.CreateOptions{}))
	rbac := cluster.Client.RbacV1()
	name := "e2e-ekswebhook"
	_ = rbac.ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
	_ = rbac.ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
	must(rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{}))
	must(rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ekswebhook", Namespace: ns}}}, metav1.CreateOptions{}))
	t.Cleanup(func() {
		_ = rbac.ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = rbac.ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
	})
	labels := map[string]string{"app": "ekswebhook"}
	must(cluster.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "ekswebhook"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName:            "ekswebhook",
					TerminationGracePeriodSeconds: ptr.To[int64](2),
					Containers: []corev1.Container{restricted(corev1.Container{
						Name: "ekswebhook", Image: ekswebhookImage, ImagePullPolicy: corev1.PullIfNotPresent,
						Args: []string{"--tls-cert", "/certs/tls.crt", "--tls-key", "/certs/tls.key",
							"--aws-default-region", sts.Region, "--sts-regional-endpoint"},
						VolumeMounts: []corev1.VolumeMount{{Name: "certs", MountPath: "/certs", ReadOnly: true}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
							Path: "/healthz", Port: intstr.FromInt32(8443), Scheme: corev1.URISchemeHTTPS,
						}}, PeriodSeconds: 1},
					})},
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532)},
					Volumes:         []corev1.Volume{{Name: "certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "ekswebhook-tls"}}}},
				},
			},
		},
	}, metav1.CreateOptions{}))
	must(core.Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ekswebhook"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(8443)}}},
	}, metav1.CreateOptions{}))
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "ekswebhook", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 1, nil
	})
	if err != nil {
		t.Fatalf("the stand-in for EKS's webhook is not ready: %v", err)
	}
	return &eksStandIn{caBundle: caPEM}
}

// register adds a MutatingWebhookConfiguration for the stand-in, scoped to
// namespace ns, named to sort before rolechain's ("pod-identity-webhook-…",
// as on EKS) or after it ("zz-pod-identity-webhook-…"). Like EKS's it
// skips pods labelled eks.amazonaws.com/skip-pod-identity-webhook; unlike
// EKS's it fails closed, so that a stand-in that cannot be reached fails the
// spec instead of passing it without EKS's mutation.
func (s *eksStandIn) register(t *testing.T, ns string, first bool) {
	t.Helper()
	name := "pod-identity-webhook-" + ns
	if !first {
		name = "zz-" + name
	}
	if (name < "rolechain") != first {
		t.Fatalf("configuration %s does not sort as intended against rolechain's", name)
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "pod-identity-webhook.amazonaws.com",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service:  &admissionregistrationv1.ServiceReference{Namespace: eksStandInNamespace, Name: "ekswebhook", Path: ptr.To("/mutate")},
				CABundle: s.caBundle,
			},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: "eks.amazonaws.com/skip-pod-identity-webhook", Operator: metav1.LabelSelectorOpDoesNotExist,
			}}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	api := cluster.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	ctx := context.Background()
	_ = api.Delete(ctx, name, metav1.DeleteOptions{})
	if _, err := api.Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Delete(ctx, name, metav1.DeleteOptions{}) })
}

// servingCertificate returns a throw-away CA and a serving certificate for
// dnsName signed by it, all PEM.
func servingCertificate(t *testing.T, dnsName string) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e ekswebhook CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
