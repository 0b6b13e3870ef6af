// Package serve builds the sidecar's HTTP servers (the credentials endpoint
// and metrics) so that no client can take the memory or file descriptors
// that the refresh loops need. A client that sends a request's head and
// never its body, one that never sends anything, one that reads its answer
// slowly, or thousands of them at once, cost the sidecar a bounded number
// of connections for a bounded time:
//
//   - a request with a body is answered 400 at once and its connection
//     closed: both servers take GETs only, and Go's server would otherwise
//     wait for the body to discard it before answering;
//   - every phase of a connection has a deadline (ReadHeaderTimeout,
//     ReadTimeout, WriteTimeout, IdleTimeout): without ReadTimeout, that
//     wait was forever, holding the connection, its buffers and its
//     goroutine;
//   - request heads are capped at MaxHeaderBytes;
//   - at most MaxConns() connections are open (see Listener);
//   - the server's own error lines go into the JSON log, not to stderr.
//
// The requests served are tiny GETs from the same pod (the endpoint) or a
// scraper (metrics), so the deadlines are short.
package serve

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
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
	// MaxConnsCeiling bounds MaxConns: 256 connections cost about 6 MB
	// (the probe measured 25 KB per stalled connection), well inside the
	// sidecar's 64Mi limit, and leave room for every SDK client a pod
	// runs.
	MaxConnsCeiling = 256
)

// MaxConns is the most connections one server keeps open: a quarter of
// the descriptors the process may open (RLIMIT_NOFILE), so that the two
// servers together leave half to the refresh loops (STS, the files), and
// at most MaxConnsCeiling. Under the 128-descriptor limit the probe used,
// that is 32.
func MaxConns() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 32
	}
	return int(min(max(r.Cur/4, 8), MaxConnsCeiling))
}

// New returns a server for h, with the limits above, that will serve on
// the returned listener (l capped at MaxConns): pass that one to Serve.
// name tells the servers apart in log lines.
func New(name string, l net.Listener, h http.Handler, log *slog.Logger) (*http.Server, net.Listener) {
	log = log.With("server", name)
	capped := Limit(l, MaxConns(), log)
	return &http.Server{
		Handler:           capped.guard(h),
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ConnState:         capped.ConnState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}, capped
}

type connKey struct{}

// guard answers a request that announces a body with 400 and closes its
// connection at once. Go's server would otherwise wait for the body (up
// to 256 KiB, until ReadTimeout): before it answers, unless the answer
// says "Connection: close", and after, when it closes the request, unless
// the connection's read deadline has passed. Any other request is a
// well-formed one: its connection counts as one that sends requests from
// now on, and h serves it.
func (l *Listener) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(*conn)
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
			http.Error(w, "requests with a body are not served here", http.StatusBadRequest)
			if c != nil {
				c.SetReadDeadline(time.Now())
			}
			return
		}
		if c != nil {
			l.served(c)
		}
		h.ServeHTTP(w, r)
	})
}

// Listener caps the connections a server keeps open. When one more
// arrives at the cap, it closes one already open rather than make the
// newcomer wait: among the connections that have not sent a well-formed
// request yet (one that sends nothing, a request head that never ends),
// the one that has gone longest without progress; only when every
// connection has sent one, the least recently used of those (an idle
// keep-alive connection, whose client reconnects). So a client that sends
// its request at once is served, and a keep-alive client keeps its
// connection, while others flood the server with connections that never
// complete a request. A limit that queues new connections instead
// (netutil.LimitListener) lets such connections hold every slot until
// their deadlines, and the clients queued behind them time out.
//
// The server must report connection states to ConnState (each change
// counts as progress, and a return to idle as a completed request); New
// also has its handler mark well-formed requests as they arrive.
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
	l      *Listener
	state  http.ConnState // guarded by l.mu
	since  uint64         // l.seq at the last change of state; guarded by l.mu
	served bool           // a well-formed request came; guarded by l.mu
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

// victimLocked returns the connection to close: one that has not
// completed a request before one that has, then the oldest progress.
func (l *Listener) victimLocked() *conn {
	var v *conn
	for c := range l.conns {
		if v == nil || (!c.served && v.served) || (c.served == v.served && c.since < v.since) {
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
	if s == http.StateIdle {
		c.served = true
	}
	l.seq++
	c.state, c.since = s, l.seq
}

// served records that c sent a well-formed request.
func (l *Listener) served(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, open := l.conns[c]; open {
		c.served = true
		l.seq++
		c.since = l.seq
	}
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
