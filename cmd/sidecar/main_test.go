package main_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rolechain/rolechain/internal/ststest"
	"github.com/rolechain/rolechain/internal/syncbuf"
	"github.com/rolechain/rolechain/sidecar/output"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the sidecar once for every test of the package.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rolechain-sidecar-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "rolechain-sidecar")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// sidecar is a running binary whose first credentials are on disk.
type sidecar struct {
	cmd  *exec.Cmd
	dir  string
	logs *syncbuf.Buffer
}

func startSidecar(t *testing.T, extra ...string) *sidecar {
	t.Helper()
	return startSidecarLimited(t, 0, extra...)
}

// startSidecarLimited runs the sidecar with at most nofile open
// descriptors (0: inherited).
func startSidecarLimited(t *testing.T, nofile int, extra ...string) *sidecar {
	t.Helper()
	bin := binary(t)
	srv := ststest.New(t)
	s := &sidecar{dir: t.TempDir(), logs: &syncbuf.Buffer{}}
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte("jwt"), 0o600)
	args := append([]string{"--web-identity-role-arn", "arn:aws:iam::111111111111:role/web", "--role-arn", "arn:aws:iam::222222222222:role/target",
		"--sts-endpoint", srv.URL, "--token-file", token, "--output-dir", s.dir}, extra...)
	s.cmd = exec.Command(bin, args...)
	if nofile > 0 {
		s.cmd = exec.Command("sh", append([]string{"-c", "ulimit -n " + strconv.Itoa(nofile) + ` && exec "$@"`, "sh", bin}, args...)...)
	}
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		if t.Failed() {
			t.Logf("sidecar logs:\n%s", s.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for output.Check(s.dir, []string{"default"}, time.Now()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("no credentials written")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// The built binary exits 0 on SIGTERM (the kubelet stops a native sidecar
// with SIGTERM; a non-zero exit would mark the pod failed).
func TestBinaryExitsZeroOnSIGTERM(t *testing.T) {
	s := startSidecar(t, "--credentials-endpoint-port", "0")
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	t.Logf("exited 0 %s after SIGTERM", time.Since(start))
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// procStatus reads one field (in kB for memory) of /proc/PID/status.
func procStatus(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// The credentials endpoint under clients that send a request's head, with
// a body announced, and never the body, under a limit of 128 descriptors.
// The probe held 3,000 of them: RSS from 15 to 90 MB, and with 128
// descriptors every refresh failed with "too many open files" while Go's
// "http: Accept error" lines went to stderr outside the JSON log. Now the
// sidecar holds at most serve.MaxConns() of them (32 under this limit),
// its memory stays far below the pod's 64Mi limit, a client that sends its
// request at once is served, every stalled connection is closed by the
// sidecar, and refreshes (every 10 s here) go on while the stalled clients
// keep reconnecting.
func TestBinaryEndpointUnderAFloodOfStalledClients(t *testing.T) {
	const nofile = 128
	maxConns := nofile / 4 // serve.MaxConns() under this limit
	port := freePort(t)
	s := startSidecarLimited(t, nofile, "--credentials-endpoint-port", strconv.Itoa(port), "--refresh-interval", "10s")
	pid := s.cmd.Process.Pid
	token, err := os.ReadFile(filepath.Join(s.dir, "endpoint-token"))
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	fdsBefore, rssBefore := openFDs(t, pid), procStatus(t, pid, "VmRSS")
	// A refresh in progress holds a few more for a moment: the STS
	// connection, the token, a temporary file, the directory it syncs.
	const refreshFDs = 6
	checkFDs := func() {
		t.Helper()
		if fds := openFDs(t, pid); fds > fdsBefore+maxConns+refreshFDs {
			t.Fatalf("%d open descriptors, %d before: the connection cap (%d) does not hold", fds, fdsBefore, maxConns)
		}
	}
	head := "GET /v1/credentials/default HTTP/1.1\r\nHost: x\r\nAuthorization: " + string(token) + "\r\nContent-Length: 4096\r\n\r\n"
	stall := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dialing: %v", err)
		}
		io.WriteString(c, head)
		return c
	}

	// 2,000 stalled clients, then a well-behaved one.
	const stalled = 2000
	conns := make([]net.Conn, stalled)
	for i := range conns {
		conns[i] = stall()
		defer conns[i].Close()
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/credentials/default", nil)
	req.Header.Set("Authorization", string(token))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("a normal client after %d stalled ones: %v", stalled, err)
	}
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body["AccessKeyId"] == "" {
		t.Fatalf("a normal client after %d stalled ones: status %d, body %v", stalled, resp.StatusCode, body)
	}
	checkFDs()
	rss := procStatus(t, pid, "VmRSS")
	t.Logf("%d stalled clients: VmRSS %d kB (%d before)", stalled, rss, rssBefore)
	if rss > 40<<10 {
		t.Errorf("VmRSS %d kB with %d stalled clients (%d kB before): the pod's limit is 64Mi", rss, stalled, rssBefore)
	}
	// The sidecar closes every one of them (our read deadline is a hang
	// guard).
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("stalled connection %d is still open", i)
		}
	}

	// The same clients reconnecting as soon as they are closed: the
	// refreshes go on.
	stop := make(chan struct{})
	var flood sync.WaitGroup
	defer func() { close(stop); flood.Wait() }()
	for range 200 {
		flood.Add(1)
		go func() {
			defer flood.Done()
			for {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				io.WriteString(c, head)
				done := make(chan struct{})
				go func() { io.Copy(io.Discard, c); close(done) }()
				select {
				case <-stop:
					c.Close()
					<-done
					return
				case <-done:
					c.Close()
				}
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(s.logs.String(), `"msg":"credentials refreshed"`) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no refresh under the flood")
		}
		checkFDs()
		time.Sleep(50 * time.Millisecond)
	}
	logs := s.logs.String()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("a line outside the JSON log: %s", line)
		}
	}
	if strings.Contains(logs, "too many open files") || strings.Contains(logs, `"msg":"refresh failed"`) {
		t.Errorf("refreshes failed under the flood")
	}
}
