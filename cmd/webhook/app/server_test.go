package app

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
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// testCA issues certificates for the tests: the server's (for 127.0.0.1)
// and clients'.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for a server (127.0.0.1) or a
// client.
func (ca *testCA) issue(t *testing.T, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer starts a webhook server built by newWebhookServer, serving
// an echo handler at /mutate, and returns its address and the server CA.
func startServer(t *testing.T, limits ServerLimits, clientCA []byte) (string, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t, "serving-ca")
	crt, key := ca.issue(t, true)
	for name, data := range map[string][]byte{"tls.crt": crt, "tls.key": key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts := webhook.Options{Host: "127.0.0.1", Port: freePort(t), CertDir: dir}
	if clientCA != nil {
		if err := os.WriteFile(filepath.Join(dir, "client-ca.crt"), clientCA, 0o600); err != nil {
			t.Fatal(err)
		}
		opts.ClientCAName = "client-ca.crt"
	}
	srv := newWebhookServer(opts, limits)
	srv.Register("/mutate", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port))
	check := srv.StartedChecker()
	for i := 0; ; i++ {
		if err := check(nil); err == nil {
			break
		} else if i == 200 {
			t.Fatalf("server not started: %v", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return addr, pool
}

func post(t *testing.T, addr string, tc *tls.Config) (string, error) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	defer c.CloseIdleConnections()
	resp, err := c.Post("https://"+addr+"/mutate", "application/json", bytes.NewReader([]byte("{}")))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestStalledRequestIsCutByTheReadDeadline: a client that announces a
// body and stops sending must lose its connection when the read deadline
// passes, not hold it (and what it allocated) for ever.
func TestStalledRequestIsCutByTheReadDeadline(t *testing.T) {
	limits := DefaultServerLimits()
	limits.ReadTimeout = 300 * time.Millisecond
	addr, pool := startServer(t, limits, nil)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7000000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	// Far longer than the deadline: only a server without one reaches it.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a stalled request open past its read deadline")
	}
}

// TestConnectionsBeyondTheCapWaitForAFreeSlot: with the cap reached, a new
// connection is not served until one of the held ones closes.
func TestConnectionsBeyondTheCapWaitForAFreeSlot(t *testing.T) {
	limits := DefaultServerLimits()
	limits.MaxConnections = 1
	addr, pool := startServer(t, limits, nil)
	held, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { _, err := post(t, addr, &tls.Config{RootCAs: pool}); served <- err }()
	select {
	case err := <-served:
		t.Fatalf("a second connection was served (%v) while the cap of 1 was held", err)
	case <-time.After(500 * time.Millisecond):
	}
	held.Close()
	if err := <-served; err != nil {
		t.Fatalf("not served once the slot was free: %v", err)
	}
}

// TestClientCertificateIsRequiredWhenAClientCAIsSet: with a client CA
// (the API server's client certificate, --client-ca-name), a client
// without a certificate, or with one from another CA, is refused at the
// TLS handshake; one with a certificate from that CA is served.
func TestClientCertificateIsRequiredWhenAClientCAIsSet(t *testing.T) {
	clientCA := newTestCA(t, "apiserver-client-ca")
	addr, pool := startServer(t, DefaultServerLimits(), clientCA.pem)
	if _, err := post(t, addr, &tls.Config{RootCAs: pool}); err == nil {
		t.Error("a client without a certificate was served")
	}
	other := newTestCA(t, "some-other-ca")
	crt, key := other.issue(t, false)
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := post(t, addr, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}); err == nil {
		t.Error("a client with a certificate from another CA was served")
	}
	crt, key = clientCA.issue(t, false)
	if pair, err = tls.X509KeyPair(crt, key); err != nil {
		t.Fatal(err)
	}
	if got, err := post(t, addr, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}); err != nil || got != "{}" {
		t.Errorf("the API server's certificate was not served: %q, %v", got, err)
	}
}
