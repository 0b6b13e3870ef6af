package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// ServerLimits bound what clients can hold of the webhook's HTTPS server.
// controller-runtime's webhook server (v0.21) sets only a header timeout
// (32 s) and an idle timeout, and lets no option set more, so the webhook
// runs its own Server (webhookServer) with these.
type ServerLimits struct {
	// ReadHeaderTimeout bounds the TLS handshake and the request header.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the handshake, header and body of one request.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the header to the end
	// of the response.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends nothing.
	IdleTimeout time.Duration
	// MaxConnections caps the connections open at once; past it, new
	// connections wait in the listen backlog until one closes. The server
	// speaks HTTP/1.1 only, so this is also the cap on requests in flight.
	MaxConnections int
}

// DefaultServerLimits are the limits the webhook serves with.
//
// kube-apiserver gives a webhook call at most 30 s (timeoutSeconds, 10 s
// by default) for the whole exchange: nothing a request still sends, or
// waits for, after 30 s serves the API server, so reads and writes are cut
// there, and a header, which the API server sends at once, gets 10 s. The
// API server's webhook client keeps up to 25 idle connections per host
// (and opens more under load); 256 connections leave room for several API
// servers at their peak while bounding what stalled clients can hold.
// A stalled connection now costs a goroutine and a few KiB of buffers
// (the body grows only with what was read), so the cap bounds memory too:
// at the worst, 256 bodies each just short of the 7 MiB limit, sent in
// full by a client within the 30 s. Idle connections are kept 90 s, as the
// API server's transport (client-go's default IdleConnTimeout) keeps
// them, so the server does not close one the client is about to reuse.
func DefaultServerLimits() ServerLimits {
	return ServerLimits{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxConnections:    256,
	}
}

// newWebhookServer returns a webhook.Server that serves like
// controller-runtime's DefaultServer (the same options, certificates
// reloaded by controller-runtime's certwatcher, the client CA of
// ClientCAName required when set, controller-runtime's request metrics on
// every registered hook) with the limits added.
func newWebhookServer(o webhook.Options, limits ServerLimits) webhook.Server {
	if o.WebhookMux == nil {
		o.WebhookMux = http.NewServeMux()
	}
	if o.Port <= 0 {
		o.Port = webhook.DefaultPort
	}
	if o.CertName == "" {
		o.CertName = "tls.crt"
	}
	if o.KeyName == "" {
		o.KeyName = "tls.key"
	}
	// Registration (with its metrics wrapper) is the DefaultServer's; it
	// adds hooks to o.WebhookMux, which Start serves.
	return &webhookServer{DefaultServer: webhook.NewServer(o).(*webhook.DefaultServer), opts: o, limits: limits}
}

type webhookServer struct {
	*webhook.DefaultServer
	opts    webhook.Options
	limits  ServerLimits
	started atomic.Bool
}

func (s *webhookServer) addr() string {
	return net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port))
}

// Start serves until ctx ends, then shuts down within a minute, as
// DefaultServer does.
func (s *webhookServer) Start(ctx context.Context) error {
	log := logf.Log.WithName("webhook-server")
	// HTTP/1.1 only: one request per connection at a time, so the
	// connection cap is the request cap, and no HTTP/2 stream floods
	// (CVE-2023-44487, for which controller-runtime's scaffolding also
	// turns HTTP/2 off). kube-apiserver's webhook client speaks HTTP/1.1.
	cfg := &tls.Config{NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	for _, op := range s.opts.TLSOpts {
		op(cfg)
	}
	if cfg.GetCertificate == nil {
		w, err := certwatcher.New(filepath.Join(s.opts.CertDir, s.opts.CertName), filepath.Join(s.opts.CertDir, s.opts.KeyName))
		if err != nil {
			return err
		}
		cfg.GetCertificate = w.GetCertificate
		go func() {
			if err := w.Start(ctx); err != nil {
				log.Error(err, "certificate watcher error")
			}
		}()
	}
	if s.opts.ClientCAName != "" {
		// An absolute path (--client-ca-file) or, as in
		// controller-runtime, a name in CertDir. Read once at start.
		path := s.opts.ClientCAName
		if !filepath.IsAbs(path) {
			path = filepath.Join(s.opts.CertDir, path)
		}
		pem, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading the client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("client CA %s holds no PEM certificate", path)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	l, err := net.Listen("tcp", s.addr())
	if err != nil {
		return err
	}
	if s.limits.MaxConnections > 0 {
		l = netutil.LimitListener(l, s.limits.MaxConnections)
	}
	srv := &http.Server{
		Handler:           s.opts.WebhookMux,
		MaxHeaderBytes:    1 << 20,
		ReadHeaderTimeout: s.limits.ReadHeaderTimeout,
		ReadTimeout:       s.limits.ReadTimeout,
		WriteTimeout:      s.limits.WriteTimeout,
		IdleTimeout:       s.limits.IdleTimeout,
		// No HTTP/2 even if a TLSOpts sets "h2".
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	log.Info("Serving webhook server", "host", s.opts.Host, "port", s.opts.Port, "limits", s.limits)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Error(err, "shutting down the webhook server")
		}
	}()
	s.started.Store(true)
	if err := srv.Serve(tls.NewListener(l, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-closed
	return nil
}

// StartedChecker is healthy once the server accepts TLS connections.
func (s *webhookServer) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		if !s.started.Load() {
			return errors.New("webhook server has not been started yet")
		}
		d := &net.Dialer{Timeout: 10 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", s.addr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a reachability check
		if err != nil {
			return fmt.Errorf("webhook server is not reachable: %w", err)
		}
		return conn.Close()
	}
}
