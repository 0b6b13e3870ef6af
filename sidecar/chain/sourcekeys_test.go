package chain_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rolechain/rolechain/internal/ststest"
	"github.com/rolechain/rolechain/sidecar/chain"
)

// Keys a chain starts from (a mounted Secret with --source static, the SDK
// default chain's) pass the same rules as STS's answers before they sign
// anything: a key with a line break or shell text is refused with reason
// invalid_credentials, no STS call is made, and the error holds no value.
func TestStaticAndDefaultChainKeysPassTheCredentialRules(t *testing.T) {
	const akid, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	for name, k := range map[string][3]string{
		"key with LF and section": {akid + "\n[evil]", secret, ""},
		"key with shell":          {akid + ";pwned", secret, ""},
		"short key":               {"AKIAPWNED", secret, ""},
		"secret with quote":       {akid, secret + "'pwned", ""},
		"secret with NUL":         {akid, secret + "\x00pwned", ""},
		"token with section":      {akid, secret, "FwoGpwned\n[evil]\ncredential_process = sh -c 'touch /tmp/pwned'"},
		"token non-ASCII":         {akid, secret, "FwoGépwned"},
		"over-long token":         {akid, secret, strings.Repeat("pwned", 4000)},
	} {
		sources := map[string]chain.Source{
			"static": chain.Static{Dir: writeStaticKeys(t, k[0], k[1], k[2])},
			"default-chain": chain.AWSProvider{Provider: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: k[0], SecretAccessKey: k[1], SessionToken: k[2], Source: "test"}, nil
			})},
		}
		for sname, src := range sources {
			t.Run(sname+"/"+name, func(t *testing.T) {
				srv := ststest.New(t)
				c := &chain.Chain{Source: src, Roles: []string{targetRole}, SessionName: "ci", Region: "us-east-1", Endpoint: srv.URL}
				_, err := c.Retrieve(context.Background())
				if got := chain.Classify(err); got != chain.ReasonInvalidCredentials {
					t.Fatalf("Classify(%v) = %q, want %q", err, got, chain.ReasonInvalidCredentials)
				}
				if n := len(srv.Calls()); n != 0 {
					t.Errorf("%d STS calls signed with refused keys", n)
				}
				for _, v := range []string{"pwned", "EXAMPLE", "wJalr", "FwoG"} {
					if strings.Contains(err.Error(), v) {
						t.Errorf("error %q holds a value (%q)", err, v)
					}
				}
			})
		}
	}
}

func writeStaticKeys(t *testing.T, akid, secret, token string) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, chain.StaticAccessKeyIDFile), []byte(akid), 0o600)
	os.WriteFile(filepath.Join(dir, chain.StaticSecretAccessKeyFile), []byte(secret), 0o600)
	if token != "" {
		os.WriteFile(filepath.Join(dir, chain.StaticSessionTokenFile), []byte(token), 0o600)
	}
	return dir
}
