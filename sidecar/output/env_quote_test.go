package output

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Behind Env's refusal (the credentials' own rules), its quoting alone
// keeps eval by sh from running anything, whatever a value holds.
func TestEnvEvalRunsNothing(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "ran")
	for _, v := range []string{
		"x; touch " + flag, "x'; touch " + flag + "; '", "$(touch " + flag + ")", "`touch " + flag + "`",
		"x\ntouch " + flag, "x\rtouch " + flag, "'\\''; touch " + flag, "a b\tc", "",
	} {
		out, err := exec.Command("/bin/sh", "-c", "export AWS_SESSION_TOKEN="+shQuote(v)+"\n"+`printf %s "$AWS_SESSION_TOKEN"`).Output()
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
