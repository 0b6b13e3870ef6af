// Package serve builds the sidecar's HTTP servers (the credentials endpoint
// and metrics) so that no client can take the memory or file descriptors
// that the refresh loops need. A client that sends a request's head and
// never its body, one that never sends anything, one that reads its answer
// slowly, or thousands of them at once, cost the sidecar a bounded number
// of connections for a bounded time:
//
//   - every phase of a connection has a deadline (ReadHeaderTimeout,
//     ReadTimeout, WriteTimeout, IdleTimeout): without ReadTimeout, Go's
//     server waits forever for a body it wants to discard after the
//     handler, holding the connection, its buffers and its goroutine;
//   - request heads are capped at MaxHeaderBytes;
//   - at most MaxConns connections are open (see Listener);
//   - the server's own error lines go into the JSON log, not to stderr.
//
// The requests served are tiny GETs from the same pod (the endpoint) or a
// scraper (metrics), so the deadlines are short.
package serve

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits of every server New builds.
const (
	ReadHeaderTimeout = 2 * time.Second
	// ReadTimeout bounds the whole request, body included.
	ReadTimeout  = 5 * time.Second
	WriteTimeout = 5 * time.Second
	IdleTimeout  = 30 * time.Second
	// MaxHeaderBytes is far above what an SDK sends (an Authorization
	// header of 64 characters, a User-Agent) and far below Go's 1 MiB
	// default.
	MaxHeaderBytes = 8 << 10
	// MaxConns caps the open connections of one server. A pod's SDK
	// clients hold one or two each; 64 leaves the process well inside a
	// descriptor limit as small as 128 (the refresh loops need a few for
	// STS and the files) and bounds the memory of open connections to
	// about 2 MB.
	MaxConns = 64
)

// New returns a server for h, with the limits above, that will serve on
// the returned listener (l capped at MaxConns): pass that one to Serve.
// name tells the servers apart in log lines.
func New(name string, l net.Listener, h http.Handler, log *slog.Logger) (*http.Server, net.Listener) {
	log = log.With("server", name)
	capped := Limit(l, MaxConns, log)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ConnState:         capped.ConnState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}, capped
}

// Listener caps the connections a server keeps open. When one more
// arrives at the cap, it closes one already open instead of making the
// newcomer wait: an idle keep-alive connection first (its client simply
// reconnects), then one that has not sent a request yet, then one in the
// middle of a request; the oldest of its kind. A limit that queues new
// connections (netutil.LimitListener) would let a few stalled clients
// hold every slot until their deadlines, and the clients queued behind
// them would time out; this one keeps serving clients that send their
// request at once, whatever the others do.
//
// The server must report connection states to ConnState.
type Listener struct {
	net.Listener
	max int
	log *slog.Logger

	mu       sync.Mutex
	conns    map[*conn]struct{}
	seq      uint64 // orders state changes
	closed   uint64 // connections closed to make room
	lastWarn time.Time
}

// Limit caps l at max open connections; log receives a warning, at most
// once a minute, while the cap closes connections.
func Limit(l net.Listener, max int, log *slog.Logger) *Listener {
	return &Listener{Listener: l, max: max, log: log, conns: map[*conn]struct{}{}}
}

type conn struct {
	net.Conn
	l     *Listener
	state http.ConnState // guarded by l.mu
	since uint64         // guarded by l.mu
}

// Accept returns the next connection, closing another first when max are
// open.
func (l *Listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: nc, l: l}
	l.mu.Lock()
	var victim *conn
	if len(l.conns) >= l.max {
		victim = l.victimLocked()
		delete(l.conns, victim)
		l.closed++
	}
	l.seq++
	c.state, c.since = http.StateNew, l.seq
	l.conns[c] = struct{}{}
	warn := victim != nil && time.Since(l.lastWarn) >= time.Minute
	if warn {
		l.lastWarn = time.Now()
	}
	closed := l.closed
	l.mu.Unlock()
	if victim != nil {
		victim.Conn.Close()
	}
	if warn {
		l.log.Warn("too many open connections: closing the least useful to accept new ones", "max_connections", l.max, "closed_so_far", closed)
	}
	return c, nil
}

// evictionOrder ranks states: the lowest is closed first.
var evictionOrder = map[http.ConnState]int{http.StateIdle: 0, http.StateNew: 1, http.StateActive: 2}

func (l *Listener) victimLocked() *conn {
	var v *conn
	for c := range l.conns {
		if v == nil || evictionOrder[c.state] < evictionOrder[v.state] ||
			(evictionOrder[c.state] == evictionOrder[v.state] && c.since < v.since) {
			v = c
		}
	}
	return v
}

// ConnState records a connection's state; set it as http.Server.ConnState.
func (l *Listener) ConnState(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, open := l.conns[c]; !open {
		return
	}
	if s == http.StateClosed || s == http.StateHijacked {
		delete(l.conns, c)
		return
	}
	l.seq++
	c.state, c.since = s, l.seq
}

// Open returns the number of connections open.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (c *conn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
