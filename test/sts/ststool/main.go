// Command ststool is the harness's helper for a local STS peer that trusts a
// Kubernetes service-account issuer. It is test tooling, not product code.
//
//	ststool genkey  --key FILE --pub FILE          a service-account key pair, when no cluster provides one
//	ststool issuer  --issuer URL --public-key FILE --dir DIR   publish discovery + JWKS with x5c
//	ststool token   --signing-key FILE --issuer URL [--namespace NS --service-account SA --audience AUD]
//	ststool setup   --endpoint URL --issuer URL --thumbprints SHA1,...   OIDC provider, roles, bucket
//	ststool s3put   --endpoint URL [--bucket B --object-key K]   a bucket and object, with long-term keys
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ststool genkey|issuer|token|setup|s3put [flags]")
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "genkey":
		err = runGenKey(args)
	case "issuer":
		err = runIssuer(args)
	case "token":
		err = runToken(args)
	case "setup":
		err = runSetup(args)
	case "s3put":
		err = runS3Put(args)
	default:
		err = fmt.Errorf("unknown command %q: want genkey, issuer, token, setup or s3put", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ststool:", err)
		os.Exit(1)
	}
}

func runGenKey(args []string) error {
	fs := flag.NewFlagSet("genkey", flag.ExitOnError)
	key := fs.String("key", "", "private key file to write (PKCS#1 PEM)")
	pub := fs.String("pub", "", "public key file to write (PKIX PEM)")
	_ = fs.Parse(args)
	if *key == "" || *pub == "" {
		return errors.New("genkey: --key and --pub are required")
	}
	return genKey(*key, *pub)
}
