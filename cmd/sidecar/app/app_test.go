package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolechain/rolechain/cmd/sidecar/app"
	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/internal/ststest"
	"github.com/rolechain/rolechain/internal/syncbuf"
	"github.com/rolechain/rolechain/sidecar/chain"
	"github.com/rolechain/rolechain/sidecar/output"
)

const (
	webRole    = "arn:aws:iam::111111111111:role/web"
	targetRole = "arn:aws:iam::222222222222:role/target"
	otherRole  = "arn:aws:iam::333333333333:role/other"
	jwt        = "eyJhbGciOiJSUzI1NiJ9.secret-web-identity-token.sig"
)

type result struct {
	code           int
	stdout, stderr string
}

func execute(ctx context.Context, args []string, vars map[string]string, logs io.Writer) result {
	var stdout, stderr bytes.Buffer
	env := app.Env{
		Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Stdout: &stdout, Stderr: &stderr, Now: time.Now, Log: logs,
	}
	code := app.Execute(ctx, args, env, app.Run(env))
	return result{code, stdout.String(), stderr.String()}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tokenFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "token")
	os.WriteFile(p, []byte(jwt), 0o600)
	return p
}

func TestHelpDocumentsEveryContractFlag(t *testing.T) {
	r := execute(context.Background(), []string{"--help"}, nil, io.Discard)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	for _, f := range []string{"--token-file", "--web-identity-role-arn", "--role-arn", "--external-id", "--session-name", "--duration", "--region",
		"--sts-endpoint", "--output-dir", "--profile", "--once", "--format", "--credentials-endpoint-port", "--metrics-port", "--source", "--profiles", "--refresh-interval", "--exit-when-ready", "native-sidecars=false",
		"<profile>.json", "<profile>.process.json", "endpoint-token", "ROLECHAIN_", "probe", "10s–12h"} {
		if !strings.Contains(r.stdout, f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
}

func TestBadValuesExitTwoWithALinePerProblem(t *testing.T) {
	r := execute(context.Background(), []string{"--web-identity-role-arn", webRole, "--duration", "60", "--source", "x"}, nil, io.Discard)
	if r.code != app.ExitUsage {
		t.Fatalf("exit %d, want 2", r.code)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 2 || !strings.Contains(r.stderr, "--duration: Invalid value: 60") || !strings.Contains(r.stderr, "--source: \"x\"") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	if r := execute(context.Background(), []string{"--duration", "soon"}, nil, io.Discard); r.code != app.ExitUsage || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "--duration") {
		t.Fatalf("unparsable flag: exit %d stderr %q", r.code, r.stderr)
	}
	if r := execute(context.Background(), []string{"--web-identity-role-arn", webRole}, map[string]string{"ROLECHAIN_REFRESH_INTERVAL": "5s"}, io.Discard); r.code != app.ExitUsage ||
		!strings.Contains(r.stderr, "--refresh-interval (from ROLECHAIN_REFRESH_INTERVAL): 5s must be 0 (off) or between 10s and 12h0m0s") {
		t.Fatalf("refresh interval from env: exit %d stderr %q", r.code, r.stderr)
	}
	if r := execute(context.Background(), []string{"extra"}, nil, io.Discard); r.code != app.ExitUsage {
		t.Fatalf("positional argument: exit %d", r.code)
	}
}

func TestOnceFormats(t *testing.T) {
	srv := ststest.New(t)
	base := []string{"--once", "--token-file", tokenFile(t), "--web-identity-role-arn", webRole, "--role-arn", targetRole, "--sts-endpoint", srv.URL, "--region", "eu-west-1"}
	for _, tc := range []struct{ format, want string }{
		{"ini", "[default]\naws_access_key_id = "},
		{"json", `"session_token": "`},
		{"env", "export AWS_SESSION_TOKEN="},
		{"process", `"Version": 1`},
	} {
		r := execute(context.Background(), append(base, "--format", tc.format), nil, io.Discard)
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.format, r.code, r.stderr)
		}
		last := srv.Issued()[len(srv.Issued())-1]
		if !strings.Contains(r.stdout, tc.want) || !strings.Contains(r.stdout, last.SessionToken) {
			t.Errorf("%s output lacks %q or the target's session token:\n%s", tc.format, tc.want, r.stdout)
		}
	}
	out := filepath.Join(t.TempDir(), "creds.json")
	if r := execute(context.Background(), append(base, "--format", "process", "--output", out), nil, io.Discard); r.code != 0 || r.stdout != "" {
		t.Fatalf("--output: exit %d stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("--output file: %v %v", fi, err)
	}
	srv.FailNext(ststest.Fault{Code: ststest.CodeAccessDenied})
	r := execute(context.Background(), base, nil, io.Discard)
	if r.code != app.ExitFailure || !strings.Contains(r.stderr, "access_denied") {
		t.Fatalf("failure: exit %d stderr %s", r.code, r.stderr)
	}
}

// --once is what a CI step runs: a transient failure (here a bare 503, then
// a throttled call) is retried with backoff; a refusal is final at once;
// a failure that does not pass ends after onceAttempts tries.
func TestOnceRetriesOnlyTransientFailures(t *testing.T) {
	args := func(srv *ststest.Server) []string {
		return []string{"--once", "--format", "json", "--token-file", tokenFile(t), "--web-identity-role-arn", webRole,
			"--role-arn", targetRole, "--sts-endpoint", srv.URL, "--region", "eu-west-1"}
	}
	run := func(srv *ststest.Server) (result, []time.Duration) {
		var stdout, stderr bytes.Buffer
		var waits []time.Duration
		env := app.Env{
			Lookup: func(string) (string, bool) { return "", false },
			Stdout: &stdout, Stderr: &stderr, Now: time.Now, Log: io.Discard,
			Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil },
		}
		code := app.Execute(context.Background(), args(srv), env, app.Run(env))
		return result{code, stdout.String(), stderr.String()}, waits
	}

	t.Run("a 503 and a throttled call, then success", func(t *testing.T) {
		srv := ststest.New(t)
		srv.FailNext(ststest.Fault{Status: 503}, ststest.Fault{Code: ststest.CodeThrottling})
		r, waits := run(srv)
		if r.code != 0 || !strings.Contains(r.stdout, lastIssuedFor(srv, targetRole).SessionToken) {
			t.Fatalf("exit %d, stdout %q, stderr %s; want the target's credentials", r.code, r.stdout, r.stderr)
		}
		if len(waits) != 2 || waits[0] < 500*time.Millisecond || waits[0] > time.Second || waits[1] < time.Second || waits[1] > 2*time.Second {
			t.Errorf("waits %v, want about 1 s then about 2 s", waits)
		}
		if strings.Count(r.stderr, "retrying in") != 2 || !strings.Contains(r.stderr, "server_error") || !strings.Contains(r.stderr, "throttling") {
			t.Errorf("stderr does not say what was retried and why:\n%s", r.stderr)
		}
	})
	t.Run("a refusal is not retried", func(t *testing.T) {
		srv := ststest.New(t)
		srv.FailNext(ststest.Fault{Code: ststest.CodeAccessDenied})
		r, waits := run(srv)
		if r.code != app.ExitFailure || !strings.Contains(r.stderr, "access_denied") || len(waits) != 0 {
			t.Fatalf("exit %d, waits %v, stderr %s; want one failed call", r.code, waits, r.stderr)
		}
		if n := len(srv.Calls()); n != 1 {
			t.Errorf("%d STS calls, want 1", n)
		}
	})
	t.Run("a lasting outage ends after three tries", func(t *testing.T) {
		srv := ststest.New(t)
		srv.FailWhen(func(ststest.Call) *ststest.Fault { return &ststest.Fault{Status: 502} })
		r, waits := run(srv)
		if r.code != app.ExitFailure || !strings.Contains(r.stderr, "server_error") || len(waits) != 2 {
			t.Fatalf("exit %d, waits %v, stderr %s", r.code, waits, r.stderr)
		}
		if n := len(srv.Calls()); n != 3 {
			t.Errorf("%d STS calls, want 3", n)
		}
		if strings.Contains(r.stderr, jwt) {
			t.Error("stderr holds the web-identity token")
		}
	})
}

func TestOnceWithStaticKeysFromASecret(t *testing.T) {
	srv := ststest.New(t)
	srv.AddKey(ststest.Credentials{AccessKeyID: "AKIASTATICSTATIC1", SecretAccessKey: "staticSecret"})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "aws_access_key_id"), []byte("AKIASTATICSTATIC1"), 0o600)
	os.WriteFile(filepath.Join(dir, "aws_secret_access_key"), []byte("staticSecret\n"), 0o600)
	r := execute(context.Background(), []string{"--once", "--format", "json", "--source", "static", "--static-credentials-dir", dir, "--role-arn", targetRole, "--sts-endpoint", srv.URL}, nil, io.Discard)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if c := srv.Calls(); len(c) != 1 || c[0].SignedBy != "AKIASTATICSTATIC1" {
		t.Fatalf("calls %+v", c)
	}
}

// The probe reads files: it needs the output directory, not the chain's
// flags.
func TestProbeFailsUntilCredentialsExist(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{contract.EnvOutputDir: dir}
	r := execute(context.Background(), []string{"probe"}, vars, io.Discard)
	if r.code != app.ExitFailure || !strings.Contains(r.stderr, "profile default") {
		t.Fatalf("probe on an empty dir: exit %d stderr %s", r.code, r.stderr)
	}
	c := output.NewDir(dir, 0o644, -1, []output.Named{{Profile: "default"}})
	if err := c.Publish("default", chain.Credentials{AccessKeyID: "ASIAOLDOLDOLDOLD", SecretAccessKey: "s", SessionToken: "t", Expiration: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if r := execute(context.Background(), []string{"probe"}, vars, io.Discard); r.code != app.ExitFailure || !strings.Contains(r.stderr, "expired") {
		t.Fatalf("probe with expired credentials: exit %d stderr %s", r.code, r.stderr)
	}
}

// The sidecar, end to end against the fake STS: two profiles (a two-hop and
// a one-hop chain), files, probe, credentials endpoint and metrics; every
// profile's first attempt fails with a different error class. Nothing it
// logs or exposes as metrics may contain a key, secret, session token, the
// web-identity token or the endpoint token.
func TestSidecarEndToEndLeaksNoSecretToLogsOrMetrics(t *testing.T) {
	srv := ststest.New(t)
	var mu sync.Mutex
	failed := map[string]bool{}
	// The peer echoes the request in two of the errors: the token (hop 1)
	// and the signing keys of hop 1 (hop 2).
	firstFault := map[string]ststest.Fault{
		webRole:    {Code: ststest.CodeInvalidIdentityToken, Echo: true},
		targetRole: {Code: ststest.CodeAccessDenied, Echo: true},
		otherRole:  {Body: "<AssumeRoleWithWebIdentityResponse><Credentials><SecretAccessKey>leak-me-secret</SecretAccessKey>"},
	}
	srv.FailWhen(func(c ststest.Call) *ststest.Fault {
		mu.Lock()
		defer mu.Unlock()
		f, ok := firstFault[c.RoleArn]
		if !ok || failed[c.RoleArn] {
			return nil
		}
		failed[c.RoleArn] = true
		return &f
	})
	profiles, _ := contract.Encode([]contract.Profile{
		{Name: "default", WebIdentityRoleARN: webRole, RoleARNs: []string{targetRole}, ExternalID: "ext-1", Region: "eu-west-1", STSEndpoint: srv.URL, SessionTags: true},
		{Name: "other", WebIdentityRoleARN: otherRole, STSEndpoint: srv.URL},
	})
	dir := t.TempDir()
	endpointPort, metricsPort := freePort(t), freePort(t)
	vars := map[string]string{
		contract.EnvProfiles: profiles, contract.EnvOutputDir: dir, contract.EnvTokenFile: tokenFile(t),
		contract.EnvCredentialsEndpointPort: strconv.Itoa(endpointPort), "ROLECHAIN_METRICS_PORT": strconv.Itoa(metricsPort),
		contract.EnvPodNamespace: "team-a", contract.EnvPodName: "app-1", contract.EnvServiceAccount: "app",
	}
	logs := startDaemon(t, vars)

	// Files: both profiles, the target's keys, regions in config.
	issued := srv.Issued()
	ini, _ := os.ReadFile(filepath.Join(dir, "credentials"))
	target, other := lastIssuedFor(srv, targetRole), lastIssuedFor(srv, otherRole)
	if !strings.Contains(string(ini), "[default]\naws_access_key_id = "+target.AccessKeyID) || !strings.Contains(string(ini), "[other]\naws_access_key_id = "+other.AccessKeyID) {
		t.Fatalf("credentials:\n%s", ini)
	}
	if cfg, _ := os.ReadFile(filepath.Join(dir, "config")); string(cfg) != "[default]\nregion = eu-west-1\n\n[profile other]\n" {
		t.Fatalf("config:\n%s", cfg)
	}
	for _, c := range srv.CallsOf(ststest.ActionAssumeRole) {
		if c.Issued != nil && (c.ExternalID != "ext-1" || c.Tags["rolechain-pod"] != "app-1" || c.RoleSessionName != "team-a.app-1") {
			t.Errorf("AssumeRole parameters %+v", c)
		}
	}

	// Endpoint: 401 without the token, the target's credentials with it.
	tok, err := os.ReadFile(filepath.Join(dir, "endpoint-token"))
	if err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(endpointPort) + "/v1/credentials/default"
	if resp, err := http.Get(url); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %v %v", resp, err)
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", string(tok))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body["AccessKeyId"] != target.AccessKeyID || body["Token"] != target.SessionToken || body["Expiration"] != target.Expiration.Format(time.RFC3339) {
		t.Fatalf("endpoint returned %v", body)
	}

	// A loop records its outcome just after its files are written (which
	// the probe saw): scrape until the last refresh is counted.
	wantMetrics := []string{
		`rolechain_sidecar_refreshes_total{profile="default",reason="invalid_identity_token",result="failure"} 1`,
		`rolechain_sidecar_refreshes_total{profile="default",reason="access_denied",result="failure"} 1`,
		`rolechain_sidecar_refreshes_total{profile="other",reason="malformed_response",result="failure"} 1`,
		`rolechain_sidecar_refreshes_total{profile="default",reason="",result="success"} 1`,
		`rolechain_sidecar_credentials_expiry_seconds{profile="other"}`,
	}
	var metricsText []byte
	waitFor(t, func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metricsText, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(metricsText), `rolechain_sidecar_refreshes_total{profile="default",reason="",result="success"}`) &&
			strings.Contains(string(metricsText), `rolechain_sidecar_refreshes_total{profile="other",reason="",result="success"}`)
	})
	for _, want := range wantMetrics {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	logText := logs.String()
	for _, want := range []string{`"reason":"invalid_identity_token"`, `"reason":"access_denied"`, `"reason":"malformed_response"`, `"msg":"credentials refreshed"`, "[redacted web-identity token]", "[redacted session token]"} {
		if !strings.Contains(logText, want) {
			t.Errorf("logs lack %s", want)
		}
	}

	secrets := []string{jwt, string(tok), "leak-me-secret"}
	for _, c := range issued {
		secrets = append(secrets, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	}
	for _, s := range secrets {
		if strings.Contains(logText, s) {
			t.Errorf("logs contain secret %q", s)
		}
		if strings.Contains(string(metricsText), s) {
			t.Errorf("metrics contain secret %q", s)
		}
	}
}

func lastIssuedFor(srv *ststest.Server, role string) ststest.Credentials {
	var out ststest.Credentials
	for _, c := range srv.Calls() {
		if c.RoleArn == role && c.Issued != nil {
			out = *c.Issued
		}
	}
	return out
}

// waitFor polls cond; the deadline is a hang guard, not a timing assertion.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never became true")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOnceWithTheSDKDefaultChain(t *testing.T) {
	srv := ststest.New(t)
	srv.AddKey(ststest.Credentials{AccessKeyID: "AKIAENVENVENVENV", SecretAccessKey: "envSecret"})
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAENVENVENVENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "envSecret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	r := execute(context.Background(), []string{"--once", "--format", "env", "--source", "default-chain", "--role-arn", targetRole, "--sts-endpoint", srv.URL}, nil, io.Discard)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if c := srv.Calls(); len(c) != 1 || c[0].SignedBy != "AKIAENVENVENVENV" || c[0].Issued == nil {
		t.Fatalf("calls %+v", c)
	}
}

// startDaemon runs the sidecar with vars until the test ends (then it
// must exit 0), waits until its probe passes, and returns its logs.
func startDaemon(t *testing.T, vars map[string]string) *syncbuf.Buffer {
	t.Helper()
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- execute(ctx, nil, vars, logs) }()
	t.Cleanup(func() {
		cancel()
		if r := <-done; r.code != 0 {
			t.Errorf("after cancel: exit %d: %s", r.code, r.stderr)
		}
	})
	waitFor(t, func() bool { return execute(context.Background(), []string{"probe"}, vars, io.Discard).code == 0 })
	return logs
}

// runGuarded runs the sidecar and returns its result; the deadline is a
// hang guard (the process failed to exit), not a timing assertion.
func runGuarded(t *testing.T, ctx context.Context, args []string, vars map[string]string, logs io.Writer) result {
	t.Helper()
	done := make(chan result, 1)
	go func() { done <- execute(ctx, args, vars, logs) }()
	select {
	case r := <-done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the sidecar did not exit")
		return result{}
	}
}

// --exit-when-ready, as the webhook's fallback init container runs it: the
// normal daemon path, whose first STS attempt for one profile fails and is
// retried, and which exits 0 only when every profile's files are written
// and valid: the app containers that start next find credentials.
func TestExitWhenReadyExitsOnceEveryProfileIsWritten(t *testing.T) {
	srv := ststest.New(t)
	var mu sync.Mutex
	failed := false
	srv.FailWhen(func(c ststest.Call) *ststest.Fault {
		mu.Lock()
		defer mu.Unlock()
		if c.RoleArn != webRole || failed {
			return nil
		}
		failed = true
		return &ststest.Fault{Code: ststest.CodeAccessDenied}
	})
	profiles, _ := contract.Encode([]contract.Profile{
		{Name: "default", WebIdentityRoleARN: webRole, RoleARNs: []string{targetRole}, Region: "eu-west-1", STSEndpoint: srv.URL},
		{Name: "other", WebIdentityRoleARN: otherRole, STSEndpoint: srv.URL},
	})
	dir := filepath.Join(t.TempDir(), "out")
	vars := map[string]string{contract.EnvProfiles: profiles, contract.EnvOutputDir: dir, contract.EnvTokenFile: tokenFile(t)}
	logs := &syncbuf.Buffer{}

	r := runGuarded(t, context.Background(), []string{"--exit-when-ready"}, vars, logs)
	if r.code != 0 {
		t.Fatalf("exit %d: %s\nlogs:\n%s", r.code, r.stderr, logs)
	}

	// The failed attempt happened, and was retried before the exit.
	calls := srv.CallsOf(ststest.ActionAssumeRoleWithWebIdentity)
	var webAttempts, webIssued int
	for _, c := range calls {
		if c.RoleArn == webRole {
			webAttempts++
			if c.Issued != nil {
				webIssued++
			}
		}
	}
	if webAttempts != 2 || webIssued != 1 {
		t.Fatalf("AssumeRoleWithWebIdentity of %s: %d attempts, %d succeeded; want 2 and 1", webRole, webAttempts, webIssued)
	}

	// Every profile's files are there, valid, and hold the last hop's keys.
	if err := output.Check(dir, []string{"default", "other"}, time.Now()); err != nil {
		t.Fatalf("after exit 0 the probe fails: %v", err)
	}
	target, other := lastIssuedFor(srv, targetRole), lastIssuedFor(srv, otherRole)
	ini, _ := os.ReadFile(filepath.Join(dir, "credentials"))
	if !strings.Contains(string(ini), "[default]\naws_access_key_id = "+target.AccessKeyID) || !strings.Contains(string(ini), "[other]\naws_access_key_id = "+other.AccessKeyID) {
		t.Fatalf("credentials:\n%s", ini)
	}
	var js output.CredentialsJSON
	b, _ := os.ReadFile(filepath.Join(dir, "default.json"))
	if err := json.Unmarshal(b, &js); err != nil || js.AccessKeyID != target.AccessKeyID || js.SessionToken != target.SessionToken {
		t.Fatalf("default.json: %s (%v)", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "default.process.json")); err != nil {
		t.Fatal(err)
	}
	if cfg, _ := os.ReadFile(filepath.Join(dir, "config")); string(cfg) != "[default]\nregion = eu-west-1\n\n[profile other]\n" {
		t.Fatalf("config:\n%s", cfg)
	}

	// The daemon's logs: the failure, both refreshes, then the exit.
	logText := logs.String()
	for _, want := range []string{`"msg":"refresh failed"`, `"reason":"access_denied"`, `"msg":"every profile's credentials are written; exiting (--exit-when-ready)"`} {
		if !strings.Contains(logText, want) {
			t.Errorf("logs lack %s:\n%s", want, logText)
		}
	}
	if n := strings.Count(logText, `"msg":"credentials refreshed"`); n != 2 {
		t.Errorf("%d \"credentials refreshed\" lines, want 2 (one per profile):\n%s", n, logText)
	}
	for _, c := range srv.Issued() {
		for _, s := range []string{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, jwt} {
			if strings.Contains(logText, s) {
				t.Errorf("logs contain secret %q", s)
			}
		}
	}
}

// Stopped (SIGTERM) before every profile is written, --exit-when-ready
// fails: an init container that exited 0 would let the app start without
// credentials. The profile that did succeed does not make it ready.
func TestExitWhenReadyStoppedBeforeReadyFails(t *testing.T) {
	srv := ststest.New(t)
	srv.FailWhen(func(c ststest.Call) *ststest.Fault {
		if c.RoleArn == webRole {
			return &ststest.Fault{Code: ststest.CodeAccessDenied}
		}
		return nil
	})
	profiles, _ := contract.Encode([]contract.Profile{
		{Name: "default", WebIdentityRoleARN: webRole, STSEndpoint: srv.URL},
		{Name: "other", WebIdentityRoleARN: otherRole, STSEndpoint: srv.URL},
	})
	dir := t.TempDir()
	vars := map[string]string{contract.EnvProfiles: profiles, contract.EnvOutputDir: dir, contract.EnvTokenFile: tokenFile(t), "ROLECHAIN_EXIT_WHEN_READY": "true"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- execute(ctx, nil, vars, io.Discard) }()
	waitFor(t, func() bool {
		_, errOther := os.Stat(filepath.Join(dir, "other.json"))
		return errOther == nil && len(srv.CallsOf(ststest.ActionAssumeRoleWithWebIdentity)) >= 2
	})
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the sidecar did not exit")
	}
	if r.code != app.ExitFailure || !strings.Contains(r.stderr, "--exit-when-ready: stopped before every profile's credentials were written") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "default.json")); err == nil {
		t.Fatal("default.json exists although every attempt failed")
	}
}

func TestExitWhenReadyWithOnceIsAUsageError(t *testing.T) {
	r := execute(context.Background(), []string{"--once", "--exit-when-ready", "--web-identity-role-arn", webRole}, nil, io.Discard)
	if r.code != app.ExitUsage || !strings.Contains(r.stderr, "--exit-when-ready: cannot be combined with --once") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
}

// --once prints failures on stderr (each retry, then the final error): a
// peer that echoes the request must not get the token or the first hop's
// keys printed there.
func TestOnceNeverPrintsASecretAPeerEchoes(t *testing.T) {
	for _, action := range []string{ststest.ActionAssumeRoleWithWebIdentity, ststest.ActionAssumeRole} {
		t.Run(action, func(t *testing.T) {
			srv := ststest.New(t)
			srv.FailWhen(func(c ststest.Call) *ststest.Fault {
				if c.Action == action {
					return &ststest.Fault{Code: ststest.CodeThrottling, Echo: true}
				}
				return nil
			})
			var stdout, stderr bytes.Buffer
			env := app.Env{
				Lookup: func(string) (string, bool) { return "", false },
				Stdout: &stdout, Stderr: &stderr, Now: time.Now, Log: io.Discard,
				Sleep: func(context.Context, time.Duration) error { return nil },
			}
			code := app.Execute(context.Background(), []string{"--once", "--token-file", tokenFile(t), "--web-identity-role-arn", webRole,
				"--role-arn", targetRole, "--sts-endpoint", srv.URL}, env, app.Run(env))
			if code != app.ExitFailure || strings.Count(stderr.String(), "\n") != 3 || !strings.Contains(stderr.String(), "throttling") {
				t.Fatalf("exit %d, stderr:\n%s\nwant two retry lines and the final error", code, stderr.String())
			}
			secrets := []string{jwt}
			for _, c := range srv.Issued() {
				secrets = append(secrets, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
			}
			for _, s := range secrets {
				if strings.Contains(stderr.String(), s) {
					t.Errorf("stderr holds secret %q:\n%s", s, stderr.String())
				}
			}
			if !strings.Contains(stderr.String(), "[redacted ") {
				t.Errorf("nothing was redacted; did the peer echo? stderr:\n%s", stderr.String())
			}
		})
	}
}

// With the endpoint's port taken, the sidecar fails before it writes
// anything: no config and no fresh endpoint-token for a server that never
// starts (an app would read a token nobody checks).
func TestPortTakenFailsBeforeAnyFileIsWritten(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	srv := ststest.New(t)
	dir := t.TempDir()
	r := runGuarded(t, context.Background(), []string{"--web-identity-role-arn", webRole, "--token-file", tokenFile(t), "--sts-endpoint", srv.URL,
		"--output-dir", dir, "--credentials-endpoint-port", strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)}, nil, io.Discard)
	if r.code != app.ExitFailure || !strings.Contains(r.stderr, "--credentials-endpoint-port") || !strings.Contains(r.stderr, "address already in use") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written for a sidecar that did not start: %v", entries)
	}
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d STS calls for a sidecar that did not start", n)
	}
}

// An output directory the sidecar cannot write is a bad --output-dir,
// and the error says so.
func TestUnwritableOutputDirNamesTheFlag(t *testing.T) {
	dir := t.TempDir()
	// rename(2) cannot replace a non-empty directory, even as root.
	if err := os.MkdirAll(filepath.Join(dir, "config", "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := runGuarded(t, context.Background(), []string{"--web-identity-role-arn", webRole, "--token-file", tokenFile(t), "--output-dir", dir}, nil, io.Discard)
	if r.code != app.ExitFailure || !strings.HasPrefix(r.stderr, "rolechain-sidecar: --output-dir: ") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
}

// A line break in a role ARN or garbage after the profiles JSON exits 2
// with one line naming the flag, and no STS call is made.
func TestHostileValuesExitTwoBeforeAnySTSCall(t *testing.T) {
	srv := ststest.New(t)
	evil := "arn:aws:iam::333333333333:role/evil"
	profilesJSON := `[{"name":"default","webIdentityRoleARN":"` + webRole + `","stsEndpoint":"` + srv.URL + `"}]`
	for _, tc := range []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"line break in --role-arn", []string{"--web-identity-role-arn", webRole, "--role-arn", targetRole + "\n" + evil}, nil, `for "--role-arn" flag: `},
		{"line break in ROLECHAIN_ROLE_ARN", []string{"--web-identity-role-arn", webRole}, map[string]string{"ROLECHAIN_ROLE_ARN": targetRole + "\n" + evil}, "--role-arn (from ROLECHAIN_ROLE_ARN): "},
		{"garbage after ROLECHAIN_PROFILES", nil, map[string]string{contract.EnvProfiles: profilesJSON + "garbage"}, "--profiles (from ROLECHAIN_PROFILES): "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--once", "--token-file", tokenFile(t)}, tc.args...)
			if tc.vars == nil || tc.vars[contract.EnvProfiles] == "" {
				args = append(args, "--sts-endpoint", srv.URL)
			}
			r := execute(context.Background(), args, tc.vars, io.Discard)
			if r.code != app.ExitUsage || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and one line containing %q", r.code, r.stderr, tc.want)
			}
			if n := len(srv.Calls()); n != 0 {
				t.Fatalf("%d STS calls", n)
			}
		})
	}
}

// A 50 MB token file (the probe's) is refused at once: one line, no STS
// call, no retry (it will not pass by itself).
func TestOnceRefusesAnOversizedTokenWithoutCallingSTS(t *testing.T) {
	srv := ststest.New(t)
	big := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(big, bytes.Repeat([]byte("a"), 50<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	r := execute(context.Background(), []string{"--once", "--token-file", big, "--web-identity-role-arn", webRole, "--sts-endpoint", srv.URL}, nil, io.Discard)
	if r.code != app.ExitFailure || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "token_file") || !strings.Contains(r.stderr, "at most 20000 characters") {
		t.Fatalf("exit %d stderr %.500q", r.code, r.stderr)
	}
	if n := len(srv.Calls()); n != 0 {
		t.Fatalf("%d STS calls", n)
	}
}

// --once does not print credentials that arrive expired.
func TestOnceRefusesCredentialsThatArriveExpired(t *testing.T) {
	srv := ststest.New(t)
	srv.SetLifetime(-time.Minute)
	r := execute(context.Background(), []string{"--once", "--token-file", tokenFile(t), "--web-identity-role-arn", webRole, "--sts-endpoint", srv.URL}, nil, io.Discard)
	if r.code != app.ExitFailure || r.stdout != "" || !strings.Contains(r.stderr, "expires_too_soon") {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if n := len(srv.Calls()); n != 1 {
		t.Fatalf("%d STS calls, want 1 (no retry)", n)
	}
}

// With --source pod-identity (as the webhook configures it), the sidecar
// fetches the association role's credentials from the agent EKS's webhook
// names and chains from them. The agent first refuses, echoing the pod's
// token back; neither that token nor the agent's keys may reach the logs.
func TestPodIdentitySourceChainsFromTheAgentAndLeaksNothing(t *testing.T) {
	srv := ststest.New(t)
	const podToken = "eyJhbGciOiJSUzI1NiJ9.pod-identity-secret-token.sig"
	agentKeys := ststest.Credentials{AccessKeyID: "ASIAAGENTKEY00000001", SecretAccessKey: "agentSecretKey", SessionToken: "agentSessionToken",
		Expiration: time.Now().Add(6 * time.Hour).UTC().Truncate(time.Second)}
	srv.AddKey(agentKeys)
	var mu sync.Mutex
	requests := 0
	agent := httptestServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		first := requests == 1
		mu.Unlock()
		if first || r.Header.Get("Authorization") != podToken {
			http.Error(w, "association not found for token "+r.Header.Get("Authorization"), http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"AccessKeyId": agentKeys.AccessKeyID, "SecretAccessKey": agentKeys.SecretAccessKey,
			"Token": agentKeys.SessionToken, "Expiration": agentKeys.Expiration.Format(time.RFC3339)})
	})
	tokenPath := filepath.Join(t.TempDir(), "eks-pod-identity-token")
	os.WriteFile(tokenPath, []byte(podToken), 0o600)
	profiles, _ := contract.Encode([]contract.Profile{{Name: "default", RoleARNs: []string{targetRole}, ExternalID: "ext-1", STSEndpoint: srv.URL}})
	dir := t.TempDir()
	vars := map[string]string{
		contract.EnvProfiles: profiles, contract.EnvOutputDir: dir, contract.EnvSource: contract.SourcePodIdentity,
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": agent + "/v1/credentials", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenPath,
		contract.EnvPodNamespace: "team-a", contract.EnvPodName: "app-1", contract.EnvServiceAccount: "app",
	}
	logs := startDaemon(t, vars)

	calls := srv.Calls()
	if len(calls) != 1 || calls[0].SignedBy != agentKeys.AccessKeyID || calls[0].ExternalID != "ext-1" || calls[0].RoleArn != targetRole {
		t.Fatalf("STS calls %+v, want one AssumeRole into the target signed with the agent's credentials, with the external ID", calls)
	}
	ini, _ := os.ReadFile(filepath.Join(dir, "credentials"))
	if !strings.Contains(string(ini), "aws_access_key_id = "+calls[0].Issued.AccessKeyID) {
		t.Fatalf("credentials file lacks the target's keys:\n%s", ini)
	}
	logText := logs.String()
	if !strings.Contains(logText, `"reason":"source_credentials"`) {
		t.Errorf("the refused first attempt is not logged as source_credentials:\n%s", logText)
	}
	for _, s := range []string{podToken, "pod-identity-secret-token", agentKeys.SecretAccessKey, agentKeys.SessionToken, calls[0].Issued.SecretAccessKey, calls[0].Issued.SessionToken} {
		if strings.Contains(logText, s) {
			t.Errorf("logs contain secret %q", s)
		}
	}
}

func httptestServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: h}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return "http://" + l.Addr().String()
}
