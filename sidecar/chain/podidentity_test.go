package chain_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolechain/rolechain/internal/ststest"
	"github.com/rolechain/rolechain/sidecar/chain"
	"github.com/rolechain/rolechain/sidecar/redact"
)

// agent is a stand-in for EKS's Pod Identity Agent: it serves the
// association role's session credentials to a request that carries the
// pod's token, as the container-credentials protocol has it.
type agent struct {
	*httptest.Server
	creds ststest.Credentials

	mu     sync.Mutex
	tokens []string // the Authorization header of every request
	// answer, when set, replaces the normal answer.
	answer func(w http.ResponseWriter, token string)
}

func newAgent(t *testing.T, srv *ststest.Server, wantToken func() string) *agent {
	a := &agent{creds: ststest.Credentials{
		AccessKeyID: "ASIAPODIDENTITY0001", SecretAccessKey: "podIdentitySecret", SessionToken: "podIdentitySession",
		Expiration: time.Now().Add(6 * time.Hour).UTC().Truncate(time.Second),
	}}
	// The association role's session is one STS knows.
	srv.AddKey(a.creds)
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get("Authorization")
		a.mu.Lock()
		a.tokens = append(a.tokens, token)
		answer := a.answer
		a.mu.Unlock()
		if answer != nil {
			answer(w, token)
			return
		}
		if r.URL.Path != "/v1/credentials" || token != wantToken() {
			http.Error(w, `{"code":"AccessDeniedException","message":"invalid token"}`, http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId": a.creds.AccessKeyID, "SecretAccessKey": a.creds.SecretAccessKey,
			"Token": a.creds.SessionToken, "AccountId": "111111111111", "Expiration": a.creds.Expiration.Format(time.RFC3339),
		})
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *agent) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.tokens...)
}

// writePodIdentityToken writes the token without a newline, as the kubelet
// does (an SDK refuses a token with CR or LF).
func writePodIdentityToken(t *testing.T, path, token string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPodIdentitySourceStartsTheChainFromTheAgentsCredentials(t *testing.T) {
	srv := ststest.New(t)
	tokenFile := filepath.Join(t.TempDir(), "eks-pod-identity-token")
	writePodIdentityToken(t, tokenFile, "pod-token-1")
	current := "pod-token-1"
	a := newAgent(t, srv, func() string { return current })
	c := &chain.Chain{
		Source:      chain.PodIdentity{URL: a.URL + "/v1/credentials", TokenFile: tokenFile},
		Roles:       []string{viaRole, targetRole},
		SessionName: "ns.pod", DurationSeconds: 3600, ExternalID: "ext-123",
		Tags:   []chain.Tag{{Key: "team", Value: "payments"}},
		Region: "eu-west-1", Endpoint: srv.URL,
	}
	got, err := c.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if len(calls) != 2 {
		t.Fatalf("want 2 STS calls (one per role, both sts:AssumeRole), got %d", len(calls))
	}
	if calls[0].Action != ststest.ActionAssumeRole || calls[0].RoleArn != viaRole || calls[0].SignedBy != a.creds.AccessKeyID {
		t.Errorf("hop 1 = %+v, want AssumeRole into %s signed with the Pod Identity credentials", calls[0], viaRole)
	}
	if calls[1].RoleArn != targetRole || calls[1].SignedBy != calls[0].Issued.AccessKeyID {
		t.Errorf("hop 2 = %+v, want AssumeRole into %s signed with hop 1's credentials", calls[1], targetRole)
	}
	for i, call := range calls {
		if call.ExternalID != "ext-123" || call.Tags["team"] != "payments" || call.DurationSeconds != 3600 {
			t.Errorf("hop %d: external ID %q, tags %v, duration %d; want them on every hop", i+1, call.ExternalID, call.Tags, call.DurationSeconds)
		}
	}
	if got.AccessKeyID != calls[1].Issued.AccessKeyID {
		t.Errorf("returned %s, want the target's credentials %s", got.AccessKeyID, calls[1].Issued.AccessKeyID)
	}

	// The kubelet rotates the token: the next Retrieve sends the new one,
	// and fetches the source credentials again (nothing is held between).
	writePodIdentityToken(t, tokenFile, "pod-token-2")
	current = "pod-token-2"
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if seen := a.seen(); len(seen) != 2 || seen[0] != "pod-token-1" || seen[1] != "pod-token-2" {
		t.Fatalf("the agent saw tokens %q, want one request per Retrieve with the token of the moment", seen)
	}
}

func TestPodIdentitySourceFailuresAreClassifiedAndNeverCarryTheToken(t *testing.T) {
	const token = "eyJhbGciOiJSUzI1NiJ9.pod-identity-token-secret.sig"
	echo := func(status int, contentType string) func(http.ResponseWriter, string) {
		return func(w http.ResponseWriter, got string) {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			if contentType == "application/json" {
				_ = json.NewEncoder(w).Encode(map[string]string{"code": "AccessDeniedException", "message": "bad token " + got})
				return
			}
			_, _ = w.Write([]byte("no association for token " + got))
		}
	}
	for _, tc := range []struct {
		name   string
		answer func(http.ResponseWriter, string)
		want   chain.Reason
	}{
		{"a refused token, echoed in a JSON error", echo(http.StatusForbidden, "application/json"), chain.ReasonSourceCredentials},
		{"a refused token, echoed in a plain-text error", echo(http.StatusUnauthorized, "text/plain"), chain.ReasonSourceCredentials},
		{"the agent fails, echoing the token", echo(http.StatusInternalServerError, "text/plain"), chain.ReasonServerError},
		{"the agent throttles", echo(http.StatusTooManyRequests, "text/plain"), chain.ReasonThrottling},
		{"a 200 that is not credentials, echoing the token", func(w http.ResponseWriter, got string) {
			_, _ = w.Write([]byte("<html>" + got))
		}, chain.ReasonMalformedResponse},
		{"a 200 without keys", func(w http.ResponseWriter, _ string) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"Token":"x"}`))
		}, chain.ReasonMalformedResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := ststest.New(t)
			tokenFile := filepath.Join(t.TempDir(), "token")
			writePodIdentityToken(t, tokenFile, token)
			a := newAgent(t, srv, func() string { return token })
			a.answer = tc.answer
			c := &chain.Chain{Source: chain.PodIdentity{URL: a.URL + "/v1/credentials", TokenFile: tokenFile},
				Roles: []string{targetRole}, SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL}
			_, err := c.Retrieve(context.Background())
			if err == nil {
				t.Fatal("Retrieve succeeded")
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "pod-identity-token-secret") {
				t.Fatalf("the error carries the token: %v", err)
			}
			if !strings.Contains(err.Error(), "Pod Identity credentials from "+a.URL) {
				t.Errorf("the error does not name the source: %v", err)
			}
			if got := chain.Classify(err); got != tc.want {
				t.Errorf("Classify(%v) = %q, want %q", err, got, tc.want)
			}
			if len(srv.Calls()) != 0 {
				t.Errorf("STS was called although the source failed")
			}
		})
	}
}

func TestPodIdentitySourceWithoutItsAgentIsATransientNetworkFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/v1/credentials"
	l.Close() // nothing listens there now: connection refused
	tokenFile := filepath.Join(t.TempDir(), "token")
	writePodIdentityToken(t, tokenFile, "tok")
	c := &chain.Chain{Source: chain.PodIdentity{URL: url, TokenFile: tokenFile}, Roles: []string{targetRole},
		SessionName: "s1", Region: "us-east-1", Endpoint: "http://127.0.0.1:1"}
	_, err = c.Retrieve(context.Background())
	if got := chain.Classify(err); got != chain.ReasonNetwork || !got.Transient() {
		t.Fatalf("Classify(%v) = %q, want a transient network failure (the agent may start later)", err, got)
	}
}

func TestPodIdentitySourceWithoutItsTokenFileSaysSo(t *testing.T) {
	srv := ststest.New(t)
	missing := filepath.Join(t.TempDir(), "absent")
	a := newAgent(t, srv, func() string { return "never" })
	c := &chain.Chain{Source: chain.PodIdentity{URL: a.URL + "/v1/credentials", TokenFile: missing}, Roles: []string{targetRole},
		SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL}
	_, err := c.Retrieve(context.Background())
	if got := chain.Classify(err); got != chain.ReasonSourceCredentials || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v (%q), want a source_credentials failure naming %s", err, got, missing)
	}
	if len(a.seen()) != 0 {
		t.Fatal("the agent was called without a token")
	}
}

// The agent's token and the credentials it hands out are secrets the
// process holds: the log and stderr sinks scrub them wherever they turn up
// (an STS peer echoing the request, say), as they do the web-identity token.
func TestPodIdentitySecretsAreHeldForTheSinksToScrub(t *testing.T) {
	srv := ststest.New(t)
	tokenFile := filepath.Join(t.TempDir(), "eks-pod-identity-token")
	const token = "pod-identity-token-to-scrub"
	writePodIdentityToken(t, tokenFile, token)
	a := newAgent(t, srv, func() string { return token })
	c := &chain.Chain{
		Source: chain.PodIdentity{URL: a.URL + "/v1/credentials", TokenFile: tokenFile},
		Roles:  []string{targetRole}, SessionName: "ns.pod", DurationSeconds: 3600,
		Region: "eu-west-1", Endpoint: srv.URL,
	}
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	line := "peer said: " + token + " " + a.creds.SecretAccessKey + " " + a.creds.SessionToken
	got := redact.Default.String(line)
	for _, secret := range []string{token, a.creds.SecretAccessKey, a.creds.SessionToken} {
		if strings.Contains(got, secret) {
			t.Errorf("redact.Default left %q in %q", secret, got)
		}
	}
}
