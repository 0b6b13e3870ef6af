//go:build integration

// Package integration runs the webhook in-process against a real
// kube-apiserver and etcd (controller-runtime envtest). Pods are created
// through the API and the stored objects are asserted; no node runs them.
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s go test -tags integration ./test/integration/...
//
// KUBEBUILDER_ASSETS must hold kube-apiserver and etcd (make k8s-binaries);
// with kubectl there too, the denial test also checks kubectl's output.
package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/rolechain/rolechain/cmd/webhook/app"
	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/certs"
	"github.com/rolechain/rolechain/webhook/inject"
	"github.com/rolechain/rolechain/webhook/metrics"
	"github.com/rolechain/rolechain/webhook/options"
	"github.com/rolechain/rolechain/webhook/server"
)

const (
	target = "arn:aws:iam::222222222222:role/target"
	irsa   = "arn:aws:iam::111111111111:role/irsa"

	// selectorExcluded is left out by the configuration's namespaceSelector:
	// the API server never calls the webhook for its pods.
	selectorExcluded = "excluded-by-selector"
	// handlerExcluded is only in --excluded-namespaces: the webhook is
	// called and allows the pod unchanged.
	handlerExcluded = "excluded-by-flag"
	// selfManagedNS is served by a second webhook instance running in
	// self-managed certificate mode, through its own configuration.
	selfManagedNS = "self-managed"
)

var (
	env      *envtest.Environment
	k8s      client.Client
	mainM    *metrics.Metrics
	selfM    *metrics.Metrics
	kubectl  string // path, or "" when KUBEBUILDER_ASSETS has none
	kubecfg  string // kubeconfig file for kubectl
	selfOpts *options.Options
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: point it at a directory with kube-apiserver and etcd (make k8s-binaries)")
		return 1
	}
	env = &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer env.Stop() //nolint:errcheck
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	k8s, err = client.New(cfg, client.Options{Scheme: app.Scheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, ns := range []string{"team-a", selectorExcluded, handlerExcluded, selfManagedNS, "rolechain-system"} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}

	// The webhook under test, with envtest's serving certificate (files mode).
	wio := &env.WebhookInstallOptions
	o := options.New()
	o.SidecarImage = "rolechain-sidecar:test"
	o.ExcludedNamespaces = []string{"kube-system", handlerExcluded}
	o.DefaultRegion = "eu-west-1"
	mainM = metrics.New(prometheus.NewRegistry())
	if err := startWebhook(ctx, cfg, o, mainM, wio.LocalServingHost, wio.LocalServingPort, wio.LocalServingCertDir, nil, registerContainerAdder, registerEKSStandIn); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	url := fmt.Sprintf("https://%s/mutate-v1-pod", net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)))
	whc := server.WebhookConfiguration("rolechain-webhook",
		admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: wio.LocalServingCAData},
		[]string{"kube-system", selectorExcluded, selfManagedNS, rbacNamespace})
	// Each namespace has one rolechain webhook: a second instance with
	// another sidecar image would find the first one's sidecar and deny
	// the pod as written by hand, as it must.
	whc.Webhooks[0].NamespaceSelector.MatchExpressions = append(whc.Webhooks[0].NamespaceSelector.MatchExpressions,
		metav1.LabelSelectorRequirement{Key: requiredLabel, Operator: metav1.LabelSelectorOpDoesNotExist},
		// The guard's tests judge the guard alone, on pods as a webhook
		// configured like webhook/inject's golden tests renders them.
		metav1.LabelSelectorRequirement{Key: guardLabel, Operator: metav1.LabelSelectorOpDoesNotExist})
	if err := k8s.Create(ctx, whc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	adderURL := fmt.Sprintf("https://%s%s", net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)), adderPath)
	if err := k8s.Create(ctx, adderConfiguration(adderURL, wio.LocalServingCAData)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	// A second instance in self-managed mode: its configuration has no
	// caBundle until the webhook patches one in, and serves one namespace.
	port, err := freePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	selfURL := fmt.Sprintf("https://127.0.0.1:%d/mutate-v1-pod", port)
	selfCfg := server.WebhookConfiguration("rolechain-self-managed", admissionregistrationv1.WebhookClientConfig{URL: &selfURL}, nil)
	selfCfg.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": selfManagedNS}}
	if err := k8s.Create(ctx, selfCfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	selfOpts = options.New()
	selfOpts.SidecarImage = "rolechain-sidecar:self"
	selfOpts.CertMode = options.CertModeSelfManaged
	selfOpts.WebhookConfigName = "rolechain-self-managed"
	selfOpts.CertDir = filepath.Join(os.TempDir(), fmt.Sprintf("rolechain-self-managed-%d", os.Getpid()))
	defer os.RemoveAll(selfOpts.CertDir)
	selfM = metrics.New(prometheus.NewRegistry())
	if err := startWebhook(ctx, cfg, selfOpts, selfM, "127.0.0.1", port, selfOpts.CertDir, []string{"127.0.0.1"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	if path := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"); isExecutable(path) {
		user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
		if err == nil {
			var b []byte
			if b, err = user.KubeConfig(); err == nil {
				kubecfg = filepath.Join(os.TempDir(), fmt.Sprintf("rolechain-kubeconfig-%d", os.Getpid()))
				err = os.WriteFile(kubecfg, b, 0o600)
				defer os.Remove(kubecfg)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "kubeconfig for kubectl:", err)
			return 1
		}
		kubectl = path
	}
	return m.Run()
}

// startWebhook runs one webhook instance through the same Setup as the
// binary, and returns once it serves TLS.
func startWebhook(ctx context.Context, cfg *rest.Config, o *options.Options, m *metrics.Metrics, host string, port int, certDir string, extraHosts []string, extra ...func(manager.Manager)) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 app.Scheme(),
		Cache:                  app.CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          webhook.NewServer(webhook.Options{Host: host, Port: port, CertDir: certDir}),
	})
	if err != nil {
		return err
	}
	if err := app.Setup(ctx, mgr, o, m, extraHosts); err != nil {
		return err
	}
	for _, f := range extra {
		f(mgr)
	}
	errc := make(chan error, 1)
	go func() { errc <- mgr.Start(ctx) }()
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness only
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case err := <-errc:
			return fmt.Errorf("webhook manager stopped: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook at %s not serving: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode()&0o111 != 0
}

// calls is how many admission requests a webhook instance has handled.
func calls(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	m.Admissions.Collect(ch)
	close(ch)
	total := 0.0
	for metric := range ch {
		var d dto.Metric
		if err := metric.Write(&d); err != nil {
			t.Fatal(err)
		}
		total += d.GetCounter().GetValue()
	}
	return total
}

var podSeq int

func newPod(ns string, ann map[string]string) *corev1.Pod {
	podSeq++
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", podSeq), Namespace: ns, Annotations: ann},
		Spec: corev1.PodSpec{
			ServiceAccountName: "default",
			Containers:         []corev1.Container{{Name: "app", Image: "app:1"}},
		},
	}
}

func stored(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	got := &corev1.Pod{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
		t.Fatal(err)
	}
	return got
}

func sidecarProfiles(t *testing.T, pod *corev1.Pod) []contract.Profile {
	t.Helper()
	if len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != inject.SidecarName {
		t.Fatalf("sidecar is not the first init container: %+v", pod.Spec.InitContainers)
	}
	for _, e := range pod.Spec.InitContainers[0].Env {
		if e.Name == contract.EnvProfiles {
			ps, err := contract.Decode(e.Value)
			if err != nil {
				t.Fatal(err)
			}
			return ps
		}
	}
	t.Fatal("sidecar has no " + contract.EnvProfiles)
	return nil
}

func envValue(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func TestAnnotatedPodIsStoredWithTheNativeSidecar(t *testing.T) {
	pod := newPod("team-a", map[string]string{annotations.RoleARN: target})
	pod.Name, pod.GenerateName = "", "gen-"
	if err := k8s.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	got := stored(t, pod)
	sc := got.Spec.InitContainers[0]
	if sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("sidecar restartPolicy = %v, want Always (native sidecar)", sc.RestartPolicy)
	}
	if sc.StartupProbe == nil || sc.StartupProbe.Exec == nil || !slices.Equal(sc.StartupProbe.Exec.Command, []string{"/rolechain-sidecar", "probe"}) {
		t.Errorf("startup probe = %+v", sc.StartupProbe)
	}
	if ps := sidecarProfiles(t, got); len(ps) != 1 || ps[0].Target() != target || ps[0].Region != "eu-west-1" {
		t.Errorf("profiles = %+v", ps)
	}
	app := got.Spec.Containers[0]
	if v, _ := envValue(app, "AWS_SHARED_CREDENTIALS_FILE"); v != "/var/run/rolechain/credentials" {
		t.Errorf("app AWS_SHARED_CREDENTIALS_FILE = %q", v)
	}
	if v, _ := envValue(app, "AWS_REGION"); v != "eu-west-1" {
		t.Errorf("app AWS_REGION = %q (from --default-region)", v)
	}
	if !slices.ContainsFunc(app.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == inject.CredentialsVolume && m.ReadOnly && m.MountPath == contract.OutputDir
	}) {
		t.Errorf("app mounts = %+v", app.VolumeMounts)
	}
	if slices.ContainsFunc(app.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == inject.TokenVolume }) {
		t.Error("the projected token is mounted into the app")
	}
	var status inject.Status
	if err := json.Unmarshal([]byte(got.Annotations[annotations.Status]), &status); err != nil || status.Mode != inject.ModeNative {
		t.Errorf("status annotation %q: %v", got.Annotations[annotations.Status], err)
	}
}

func TestServiceAccountCreatedJustBeforeThePodIsUsed(t *testing.T) {
	ctx := context.Background()
	for i := range 5 {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("fresh-%d", i), Namespace: "team-a",
			Annotations: map[string]string{annotations.IRSARoleARN: irsa},
		}}
		if err := k8s.Create(ctx, sa); err != nil {
			t.Fatal(err)
		}
		pod := newPod("team-a", map[string]string{annotations.RoleARN: target})
		pod.Spec.ServiceAccountName = sa.Name
		if err := k8s.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if got := sidecarProfiles(t, stored(t, pod))[0].Chain(); !slices.Equal(got, []string{irsa, target}) {
			t.Fatalf("pod %d: chain = %v, want the new ServiceAccount's IRSA role first", i, got)
		}
	}
}

func TestInvalidPodIsDeniedWithTheMessageKubectlShows(t *testing.T) {
	pod := newPod("team-a", map[string]string{
		annotations.RoleARN: target, annotations.WebIdentityRoleARN: irsa, annotations.SessionDuration: "2h",
	})
	err := k8s.Create(context.Background(), pod)
	want := `admission webhook "pod.rolechain.dev" denied the request: metadata.annotations[rolechain.dev/session-duration]: Invalid value: "2h": must be at most 3600 seconds (1h) because profile "default" chains 2 roles: STS caps sessions reached by role chaining at 1 hour`
	if err == nil || err.Error() != want {
		t.Fatalf("create error:\n got: %v\nwant: %s", err, want)
	}

	if kubectl == "" {
		t.Log("no kubectl in KUBEBUILDER_ASSETS: kubectl's rendering not checked")
		return
	}
	manifest := `apiVersion: v1
kind: Pod
metadata:
  name: kubectl-denied
  namespace: team-a
  annotations:
    rolechain.dev/role-arn: "arn:aws:iam::222222222222:user/not-a-role"
    rolechain.dev/external-id: "x"
spec:
  containers:
  - name: app
    image: app:1
`
	cmd := exec.Command(kubectl, "--kubeconfig", kubecfg, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("kubectl apply succeeded:\n%s", out)
	}
	wantOut := `Error from server (Forbidden): error when creating "STDIN": admission webhook "pod.rolechain.dev" denied the request: [metadata.annotations[rolechain.dev/role-arn]: Invalid value: "arn:aws:iam::222222222222:user/not-a-role": must be an IAM role ARN: arn:<aws|aws-cn|aws-us-gov>:iam::<12-digit account>:role/[<path>/]<name>, name of 1-64 characters of [A-Za-z0-9_+=,.@-], path of the characters ! to DEL (U+0021-U+007F), metadata.annotations[rolechain.dev/external-id]: Invalid value: "x": must be 2-1224 characters of [A-Za-z0-9_+=,.@:/-]]`
	if strings.TrimSpace(string(out)) != wantOut {
		t.Fatalf("kubectl output:\n got: %s\nwant: %s", out, wantOut)
	}
}

func TestPodsWithoutTheAnnotationAreUntouchedAndNeverSentToTheWebhook(t *testing.T) {
	before := calls(t, mainM)
	pod := newPod("team-a", map[string]string{"example.com/other": "x"})
	if err := k8s.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, pod); len(got.Spec.InitContainers) != 0 || got.Annotations[annotations.Status] != "" {
		t.Fatalf("a pod without the annotation was mutated: %+v", got.Spec)
	}
	if after := calls(t, mainM); after != before {
		t.Fatalf("the webhook was called %v times for a pod without the annotation (matchConditions)", after-before)
	}
	// The counter does move for a pod that opted in: the check above can fail.
	if err := k8s.Create(context.Background(), newPod("team-a", map[string]string{annotations.RoleARN: target})); err != nil {
		t.Fatal(err)
	}
	if after := calls(t, mainM); after != before+1 {
		t.Fatalf("calls went from %v to %v for one annotated pod", before, after)
	}
}

func TestExcludedNamespaces(t *testing.T) {
	t.Run("by the namespaceSelector: never called", func(t *testing.T) {
		before := calls(t, mainM)
		pod := newPod(selectorExcluded, map[string]string{annotations.RoleARN: target})
		if err := k8s.Create(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, pod); len(got.Spec.InitContainers) != 0 {
			t.Fatal("pod in an excluded namespace was mutated")
		}
		if calls(t, mainM) != before {
			t.Fatal("the webhook was called for an excluded namespace")
		}
	})
	t.Run("by --excluded-namespaces: allowed unchanged", func(t *testing.T) {
		before := calls(t, mainM)
		pod := newPod(handlerExcluded, map[string]string{annotations.RoleARN: "not even an ARN"})
		if err := k8s.Create(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, pod); len(got.Spec.InitContainers) != 0 {
			t.Fatal("pod in an excluded namespace was mutated")
		}
		if calls(t, mainM) != before+1 {
			t.Fatal("expected exactly one call, answered with an allow")
		}
	})
}

func TestSelfManagedCertificateIsStoredPublishedAndTrusted(t *testing.T) {
	ctx := context.Background()
	secret := &corev1.Secret{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: selfOpts.ServiceNamespace, Name: selfOpts.CertSecretName}, secret); err != nil {
		t.Fatalf("self-managed Secret: %v", err)
	}
	whc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := k8s.Get(ctx, types.NamespacedName{Name: selfOpts.WebhookConfigName}, whc); err != nil {
		t.Fatal(err)
	}
	if got := whc.Webhooks[0].ClientConfig.CABundle; len(got) == 0 || string(got) != string(secret.Data[certs.CAKey]) {
		t.Fatal("caBundle is not the Secret's ca.crt")
	}
	// The API server reaches the second instance only if it trusts the
	// certificate through the patched caBundle.
	before := calls(t, selfM)
	pod := newPod(selfManagedNS, map[string]string{annotations.RoleARN: target})
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, pod); got.Spec.InitContainers[0].Image != "rolechain-sidecar:self" {
		t.Fatalf("pod not mutated by the self-managed instance: %+v", got.Spec.InitContainers)
	}
	if calls(t, selfM) != before+1 {
		t.Fatal("self-managed instance not called exactly once")
	}
}

// A second, unrelated mutating webhook that appends a container to pods
// carrying addContainerAnnotation. Its configuration sorts after
// "rolechain-webhook", so the API server calls it after rolechain and then,
// because rolechain's reinvocationPolicy is IfNeeded, calls rolechain again.
const (
	adderPath              = "/add-container"
	addContainerAnnotation = "test.rolechain.dev/add-container"
)

func registerContainerAdder(mgr manager.Manager) {
	decoder := admission.NewDecoder(mgr.GetScheme())
	mgr.GetWebhookServer().Register(adderPath, &webhook.Admission{Handler: admission.HandlerFunc(
		func(_ context.Context, req admission.Request) admission.Response {
			pod := &corev1.Pod{}
			if err := decoder.Decode(req, pod); err != nil {
				return admission.Errored(400, err)
			}
			name := pod.Annotations[addContainerAnnotation]
			if slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == name }) {
				return admission.Allowed("already added")
			}
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: name, Image: "late:1"})
			raw, err := json.Marshal(pod)
			if err != nil {
				return admission.Errored(500, err)
			}
			return admission.PatchResponseFromRaw(req.Object.Raw, raw)
		})})
}

func adderConfiguration(url string, ca []byte) *admissionregistrationv1.MutatingWebhookConfiguration {
	cfg := server.WebhookConfiguration("zz-add-container", admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca}, nil)
	w := &cfg.Webhooks[0]
	w.Name = "add-container.test.rolechain.dev"
	w.MatchConditions = []admissionregistrationv1.MatchCondition{{
		Name:       "asked",
		Expression: "has(object.metadata.annotations) && '" + addContainerAnnotation + "' in object.metadata.annotations",
	}}
	w.ReinvocationPolicy = ptr.To(admissionregistrationv1.NeverReinvocationPolicy)
	return cfg
}

func TestContainerAddedByALaterWebhookGetsCredentialsOnReinvocation(t *testing.T) {
	before := calls(t, mainM)
	pod := newPod("team-a", map[string]string{annotations.RoleARN: target, addContainerAnnotation: "late"})
	if err := k8s.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	got := stored(t, pod)
	if n := calls(t, mainM) - before; n != 2 {
		t.Fatalf("rolechain called %v times, want 2 (first pass and reinvocation)", n)
	}
	i := slices.IndexFunc(got.Spec.Containers, func(c corev1.Container) bool { return c.Name == "late" })
	if i < 0 {
		t.Fatal("the other webhook did not add its container")
	}
	late := got.Spec.Containers[i]
	if v, _ := envValue(late, "AWS_SHARED_CREDENTIALS_FILE"); v != "/var/run/rolechain/credentials" {
		t.Errorf("late container env = %+v", late.Env)
	}
	if !slices.ContainsFunc(late.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == inject.CredentialsVolume }) {
		t.Errorf("late container mounts = %+v", late.VolumeMounts)
	}
	sidecars := 0
	for _, c := range got.Spec.InitContainers {
		if c.Name == inject.SidecarName {
			sidecars++
		}
	}
	if sidecars != 1 {
		t.Fatalf("%d sidecars after reinvocation", sidecars)
	}
	var status inject.Status
	if err := json.Unmarshal([]byte(got.Annotations[annotations.Status]), &status); err != nil || !slices.Equal(status.Containers, []string{"app", "late"}) {
		t.Fatalf("status = %q (%v)", got.Annotations[annotations.Status], err)
	}
}

// TestAPodCopiedWithItsSidecarIsServedAndOneWrittenByHandIsDenied: a pod
// recreated from what the API server stored (kubectl get -o yaml, kubectl
// debug --copy-to) carries rolechain's sidecar with every default the API
// server filled in, and is served; the same pod with the sidecar's image or
// profiles changed by its author is denied, naming the field.
func TestAPodCopiedWithItsSidecarIsServedAndOneWrittenByHandIsDenied(t *testing.T) {
	ctx := context.Background()
	original := newPod("team-a", map[string]string{annotations.RoleARN: target})
	if err := k8s.Create(ctx, original); err != nil {
		t.Fatal(err)
	}
	copyOf := func() *corev1.Pod {
		p := stored(t, original)
		podSeq++
		p.ObjectMeta = metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", podSeq), Namespace: p.Namespace, Annotations: p.Annotations}
		p.Spec.NodeName = ""
		return p
	}
	if err := k8s.Create(ctx, copyOf()); err != nil {
		t.Fatalf("a copy of a stored pod: %v", err)
	}

	forged := copyOf()
	forged.Spec.InitContainers[0].Image = "attacker/sidecar:1"
	err := k8s.Create(ctx, forged)
	want := `admission webhook "pod.rolechain.dev" denied the request: spec.initContainers[0].image: Forbidden: container "rolechain-sidecar" is rolechain's and its image differs from what the pod's annotations render; remove the container and let the webhook add it`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("hand-written image: %v\nwant: %s", err, want)
	}
}
