package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rolechain/rolechain/internal/ststest"
	"github.com/rolechain/rolechain/sidecar/output"
)

// The built binary exits 0 on SIGTERM (the kubelet stops a native sidecar
// with SIGTERM; a non-zero exit would mark the pod failed).
func TestBinaryExitsZeroOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "rolechain-sidecar")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := ststest.New(t)
	dir := t.TempDir()
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte("jwt"), 0o600)
	cmd := exec.Command(bin, "--web-identity-role-arn", "arn:aws:iam::111111111111:role/web", "--role-arn", "arn:aws:iam::222222222222:role/target",
		"--sts-endpoint", srv.URL, "--token-file", token, "--output-dir", dir, "--credentials-endpoint-port", "0")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	defer func() {
		if t.Failed() {
			t.Logf("sidecar logs:\n%s", logs.String())
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for output.Check(dir, []string{"default"}, time.Now()) != nil {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no credentials written")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	t.Logf("exited 0 %s after SIGTERM", time.Since(start))
}
