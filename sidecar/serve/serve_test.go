package serve

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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
	logs := &syncBuffer{}
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

// A client that sends a request's head announcing a body and never sends
// the body is closed after ReadTimeout; so is one that sends nothing.
func TestStalledConnectionsAreClosed(t *testing.T) {
	addr, l := start(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), io.Discard)
	head, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer head.Close()
	io.WriteString(head, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for name, c := range map[string]net.Conn{"head without body": head, "nothing sent": silent} {
		if !closedByServer(c) {
			t.Errorf("%s: the server kept the connection open", name)
		}
	}
	waitFor(t, "no connection left open", func() bool { return l.Open() == 0 })
}

// At the cap, a new connection closes an idle keep-alive one first, then
// one that has sent nothing, then one stalled in a request, and is served.
func TestAtTheCapTheLeastUsefulConnectionIsClosed(t *testing.T) {
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

	idle := dial()
	if err := get(idle); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an idle connection", func() bool { return l.states()[http.StateIdle] == 1 })
	silent := dial()
	waitFor(t, "a new connection", func() bool { return l.states()[http.StateNew] == 1 })
	stall := func(c net.Conn) net.Conn {
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
		return c
	}
	stalled := stall(dial())
	waitFor(t, "an active connection", func() bool { return l.states()[http.StateActive] == 1 })

	for _, victim := range []struct {
		name string
		c    net.Conn
	}{{"the idle connection", idle}, {"the connection that sent nothing", silent}, {"the stalled request", stalled}} {
		c := dial()
		if err := get(c); err != nil {
			t.Fatalf("a new client at the cap was not served: %v", err)
		}
		if !closedByServer(victim.c) {
			t.Fatalf("%s was not closed to make room", victim.name)
		}
		if n := l.Open(); n > 3 {
			t.Fatalf("%d connections open, cap 3", n)
		}
		// The newcomer leaves; a newer stalled request (closed last of
		// all) fills its slot, so the next round starts at the cap with
		// the remaining originals still first in line.
		c.Close()
		waitFor(t, "the newcomer gone", func() bool { return l.Open() == 2 })
		stall(dial())
		waitFor(t, "the cap reached again", func() bool { return l.states()[http.StateActive] >= 2 && l.Open() == 3 })
	}
}
