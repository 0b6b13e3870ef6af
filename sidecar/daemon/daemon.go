// Package daemon is the sidecar's runtime: the listeners, the credentials
// endpoint and metrics servers, the file and endpoint sinks, the token
// watcher and one refresh loop per profile (Run), or a one-shot retrieval
// that prints or writes the credentials (Once). It takes a validated
// configuration; the command line (cmd/sidecar/app) only parses flags and
// environment into one and calls these.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rolechain/rolechain/internal/atomicfile"
	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/sidecar/chain"
	"github.com/rolechain/rolechain/sidecar/endpoint"
	"github.com/rolechain/rolechain/sidecar/metrics"
	"github.com/rolechain/rolechain/sidecar/options"
	"github.com/rolechain/rolechain/sidecar/output"
	"github.com/rolechain/rolechain/sidecar/redact"
	"github.com/rolechain/rolechain/sidecar/refresh"
	"github.com/rolechain/rolechain/sidecar/serve"
)

// shutdownGrace bounds the shutdown of the HTTP servers, so that SIGTERM
// exits within a second.
const shutdownGrace = 500 * time.Millisecond

// OnceEnv is what Once writes to and reads the time from.
type OnceEnv struct {
	// Stdout receives the credentials when cfg.Output is empty; Stderr
	// the retry lines (scrubbed).
	Stdout, Stderr io.Writer
	Now            func() time.Time
	// Sleep waits between attempts; nil means a timer that ctx cuts short.
	Sleep func(ctx context.Context, d time.Duration) error
}

// stsHTTPClient is the SDK's client without keep-alive: refreshes are tens
// of minutes apart, and an idle pooled connection would only wake the
// process when the server closes it. Measured against radosgw with four
// --once runs in parallel: without keep-alive 3 of 600 runs needed a retry
// (a 200 body cut by "use of closed network connection", which is how Go
// reports a TCP reset read asynchronously: aws-sdk-go-v2 #2737); with
// keep-alive and a 5 s idle timeout 230 of 1200 did, at the reused second
// hop, and 6 failed all three tries.
func stsHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.DisableKeepAlives = true
	})
}

func newChains(ctx context.Context, cfg *options.Config, profiles []contract.Profile, observe func(string, time.Duration, error)) ([]*chain.Chain, error) {
	var src chain.Source
	switch cfg.Source {
	case options.SourceWebIdentity:
		src = chain.WebIdentity{TokenFile: cfg.TokenFile}
	case options.SourceStatic:
		src = chain.Static{Dir: cfg.StaticCredentialsDir}
	case options.SourcePodIdentity:
		src = chain.PodIdentity{URL: cfg.ContainerCredentialsFullURI, TokenFile: cfg.ContainerAuthorizationTokenFile}
	case options.SourceDefaultChain:
		p, err := loadDefaultChain(ctx)
		if err != nil {
			return nil, fmt.Errorf("--source default-chain: %w", err)
		}
		src = chain.AWSProvider{Provider: p}
	}
	client := &http.Client{Transport: stsHTTPClient().GetTransport()}
	chains := make([]*chain.Chain, len(profiles))
	for i, p := range profiles {
		roles := p.Chain()
		if cfg.Source != options.SourceWebIdentity {
			roles = p.RoleARNs
		}
		chains[i] = &chain.Chain{
			Source:          src,
			Roles:           roles,
			SessionName:     p.SessionName,
			DurationSeconds: p.DurationSeconds,
			ExternalID:      p.ExternalID,
			SourceIdentity:  cfg.SourceIdentity,
			Tags:            cfg.Tags(p),
			Region:          contract.SigningRegion(p),
			Endpoint:        p.STSEndpoint,
			HTTPClient:      client,
			Observe:         observe,

			SessionPolicy:     p.SessionPolicy,
			SessionPolicyARNs: p.SessionPolicyARNs,
		}
	}
	return chains, nil
}

// Once retrieves every profile's credentials (retrying transient failures
// up to onceAttempts times) and renders them in cfg.Format to cfg.Output,
// or to env.Stdout; it writes nothing to cfg.OutputDir.
func Once(ctx context.Context, env OnceEnv, cfg *options.Config, profiles []contract.Profile) error {
	chains, err := newChains(ctx, cfg, profiles, nil)
	if err != nil {
		return err
	}
	named := make([]output.Named, len(profiles))
	for i, c := range chains {
		creds, err := retrieveOnce(ctx, env, profiles[i].Name, c)
		if err != nil {
			return err
		}
		named[i] = output.Named{Profile: profiles[i].Name, Region: profiles[i].Region, Credentials: creds}
	}
	format := cfg.Format
	if format == "" {
		format = output.FormatINI
	}
	b, err := output.Render(format, named)
	if err != nil {
		return err
	}
	if cfg.Output != "" {
		return atomicfile.Write(cfg.Output, b, 0o600, -1)
	}
	_, err = env.Stdout.Write(b)
	return err
}

// onceAttempts bounds --once's tries of a profile whose failure may pass by
// itself (chain.Reason.Transient: network, timeout, throttling, 5xx). A CI
// step should survive a dropped connection or one throttled call; a refusal
// is final at once. The waits between tries are the refresh loop's backoff
// (about 1 s, then 2 s).
const onceAttempts = 3

func retrieveOnce(ctx context.Context, env OnceEnv, name string, c *chain.Chain) (chain.Credentials, error) {
	sleep := env.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	for attempt := 1; ; attempt++ {
		creds, err := c.Retrieve(ctx)
		if err == nil {
			// As the refresh loop: never hand out what is (about to be)
			// expired; retrying would not help.
			if life := creds.Expiration.Sub(env.Now()); life < refresh.MinLifetime {
				return chain.Credentials{}, fmt.Errorf("profile %s: %s: STS returned credentials that expire at %s, %s from now by this node's clock (at least %s needed)",
					name, refresh.ReasonExpiresTooSoon, creds.Expiration.Format(time.RFC3339), life.Round(time.Second), refresh.MinLifetime)
			}
			return creds, nil
		}
		reason := chain.Classify(err)
		err = fmt.Errorf("profile %s: %s: %w", name, reason, err)
		if !reason.Transient() || attempt == onceAttempts {
			return chain.Credentials{}, err
		}
		wait := refresh.Backoff(attempt, rand.Float64())
		fmt.Fprintf(redact.Default.Writer(env.Stderr), "rolechain-sidecar: attempt %d of %d failed, retrying in %s: %v\n", attempt, onceAttempts, wait.Round(time.Millisecond), err)
		if serr := sleep(ctx, wait); serr != nil {
			return chain.Credentials{}, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fanout publishes to the endpoint's store (which cannot fail) and then to
// the files.
type fanout []refresh.Sink

func (f fanout) Publish(name string, c chain.Credentials) error {
	var errs []error
	for _, s := range f {
		errs = append(errs, s.Publish(name, c))
	}
	return errors.Join(errs...)
}

func (f fanout) Withdraw(name string) error {
	var errs []error
	for _, s := range f {
		errs = append(errs, s.Withdraw(name))
	}
	return errors.Join(errs...)
}

// readiness closes Ready once every profile has been published
// successfully at least once; it wraps the sinks for --exit-when-ready.
// A profile counts only when its Publish returned nil, that is when all its
// files are written.
type readiness struct {
	refresh.Sink
	Ready chan struct{}

	mu      sync.Mutex
	pending map[string]bool
}

func newReadiness(s refresh.Sink, names []string) *readiness {
	r := &readiness{Sink: s, Ready: make(chan struct{}), pending: map[string]bool{}}
	for _, n := range names {
		r.pending[n] = true
	}
	return r
}

func (r *readiness) Publish(name string, c chain.Credentials) error {
	if err := r.Sink.Publish(name, c); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending[name] {
		delete(r.pending, name)
		if len(r.pending) == 0 {
			close(r.Ready)
		}
	}
	return nil
}

// Run binds the configured ports, writes the config file (and the endpoint
// token), starts the servers and one refresh loop per profile, and returns
// nil when ctx is done, or, with cfg.ExitWhenReady, once every profile's
// credentials are on disk (an error if ctx ends first). The servers are
// shut down before it returns.
func Run(ctx context.Context, cfg *options.Config, profiles []contract.Profile, log *slog.Logger) error {
	names := make([]string, len(profiles))
	named := make([]output.Named, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
		named[i] = output.Named{Profile: p.Name, Region: p.Region}
	}
	// Bind every port before writing anything: with a port taken, the
	// sidecar must fail before it writes config and a fresh endpoint-token
	// for a server that will never run. The listeners are closed on every
	// return (Shutdown has closed those that served by then).
	var endpointL, metricsL net.Listener
	defer func() {
		for _, l := range []net.Listener{endpointL, metricsL} {
			if l != nil {
				l.Close()
			}
		}
	}()
	var err error
	if cfg.CredentialsEndpointPort != 0 {
		if endpointL, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.CredentialsEndpointPort))); err != nil {
			return fmt.Errorf("--credentials-endpoint-port: %w", err)
		}
	}
	if cfg.MetricsPort != 0 {
		if metricsL, err = net.Listen("tcp", ":"+strconv.Itoa(cfg.MetricsPort)); err != nil {
			return fmt.Errorf("--metrics-port: %w", err)
		}
	}

	// In a pod the directory is an emptyDir; outside one, create it.
	if err := os.MkdirAll(cfg.OutputDir, 0o755); err != nil {
		return fmt.Errorf("--output-dir: %w", err)
	}
	dir := output.NewDir(cfg.OutputDir, cfg.FilePerm(), cfg.FileGroup, named)
	if err := dir.WriteConfig(); err != nil {
		return fmt.Errorf("--output-dir: %w", err)
	}
	sinks := fanout{dir}

	var servers []*http.Server
	start := func(name string, l net.Listener, h http.Handler) {
		s, l := serve.New(name, l, h, log)
		servers = append(servers, s)
		go func() {
			if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("server stopped", "server", name, "error", err.Error())
			}
		}()
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		for _, s := range servers {
			if s.Shutdown(sctx) != nil {
				s.Close()
			}
		}
	}()

	if endpointL != nil {
		token, err := endpoint.NewToken()
		if err != nil {
			return err
		}
		redact.Default.Hold(contract.EndpointTokenFileName, redact.EndpointToken, token)
		// Written before the server serves, so a client never reads an
		// old token for a live server.
		if err := atomicfile.Write(filepath.Join(cfg.OutputDir, contract.EndpointTokenFileName), []byte(token), cfg.FilePerm(), cfg.FileGroup); err != nil {
			return fmt.Errorf("--output-dir: %w", err)
		}
		store := endpoint.NewStore()
		sinks = fanout{store, dir}
		start("credentials-endpoint", endpointL, &endpoint.Handler{Store: store, Token: token, Profiles: names})
	}

	var rec refresh.Recorder
	var observe func(string, time.Duration, error)
	if metricsL != nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		m := metrics.New(reg, nil)
		rec, observe = m, m.ObserveSTS
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		start("metrics", metricsL, mux)
	}

	chains, err := newChains(ctx, cfg, profiles, observe)
	if err != nil {
		return err
	}

	// --exit-when-ready: the loops run as usual and are stopped once every
	// profile is on disk. Stopped before that (SIGTERM), it is a failure:
	// an init container that exits 0 lets the app start without
	// credentials.
	var sink refresh.Sink = sinks
	var ready *readiness
	if cfg.ExitWhenReady {
		ready = newReadiness(sinks, names)
		sink = ready
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-ready.Ready:
				log.Info("every profile's credentials are written; exiting (--exit-when-ready)")
				cancel()
			case <-ctx.Done():
			}
		}()
	}

	var wg sync.WaitGroup
	var watcher *refresh.TokenWatcher
	if cfg.Source == options.SourceWebIdentity {
		if watcher, err = refresh.NewTokenWatcher(cfg.TokenFile); err != nil {
			// Not fatal: rotation only shortens a failing loop's backoff.
			log.Warn("token rotation will not cut retries short", "error", err.Error())
		}
	}
	for i, p := range profiles {
		l := &refresh.Loop{Profile: p.Name, Provider: chains[i], Sink: sink, Recorder: rec, Log: log, Interval: cfg.RefreshInterval}
		if watcher != nil {
			l.Rotated = watcher.Subscribe()
		}
		wg.Add(1)
		go func() { defer wg.Done(); l.Run(ctx) }()
		log.Info("refreshing", "profile", p.Name, "roles", chains[i].Roles, "region", p.Region, "session_name", p.SessionName, "duration_seconds", p.DurationSeconds)
	}
	if watcher != nil {
		wg.Add(1)
		go func() { defer wg.Done(); watcher.Run(ctx, log) }()
	}
	log.Info("started", "output_dir", cfg.OutputDir, "credentials_endpoint_port", cfg.CredentialsEndpointPort, "metrics_port", cfg.MetricsPort, "refresh_interval", cfg.RefreshInterval.String(), "exit_when_ready", cfg.ExitWhenReady)
	wg.Wait()
	log.Info("stopping")
	if ready != nil {
		select {
		case <-ready.Ready:
		default:
			return errors.New("--exit-when-ready: stopped before every profile's credentials were written")
		}
	}
	return nil
}
