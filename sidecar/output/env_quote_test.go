package output

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rolechain/rolechain/sidecar/chain"
)

// eval of Env's output by sh must set the variables to the values and run
// nothing, whatever the values hold (belt and braces behind chain's check).
func TestEnvEvalRunsNothing(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "ran")
	for _, v := range []string{
		"x; touch " + flag, "x'; touch " + flag + "; '", "$(touch " + flag + ")", "`touch " + flag + "`",
		"x\ntouch " + flag, "x\rtouch " + flag, "'\\''; touch " + flag, "a b\tc", "",
	} {
		p := Named{Profile: "default", Region: "eu-west-1", Credentials: chain.Credentials{
			AccessKeyID: v, SecretAccessKey: v, SessionToken: v, Expiration: time.Unix(0, 0)}}
		out, err := exec.Command("/bin/sh", "-c", string(Env(p))+`printf %s "$AWS_SESSION_TOKEN"`).Output()
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if _, err := os.Stat(flag); err == nil {
			t.Fatalf("eval of %q ran a command", v)
		}
		if string(out) != v {
			t.Errorf("AWS_SESSION_TOKEN = %q, want %q", out, v)
		}
	}
}
