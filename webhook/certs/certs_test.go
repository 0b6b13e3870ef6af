package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newClient(t *testing.T) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "rolechain-webhook"},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "a.rolechain.dev"}, {Name: "b.rolechain.dev"}},
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(cfg).Build()
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func newManager(t *testing.T, c client.Client, clk *clock, logs *bytes.Buffer) *Manager {
	m := &Manager{
		Client: c, Namespace: "rolechain-system", SecretName: "rolechain-webhook-tls",
		WebhookConfigName: "rolechain-webhook", Hosts: ServiceHosts("rolechain-webhook", "rolechain-system"),
		CertDir: t.TempDir(), Validity: 30 * 24 * time.Hour, RenewBefore: 10 * 24 * time.Hour, Now: clk.Now,
	}
	if logs != nil {
		var mu sync.Mutex
		m.Log = funcr.New(func(prefix, args string) { mu.Lock(); logs.WriteString(prefix + args + "\n"); mu.Unlock() }, funcr.Options{})
	}
	return m
}

func secret(t *testing.T, c client.Client) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "rolechain-system", Name: "rolechain-webhook-tls"}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func caBundles(t *testing.T, c client.Client) [][]byte {
	t.Helper()
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(context.Background(), types.NamespacedName{Name: "rolechain-webhook"}, cfg); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, w := range cfg.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out
}

// verifyServed checks that the files in dir form a pair that a client
// trusting bundle accepts for the Service's DNS name at time now.
func verifyServed(t *testing.T, dir string, bundle []byte, now time.Time) {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertKey), filepath.Join(dir, KeyKey))
	if err != nil {
		t.Fatalf("files do not form a key pair: %v", err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		t.Fatal("caBundle holds no certificate")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "rolechain-webhook.rolechain-system.svc", CurrentTime: now}); err != nil {
		t.Fatalf("served certificate not trusted through caBundle: %v", err)
	}
}

func TestEnsureCreatesTheSecretWritesTheFilesAndPatchesEveryCABundle(t *testing.T) {
	c := newClient(t)
	clk := &clock{now: start}
	var logs bytes.Buffer
	m := newManager(t, c, clk, &logs)
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := secret(t, c)
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("type = %s", s.Type)
	}
	for i, b := range caBundles(t, c) {
		if !bytes.Equal(b, s.Data[CAKey]) {
			t.Errorf("webhook %d caBundle differs from the Secret's ca.crt", i)
		}
	}
	verifyServed(t, m.CertDir, s.Data[CAKey], clk.Now())
	if info, err := os.Stat(filepath.Join(m.CertDir, KeyKey)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("tls.key mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
	if strings.Contains(logs.String(), "PRIVATE KEY") || strings.Contains(logs.String(), string(s.Data[KeyKey][30:60])) {
		t.Fatalf("private key material in logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "created the webhook certificate") {
		t.Fatalf("captured no creation log: the leak check proves nothing:\n%s", logs.String())
	}
}

func TestEnsureLeavesAValidSecretAlone(t *testing.T) {
	c := newClient(t)
	clk := &clock{now: start}
	m := newManager(t, c, clk, nil)
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := secret(t, c)
	clk.Set(start.Add(19 * 24 * time.Hour)) // 11 days left, renew at 10
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := secret(t, c); after.ResourceVersion != before.ResourceVersion {
		t.Fatal("a valid Secret was rewritten")
	}
}

func TestRotationBeforeExpiryKeepsThePreviousCATrusted(t *testing.T) {
	c := newClient(t)
	clk := &clock{now: start}
	m := newManager(t, c, clk, nil)
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := secret(t, c)
	oldDir := t.TempDir()
	for _, k := range []string{CertKey, KeyKey} {
		if err := os.WriteFile(filepath.Join(oldDir, k), old.Data[k], 0o600); err != nil {
			t.Fatal(err)
		}
	}

	clk.Set(start.Add(21 * 24 * time.Hour)) // 9 days left
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	rotated := secret(t, c)
	if bytes.Equal(rotated.Data[CertKey], old.Data[CertKey]) {
		t.Fatal("not rotated 9 days before expiry")
	}
	bundle := caBundles(t, c)[0]
	if !bytes.Equal(bundle, rotated.Data[CAKey]) {
		t.Fatal("caBundle not updated")
	}
	verifyServed(t, m.CertDir, bundle, clk.Now())
	// A replica that has not synced yet still serves the old pair.
	verifyServed(t, oldDir, bundle, clk.Now())

	// The next rotation drops the CA before the previous one.
	clk.Set(start.Add(42 * 24 * time.Hour))
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(certificates(secret(t, c).Data[CAKey])); n != 2 {
		t.Fatalf("bundle holds %d CAs, want the current and the previous", n)
	}
}

func TestSecretForOtherHostsIsReissued(t *testing.T) {
	c := newClient(t)
	clk := &clock{now: start}
	m := newManager(t, c, clk, nil)
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := secret(t, c)
	m.Hosts = ServiceHosts("renamed", "rolechain-system")
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(secret(t, c).Data[CertKey], before.Data[CertKey]) {
		t.Fatal("certificate not reissued for the new Service name")
	}
}

// TestReplicasConvergeOnOneCertificate runs two replicas at once, first on
// an empty namespace (both try to create) and then past the renewal point
// (both try to rotate): each time both must end up serving the Secret's
// pair, because files are only ever written from a Secret that was stored
// or read, never from a pair that lost the race.
func TestReplicasConvergeOnOneCertificate(t *testing.T) {
	c := newClient(t)
	clk := &clock{now: start}
	a, b := newManager(t, c, clk, nil), newManager(t, c, clk, nil)
	for _, at := range []time.Time{start, start.Add(25 * 24 * time.Hour)} {
		clk.Set(at)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, m := range []*Manager{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = m.Ensure(context.Background()) }()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("Ensure: %v / %v", errs[0], errs[1])
		}
		s := secret(t, c)
		for _, m := range []*Manager{a, b} {
			got, _ := os.ReadFile(filepath.Join(m.CertDir, CertKey))
			if !bytes.Equal(got, s.Data[CertKey]) {
				t.Fatalf("at %v a replica serves a certificate other than the Secret's", at)
			}
			verifyServed(t, m.CertDir, caBundles(t, c)[0], at)
		}
	}
}

func TestCABundleResetByAnUpgradeIsRestored(t *testing.T) {
	c := newClient(t)
	m := newManager(t, c, &clock{now: start}, nil)
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(context.Background(), types.NamespacedName{Name: "rolechain-webhook"}, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Webhooks[1].ClientConfig.CABundle = nil
	if err := c.Update(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := caBundles(t, c)[1]; !bytes.Equal(got, secret(t, c).Data[CAKey]) {
		t.Fatal("caBundle not restored")
	}
}
