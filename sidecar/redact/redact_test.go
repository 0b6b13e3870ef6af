package redact_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/rolechain/rolechain/sidecar/redact"
)

const (
	token  = "eyJhbGciOiJSUzI1NiJ9.payload/with+chars=.sig"
	akid   = "ASIAEXAMPLEKEY123456"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func TestStringReplacesEveryHeldSecretAndItsFormEncoding(t *testing.T) {
	s := redact.New()
	s.Hold("token-file", redact.WebIdentityToken, token)
	s.Hold("hop 1", redact.AccessKeyID, akid)
	s.Hold("hop 1", redact.SecretAccessKey, secret)
	body := url.Values{"WebIdentityToken": {token}, "Action": {"AssumeRoleWithWebIdentity"}}.Encode()
	in := fmt.Sprintf("api error AccessDenied: bad request %s signed by %s/%s", body, akid, secret)
	got := s.String(in)
	for _, v := range []string{token, url.QueryEscape(token), akid, secret} {
		if strings.Contains(got, v) {
			t.Errorf("%q still holds %q", got, v)
		}
	}
	for _, want := range []string{"[redacted web-identity token]", "[redacted access key ID]", "[redacted secret access key]", "api error AccessDenied"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}

func TestHoldReplacesTheOwnersPreviousValues(t *testing.T) {
	s := redact.New()
	s.Hold("hop 1", redact.SessionToken, "session-token-one")
	s.Hold("hop 1", redact.SessionToken, "session-token-two")
	s.Hold("hop 2", redact.SessionToken, "session-token-three")
	got := s.String("session-token-one session-token-two session-token-three")
	if got != "session-token-one [redacted session token] [redacted session token]" {
		t.Fatalf("got %q: the replaced value must be forgotten, the current ones of both owners redacted", got)
	}
	s.Hold("hop 2", redact.SessionToken)
	if got := s.String("session-token-three"); got != "session-token-three" {
		t.Fatalf("after Hold with no values: %q", got)
	}
}

func TestALongerSecretContainingAShorterOneIsReplacedWhole(t *testing.T) {
	s := redact.New()
	s.Hold("a", redact.EndpointToken, "abcdefgh")
	s.Hold("b", redact.SessionToken, "xxabcdefghyy")
	if got := s.String("[xxabcdefghyy] [abcdefgh]"); got != "[[redacted session token]] [[redacted endpoint token]]" {
		t.Fatalf("got %q", got)
	}
}

func TestShortValuesAreNotHeld(t *testing.T) {
	s := redact.New()
	s.Hold("static", redact.SecretAccessKey, "x")
	if got := s.String("the next refresh"); got != "the next refresh" {
		t.Fatalf("got %q", got)
	}
}

func TestHandlerScrubsMessageAndAttributes(t *testing.T) {
	s := redact.New()
	s.Hold("token-file", redact.WebIdentityToken, token)
	var buf bytes.Buffer
	log := slog.New(s.Handler(slog.NewJSONHandler(&buf, nil)))
	log.With("early", "with "+token).WithGroup("g").Warn("message "+token,
		"string", token,
		"error", errors.New("wrapped: "+token),
		"strings", []string{"a", token},
		"struct", struct{ T string }{token},
		slog.Group("group", "inner", token),
		"count", 3,
	)
	out := buf.String()
	if strings.Contains(out, token) || strings.Contains(out, "payload") {
		t.Fatalf("log holds the token:\n%s", out)
	}
	if n := strings.Count(out, "[redacted web-identity token]"); n != 7 {
		t.Errorf("%d placeholders, want 7 (message, with, string, error, strings, struct, group):\n%s", n, out)
	}
	if !strings.Contains(out, `"count":3`) || !strings.Contains(out, `"strings":["a","[redacted web-identity token]"]`) {
		t.Errorf("other values changed form:\n%s", out)
	}
}

func TestWriterScrubsEachWrite(t *testing.T) {
	s := redact.New()
	s.Hold("endpoint", redact.EndpointToken, "0123456789abcdef")
	var buf bytes.Buffer
	w := s.Writer(&buf)
	n, err := fmt.Fprintf(w, "token %s\n", "0123456789abcdef")
	if err != nil || n != len("token 0123456789abcdef\n") {
		t.Fatalf("Write returned %d, %v; want the length written by the caller", n, err)
	}
	if buf.String() != "token [redacted endpoint token]\n" {
		t.Fatalf("got %q", buf.String())
	}
}
