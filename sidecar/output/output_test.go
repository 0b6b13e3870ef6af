package output_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rolechain/rolechain/sidecar/chain"
	"github.com/rolechain/rolechain/sidecar/output"
)

var creds = chain.Credentials{AccessKeyID: "ASIAKEYKEYKEYKEY", SecretAccessKey: "secret/+=", SessionToken: "tok", Expiration: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)}

func TestCredentialsINIHasASectionPerProfile(t *testing.T) {
	b, err := output.CredentialsINI([]output.Named{{Profile: "default", Credentials: creds}, {Profile: "other", Credentials: creds}})
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	want := "[default]\naws_access_key_id = ASIAKEYKEYKEYKEY\naws_secret_access_key = secret/+=\naws_session_token = tok\n\n" +
		"[other]\naws_access_key_id = ASIAKEYKEYKEYKEY\naws_secret_access_key = secret/+=\naws_session_token = tok\n"
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestConfigINIUsesProfilePrefixExceptForDefault(t *testing.T) {
	b, err := output.ConfigINI([]output.Named{{Profile: "default", Region: "eu-west-1"}, {Profile: "prod", Region: "cn-north-1"}, {Profile: "noregion"}})
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	want := "[default]\nregion = eu-west-1\n\n[profile prod]\nregion = cn-north-1\n\n[profile noregion]\n"
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestJSONFormsCarryExpirationAsTheSDKsExpect(t *testing.T) {
	named := output.Named{Profile: "default", Credentials: creds}
	b, err := output.JSON(named)
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	json.Unmarshal(b, &j)
	if j["access_key_id"] != "ASIAKEYKEYKEYKEY" || j["secret_access_key"] != "secret/+=" || j["session_token"] != "tok" || j["expiration"] != float64(creds.Expiration.Unix()) {
		t.Errorf("credentials JSON = %v", j)
	}
	if b, err = output.Process(named); err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	json.Unmarshal(b, &p)
	if p["Version"] != float64(1) || p["AccessKeyId"] != "ASIAKEYKEYKEYKEY" || p["SecretAccessKey"] != "secret/+=" || p["SessionToken"] != "tok" || p["Expiration"] != "2026-11-24T08:00:00Z" {
		t.Errorf("credential_process JSON = %v", p)
	}
}

func TestRenderOneShotFormats(t *testing.T) {
	env, err := output.Render(output.FormatEnv, []output.Named{{Profile: "default", Region: "eu-west-1", Credentials: creds}})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"export AWS_ACCESS_KEY_ID='ASIAKEYKEYKEYKEY'\n", "export AWS_SECRET_ACCESS_KEY='secret/+='\n", "export AWS_SESSION_TOKEN='tok'\n", "export AWS_CREDENTIAL_EXPIRATION='2026-11-24T08:00:00Z'\n", "export AWS_REGION='eu-west-1'\n"} {
		if !strings.Contains(string(env), line) {
			t.Errorf("env output lacks %q:\n%s", line, env)
		}
	}
	two := []output.Named{{Profile: "a", Credentials: creds}, {Profile: "b", Credentials: creds}}
	if _, err := output.Render(output.FormatJSON, two); err == nil || !strings.Contains(err.Error(), "--format json") {
		t.Errorf("json with two profiles: err = %v, want one naming --format", err)
	}
	if ini, err := output.Render(output.FormatINI, two); err != nil || !bytes.Contains(ini, []byte("[b]")) {
		t.Errorf("ini with two profiles: %v %s", err, ini)
	}
}

func TestDirPublishesAndWithdrawsProfiles(t *testing.T) {
	dir := t.TempDir()
	d := output.NewDir(dir, 0o644, -1, []output.Named{{Profile: "default", Region: "eu-west-1"}, {Profile: "other"}})
	if err := d.WriteConfig(); err != nil {
		t.Fatal(err)
	}
	now := creds.Expiration.Add(-time.Hour)
	if err := output.Check(dir, []string{"default"}, now); err == nil {
		t.Fatal("probe passed before any credentials were written")
	}
	if err := d.Publish("default", creds); err != nil {
		t.Fatal(err)
	}
	if err := output.Check(dir, []string{"default"}, now); err != nil {
		t.Fatalf("probe after publish: %v", err)
	}
	err := output.Check(dir, []string{"default", "other"}, now)
	if err == nil || !strings.Contains(err.Error(), "profile other") || strings.Contains(err.Error(), "profile default") {
		t.Fatalf("probe with one profile missing: %v, want an error naming only that profile", err)
	}
	if err := output.Check(dir, []string{"default"}, creds.Expiration); err == nil {
		t.Fatal("probe passed at the expiration time")
	}
	ini, _ := os.ReadFile(filepath.Join(dir, "credentials"))
	if !strings.Contains(string(ini), "[default]") || strings.Contains(string(ini), "[other]") {
		t.Fatalf("credentials file:\n%s", ini)
	}
	if _, err := os.Stat(filepath.Join(dir, "default.process.json")); err != nil {
		t.Fatal(err)
	}
	if err := d.Withdraw("default"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"default.json", "default.process.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s still exists after withdraw", f)
		}
	}
	if ini, _ := os.ReadFile(filepath.Join(dir, "credentials")); len(ini) != 0 {
		t.Errorf("credentials after withdraw:\n%s", ini)
	}
	if cfg, _ := os.ReadFile(filepath.Join(dir, "config")); !strings.Contains(string(cfg), "[profile other]") {
		t.Errorf("config:\n%s", cfg)
	}
}
