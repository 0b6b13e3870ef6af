// Package certs is the webhook's self-managed certificate mode: it keeps a
// CA and a serving certificate in a Secret, writes the serving pair into
// the webhook server's certificate directory (where controller-runtime's
// certwatcher picks it up), and puts the CA into the
// MutatingWebhookConfiguration's caBundle.
//
// Several replicas run it at once. The Secret is the single source of
// truth and every write to it is optimistic (create fails if it exists,
// update carries the resourceVersion read): the replica that loses a race
// re-reads and adopts the winner's certificate instead of writing its own.
// On rotation the new CA is published next to the previous one, so a
// replica still serving the old certificate stays trusted until it syncs.
package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rolechain/rolechain/internal/atomicfile"
)

// Secret keys (the kubernetes.io/tls layout plus ca.crt, as cert-manager writes it).
const (
	CertKey = corev1.TLSCertKey       // tls.crt
	KeyKey  = corev1.TLSPrivateKeyKey // tls.key
	CAKey   = "ca.crt"
)

// Defaults for Manager's zero fields.
const (
	DefaultValidity    = 365 * 24 * time.Hour
	DefaultRenewBefore = 90 * 24 * time.Hour
	// DefaultCheckInterval is short because the caBundle can be reset by
	// someone else (a Helm upgrade re-applying the configuration without
	// it), and until it is patched again every opted-in pod is rejected.
	// A check is two GETs.
	DefaultCheckInterval = time.Minute
)

// Manager keeps the serving certificate of one replica current. Its zero
// durations take the defaults above.
type Manager struct {
	// Client must read and write uncached: Secrets in Namespace and the
	// MutatingWebhookConfiguration WebhookConfigName.
	Client            client.Client
	Namespace         string
	SecretName        string
	WebhookConfigName string
	// Hosts are the serving certificate's DNS names (or IP addresses); the
	// first is its common name. Typically the Service's names.
	Hosts []string
	// CertDir receives tls.crt and tls.key.
	CertDir string
	// Validity of each new CA and serving certificate; RenewBefore is how
	// long before expiry a new pair replaces them; CheckInterval is how
	// often the Secret is re-read (another replica may have rotated).
	Validity, RenewBefore, CheckInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log logr.Logger
}

// ServiceHosts returns the DNS names a Service is reached by in-cluster.
func ServiceHosts(service, namespace string) []string {
	return []string{
		service + "." + namespace + ".svc",
		service,
		service + "." + namespace,
		service + "." + namespace + ".svc.cluster.local",
	}
}

// NeedLeaderElection is false: every replica needs its own files.
func (m *Manager) NeedLeaderElection() bool { return false }

// Start runs Ensure every CheckInterval until ctx ends. Errors are logged
// and retried at the next tick; the last good files stay in place.
func (m *Manager) Start(ctx context.Context) error {
	t := time.NewTicker(m.checkInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := m.Ensure(ctx); err != nil {
				m.Log.Error(err, "keeping the webhook certificate current")
			}
		}
	}
}

// Ensure makes the Secret hold a valid, unexpiring pair for Hosts (creating
// or rotating it if needed, or adopting another replica's), writes it into
// CertDir, and sets the caBundle of every webhook in WebhookConfigName.
func (m *Manager) Ensure(ctx context.Context) error {
	secret, err := m.ensureSecret(ctx)
	if err != nil {
		return err
	}
	if err := m.writeFiles(secret); err != nil {
		return err
	}
	return m.patchCABundle(ctx, secret.Data[CAKey])
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) validity() time.Duration    { return orDefault(m.Validity, DefaultValidity) }
func (m *Manager) renewBefore() time.Duration { return orDefault(m.RenewBefore, DefaultRenewBefore) }
func (m *Manager) checkInterval() time.Duration {
	return orDefault(m.CheckInterval, DefaultCheckInterval)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (m *Manager) ensureSecret(ctx context.Context) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: m.Namespace, Name: m.SecretName}
	// A handful of attempts: each lost race means another replica wrote a
	// fresh pair, which the next read adopts.
	for attempt := 0; attempt < 5; attempt++ {
		secret := &corev1.Secret{}
		err := m.Client.Get(ctx, key, secret)
		switch {
		case apierrors.IsNotFound(err):
			secret, err = m.newSecret(nil)
			if err != nil {
				return nil, err
			}
			err = m.Client.Create(ctx, secret)
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("creating Secret %s: %w", key, err)
			}
			m.Log.Info("created the webhook certificate", "secret", key.String(), "notAfter", m.now().Add(m.validity()))
			return secret, nil
		case err != nil:
			return nil, fmt.Errorf("reading Secret %s: %w", key, err)
		}
		reason := m.needsRenewal(secret)
		if reason == "" {
			return secret, nil
		}
		fresh, err := m.newSecret(secret)
		if err != nil {
			return nil, err
		}
		secret.Data = fresh.Data
		secret.Type = fresh.Type
		err = m.Client.Update(ctx, secret) // carries the resourceVersion read above
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("updating Secret %s: %w", key, err)
		}
		m.Log.Info("rotated the webhook certificate", "secret", key.String(), "reason", reason)
		return secret, nil
	}
	return nil, fmt.Errorf("Secret %s kept changing under us; will retry", key)
}

// needsRenewal returns why the Secret's pair must be replaced, or "".
func (m *Manager) needsRenewal(s *corev1.Secret) string {
	pair, err := tls.X509KeyPair(s.Data[CertKey], s.Data[KeyKey])
	if err != nil {
		return "unreadable key pair"
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return "unreadable certificate"
	}
	if m.now().Add(m.renewBefore()).After(leaf.NotAfter) {
		return "expires soon"
	}
	for _, h := range m.Hosts {
		if leaf.VerifyHostname(h) != nil {
			return "host " + h + " missing"
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data[CAKey]) {
		return "unreadable CA bundle"
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: m.now()}); err != nil {
		return "not signed by the CA bundle"
	}
	return ""
}

// newSecret generates a CA and a serving certificate. The CA bundle holds
// the new CA and, while it is still valid, the CA of old (the previous
// Secret), so replicas serving the previous certificate stay trusted.
func (m *Manager) newSecret(old *corev1.Secret) (*corev1.Secret, error) {
	now := m.now()
	notBefore, notAfter := now.Add(-5*time.Minute), now.Add(m.validity()) // tolerate clock skew
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "rolechain-webhook-ca"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("creating the CA: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: firstOr(m.Hosts, "rolechain-webhook")},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range m.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("creating the serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}

	bundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if old != nil {
		for _, prev := range certificates(old.Data[CAKey]) {
			if now.Before(prev.NotAfter) && !prev.Equal(ca) {
				// Only the CA directly before: the bundle must not grow forever.
				bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: prev.Raw})...)
				break
			}
		}
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: m.Namespace, Name: m.SecretName,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "rolechain-webhook"},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			CertKey: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			KeyKey:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
			CAKey:   bundle,
		},
	}, nil
}

// writeFiles puts the pair into CertDir, each file replaced atomically
// (internal/atomicfile: temp file, fsync, rename, fsync of the directory) so certwatcher never reads half a file. The key is
// written before the certificate: certwatcher reloads on either and a
// half-rotated pair would fail to load and be retried, never served.
func (m *Manager) writeFiles(s *corev1.Secret) error {
	if err := os.MkdirAll(m.CertDir, 0o700); err != nil {
		return fmt.Errorf("creating --cert-dir: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{KeyKey, s.Data[KeyKey], 0o600}, {CertKey, s.Data[CertKey], 0o644}} {
		path := filepath.Join(m.CertDir, f.name)
		if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, f.data) {
			continue
		}
		if err := atomicfile.Write(path, f.data, f.mode, -1); err != nil {
			return err
		}
	}
	return nil
}

// patchCABundle sets caBundle on every webhook of the configuration that
// does not have it yet. An update conflict (the other replica patched
// first, or someone edited the object) is retried on a fresh read.
func (m *Manager) patchCABundle(ctx context.Context, bundle []byte) error {
	if m.WebhookConfigName == "" {
		return nil
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := m.Client.Get(ctx, types.NamespacedName{Name: m.WebhookConfigName}, cfg); err != nil {
			return err
		}
		changed := false
		for i := range cfg.Webhooks {
			if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, bundle) {
				cfg.Webhooks[i].ClientConfig.CABundle = slices.Clone(bundle)
				changed = true
			}
		}
		if !changed {
			return nil
		}
		return m.Client.Update(ctx, cfg)
	})
	if err != nil {
		return fmt.Errorf("setting caBundle of MutatingWebhookConfiguration %s: %w", m.WebhookConfigName, err)
	}
	return nil
}

func certificates(bundle []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			return out
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(errors.Join(errors.New("crypto/rand failed"), err)) // cannot happen on Linux
	}
	return n
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
