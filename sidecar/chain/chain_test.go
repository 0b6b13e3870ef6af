package chain_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rolechain/rolechain/internal/ststest"
	"github.com/rolechain/rolechain/sidecar/chain"
	"github.com/rolechain/rolechain/sidecar/redact"
)

const (
	webRole    = "arn:aws:iam::111111111111:role/web"
	viaRole    = "arn:aws:iam::222222222222:role/via"
	targetRole = "arn:aws:iam::333333333333:role/target"
)

func writeToken(t *testing.T, dir, token string) string {
	t.Helper()
	p := filepath.Join(dir, "token")
	if err := os.WriteFile(p, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestThreeHopChainSignsEachHopWithThePreviousHopsCredentials(t *testing.T) {
	srv := ststest.New(t)
	tokenFile := writeToken(t, t.TempDir(), "jwt-1")
	c := &chain.Chain{
		Source:          chain.WebIdentity{TokenFile: tokenFile},
		Roles:           []string{webRole, viaRole, targetRole},
		SessionName:     "ns.pod",
		DurationSeconds: 1800,
		ExternalID:      "ext-123",
		SourceIdentity:  "alice",
		Tags:            []chain.Tag{{"kubernetes-namespace", "ns"}, {"kubernetes-pod", "pod"}},
		Region:          "eu-west-1",
		Endpoint:        srv.URL,
	}
	got, err := c.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if len(calls) != 3 {
		t.Fatalf("want 3 STS calls, got %d", len(calls))
	}
	first, second, third := calls[0], calls[1], calls[2]
	if first.Action != ststest.ActionAssumeRoleWithWebIdentity || first.SignedBy != "" || first.WebIdentityToken != "jwt-1" || first.RoleArn != webRole {
		t.Errorf("hop 1 = %+v, want unsigned AssumeRoleWithWebIdentity into %s with the token", first, webRole)
	}
	if first.ExternalID != "" || first.SourceIdentity != "" || first.Tags != nil {
		t.Errorf("hop 1 carries AssumeRole-only parameters: %+v", first)
	}
	if second.Action != ststest.ActionAssumeRole || second.RoleArn != viaRole || second.SignedBy != first.Issued.AccessKeyID {
		t.Errorf("hop 2 = %+v, want AssumeRole into %s signed by %s", second, viaRole, first.Issued.AccessKeyID)
	}
	if third.RoleArn != targetRole || third.SignedBy != second.Issued.AccessKeyID {
		t.Errorf("hop 3 = %+v, want AssumeRole into %s signed by %s", third, targetRole, second.Issued.AccessKeyID)
	}
	wantTags := map[string]string{"kubernetes-namespace": "ns", "kubernetes-pod": "pod"}
	for i, h := range calls {
		if h.RoleSessionName != "ns.pod" || h.DurationSeconds != 1800 {
			t.Errorf("hop %d: session %q duration %d, want ns.pod 1800", i+1, h.RoleSessionName, h.DurationSeconds)
		}
		if i == 0 {
			continue
		}
		if h.ExternalID != "ext-123" {
			t.Errorf("hop %d: ExternalId %q, want ext-123", i+1, h.ExternalID)
		}
		if !reflect.DeepEqual(h.Tags, wantTags) || len(h.TransitiveTagKeys) != 0 {
			t.Errorf("hop %d: tags %v transitive %v, want %v not transitive", i+1, h.Tags, h.TransitiveTagKeys, wantTags)
		}
	}
	if second.SourceIdentity != "alice" || third.SourceIdentity != "" {
		t.Errorf("SourceIdentity on hops 2/3 = %q/%q, want it on the first AssumeRole only", second.SourceIdentity, third.SourceIdentity)
	}
	want := *third.Issued
	if got.AccessKeyID != want.AccessKeyID || got.SecretAccessKey != want.SecretAccessKey || got.SessionToken != want.SessionToken || !got.Expiration.Equal(want.Expiration) {
		t.Errorf("Retrieve returned %v, want the target hop's credentials", got)
	}
}

func TestTokenIsReadAfreshOnEveryRetrieve(t *testing.T) {
	srv := ststest.New(t)
	dir := t.TempDir()
	tokenFile := writeToken(t, dir, "jwt-old")
	c := &chain.Chain{Source: chain.WebIdentity{TokenFile: tokenFile}, Roles: []string{webRole}, SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL}
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	writeToken(t, dir, "jwt-new\n")
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if calls[0].WebIdentityToken != "jwt-old" || calls[1].WebIdentityToken != "jwt-new" {
		t.Fatalf("tokens sent: %q, %q; want jwt-old then jwt-new", calls[0].WebIdentityToken, calls[1].WebIdentityToken)
	}
}

func writeStatic(t *testing.T, akid, secret string) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, chain.StaticAccessKeyIDFile), []byte(akid+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, chain.StaticSecretAccessKeyFile), []byte(secret), 0o600)
	return dir
}

func TestStaticSourceSignsTheFirstAssumeRoleWithTheMountedKeys(t *testing.T) {
	srv := ststest.New(t)
	srv.AddKey(ststest.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "s3cret"})
	c := &chain.Chain{Source: chain.Static{Dir: writeStatic(t, "AKIAIOSFODNN7EXAMPLE", "s3cret")}, Roles: []string{viaRole, targetRole},
		SessionName: "ci", Region: "us-east-1", Endpoint: srv.URL, SourceIdentity: "bob"}
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if calls[0].SignedBy != "AKIAIOSFODNN7EXAMPLE" || calls[1].SignedBy != calls[0].Issued.AccessKeyID {
		t.Fatalf("signers: %q, %q", calls[0].SignedBy, calls[1].SignedBy)
	}
	if calls[0].SourceIdentity != "bob" || calls[1].SourceIdentity != "" {
		t.Fatalf("SourceIdentity %q/%q, want on the first hop only", calls[0].SourceIdentity, calls[1].SourceIdentity)
	}
}

func TestWrongSecretIsRejectedAsBadSourceCredentials(t *testing.T) {
	srv := ststest.New(t)
	srv.AddKey(ststest.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "s3cret"})
	c := &chain.Chain{Source: chain.Static{Dir: writeStatic(t, "AKIAIOSFODNN7EXAMPLE", "wrong")}, Roles: []string{targetRole},
		SessionName: "ci", Region: "us-east-1", Endpoint: srv.URL}
	_, err := c.Retrieve(context.Background())
	if got := chain.Classify(err); got != chain.ReasonSourceCredentials {
		t.Fatalf("Classify(%v) = %q, want %q", err, got, chain.ReasonSourceCredentials)
	}
	if calls := srv.Calls(); calls[0].ErrorCode != ststest.CodeSignatureDoesNotMatch {
		t.Fatalf("server answered %q, want SignatureDoesNotMatch", calls[0].ErrorCode)
	}
}

func TestChainedDurationOverAnHourIsRefusedBySTS(t *testing.T) {
	srv := ststest.New(t)
	c := &chain.Chain{Source: chain.WebIdentity{TokenFile: writeToken(t, t.TempDir(), "jwt")}, Roles: []string{webRole, targetRole},
		SessionName: "s1", DurationSeconds: 7200, Region: "us-east-1", Endpoint: srv.URL}
	_, err := c.Retrieve(context.Background())
	var hop *chain.HopError
	if !errors.As(err, &hop) || hop.Hop != 2 || chain.Classify(err) != chain.ReasonInvalidRequest {
		t.Fatalf("err = %v, want hop 2 refused as invalid_request", err)
	}
}

func TestClassifyEachFailure(t *testing.T) {
	cases := []struct {
		name  string
		fault ststest.Fault
		want  chain.Reason
	}{
		{"access denied", ststest.Fault{Code: ststest.CodeAccessDenied}, chain.ReasonAccessDenied},
		{"invalid identity token", ststest.Fault{Code: ststest.CodeInvalidIdentityToken}, chain.ReasonInvalidIdentityToken},
		{"expired web identity token", ststest.Fault{Code: ststest.CodeExpiredToken}, chain.ReasonExpiredToken},
		{"expired caller session", ststest.Fault{Code: ststest.CodeExpiredCallerToken}, chain.ReasonExpiredToken},
		{"throttling", ststest.Fault{Code: ststest.CodeThrottling}, chain.ReasonThrottling},
		{"503 with STS error document", ststest.Fault{Code: ststest.CodeServiceUnavailable}, chain.ReasonServerError},
		{"bare 502 from a proxy", ststest.Fault{Status: 502}, chain.ReasonServerError},
		{"bare 500", ststest.Fault{Status: 500}, chain.ReasonServerError},
		{"truncated XML", ststest.Fault{Body: "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKey"}, chain.ReasonMalformedResponse},
		{"not XML", ststest.Fault{Body: "{\"ok\":true}"}, chain.ReasonMalformedResponse},
		{"no credentials element", ststest.Fault{Body: `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`}, chain.ReasonMalformedResponse},
		{"slow response", ststest.Fault{Delay: time.Minute}, chain.ReasonTimeout},
		// Ceph radosgw's refusal, byte for byte: an S3-style body whose code
		// the SDK's STS decoder cannot read.
		{"403 with an S3-style error body (radosgw)", ststest.Fault{Status: 403, Body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message></Message><RequestId>tx00000747a87b35eddd41b-006b054394-100e-default</RequestId><HostId>100e-default-default</HostId></Error>`}, chain.ReasonAccessDenied},
		{"429 without an STS error document", ststest.Fault{Status: 429, Body: "<Error><Code>SlowDown</Code></Error>"}, chain.ReasonThrottling},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := retrieveAnswered(t, tc.fault)
			if got := chain.Classify(err); got != tc.want {
				t.Fatalf("Classify(%v) = %q, want %q", err, got, tc.want)
			}
		})
	}
}

// retrieveAnswered runs a one-hop Retrieve whose STS call is answered with
// fault, and returns its error. A call slower than 100 ms times out.
func retrieveAnswered(t *testing.T, fault ststest.Fault) error {
	t.Helper()
	srv := ststest.New(t)
	srv.FailNext(fault)
	c := &chain.Chain{Source: chain.WebIdentity{TokenFile: writeToken(t, t.TempDir(), "jwt")}, Roles: []string{webRole},
		SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL, CallTimeout: 100 * time.Millisecond}
	_, err := c.Retrieve(context.Background())
	return err
}

func TestMissingTokenFileIsClassified(t *testing.T) {
	c := &chain.Chain{Source: chain.WebIdentity{TokenFile: filepath.Join(t.TempDir(), "absent")}, Roles: []string{webRole}, SessionName: "s1", Region: "us-east-1", Endpoint: "http://127.0.0.1:1"}
	_, err := c.Retrieve(context.Background())
	if chain.Classify(err) != chain.ReasonTokenFile {
		t.Fatalf("Classify(%v) = %q, want token_file", err, chain.Classify(err))
	}
}

// hostRecorder fails every request after noting the host it was sent to.
type hostRecorder struct{ host string }

func (h *hostRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	h.host = r.URL.Host
	return nil, errors.New("recorded")
}

func TestRegionalEndpointPerPartition(t *testing.T) {
	for region, want := range map[string]string{
		"eu-west-1":     "sts.eu-west-1.amazonaws.com",
		"cn-north-1":    "sts.cn-north-1.amazonaws.com.cn",
		"us-gov-west-1": "sts.us-gov-west-1.amazonaws.com",
	} {
		rec := &hostRecorder{}
		c := &chain.Chain{Source: chain.WebIdentity{TokenFile: writeToken(t, t.TempDir(), "jwt")}, Roles: []string{webRole},
			SessionName: "s1", Region: region, HTTPClient: &http.Client{Transport: rec}}
		c.Retrieve(context.Background())
		if rec.host != want {
			t.Errorf("region %s: request went to %q, want %q", region, rec.host, want)
		}
	}
}

func TestCredentialsFormattingRedactsSecrets(t *testing.T) {
	c := chain.Credentials{AccessKeyID: "ASIAKEY", SecretAccessKey: "SECRET", SessionToken: "TOKEN", Expiration: time.Unix(0, 0)}
	for _, s := range []string{c.String(), c.GoString(), c.LogValue().String()} {
		if strings.Contains(s, "ASIAKEY") || strings.Contains(s, "SECRET") || strings.Contains(s, "TOKEN") {
			t.Errorf("formatted credentials leak a secret: %s", s)
		}
	}
}

// BenchmarkRetrieveTwoHops measures the STS part of a refresh: token read,
// AssumeRoleWithWebIdentity and one signed AssumeRole against the
// in-process STS (which verifies the signature).
func BenchmarkRetrieveTwoHops(b *testing.B) {
	srv := ststest.New(b)
	tokenFile := filepath.Join(b.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("jwt"), 0o600)
	c := &chain.Chain{Source: chain.WebIdentity{TokenFile: tokenFile}, Roles: []string{webRole, targetRole}, SessionName: "ns.pod", Region: "us-east-1", Endpoint: srv.URL}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Retrieve(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// failingBody returns some bytes of the real body, then err.
type failingBody struct {
	io.ReadCloser
	left int
	err  error
}

func (b *failingBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, b.err
	}
	n, err := b.ReadCloser.Read(p[:min(len(p), b.left)])
	b.left -= n
	return n, err
}

// cutBodies breaks every 200 response's body after 40 bytes with err.
type cutBodies struct{ err error }

func (c cutBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusOK {
		resp.Body = &failingBody{ReadCloser: resp.Body, left: 40, err: c.err}
	}
	return resp, err
}

// A connection that breaks while a successful answer is read is the
// network's fault (retried at once by --once, for one), not a malformed
// answer; so is a body cut short.
func TestBodyReadFailuresAreNetworkFailures(t *testing.T) {
	for name, cut := range map[string]error{
		"connection closed":            &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed},
		"connection reset":             &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET},
		"body shorter than its length": io.ErrUnexpectedEOF,
	} {
		t.Run(name, func(t *testing.T) {
			srv := ststest.New(t)
			c := &chain.Chain{Source: chain.WebIdentity{TokenFile: writeToken(t, t.TempDir(), "jwt")}, Roles: []string{webRole},
				SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL, HTTPClient: &http.Client{Transport: cutBodies{cut}}}
			_, err := c.Retrieve(context.Background())
			if got := chain.Classify(err); got != chain.ReasonNetwork || !got.Transient() {
				t.Fatalf("Classify(%v) = %q, want network (transient)", err, got)
			}
		})
	}
}

func TestOnlyPassingFailuresAreTransient(t *testing.T) {
	transient := []chain.Reason{chain.ReasonNetwork, chain.ReasonTimeout, chain.ReasonThrottling, chain.ReasonServerError}
	for _, r := range []chain.Reason{chain.ReasonAccessDenied, chain.ReasonInvalidIdentityToken, chain.ReasonExpiredToken,
		chain.ReasonMalformedResponse, chain.ReasonTokenFile, chain.ReasonSourceCredentials, chain.ReasonInvalidRequest, chain.ReasonOther,
		chain.ReasonNetwork, chain.ReasonTimeout, chain.ReasonThrottling, chain.ReasonServerError} {
		if got, want := r.Transient(), slices.Contains(transient, r); got != want {
			t.Errorf("%s.Transient() = %v, want %v", r, got, want)
		}
	}
}

// A peer that echoes the request in its error message hands back the
// web-identity token (hop 1) and the previous hop's access key and session
// token (hop 2, in the signing headers). The Chain registers every secret
// it holds, so the error text that the sidecar logs or prints is scrubbed.
func TestSecretsEchoedByAPeerAreScrubbedFromTheError(t *testing.T) {
	const token = "eyJhbGciOiJSUzI1NiJ9.echoed-web-identity-token.sig"
	for _, tc := range []struct {
		name  string
		fault func(srv *ststest.Server)
	}{
		{"hop 1 echoes the token", func(srv *ststest.Server) {
			srv.FailNext(ststest.Fault{Code: ststest.CodeInvalidIdentityToken, Echo: true})
		}},
		{"hop 2 echoes the signing keys", func(srv *ststest.Server) {
			srv.FailWhen(func(c ststest.Call) *ststest.Fault {
				if c.Action == ststest.ActionAssumeRole {
					return &ststest.Fault{Code: ststest.CodeAccessDenied, Echo: true}
				}
				return nil
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := ststest.New(t)
			tc.fault(srv)
			c := &chain.Chain{Source: chain.WebIdentity{TokenFile: writeToken(t, t.TempDir(), token)}, Roles: []string{webRole, targetRole},
				SessionName: "ns.pod", Region: "us-east-1", Endpoint: srv.URL}
			_, err := c.Retrieve(context.Background())
			if err == nil {
				t.Fatal("Retrieve succeeded")
			}
			secrets := []string{token}
			for _, cr := range srv.Issued() {
				secrets = append(secrets, cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken)
			}
			echoed := 0
			scrubbed := redact.Default.String(err.Error())
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					echoed++
				}
				if strings.Contains(scrubbed, s) {
					t.Errorf("scrubbed error holds a secret: %s", scrubbed)
				}
			}
			if echoed == 0 {
				t.Fatalf("the peer echoed no secret; the test proves nothing: %v", err)
			}
			if !strings.Contains(scrubbed, "[redacted ") || chain.Classify(err) == chain.ReasonOther {
				t.Errorf("scrubbed error %q (reason %s)", scrubbed, chain.Classify(err))
			}
		})
	}
}

// STS takes a WebIdentityToken of at most 20,000 characters: a longer file
// is refused without a call (it used to be read whole and posted on every
// retry), and the message gives the limit but not the token.
func TestTokenOverTheSTSLimitIsRefusedWithoutACall(t *testing.T) {
	srv := ststest.New(t)
	retrieve := func(token string) error {
		c := &chain.Chain{Source: chain.WebIdentity{TokenFile: writeToken(t, t.TempDir(), token)}, Roles: []string{webRole},
			SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL}
		_, err := c.Retrieve(context.Background())
		return err
	}
	if err := retrieve(strings.Repeat("a", chain.MaxWebIdentityTokenLength)); err != nil {
		t.Fatalf("a token of exactly %d characters: %v", chain.MaxWebIdentityTokenLength, err)
	}
	if n := len(srv.Calls()); n != 1 {
		t.Fatalf("%d STS calls, want 1", n)
	}
	err := retrieve(strings.Repeat("b", chain.MaxWebIdentityTokenLength+1))
	if chain.Classify(err) != chain.ReasonTokenFile || !strings.Contains(err.Error(), "at most 20000 characters") {
		t.Fatalf("a token of %d characters: %v (reason %s)", chain.MaxWebIdentityTokenLength+1, err, chain.Classify(err))
	}
	if strings.Contains(err.Error(), "bbbb") {
		t.Fatalf("the error holds the token: %.200s", err)
	}
	if n := len(srv.Calls()); n != 1 {
		t.Fatalf("%d STS calls after the oversized token, want still 1", n)
	}
}

// STS states expirations by its clock. The Chain measures the offset
// between that clock and its own from the response's Date header and
// returns expirations on its own clock: one-hour credentials expire an hour
// from now by our clock, whichever clock is wrong.
func TestExpirationIsConvertedToOurClockByTheDateHeader(t *testing.T) {
	for _, skew := range []time.Duration{2 * time.Hour, -2 * time.Hour, 0} {
		t.Run(skew.String(), func(t *testing.T) {
			srv := ststest.New(t)
			srv.SetClock(func() time.Time { return time.Now().Add(skew) })
			c := &chain.Chain{Source: chain.WebIdentity{TokenFile: writeToken(t, t.TempDir(), "jwt")}, Roles: []string{webRole, targetRole},
				SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL}
			got, err := c.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			issued := srv.Issued()[1].Expiration
			// The Date header's one-second resolution and the call's
			// duration bound the measurement.
			if d := got.ClockOffset - skew; d < -2*time.Second || d > 2*time.Second {
				t.Errorf("ClockOffset %s, want about %s", got.ClockOffset, skew)
			}
			if !got.Expiration.Equal(issued.Add(-got.ClockOffset)) {
				t.Errorf("Expiration %s, want STS's %s less the offset %s", got.Expiration, issued, got.ClockOffset)
			}
			if life := time.Until(got.Expiration); life < 58*time.Minute || life > time.Hour+2*time.Second {
				t.Errorf("credentials expire in %s by our clock, want about 1h", life)
			}
		})
	}
}

// A static credentials file or a Pod Identity token file larger than any
// credential is refused without being read whole, without a call, and
// without its content in the error.
func TestSourceFilesLargerThanAnyCredentialAreRefusedUnread(t *testing.T) {
	big := strings.Repeat("k", chain.MaxSourceFileSize+1)
	t.Run("static", func(t *testing.T) {
		srv := ststest.New(t)
		srv.AddKey(ststest.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "s3cret"})
		retrieve := func(secret string) error {
			c := &chain.Chain{Source: chain.Static{Dir: writeStatic(t, "AKIAIOSFODNN7EXAMPLE", secret)}, Roles: []string{targetRole},
				SessionName: "ci", Region: "us-east-1", Endpoint: srv.URL}
			_, err := c.Retrieve(context.Background())
			return err
		}
		if err := retrieve("s3cret"); err != nil {
			t.Fatal(err)
		}
		err := retrieve(big)
		if err == nil || !strings.Contains(err.Error(), "more than 65536 bytes") || strings.Contains(err.Error(), "kkkk") {
			t.Fatalf("err = %.300v, want a refusal that names the limit and not the content", err)
		}
		if n := len(srv.Calls()); n != 1 {
			t.Fatalf("%d STS calls, want only the first retrieve's", n)
		}
	})
	t.Run("pod identity token", func(t *testing.T) {
		srv := ststest.New(t)
		tokenFile := filepath.Join(t.TempDir(), "eks-pod-identity-token")
		writePodIdentityToken(t, tokenFile, big)
		a := newAgent(t, srv, func() string { return "never" })
		c := &chain.Chain{Source: chain.PodIdentity{URL: a.URL + "/v1/credentials", TokenFile: tokenFile}, Roles: []string{targetRole},
			SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL}
		_, err := c.Retrieve(context.Background())
		if got := chain.Classify(err); got != chain.ReasonSourceCredentials || !strings.Contains(err.Error(), "more than 65536 bytes") || strings.Contains(err.Error(), "kkkk") {
			t.Fatalf("err = %.300v (%q), want a source_credentials refusal naming the limit and not the content", err, got)
		}
		if len(a.seen()) != 0 {
			t.Fatal("the agent was called with the oversized token")
		}
	})
}
