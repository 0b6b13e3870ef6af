package app_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/rolechain/rolechain/cmd/sidecar/app"
	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/internal/ststest"
	"github.com/rolechain/rolechain/internal/syncbuf"
	"github.com/rolechain/rolechain/sidecar/output"
)

// What a hostile STS-compatible peer (or anyone on the path of an http://
// endpoint) appends to the target hop's answer, in issue #21's words: INI
// text that makes the SDKs run a command from the shared credentials file,
// a shell command after ';' for `eval "$(rolechain-sidecar --once --format
// env)"`, and a quote that ends a JSON string. marker is the file the
// command would create.
func injections(marker string) map[string]func(ststest.Credentials) ststest.Credentials {
	section := "\n[default]\nrole_arn = arn:aws:iam::222222222222:role/x\nsource_profile = evil\n\n[evil]\ncredential_process = sh -c 'touch " + marker + "'\n"
	return map[string]func(ststest.Credentials) ststest.Credentials{
		"ini section in the session token":   func(c ststest.Credentials) ststest.Credentials { c.SessionToken += section; return c },
		"shell command in the session token": func(c ststest.Credentials) ststest.Credentials { c.SessionToken += "; touch " + marker; return c },
		"shell command in the secret": func(c ststest.Credentials) ststest.Credentials {
			c.SecretAccessKey += "$(touch " + marker + ")"
			return c
		},
		"quote in the access key":      func(c ststest.Credentials) ststest.Credentials { c.AccessKeyID += `","x":"`; return c },
		"line break in the access key": func(c ststest.Credentials) ststest.Credentials { c.AccessKeyID += section; return c },
	}
}

// tamperTarget applies f to every answer for the target role.
func tamperTarget(f func(ststest.Credentials) ststest.Credentials) ststest.Tamper {
	return func(c ststest.Call, issued ststest.Credentials) ststest.Credentials {
		if c.Action == ststest.ActionAssumeRole && c.RoleArn == targetRole {
			return f(issued)
		}
		return issued
	}
}

// --once, in every format, prints nothing and fails when the peer's answer
// carries text that could end a line, a section, a JSON string or a shell
// word; the error names the field and none of the peer's text; and the
// CI step's own `eval` of the output runs nothing.
func TestOnceRefusesWhatAHostilePeerIssuesInEveryFormat(t *testing.T) {
	srv := ststest.New(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	base := []string{"--once", "--token-file", tokenFile(t), "--web-identity-role-arn", webRole, "--role-arn", targetRole, "--sts-endpoint", srv.URL, "--region", "eu-west-1"}
	for name, inject := range injections(marker) {
		srv.SetTamper(tamperTarget(inject))
		for _, format := range output.Formats {
			t.Run(name+"/"+format, func(t *testing.T) {
				srv.Reset()
				r := execute(context.Background(), append(base, "--format", format), nil, io.Discard)
				if r.code != app.ExitFailure || r.stdout != "" {
					t.Fatalf("exit %d, stdout %q; want exit %d and nothing printed", r.code, r.stdout, app.ExitFailure)
				}
				if !strings.Contains(r.stderr, "invalid_credentials") && !strings.Contains(r.stderr, "refused credentials") {
					t.Errorf("stderr does not say the credentials were refused:\n%s", r.stderr)
				}
				for _, leak := range []string{"touch", "evil", "credential_process", `"x"`} {
					if strings.Contains(r.stderr, leak) {
						t.Errorf("stderr repeats the peer's text %q:\n%s", leak, r.stderr)
					}
				}
				if calls := srv.CallsOf(ststest.ActionAssumeRole); len(calls) != 1 {
					t.Errorf("%d AssumeRole calls; a refused answer is final, not retried", len(calls))
				}
				if format == output.FormatEnv {
					if out, err := exec.Command("sh", "-c", `eval "$1"`, "sh", r.stdout).CombinedOutput(); err != nil {
						t.Fatalf("eval: %v: %s", err, out)
					}
				}
				if _, err := os.Stat(marker); err == nil {
					t.Fatal("the injected command ran")
				}
			})
		}
	}
}

// The daemon, as a pod runs it: good credentials are written, then every
// refresh brings a hostile answer. The files keep the last good keys
// (nothing of the peer's text reaches them), the refusal is logged with its
// reason, and aws-sdk-go-v2's LoadDefaultConfig on the app's side reads the
// good keys and runs no command. The same SDK on a file that does carry the
// injected text runs it: the attack is real, not assumed.
func TestTheDaemonKeepsTheLastGoodFilesWhenAHostilePeerAnswers(t *testing.T) {
	srv := ststest.New(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	profiles, _ := contract.Encode([]contract.Profile{
		{Name: "default", WebIdentityRoleARN: webRole, RoleARNs: []string{targetRole}, Region: "eu-west-1", STSEndpoint: srv.URL},
	})
	dir := filepath.Join(t.TempDir(), "out")
	vars := map[string]string{contract.EnvProfiles: profiles, contract.EnvOutputDir: dir, contract.EnvTokenFile: tokenFile(t)}
	if r := runGuarded(t, context.Background(), []string{"--exit-when-ready"}, vars, io.Discard); r.code != 0 {
		t.Fatalf("first run: exit %d: %s", r.code, r.stderr)
	}
	good := lastIssuedFor(srv, targetRole)
	before := readDir(t, dir)

	srv.SetTamper(tamperTarget(injections(marker)["ini section in the session token"]))
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- execute(ctx, nil, vars, logs) }()
	// Until the tampered answer is refused, or (without the check) written.
	waitFor(t, func() bool {
		l := logs.String()
		return strings.Contains(l, `"reason":"invalid_credentials"`) || strings.Contains(l, `"msg":"credentials refreshed"`)
	})
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the sidecar did not exit")
	}

	after := readDir(t, dir)
	for name, b := range before {
		if after[name] != b {
			t.Errorf("%s changed after a refused answer:\n%s", name, after[name])
		}
	}
	for name, b := range after {
		if strings.Contains(b, "evil") || strings.Contains(b, "touch") {
			t.Errorf("%s holds the peer's text:\n%s", name, b)
		}
	}
	for _, s := range []string{"evil", "touch", "credential_process"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs repeat the peer's text %q", s)
		}
	}

	if got := retrieveWithTheSDK(t, dir, srv.URL); got != good.AccessKeyID {
		t.Errorf("the SDK read access key %q, want the last good one", got)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the SDK ran the injected command")
	}

	// The control: the file the daemon would have written without the
	// check makes the same SDK call run the command.
	hostile := t.TempDir()
	os.WriteFile(filepath.Join(hostile, "config"), []byte(after["config"]), 0o600)
	os.WriteFile(filepath.Join(hostile, "credentials"), []byte("[default]\naws_access_key_id = "+good.AccessKeyID+
		"\naws_secret_access_key = "+good.SecretAccessKey+"\naws_session_token = "+injections(marker)["ini section in the session token"](good).SessionToken), 0o600)
	retrieveWithTheSDK(t, hostile, srv.URL)
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("control: the SDK did not run credential_process from an injected section; the test above proves nothing")
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			files[e.Name()] = string(b)
		}
	}
	return files
}

// retrieveWithTheSDK is the app's side: config.LoadDefaultConfig with the
// files the webhook points the app at, and one Retrieve. It returns the
// access key, or "" when the SDK found none it could use.
func retrieveWithTheSDK(t *testing.T, dir, stsURL string) string {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_ENDPOINT_URL_STS":        stsURL, // an injected role_arn must not reach the internet
		"AWS_PROFILE":                 "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_ROLE_ARN": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return ""
	}
	c, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return ""
	}
	return c.AccessKeyID
}
