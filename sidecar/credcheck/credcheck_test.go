package credcheck_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rolechain/rolechain/sidecar/credcheck"
)

// Credentials as AWS, radosgw 16.2 and MinIO issue them pass; so do
// long-term keys without token or expiration where the source allows it.
func TestCheckAcceptsWhatPeersIssue(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	for name, c := range map[string][3]string{
		"aws":               {"ASIAEXAMPLEEXAMPLE12", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEJr//////////wEaDM+abc="},
		"minio jwt token":   {"Q3AM3UQ867SPQQA43P2F", "zuf+tfteSlswRu7BJ86wekitnifILbZam1KYY3TG", "eyJhbGciOiJIUzUxMiJ9.eyJhY2Nlc3NLZXkiOiJRM0FNIn0.abc-_def"},
		"ceph base64 token": {"ABCDEFGHIJKLMNOPQRST", "abcdefghijklmnopqrstuvwxyz0123456789ABCD", "AQAAAAAAAAA+/abc=="},
	} {
		if err := credcheck.Check(c[0], c[1], c[2], exp, credcheck.Temporary); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := credcheck.Check("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "", time.Time{}, credcheck.Need{}); err != nil {
		t.Errorf("long-term keys: %v", err)
	}
}

// HostileValues are what a peer could put in a field to end a line, an INI
// section, a JSON string or a shell word; shared by the renderers' tests.
var hostile = map[string]string{
	"LF and INI section":   "\n[evil]\ncredential_process = sh -c 'touch /tmp/pwned'",
	"CR":                   "\r",
	"section":              "[default]",
	"semicolon":            "; touch /tmp/pwned",
	"quotes":               `'"`,
	"command substitution": "$(touch /tmp/pwned)",
	"NUL":                  "\x00",
	"non-ASCII":            "é",
	"space":                " x",
}

func TestCheckRefusesEachHostileValueInEachFieldWithoutEchoingIt(t *testing.T) {
	const ak, sk, tok = "ASIAEXAMPLEEXAMPLE12", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdz"
	exp := time.Now().Add(time.Hour)
	for name, v := range hostile {
		for field, args := range map[string][3]string{
			"AccessKeyId":     {ak + v, sk, tok},
			"SecretAccessKey": {ak, sk + v, tok},
			"SessionToken":    {ak, sk, tok + v},
		} {
			err := credcheck.Check(args[0], args[1], args[2], exp, credcheck.Need{})
			var ce *credcheck.Error
			if !errors.As(err, &ce) || ce.Field != field {
				t.Errorf("%s in %s: err = %v, want a credcheck.Error naming %s", name, field, err, field)
				continue
			}
			if strings.Contains(err.Error(), v) || strings.Contains(err.Error(), "EXAMPLE") || strings.Contains(err.Error(), "FwoG") {
				t.Errorf("%s in %s: error %q echoes a value", name, field, err)
			}
		}
	}
	for name, c := range map[string]struct {
		ak, sk, tok string
		exp         time.Time
		need        credcheck.Need
		field       string
	}{
		"over-long key":     {strings.Repeat("A", 129), sk, tok, exp, credcheck.Temporary, "AccessKeyId"},
		"short key":         {"AKIA", sk, tok, exp, credcheck.Temporary, "AccessKeyId"},
		"over-long secret":  {ak, strings.Repeat("a", 129), tok, exp, credcheck.Temporary, "SecretAccessKey"},
		"empty secret":      {ak, "", tok, exp, credcheck.Temporary, "SecretAccessKey"},
		"empty token":       {ak, sk, "", exp, credcheck.Temporary, "SessionToken"},
		"over-long token":   {ak, sk, strings.Repeat("A", credcheck.MaxSessionTokenLen+1), exp, credcheck.Need{}, "SessionToken"},
		"zero expiration":   {ak, sk, tok, time.Time{}, credcheck.Temporary, "Expiration"},
		"year 10000":        {ak, sk, tok, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), credcheck.Need{}, "Expiration"},
		"before Unix epoch": {ak, sk, tok, time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC), credcheck.Need{}, "Expiration"},
	} {
		var ce *credcheck.Error
		if err := credcheck.Check(c.ak, c.sk, c.tok, c.exp, c.need); !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%s: err = %v, want one naming %s", name, err, c.field)
		}
	}
}
