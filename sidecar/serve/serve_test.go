package serve

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolechain/rolechain/internal/syncbuf"
)

func start(t *testing.T, h http.Handler, logs io.Writer) (addr string, l *Listener) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, capped := New("test", raw, h, slog.New(slog.NewJSONHandler(logs, nil)))
	go srv.Serve(capped)
	t.Cleanup(func() { srv.Close() })
	return raw.Addr().String(), capped.(*Listener)
}

// waitFor polls cond; the deadline is a hang guard, not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *Listener) states() map[http.ConnState]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[http.ConnState]int{}
	for c := range l.conns {
		out[c.state]++
	}
	return out
}

// closedByServer reports whether the server closed c: a read returns
// EOF or a reset instead of timing out.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// Go's server reports its own problems through ErrorLog; they must be
// JSON log lines of the sidecar, not bare lines on stderr.
func TestServerErrorsGoToTheJSONLog(t *testing.T) {
	logs := &syncbuf.Buffer{}
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(200)
		w.WriteHeader(500) // "superfluous WriteHeader", logged by the server
	}), logs)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, "the server logged", func() bool { return logs.String() != "" })
	line := logs.String()
	if !strings.HasPrefix(line, "{") || !strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, "superfluous response.WriteHeader") || !strings.Contains(line, `"server":"test"`) {
		t.Fatalf("log line: %s", line)
	}
}

// A client that never finishes its request's head is closed after
// ReadHeaderTimeout; so is one that sends nothing.
func TestStalledConnectionsAreClosed(t *testing.T) {
	addr, l := start(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), io.Discard)
	head, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer head.Close()
	io.WriteString(head, "GET / HTTP/1.1\r\nHost: x\r\n")
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for name, c := range map[string]net.Conn{"unfinished head": head, "nothing sent": silent} {
		if !closedByServer(c) {
			t.Errorf("%s: the server kept the connection open", name)
		}
	}
	waitFor(t, "no connection left open", func() bool { return l.Open() == 0 })
}

// At the cap, a new connection closes one that has not completed a
// request (the one longest without progress) before one that has; among
// those that have, the least recently used. A new request on a keep-alive
// connection moves it to the back.
func TestAtTheCapTheConnectionLongestWithoutProgressIsClosed(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Limit(raw, 3, slog.New(slog.DiscardHandler))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		ConnState: l.ConnState, ReadTimeout: time.Hour, IdleTimeout: time.Hour}
	go srv.Serve(l)
	defer srv.Close()
	addr := raw.Addr().String()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	get := func(c net.Conn) error {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	idleCount := func(n int) func() bool { return func() bool { return l.states()[http.StateIdle] == n } }

	silent := dial() // never sends anything
	waitFor(t, "a new connection", func() bool { return l.states()[http.StateNew] == 1 })
	stalled := dial() // a request's head, never its body
	io.WriteString(stalled, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	waitFor(t, "an active connection", func() bool { return l.states()[http.StateActive] == 1 })
	keepAlive := dial()
	if err := get(keepAlive); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an idle connection", idleCount(1))

	// The silent connection has made no progress for the longest.
	first := dial()
	if err := get(first); err != nil {
		t.Fatalf("a new client at the cap was not served: %v", err)
	}
	if !closedByServer(silent) {
		t.Fatal("the connection that sent nothing was not closed to make room")
	}
	waitFor(t, "two idle connections", idleCount(2))
	// The stalled request has completed nothing: it goes before the
	// idle connections, even after they make progress.
	if err := get(keepAlive); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two idle connections", idleCount(2))
	second := dial()
	if err := get(second); err != nil {
		t.Fatalf("a new client at the cap was not served: %v", err)
	}
	if !closedByServer(stalled) {
		t.Fatal("the stalled request was not closed to make room")
	}
	waitFor(t, "three idle connections", idleCount(3))
	// Now the first newcomer, idle since its request, goes before the
	// keep-alive client that made progress after it.
	third := dial()
	if err := get(third); err != nil {
		t.Fatalf("a new client at the cap was not served: %v", err)
	}
	if !closedByServer(first) {
		t.Fatal("the least recently used idle connection was not closed to make room")
	}
	if err := get(keepAlive); err != nil {
		t.Fatalf("the recently used keep-alive connection was closed: %v", err)
	}
	if n := l.Open(); n > 3 {
		t.Fatalf("%d connections open, cap 3", n)
	}
}

// A request with a body is answered 400 at once and its connection
// closed: without that, Go's server waits for the body to discard it
// before answering, until ReadTimeout.
func TestARequestWithABodyIsRefusedAtOnce(t *testing.T) {
	var served atomic.Bool
	addr, l := start(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { served.Store(true) }), io.Discard)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a request whose body never comes: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !resp.Close || served.Load() {
		t.Fatalf("status %d, close %v, handler called %v; want 400, close, not called", resp.StatusCode, resp.Close, served.Load())
	}
	waitFor(t, "the connection closed", func() bool { return l.Open() == 0 })
}
