//go:build integration

package integration

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/metrics"
	"github.com/rolechain/rolechain/webhook/options"
	"github.com/rolechain/rolechain/webhook/policy"
	"github.com/rolechain/rolechain/webhook/server"
)

// requiredLabel selects the namespaces served by a third webhook instance
// that runs with --namespace-policy=required. The main instance (optional)
// serves them too; the API server denies a pod when either webhook does.
const requiredLabel = "test.rolechain.dev/namespace-policy"

var (
	nsSeq        int
	requiredOnce sync.Once
	requiredErr  error
	requiredM    = metrics.New(prometheus.NewRegistry())
)

// newNamespace creates a namespace with a fresh name, the given policy
// annotation (none when allowed is nil) and labels.
func newNamespace(t *testing.T, prefix string, allowed *string, labels map[string]string) string {
	t.Helper()
	nsSeq++
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, nsSeq), Labels: labels}}
	if allowed != nil {
		ns.Annotations = map[string]string{annotations.AllowedRoleARNs: *allowed}
	}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func setPolicy(t *testing.T, namespace, allowed string) {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: namespace}, ns); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	ns.Annotations[annotations.AllowedRoleARNs] = allowed
	if err := k8s.Patch(context.Background(), ns, patch); err != nil {
		t.Fatal(err)
	}
}

// startRequiredModeWebhook starts, once, a webhook instance with
// --namespace-policy=required for the namespaces labelled requiredLabel,
// and waits until the API server calls it.
func startRequiredModeWebhook(t *testing.T) {
	t.Helper()
	requiredOnce.Do(func() { requiredErr = startRequired() })
	if requiredErr != nil {
		t.Fatal(requiredErr)
	}
}

func startRequired() error {
	ctx := context.Background()
	wio := &env.WebhookInstallOptions
	port, err := freePort()
	if err != nil {
		return err
	}
	o := options.New()
	o.SidecarImage = "rolechain-sidecar:required"
	o.NamespacePolicy = string(policy.ModeRequired)
	if err := o.Validate(); err != nil {
		return err
	}
	if err := startWebhook(ctx, env.Config, o, requiredM, wio.LocalServingHost, port, wio.LocalServingCertDir, nil); err != nil {
		return err
	}
	url := fmt.Sprintf("https://%s/mutate-v1-pod", net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(port)))
	cfg := server.WebhookConfiguration("rolechain-required", admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: wio.LocalServingCAData}, nil)
	cfg.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{requiredLabel: "required"}}
	if err := k8s.Create(ctx, cfg); err != nil {
		return err
	}
	// The API server learns of a new configuration through its own watch:
	// dry-run a pod until the new webhook answers.
	probe := fmt.Sprintf("required-probe-%d", time.Now().UnixNano())
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: probe, Labels: map[string]string{requiredLabel: "required"}}}); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := k8s.Create(ctx, newPod(probe, map[string]string{annotations.RoleARN: target}), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "--namespace-policy=required") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the required-mode webhook is not called: last answer %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const teamAPolicy = "arn:aws:iam::111111111111:role/irsa, arn:aws:iam::222222222222:role/team-a-*"

func TestANamespacePolicyAdmitsAMatchingPodAndDeniesAnother(t *testing.T) {
	allowed := teamAPolicy
	ns := newNamespace(t, "policy", &allowed, nil)
	ctx := context.Background()

	reader := "arn:aws:iam::222222222222:role/team-a-reader"
	ok := newPod(ns, map[string]string{annotations.RoleARN: reader, annotations.WebIdentityRoleARN: irsa})
	if err := k8s.Create(ctx, ok); err != nil {
		t.Fatalf("a pod whose roles match the namespace's patterns: %v", err)
	}
	got := stored(t, ok)
	if ps := sidecarProfiles(t, got); len(ps) != 1 || ps[0].Target() != reader {
		t.Fatalf("profiles = %+v", ps)
	}
	want := `"namespacePolicy":{"applied":true,"admittedBy":{"arn:aws:iam::111111111111:role/irsa":"arn:aws:iam::111111111111:role/irsa",` +
		`"arn:aws:iam::222222222222:role/team-a-reader":"arn:aws:iam::222222222222:role/team-a-*"}}`
	if !strings.Contains(got.Annotations[annotations.Status], want) {
		t.Errorf("status %s\nlacks %s", got.Annotations[annotations.Status], want)
	}

	err := k8s.Create(ctx, newPod(ns, map[string]string{annotations.RoleARN: target, annotations.WebIdentityRoleARN: irsa}))
	wantErr := `admission webhook "pod.rolechain.dev" denied the request: namespaces[` + ns + `].metadata.annotations[rolechain.dev/allowed-role-arns]: Forbidden: ` +
		`role arn:aws:iam::222222222222:role/target (hop 2 of 2 of profile "default") is not allowed in namespace "` + ns + `": ` +
		`it matches none of the patterns in the namespace's rolechain.dev/allowed-role-arns annotation: arn:aws:iam::111111111111:role/irsa, arn:aws:iam::222222222222:role/team-a-*`
	if err == nil || err.Error() != wantErr {
		t.Fatalf("create error:\n got: %v\nwant: %s", err, wantErr)
	}

	if kubectl == "" {
		t.Log("no kubectl in KUBEBUILDER_ASSETS: kubectl's rendering not checked")
		return
	}
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: kubectl-policy-denied
  namespace: %s
  annotations:
    rolechain.dev/role-arn: arn:aws:iam::222222222222:role/team-b-reader
spec:
  containers:
  - name: app
    image: app:1
`, ns)
	cmd := exec.Command(kubectl, "--kubeconfig", kubecfg, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	wantOut := `Error from server (Forbidden): error when creating "STDIN": admission webhook "pod.rolechain.dev" denied the request: ` +
		`namespaces[` + ns + `].metadata.annotations[rolechain.dev/allowed-role-arns]: Forbidden: role arn:aws:iam::222222222222:role/team-b-reader (hop 1 of 1 of profile "default") ` +
		`is not allowed in namespace "` + ns + `": it matches none of the patterns in the namespace's rolechain.dev/allowed-role-arns annotation: ` +
		`arn:aws:iam::111111111111:role/irsa, arn:aws:iam::222222222222:role/team-a-*`
	if err == nil || strings.TrimSpace(string(out)) != wantOut {
		t.Fatalf("kubectl apply (err %v):\n got: %s\nwant: %s", err, out, wantOut)
	}
}

func TestRequiredModeDeniesANamespaceWithoutAPolicy(t *testing.T) {
	startRequiredModeWebhook(t)
	ns := newNamespace(t, "required", nil, map[string]string{requiredLabel: "required"})
	err := k8s.Create(context.Background(), newPod(ns, map[string]string{annotations.RoleARN: target}))
	want := `admission webhook "pod.rolechain.dev" denied the request: namespaces[` + ns + `].metadata.annotations[rolechain.dev/allowed-role-arns]: Required value: ` +
		`namespace "` + ns + `" has no rolechain.dev/allowed-role-arns annotation and this webhook runs with --namespace-policy=required: ` +
		`its pods may assume no role until a cluster admin lists the role ARN patterns the namespace may use`
	if err == nil || err.Error() != want {
		t.Fatalf("create error:\n got: %v\nwant: %s", err, want)
	}
	// The same pod in a namespace of the optional-mode instance only is
	// admitted: the denial above is the mode's, not a broken setup's.
	if err := k8s.Create(context.Background(), newPod(newNamespace(t, "optional", nil, nil), map[string]string{annotations.RoleARN: target})); err != nil {
		t.Fatalf("optional mode: %v", err)
	}
}

func TestAPolicyAddedToANamespaceAMomentBeforeThePodIsHonoured(t *testing.T) {
	ctx := context.Background()
	t.Run("a namespace created with its policy", func(t *testing.T) {
		for i := range 5 {
			allowed := fmt.Sprintf("arn:aws:iam::222222222222:role/only-%d", i)
			ns := newNamespace(t, "fresh", &allowed, nil)
			if err := k8s.Create(ctx, newPod(ns, map[string]string{annotations.RoleARN: target})); err == nil || !strings.Contains(err.Error(), "is not allowed in namespace") {
				t.Fatalf("namespace %d: a pod outside its brand-new policy: %v, want denied", i, err)
			}
			pod := newPod(ns, map[string]string{annotations.RoleARN: allowed})
			if err := k8s.Create(ctx, pod); err != nil {
				t.Fatalf("namespace %d: a pod inside its policy: %v", i, err)
			}
			if s := stored(t, pod).Annotations[annotations.Status]; !strings.Contains(s, `"admittedBy":{"`+allowed+`":"`+allowed+`"}`) {
				t.Fatalf("namespace %d: status %s does not name the pattern", i, s)
			}
		}
	})
	t.Run("a policy added, then changed, on a namespace the webhook has cached (required mode)", func(t *testing.T) {
		startRequiredModeWebhook(t)
		ns := newNamespace(t, "changing", nil, map[string]string{requiredLabel: "required"})
		// The webhook reads (and from now on watches) the namespace.
		if err := k8s.Create(ctx, newPod(ns, map[string]string{annotations.RoleARN: target})); err == nil {
			t.Fatal("admitted without a policy in required mode")
		}
		for i := range 5 {
			role := fmt.Sprintf("arn:aws:iam::222222222222:role/only-%d", i)
			setPolicy(t, ns, role)
			pod := newPod(ns, map[string]string{annotations.RoleARN: role})
			if err := k8s.Create(ctx, pod); err != nil {
				t.Fatalf("pod %d, created right after the policy allowed its role: %v", i, err)
			}
			if img := stored(t, pod).Spec.InitContainers[0].Image; img != "rolechain-sidecar:required" {
				t.Fatalf("pod %d: sidecar %s, want the required-mode instance's", i, img)
			}
		}
		// How often the webhook's cache had not seen the change yet, so
		// that only the re-read before a denial admitted the pod.
		t.Logf("namespace reads of the required-mode instance: cache %v, api %v",
			testutil.ToFloat64(requiredM.NamespaceLookups.WithLabelValues("cache")), testutil.ToFloat64(requiredM.NamespaceLookups.WithLabelValues("api")))
	})
}
