package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// k8sClaims are the private claims kube-apiserver adds to a projected
// service-account token (pkg/serviceaccount/claims.go).
type k8sClaims struct {
	// Audience is always a JSON array in Kubernetes tokens; go-jose's
	// jwt.Audience would write a single audience as a bare string.
	Audience   []string     `json:"aud"`
	Kubernetes kubernetesIO `json:"kubernetes.io"`
}

type kubernetesIO struct {
	Namespace      string `json:"namespace"`
	ServiceAccount ref    `json:"serviceaccount"`
}

type ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// runToken signs a token exactly as kube-apiserver signs a projected
// service-account token: RS256, kid header, iss, sub
// system:serviceaccount:<ns>:<sa>, aud, exp, iat, nbf, jti and the
// kubernetes.io claim. The token goes to --out (mode 0600) or stdout.
func runToken(args []string) error {
	fs := flag.NewFlagSet("token", flag.ExitOnError)
	keyPath := fs.String("signing-key", "", "PEM of the service-account private key")
	issuer := fs.String("issuer", "", "iss claim")
	ns := fs.String("namespace", "rolechain-e2e", "namespace of the service account")
	sa := fs.String("service-account", "app", "service account name")
	aud := fs.String("audience", "sts.amazonaws.com", "comma-separated aud claim")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	expired := fs.Bool("expired", false, "issue a token that expired an hour ago")
	out := fs.String("out", "", "file to write the token to (default stdout)")
	_ = fs.Parse(args)
	if *keyPath == "" || *issuer == "" {
		return errors.New("token: --signing-key and --issuer are required")
	}
	priv, err := loadPrivateKey(*keyPath)
	if err != nil {
		return err
	}
	now := time.Now()
	if *expired {
		now = now.Add(-*ttl - time.Hour)
	}
	tok, err := signToken(priv, tokenSpec{
		issuer: *issuer, namespace: *ns, serviceAccount: *sa,
		audiences: strings.Split(*aud, ","), issuedAt: now, ttl: *ttl,
	})
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = fmt.Println(tok)
		return err
	}
	return os.WriteFile(*out, []byte(tok), 0o600)
}

// tokenSpec is what varies between the tokens the harness signs.
type tokenSpec struct {
	issuer, namespace, serviceAccount string
	audiences                         []string
	issuedAt                          time.Time
	ttl                               time.Duration
}

// signToken signs spec as kube-apiserver would with priv.
func signToken(priv *rsa.PrivateKey, spec tokenSpec) (string, error) {
	kid, err := keyID(&priv.PublicKey)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", err
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	std := jwt.Claims{
		Issuer:    spec.issuer,
		Subject:   fmt.Sprintf("system:serviceaccount:%s:%s", spec.namespace, spec.serviceAccount),
		Expiry:    jwt.NewNumericDate(spec.issuedAt.Add(spec.ttl)),
		IssuedAt:  jwt.NewNumericDate(spec.issuedAt),
		NotBefore: jwt.NewNumericDate(spec.issuedAt),
		ID:        hex.EncodeToString(jti),
	}
	private := k8sClaims{Audience: spec.audiences, Kubernetes: kubernetesIO{
		Namespace:      spec.namespace,
		ServiceAccount: ref{Name: spec.serviceAccount, UID: hex.EncodeToString(jti[:8])},
	}}
	return jwt.Signed(signer).Claims(std).Claims(private).Serialize()
}
