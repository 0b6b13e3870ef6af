package harden_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rolechain/rolechain/sidecar/harden"
)

// TestMain lets the test binary run as the child below: it hardens itself
// (or not), says its pid and waits to be killed.
func TestMain(m *testing.M) {
	switch os.Getenv("HARDEN_CHILD") {
	case "harden":
		if err := harden.NonDumpable(); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fallthrough
	case "plain":
		fmt.Println("ready")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// owner starts the test binary as another UID, as a co-tenant container
// with the sidecar's UID would see it, and returns the owner the kernel
// shows for its /proc/<pid>/environ.
func owner(t *testing.T, mode string) uint32 {
	t.Helper()
	// A copy the other UID may execute (go test's own directory is root's).
	dir, err := os.MkdirTemp("", "harden")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := dir + "/harden.test"
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), "HARDEN_CHILD="+mode)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("child said %q", line)
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/"+strconv.Itoa(cmd.Process.Pid)+"/environ", &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid
}

// A non-dumpable process's /proc files belong to root, so a second process
// of the same UID (a co-tenant container) cannot read its environment,
// memory or root; a dumpable one's belong to its UID.
func TestANonDumpableProcessHidesItsProcFilesFromItsOwnUID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a process as another UID")
	}
	if got := owner(t, "plain"); got != 65532 {
		t.Fatalf("a plain process's environ is owned by %d, want 65532: the test cannot tell the difference", got)
	}
	if got := owner(t, "harden"); got != 0 {
		t.Fatalf("a hardened process's environ is owned by %d, want 0 (root): its own UID can read it", got)
	}
}
