package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/rolechain/rolechain/test/bench/benchenv"
)

const (
	kindRolechain = "rolechain"
	kindEKS       = "eks"
	// kindNull is ./nullwebhook: TLS and HTTP with no webhook logic, the
	// floor the others are measured against.
	kindNull = "null"
)

type targetSpec struct {
	name, kind, binary string
}

// parseTarget reads name=kind:binary.
func parseTarget(s string) (targetSpec, error) {
	name, rest, ok := strings.Cut(s, "=")
	kind, binary, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || name == "" || (kind != kindRolechain && kind != kindEKS && kind != kindNull) || (kind == kindEKS && binary == "") {
		return targetSpec{}, fmt.Errorf("-target %q: want name=rolechain:[binary], name=eks:binary or name=null:", s)
	}
	if binary != "" {
		abs, err := filepath.Abs(binary)
		if err != nil {
			return targetSpec{}, err
		}
		binary = abs
	}
	return targetSpec{name: name, kind: kind, binary: binary}, nil
}

// buildRolechain builds ./cmd/webhook as the image does (static, trimmed),
// with the benchmark-only pprof flag when a profile is wanted.
func buildRolechain(ctx context.Context, workDir string, pprof bool) (string, error) {
	var tags []string
	if pprof {
		tags = []string{"-tags", "rolechain_pprof"}
	}
	return build(ctx, filepath.Join(workDir, "rolechain-webhook"), "./cmd/webhook", tags...)
}

func build(ctx context.Context, out, pkg string, flags ...string) (string, error) {
	args := append([]string{"build", "-trimpath", "-o", out}, flags...)
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s: %w", pkg, err)
	}
	return out, nil
}

type target struct {
	targetSpec
	cmd       *exec.Cmd
	url       string
	logPath   string
	pprofAddr string
	ca        *benchenv.Authority
	patchOps  int
	exited    chan struct{}
}

// startTarget starts the webhook as a child process serving TLS on a free
// loopback port, with a certificate of its own and the cluster's kubeconfig.
func startTarget(ctx context.Context, s targetSpec, c *benchenv.Cluster, cfg config) (*target, error) {
	ca, err := benchenv.NewCA()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.workDir, s.name)
	certPath, keyPath, err := ca.WriteServing(filepath.Join(dir, "certs"))
	if err != nil {
		return nil, err
	}
	port, err := benchenv.FreePort()
	if err != nil {
		return nil, err
	}
	t := &target{targetSpec: s, ca: ca, logPath: filepath.Join(dir, "webhook.log"), exited: make(chan struct{})}
	var args []string
	switch s.kind {
	case kindRolechain:
		t.url = fmt.Sprintf("https://127.0.0.1:%d/mutate-v1-pod?timeout=10s", port)
		args = []string{
			"--port", strconv.Itoa(port), "--cert-dir", filepath.Dir(certPath),
			"--metrics-bind-address", "0", "--health-probe-bind-address", "0",
			"--sidecar-image", "registry.example.com/rolechain/sidecar:bench",
			"--default-region", region, "--excluded-namespaces", "kube-system",
		}
		if cfg.profile > 0 {
			// Other builds given with -target must have the flag too
			// (-tags rolechain_pprof).
			pp, err := benchenv.FreePort()
			if err != nil {
				return nil, err
			}
			t.pprofAddr = fmt.Sprintf("127.0.0.1:%d", pp)
			args = append(args, "--pprof-bind-address", t.pprofAddr)
		}
	case kindNull:
		t.url = fmt.Sprintf("https://127.0.0.1:%d/?timeout=10s", port)
		args = []string{"--port", strconv.Itoa(port), "--tls-cert", certPath, "--tls-key", keyPath}
	case kindEKS:
		// As EKS runs it: region and regional STS endpoint set.
		mp, err := benchenv.FreePort()
		if err != nil {
			return nil, err
		}
		t.url = fmt.Sprintf("https://127.0.0.1:%d/mutate?timeout=10s", port)
		args = []string{
			"--in-cluster=false", "--kubeconfig", c.Kubeconfig,
			"--tls-cert", certPath, "--tls-key", keyPath,
			"--port", strconv.Itoa(port), "--metrics-port", strconv.Itoa(mp),
			"--aws-default-region", region, "--sts-regional-endpoint=true",
			"--token-audience", "sts.amazonaws.com", "--logtostderr",
		}
	}
	logFile, err := os.Create(t.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	t.cmd = exec.Command(s.binary, args...)
	t.cmd.Env = append(append(os.Environ(), "KUBECONFIG="+c.Kubeconfig), cfg.env[s.name]...)
	t.cmd.Stdout, t.cmd.Stderr = logFile, logFile
	// Should the bench die without stopping it, so does the webhook.
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", s.name, err)
	}
	go func() { _ = t.cmd.Wait(); close(t.exited) }()
	return t, nil
}

func (t *target) pid() int { return t.cmd.Process.Pid }

func (t *target) stop() {
	select {
	case <-t.exited:
		return
	default:
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.exited:
	case <-time.After(15 * time.Second):
		_ = t.cmd.Process.Kill()
		<-t.exited
	}
}

func (t *target) logTail() string {
	b, _ := os.ReadFile(t.logPath)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// check waits until the webhook answers the review with a JSON patch: its
// TLS server is up and its ServiceAccount cache has the ServiceAccount.
func (t *target) check(ctx context.Context, body []byte) error {
	client := &http.Client{Transport: newTransport(t.ca, false), Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-t.exited:
			return fmt.Errorf("%s exited:\n%s", t.name, t.logTail())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := send(ctx, client, t.url, body)
		if err != nil {
			last = err.Error()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		var ar admissionv1.AdmissionReview
		if err := json.Unmarshal(resp, &ar); err != nil || ar.Response == nil {
			last = fmt.Sprintf("not an AdmissionReview: %.300s", resp)
		} else if t.kind == kindNull && ar.Response.Allowed {
			return nil
		} else if !ar.Response.Allowed || len(ar.Response.Patch) == 0 {
			last = fmt.Sprintf("no patch: %.500s", resp)
		} else {
			var ops []map[string]any
			if err := json.Unmarshal(ar.Response.Patch, &ops); err != nil {
				return fmt.Errorf("%s: patch is not JSON: %w", t.name, err)
			}
			t.patchOps = len(ops)
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s never mutated the pod (last: %s); its log:\n%s", t.name, last, t.logTail())
}

// send posts one review as kube-apiserver does and returns the body of a
// 200 answer.
func send(ctx context.Context, client *http.Client, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, */*")
	req.Header.Set("User-Agent", "kube-apiserver-admission")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
	}
	return b, nil
}

// cpuProfile records a CPU profile from the webhook's /debug/pprof under
// the load of cfg.profilePhase, then a heap profile (<name>.heap.pprof).
func (t *target) cpuProfile(ctx context.Context, body []byte, cfg config) (string, error) {
	path := filepath.Join(cfg.workDir, t.name+".cpu.pprof")
	done := make(chan error, 1)
	go func() {
		c := &http.Client{Timeout: cfg.profile + 30*time.Second}
		resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", t.pprofAddr, int(cfg.profile.Seconds())))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		done <- errors.Join(err, f.Close())
	}()
	ph := cfg.profilePhase
	pcfg := cfg
	pcfg.duration = cfg.profile + time.Second
	if _, err := measure(ctx, t, ph, body, pcfg); err != nil {
		return "", err
	}
	if err := <-done; err != nil {
		return "", err
	}
	// And what the heap holds right after the load.
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/heap", t.pprofAddr))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	heap, err := os.Create(filepath.Join(cfg.workDir, t.name+".heap.pprof"))
	if err != nil {
		return "", err
	}
	_, err = io.Copy(heap, resp.Body)
	return path, errors.Join(err, heap.Close())
}

// cpuSeconds is the process's user+system CPU time so far, over all its
// threads (live and exited), from /proc/<pid>/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields restart after ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// utime and stime are fields 14 and 15 of the file, 12 and 13 here.
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (utime + stime) / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// memKiB returns the process's resident set (VmRSS) and its anonymous
// part (RssAnon: heap, stacks; the rest is mapped files, mostly the
// binary's own pages), in KiB.
func memKiB(pid int) (rss, anon int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	field := func(line, name string) (int64, bool) {
		v, ok := strings.CutPrefix(line, name+":")
		if !ok {
			return 0, false
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		return n, true
	}
	for _, line := range strings.Split(string(b), "\n") {
		if n, ok := field(line, "VmRSS"); ok {
			rss = n
		} else if n, ok := field(line, "RssAnon"); ok {
			anon = n
		}
	}
	return rss, anon
}

func numCPU() int { return runtime.NumCPU() }
