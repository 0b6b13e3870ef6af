package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func newKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func get(t *testing.T, h http.Handler, path string, into any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// The published JWKS must let a verifier that, like RGW, trusts only the
// x5c certificate check a token signed as Kubernetes signs it.
func TestTokenVerifiesWithTheX5CCertificateOfThePublishedJWKS(t *testing.T) {
	priv := newKey(t)
	der, err := x5cCert(&priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://127.0.0.1:18443"
	h, _, err := issuerHandler(issuer, &priv.PublicKey, cert)
	if err != nil {
		t.Fatal(err)
	}

	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	get(t, h, "/.well-known/openid-configuration", &disc)
	if disc.Issuer != issuer || disc.JWKSURI != issuer+"/openid/v1/jwks" {
		t.Fatalf("discovery = %+v, want issuer %s and its /openid/v1/jwks", disc, issuer)
	}
	var set jose.JSONWebKeySet
	get(t, h, strings.TrimPrefix(disc.JWKSURI, issuer), &set)
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want exactly 1 (RGW reads only the first)", len(set.Keys))
	}
	k := set.Keys[0]
	if len(k.Certificates) != 1 {
		t.Fatalf("JWKS key has %d x5c certificates, want 1", len(k.Certificates))
	}
	certKey, ok := k.Certificates[0].PublicKey.(*rsa.PublicKey)
	if !ok || !certKey.Equal(&priv.PublicKey) {
		t.Fatal("x5c certificate does not carry the service-account public key")
	}

	now := time.Now()
	tok, err := signToken(priv, tokenSpec{
		issuer: issuer, namespace: "rolechain-e2e", serviceAccount: "app",
		audiences: []string{"sts.amazonaws.com"}, issuedAt: now, ttl: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.Headers[0].KeyID; got != k.KeyID {
		t.Fatalf("token kid %q, JWKS kid %q", got, k.KeyID)
	}
	var claims jwt.Claims
	var raw map[string]any
	if err := parsed.Claims(certKey, &claims, &raw); err != nil {
		t.Fatalf("token does not verify with the x5c key: %v", err)
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      issuer,
		Subject:     "system:serviceaccount:rolechain-e2e:app",
		AnyAudience: jwt.Audience{"sts.amazonaws.com"},
		Time:        now,
	}, 0); err != nil {
		t.Fatal(err)
	}
	if aud, ok := raw["aud"].([]any); !ok || len(aud) != 1 {
		t.Fatalf("aud = %#v, want a JSON array as Kubernetes writes it", raw["aud"])
	}
	k8s, _ := raw["kubernetes.io"].(map[string]any)
	sa, _ := k8s["serviceaccount"].(map[string]any)
	if k8s["namespace"] != "rolechain-e2e" || sa["name"] != "app" {
		t.Fatalf("kubernetes.io claim = %#v", raw["kubernetes.io"])
	}

	other := newKey(t)
	forged, err := signToken(other, tokenSpec{issuer: issuer, namespace: "rolechain-e2e", serviceAccount: "app",
		audiences: []string{"sts.amazonaws.com"}, issuedAt: now, ttl: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := jwt.ParseSigned(forged, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Claims(certKey, &claims); err == nil {
		t.Fatal("a token signed by another key verified with the published key")
	}
}

// The kid must be the one Kubernetes computes: base64url(SHA-256(DER
// PKIX)), so tokens from the real apiserver name the published key.
func TestKeyIDIsBase64URLOfSHA256OfPKIX(t *testing.T) {
	priv := newKey(t)
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	kid, err := keyID(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); kid != want {
		t.Fatalf("kid %q, want %q", kid, want)
	}
	if strings.ContainsAny(kid, "+/=") {
		t.Fatalf("kid %q is not unpadded base64url", kid)
	}
}

func TestIssuerWithAPathServesUnderIt(t *testing.T) {
	priv := newKey(t)
	der, err := x5cCert(&priv.PublicKey, nil) // no private key: throwaway signer
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.PublicKey.(*rsa.PublicKey).Equal(&priv.PublicKey) {
		t.Fatal("certificate signed by a throwaway key must still carry the service-account key")
	}
	h, _, err := issuerHandler("https://issuer.test/clusters/a/", &priv.PublicKey, cert)
	if err != nil {
		t.Fatal(err)
	}
	var disc map[string]any
	get(t, h, "/clusters/a/.well-known/openid-configuration", &disc)
	if disc["jwks_uri"] != "https://issuer.test/clusters/a/openid/v1/jwks" {
		t.Fatalf("jwks_uri = %v", disc["jwks_uri"])
	}
	var set jose.JSONWebKeySet
	get(t, h, "/clusters/a/openid/v1/jwks", &set)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("discovery outside the issuer path: %d, want 404", rec.Code)
	}
}

func TestProviderHostDropsTheScheme(t *testing.T) {
	for in, want := range map[string]string{
		"https://127.0.0.1:18443":   "127.0.0.1:18443",
		"https://issuer.test/a/b/":  "issuer.test/a/b",
		"http://localhost:8080/idp": "localhost:8080/idp",
	} {
		if got := providerHost(in); got != want {
			t.Errorf("providerHost(%q) = %q, want %q", in, got, want)
		}
	}
	if got := splitList("a:b, c:d\ne:f"); !slices.Equal(got, []string{"a:b", "c:d", "e:f"}) {
		t.Errorf("splitList = %q", got)
	}
}
