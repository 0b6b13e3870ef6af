package chain

import (
	"strings"
	"testing"
	"time"

	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/rolechain/rolechain/sidecar/credcheck"
)

// A hostile or compromised STS peer must not be able to put INI or shell
// text into the credentials we write: fromSTS refuses any field outside
// what STS (and radosgw, MinIO) issue, and never echoes the value.
func TestFromSTSRefusesHostileFields(t *testing.T) {
	good := func() *ststypes.Credentials {
		ak, sk, tok := "ASIAEXAMPLEEXAMPLE12", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEJr//////////wEaDM+abc="
		exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		return &ststypes.Credentials{AccessKeyId: &ak, SecretAccessKey: &sk, SessionToken: &tok, Expiration: &exp}
	}
	hostile := map[string]func(*ststypes.Credentials){
		"token with INI section": func(c *ststypes.Credentials) {
			s := *c.SessionToken + "\n[default]\nrole_arn=arn:aws:iam::1:role/x\nsource_profile=evil\n[evil]\ncredential_process = sh -c 'touch /tmp/pwned'"
			c.SessionToken = &s
		},
		"key with shell": func(c *ststypes.Credentials) { s := *c.AccessKeyId + "; touch /tmp/pwned"; c.AccessKeyId = &s },
		"secret with CR": func(c *ststypes.Credentials) { s := *c.SecretAccessKey + "\r"; c.SecretAccessKey = &s },
		"token with NUL": func(c *ststypes.Credentials) { s := *c.SessionToken + "\x00"; c.SessionToken = &s },
		"over-long key":  func(c *ststypes.Credentials) { s := strings.Repeat("A", 129); c.AccessKeyId = &s },
		"short key":      func(c *ststypes.Credentials) { s := "AKIA"; c.AccessKeyId = &s },
		"empty secret":   func(c *ststypes.Credentials) { s := ""; c.SecretAccessKey = &s },
		"empty token":    func(c *ststypes.Credentials) { s := ""; c.SessionToken = &s },
		"over-long token": func(c *ststypes.Credentials) {
			s := strings.Repeat("A", credcheck.MaxSessionTokenLen+1)
			c.SessionToken = &s
		},
		"zero expiration": func(c *ststypes.Credentials) { var z time.Time; c.Expiration = &z },
	}
	c := &Chain{}
	if _, err := c.fromSTS(good(), middleware.Metadata{}, time.Now()); err != nil {
		t.Fatalf("well-formed answer refused: %v", err)
	}
	for name, mutate := range hostile {
		t.Run(name, func(t *testing.T) {
			sc := good()
			mutate(sc)
			_, err := c.fromSTS(sc, middleware.Metadata{}, time.Now())
			if err == nil {
				t.Fatal("hostile answer accepted")
			}
			if got := Classify(err); got != ReasonInvalidCredentials {
				t.Errorf("Classify = %q, want %q", got, ReasonInvalidCredentials)
			}
			for _, v := range []string{"touch", "pwned", "\r", "\x00", "AAAAAAAAAAAAAAAA", "ASIAEXAMPLE", "wJalr", "FwoG"} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error %q echoes a refused value (%q)", err, v)
				}
			}
		})
	}
}
