// Command stalled measures what stalled clients cost the webhook (issue 21
// item 2): it starts the webhook binary given with -binary against
// envtest's kube-apiserver, opens -conns TLS connections on loopback that
// each announce a -announce byte body and send one byte, holds them, and
// reports the webhook process's VmRSS and open descriptors, and how fast a
// real AdmissionReview sent meanwhile is answered. Bounded: -conns
// connections, one review a second, -hold seconds.
//
//	go build -o bin/ ./cmd/webhook
//	KUBEBUILDER_ASSETS=/work/ci-base/bin/k8s go run ./test/bench/stalled -binary bin/webhook
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/rolechain/rolechain/test/bench/benchenv"
	"github.com/rolechain/rolechain/webhook/annotations"
)

const (
	namespace      = "bench"
	serviceAccount = "web"
	targetRole     = "arn:aws:iam::222222222222:role/web-target"
)

func main() {
	binary := flag.String("binary", "bin/webhook", "webhook binary to measure")
	conns := flag.Int("conns", 200, "stalled connections to hold (at most 1000)")
	announce := flag.Int("announce", 7_000_000, "Content-Length each stalled request announces")
	hold := flag.Duration("hold", 40*time.Second, "how long to hold them (at most 2m)")
	flag.Parse()
	if *conns > 1000 || *hold > 2*time.Minute {
		fmt.Fprintln(os.Stderr, "-conns at most 1000, -hold at most 2m")
		os.Exit(2)
	}
	if err := run(*binary, *conns, *announce, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "stalled:", err)
		os.Exit(1)
	}
}

func run(binary string, conns, announce int, hold time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), hold+3*time.Minute)
	defer cancel()
	work, err := os.MkdirTemp("", "stalled-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	c, err := benchenv.StartCluster(ctx, work,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceAccount, Namespace: namespace}},
	)
	if err != nil {
		return err
	}
	defer c.Stop()
	kubeconfig := c.Kubeconfig

	ca, err := benchenv.NewCA()
	if err != nil {
		return err
	}
	if _, _, err := ca.WriteServing(filepath.Join(work, "certs")); err != nil {
		return err
	}
	pool := ca.Pool
	port, err := benchenv.FreePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logPath := filepath.Join(work, "webhook.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(binary, "--port", strconv.Itoa(port), "--cert-dir", filepath.Join(work, "certs"),
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		"--sidecar-image", "registry.example.com/rolechain/sidecar:bench", "--default-region", "eu-west-1")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	pid := cmd.Process.Pid

	body, err := reviewBody()
	if err != nil {
		return err
	}
	tc := &tls.Config{RootCAs: pool}
	real := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 1}}
	url := "https://" + addr + "/mutate-v1-pod?timeout=10s"
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, patched, err := review(real, url, body); err == nil && patched {
			break
		} else if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("webhook not answering with a patch (%v):\n%s", err, tail(b))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for range 20 { // warm
		_, _, _ = review(real, url, body)
	}
	fmt.Printf("binary %s, %d connections announcing %d bytes, one byte sent, held %s\n", binary, conns, announce, hold)
	report := func(label string) {
		rss, fds := procStats(pid)
		d, patched, err := review(real, url, body)
		answer := fmt.Sprintf("answered in %s (patch: %v)", d.Round(time.Millisecond), patched)
		if err != nil {
			answer = fmt.Sprintf("not answered after %s: %v", d.Round(time.Millisecond), err)
		}
		fmt.Printf("%-28s VmRSS %s  fds %d  real review %s\n", label, rss, fds, answer)
	}
	report("idle:")

	start := time.Now()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	stall := fmt.Sprintf("POST /mutate-v1-pod?timeout=10s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", addr, announce)
	opened := 0
	for range conns {
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", addr, tc)
		if err != nil {
			fmt.Printf("connection %d: %v\n", opened+1, err)
			break
		}
		if _, err := io.WriteString(c, stall); err != nil {
			c.Close()
			fmt.Printf("connection %d: %v\n", opened+1, err)
			break
		}
		held = append(held, c)
		opened++
	}
	fmt.Printf("opened %d stalled connections in %s\n", opened, time.Since(start).Round(time.Millisecond))
	for t := time.Second; time.Since(start) < hold; t += 5 * time.Second {
		time.Sleep(time.Until(start.Add(t)))
		report(fmt.Sprintf("held %2.0fs:", time.Since(start).Seconds()))
	}
	closedByServer := 0
	for _, c := range held {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				closedByServer++
			}
		} else {
			closedByServer++ // an answer (400) means the server gave up on it
		}
	}
	fmt.Printf("after %s: %d of %d stalled connections answered or closed by the webhook\n", time.Since(start).Round(time.Second), closedByServer, opened)
	return nil
}

func review(c *http.Client, url string, body []byte) (time.Duration, bool, error) {
	start := time.Now()
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return time.Since(start), false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	d := time.Since(start)
	if err != nil {
		return d, false, err
	}
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &ar); err != nil || ar.Response == nil {
		return d, false, fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	}
	return d, len(ar.Response.Patch) > 0, nil
}

func reviewBody() ([]byte, error) {
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: namespace, Annotations: map[string]string{annotations.RoleARN: targetRole}},
		Spec:       corev1.PodSpec{ServiceAccountName: serviceAccount, Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "bench", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: namespace, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		},
	})
}

func procStats(pid int) (string, int) {
	rss := "?"
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				if kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))); err == nil {
					rss = fmt.Sprintf("%5d MiB", kb/1024)
				}
			}
		}
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return rss, len(fds)
}

func tail(b []byte) string {
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
