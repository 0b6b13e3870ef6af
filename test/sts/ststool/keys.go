package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// readPEM returns the first PEM block of path.
func readPEM(path string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return block, nil
}

// loadPrivateKey reads an RSA private key in PKCS#1 ("RSA PRIVATE KEY") or
// PKCS#8 ("PRIVATE KEY") PEM, the two forms kube-apiserver accepts for
// --service-account-signing-key-file.
func loadPrivateKey(path string) (*rsa.PrivateKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: key is %T, want RSA", path, k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("%s: PEM type %q is not an RSA private key", path, block.Type)
}

// loadPublicKey reads an RSA public key from a PKIX "PUBLIC KEY", a PKCS#1
// "RSA PUBLIC KEY", a certificate, or a private key PEM.
func loadPublicKey(path string) (*rsa.PublicKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	var k any
	switch block.Type {
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(block.Bytes); err == nil {
			k = c.PublicKey
		}
	default:
		var priv *rsa.PrivateKey
		if priv, err = loadPrivateKey(path); err == nil {
			k = &priv.PublicKey
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: key is %T, want RSA", path, k)
	}
	return rk, nil
}

// keyID is the kid Kubernetes puts in service-account tokens and its JWKS:
// base64url (no padding) of SHA-256 over the DER PKIX public key
// (k8s.io/kubernetes/pkg/serviceaccount keyIDFromPublicKey).
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// thumbprint is what RGW and IAM call an OIDC provider thumbprint: the hex
// SHA-1 of a DER certificate.
func thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return hex.EncodeToString(sum[:])
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
}

// genKey writes a fresh RSA key pair the way a cluster keeps its
// service-account signing key: PKCS#1 private key, PKIX public key.
func genKey(keyPath, pubPath string) error {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	if err := writePEM(keyPath, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k), 0o600); err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return err
	}
	return writePEM(pubPath, "PUBLIC KEY", der, 0o644)
}

// x5cCert returns a DER certificate whose subject key is pub. RGW reads the
// verification key of a token only from the x5c certificate of the JWKS, and
// compares the certificate's SHA-1 with the thumbprints registered for the
// provider. The certificate is self-signed when the private key is at hand,
// else signed by a throwaway key: nobody checks its signature, only its key.
func x5cCert(pub *rsa.PublicKey, priv *rsa.PrivateKey) ([]byte, error) {
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "rolechain service-account issuer"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	signer := priv
	if signer == nil {
		if signer, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, err
		}
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
}

// servingCert creates a self-signed TLS certificate for host (an IP or a DNS
// name) and writes it to certPath/keyPath, so that clients can pin it.
func servingCert(host, certPath, keyPath string) (tls.Certificate, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return tls.Certificate{}, err
	}
	sn, err := serial()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: host},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := errors.Join(
		writePEM(certPath, "CERTIFICATE", der, 0o644),
		writePEM(keyPath, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k), 0o600),
	); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}
