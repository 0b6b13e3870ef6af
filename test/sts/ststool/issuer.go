package main

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// jwksPath is where kube-apiserver serves its JWKS; the discovery document
// points there, as a self-managed cluster's published issuer does.
const jwksPath = "/openid/v1/jwks"

// runIssuer publishes the OIDC discovery document and JWKS of a
// service-account issuer, the way a self-managed cluster publishes its issuer
// for IRSA: the same keys Kubernetes serves, plus an x5c certificate over the
// signing key, which RGW requires and Kubernetes does not publish.
//
// It writes into --dir: x5c.pem and x5c.sha1 (the thumbprint to register),
// and for an https issuer tls.crt, tls.key and tls.sha1 (its serving
// certificate, self-signed, for clients to pin).
func runIssuer(args []string) error {
	fs := flag.NewFlagSet("issuer", flag.ExitOnError)
	issuer := fs.String("issuer", "", "issuer URL, the iss of the tokens (http:// or https://)")
	pubPath := fs.String("public-key", "", "PEM of the service-account public key (PKIX, PKCS#1, certificate or private key)")
	keyPath := fs.String("signing-key", "", "optional PEM of the service-account private key; when set the x5c certificate is self-signed")
	dir := fs.String("dir", "", "directory for the certificates and thumbprints")
	listen := fs.String("listen", "", "listen address (default: host:port of --issuer)")
	_ = fs.Parse(args)
	if *issuer == "" || *pubPath == "" || *dir == "" {
		return errors.New("issuer: --issuer, --public-key and --dir are required")
	}
	u, err := url.Parse(*issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("issuer: --issuer %q must be an http:// or https:// URL", *issuer)
	}
	if *listen == "" {
		*listen = u.Host
		if u.Port() == "" {
			*listen = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
		}
	}

	pub, err := loadPublicKey(*pubPath)
	if err != nil {
		return err
	}
	var priv *rsa.PrivateKey
	if *keyPath != "" {
		if priv, err = loadPrivateKey(*keyPath); err != nil {
			return err
		}
		if !priv.PublicKey.Equal(pub) {
			return errors.New("issuer: --signing-key does not match --public-key")
		}
	}
	certDER, err := x5cCert(pub, priv)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(*dir, "x5c.pem"), "CERTIFICATE", certDER, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "x5c.sha1"), []byte(thumbprint(certDER)+"\n"), 0o644); err != nil {
		return err
	}
	handler, kid, err := issuerHandler(*issuer, pub, cert)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           logRequests(handler),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if u.Scheme == "https" {
		tc, err := servingCert(u.Hostname(), filepath.Join(*dir, "tls.crt"), filepath.Join(*dir, "tls.key"))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*dir, "tls.sha1"), []byte(thumbprint(tc.Certificate[0])+"\n"), 0o644); err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{tc}, MinVersion: tls.VersionTLS12}
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log.Printf("issuer %s: serving discovery and JWKS (kid %s) on %s", *issuer, kid, ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if srv.TLSConfig != nil {
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// issuerHandler serves, under the issuer URL's path, the discovery document
// and a JWKS holding the one key pub, with kid as Kubernetes computes it and
// cert as x5c. One key only: RGW 16 reads the first element of "keys".
func issuerHandler(issuer string, pub *rsa.PublicKey, cert *x509.Certificate) (http.Handler, string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, "", err
	}
	kid, err := keyID(pub)
	if err != nil {
		return nil, "", err
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key:          pub,
		KeyID:        kid,
		Algorithm:    string(jose.RS256),
		Use:          "sig",
		Certificates: []*x509.Certificate{cert},
	}}})
	if err != nil {
		return nil, "", err
	}
	base := strings.TrimSuffix(issuer, "/")
	discovery, err := json.Marshal(map[string]any{
		"issuer":                                base,
		"jwks_uri":                              base + jwksPath,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
	if err != nil {
		return nil, "", err
	}
	serveJSON := func(body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}
	}
	prefix := strings.TrimSuffix(u.Path, "/")
	mux := http.NewServeMux()
	mux.Handle("GET "+prefix+"/.well-known/openid-configuration", serveJSON(discovery))
	mux.Handle("GET "+prefix+jwksPath, serveJSON(jwks))
	return mux, kid, nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// logRequests logs each request: the issuer's log shows when RGW fetched the
// keys, which is the first thing to look at when a token is refused.
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Printf("%s %s %s -> %d", r.RemoteAddr, r.Method, r.URL.Path, rec.status)
	})
}
