package refresh_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolechain/rolechain/internal/ststest"
	"github.com/rolechain/rolechain/sidecar/chain"
	"github.com/rolechain/rolechain/sidecar/output"
	"github.com/rolechain/rolechain/sidecar/refresh"
)

// fakeClock hands every timer the Loop arms to the test, which decides
// when it fires. Time moves only when the test fires a timer.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC), waits: make(chan waiter, 64)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	f.waits <- waiter{at: f.Now().Add(d), ch: ch}
	return ch
}

// next returns the next timer the loop arms; it fails the test if the loop
// never sleeps again (a hang guard, not a timing assertion).
func (f *fakeClock) next(t *testing.T) waiter {
	t.Helper()
	select {
	case w := <-f.waits:
		return w
	case <-time.After(20 * time.Second):
		t.Fatal("the loop never armed another timer")
		return waiter{}
	}
}

// fire moves time to the timer's instant and fires it.
func (f *fakeClock) fire(w waiter) {
	f.mu.Lock()
	if w.at.After(f.now) {
		f.now = w.at
	}
	f.mu.Unlock()
	w.ch <- w.at
}

type fixture struct {
	srv       *ststest.Server
	clock     *fakeClock
	dir       string
	tokenFile string
	logs      *bytes.Buffer
	rotated   <-chan struct{}
	interval  time.Duration // Loop.Interval; prepare may set it
	cancel    context.CancelFunc
	done      chan struct{}
}

const (
	webRole    = "arn:aws:iam::111111111111:role/web"
	viaRole    = "arn:aws:iam::222222222222:role/via"
	targetRole = "arn:aws:iam::333333333333:role/target"
)

// start runs a Loop for a chain of roles against a fake STS that shares
// the loop's fake clock; rnd is the jitter source.
func start(t *testing.T, roles []string, rnd float64, prepare func(*fixture)) *fixture {
	t.Helper()
	f := &fixture{srv: ststest.New(t), clock: newFakeClock(), dir: t.TempDir(), logs: &bytes.Buffer{}, rotated: make(chan struct{}, 1), done: make(chan struct{})}
	f.srv.SetClock(f.clock.Now)
	f.tokenFile = filepath.Join(t.TempDir(), "token")
	os.WriteFile(f.tokenFile, []byte("jwt-1"), 0o600)
	if prepare != nil {
		prepare(f)
	}
	d := output.NewDir(f.dir, 0o644, -1, []output.Named{{Profile: "default"}})
	l := &refresh.Loop{
		Profile:  "default",
		Provider: &chain.Chain{Source: chain.WebIdentity{TokenFile: f.tokenFile}, Roles: roles, SessionName: "ns.pod", Region: "us-east-1", Endpoint: f.srv.URL},
		Sink:     d,
		Log:      slog.New(slog.NewJSONHandler(&lockedWriter{w: f.logs}, nil)),
		Clock:    f.clock,
		Rand:     func() float64 { return rnd },
		Rotated:  f.rotated,
		Interval: f.interval,
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() { l.Run(ctx); close(f.done) }()
	t.Cleanup(func() { cancel(); <-f.done })
	return f
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestOneSTSCallPerHopPerRefreshAcrossRotations(t *testing.T) {
	roles := []string{webRole, viaRole, targetRole}
	f := start(t, roles, 0.5, nil)
	for refreshNo := 1; refreshNo <= 6; refreshNo++ {
		w := f.clock.next(t)
		calls := f.srv.Calls()
		if len(calls) != len(roles)*refreshNo {
			t.Fatalf("after refresh %d: %d STS calls, want %d", refreshNo, len(calls), len(roles)*refreshNo)
		}
		issued := calls[len(calls)-1].Issued
		if issued == nil {
			t.Fatalf("refresh %d failed: %+v", refreshNo, calls[len(calls)-1])
		}
		// Default one-hour sessions, jitter 0.5: half-life exactly.
		if want := f.clock.Now().Add(30 * time.Minute); !w.at.Equal(want) {
			t.Fatalf("refresh %d scheduled at %s, want %s", refreshNo, w.at, want)
		}
		if err := output.Check(f.dir, []string{"default"}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.clock.fire(w)
	}
}

// With --refresh-interval 30s and one-hour sessions, a three-hop chain is
// refreshed every 28.5 s (30 s less 10 % × jitter 0.5) instead of every
// 30 min: over 20 intervals, exactly 20 refreshes of 3 calls each, every
// one successful and published.
func TestIntervalRefreshesAtTheIntervalWithOneCallPerHop(t *testing.T) {
	roles := []string{webRole, viaRole, targetRole}
	const interval = 30 * time.Second
	const hop = interval - interval/20 // jitter 0.5 takes 5 %
	f := start(t, roles, 0.5, func(f *fixture) { f.interval = interval })
	begin := f.clock.Now()
	const n = 20
	var keys []string
	for refreshNo := 1; refreshNo <= n; refreshNo++ {
		w := f.clock.next(t)
		calls := f.srv.Calls()
		if len(calls) != len(roles)*refreshNo {
			t.Fatalf("after refresh %d: %d STS calls, want %d", refreshNo, len(calls), len(roles)*refreshNo)
		}
		for _, c := range calls[len(calls)-len(roles):] {
			if c.Issued == nil {
				t.Fatalf("refresh %d: a hop failed: %+v", refreshNo, c)
			}
		}
		if want := f.clock.Now().Add(hop); !w.at.Equal(want) {
			t.Fatalf("refresh %d scheduled at %s, want %s", refreshNo, w.at, want)
		}
		if err := output.Check(f.dir, []string{"default"}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, calls[len(calls)-1].Issued.AccessKeyID)
		if refreshNo < n {
			f.clock.fire(w)
		}
	}
	if elapsed := f.clock.Now().Sub(begin); elapsed != (n-1)*hop {
		t.Fatalf("%d refreshes took %s of fake time, want %s", n, elapsed, (n-1)*hop)
	}
	// Every refresh put new credentials on disk.
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct access keys over %d refreshes", len(seen), n)
	}
}

// An interval longer than the half-lifetime point changes nothing: the
// lifetime schedule is earlier and wins.
func TestIntervalLongerThanHalfLifeKeepsTheLifetimeSchedule(t *testing.T) {
	f := start(t, []string{webRole, targetRole}, 0.5, func(f *fixture) { f.interval = 45 * time.Minute })
	for refreshNo := 1; refreshNo <= 3; refreshNo++ {
		w := f.clock.next(t)
		if got := len(f.srv.Calls()); got != 2*refreshNo {
			t.Fatalf("after refresh %d: %d STS calls, want %d", refreshNo, got, 2*refreshNo)
		}
		if want := f.clock.Now().Add(30 * time.Minute); !w.at.Equal(want) {
			t.Fatalf("refresh %d scheduled at %s, want %s (half-life)", refreshNo, w.at, want)
		}
		f.clock.fire(w)
	}
}

func TestNextRefreshWithinAnInterval(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		life     time.Duration
		interval time.Duration
		r        float64
		want     time.Duration
	}{
		{"interval without jitter", time.Hour, time.Minute, 0, time.Minute},
		{"jitter shortens, never lengthens", time.Hour, time.Minute, 0.5, 57 * time.Second},
		{"half-life earlier than the interval", time.Hour, 2 * time.Hour, 0.5, 30 * time.Minute},
		{"5 min before expiry earlier than the interval", 11 * time.Minute, 12 * time.Hour, 0.999, 6 * time.Minute},
		// The interval wins over the one-minute floor for credentials that
		// look expired on arrival: it is itself at least MinInterval.
		{"expired on arrival: interval below a minute wins", -time.Hour, 10 * time.Second, 0, 10 * time.Second},
		{"expired on arrival: the floor when the interval is longer", -time.Hour, 5 * time.Minute, 0, time.Minute},
		{"below MinInterval counts as MinInterval", time.Hour, time.Second, 0, refresh.MinInterval},
		{"below MinInterval, expired on arrival", -time.Hour, time.Nanosecond, 0.5, refresh.MinInterval * 95 / 100},
	} {
		got := refresh.NextRefreshWithin(now, now.Add(tc.life), tc.interval, tc.r).Sub(now)
		if got != tc.want {
			t.Errorf("%s: refresh after %s, want %s", tc.name, got, tc.want)
		}
	}
	// Jitter keeps the wait within 90–100 % of the interval.
	for _, r := range []float64{0, 0.25, 0.5, 0.75, 0.999999} {
		got := refresh.NextRefreshWithin(now, now.Add(time.Hour), 10*time.Minute, r).Sub(now)
		if got > 10*time.Minute || got < 9*time.Minute {
			t.Errorf("r %.6f: refresh after %s, want within [9m, 10m]", r, got)
		}
	}
	// Interval 0 is exactly the lifetime schedule.
	for _, life := range []time.Duration{-time.Hour, 8 * time.Minute, 15 * time.Minute, time.Hour, 12 * time.Hour} {
		for _, r := range []float64{0, 0.5, 0.999} {
			if got, want := refresh.NextRefreshWithin(now, now.Add(life), 0, r), refresh.NextRefresh(now, now.Add(life), r); !got.Equal(want) {
				t.Errorf("life %s r %.3f: interval 0 gives %s, NextRefresh %s", life, r, got, want)
			}
		}
	}
}

func TestNextRefreshIsNearHalfLifeAndNeverWithinFiveMinutesOfExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		life     time.Duration
		r        float64
		min, max time.Duration
	}{
		{time.Hour, 0, 27 * time.Minute, 27 * time.Minute},
		{time.Hour, 0.999, 32*time.Minute + 59*time.Second, 33 * time.Minute},
		{15 * time.Minute, 0.999, 8 * time.Minute, 8*time.Minute + 15*time.Second},
		{12 * time.Hour, 0.5, 6 * time.Hour, 6 * time.Hour},
		{8 * time.Minute, 0.9, 4 * time.Minute, 4 * time.Minute}, // shorter than STS issues: half-life
		{-time.Hour, 0.5, time.Minute, time.Minute},              // expired on arrival: no busy loop
	} {
		got := refresh.NextRefresh(now, now.Add(tc.life), tc.r).Sub(now)
		if got < tc.min || got > tc.max {
			t.Errorf("life %s r %.3f: refresh after %s, want within [%s, %s]", tc.life, tc.r, got, tc.min, tc.max)
		}
		if tc.life >= 10*time.Minute && got > tc.life-refresh.MinBeforeExpiry {
			t.Errorf("life %s: refresh after %s is within 5 min of expiry", tc.life, got)
		}
	}
}

func TestBackoffDoublesFromOneSecondToAMinuteWithJitter(t *testing.T) {
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		if got := refresh.Backoff(n+1, 0.999999); got > want || got < want*99/100 {
			t.Errorf("Backoff(%d, ~1) = %s, want ~%s", n+1, got, want)
		}
		if got := refresh.Backoff(n+1, 0); got != want/2 {
			t.Errorf("Backoff(%d, 0) = %s, want %s", n+1, got, want/2)
		}
	}
	if refresh.Backoff(1000, 0.5) > refresh.BackoffCap {
		t.Error("backoff exceeds the cap for large n")
	}
}

func TestExpiryWhileSTSIsDownKeepsThenRemovesCredentials(t *testing.T) {
	f := start(t, []string{webRole, targetRole}, 0.5, nil)
	w := f.clock.next(t) // first refresh succeeded
	expiration := f.srv.Issued()[1].Expiration
	f.srv.FailWhen(func(ststest.Call) *ststest.Fault { return &ststest.Fault{Code: ststest.CodeServiceUnavailable} })
	f.clock.fire(w)

	calls := len(f.srv.Calls())
	failures := 0
	for {
		w = f.clock.next(t)
		failures++
		now := f.clock.Now()
		wait := w.at.Sub(now)
		if w.at.Equal(expiration) {
			break
		}
		if max := refresh.Backoff(failures, 0.5); wait != max {
			t.Fatalf("failure %d: retry in %s, want %s", failures, wait, max)
		}
		// While the last good credentials are valid they stay on disk.
		if err := output.Check(f.dir, []string{"default"}, now); err != nil {
			t.Fatalf("after failure %d, credentials were removed before expiry: %v", failures, err)
		}
		if got := len(f.srv.Calls()); got != calls+1 {
			t.Fatalf("failure %d: %d calls since the last wake, want 1 (no busy loop)", failures, got-calls)
		}
		calls++
		f.clock.fire(w)
	}
	// Backoff reached its cap well before the 25 minutes to expiry.
	if failures < 10 {
		t.Fatalf("only %d failures before expiry", failures)
	}
	f.clock.fire(w) // expiry: withdraw, then retry
	w = f.clock.next(t)
	if _, err := os.Stat(filepath.Join(f.dir, "default.json")); !os.IsNotExist(err) {
		t.Fatalf("expired credentials still on disk: %v", err)
	}
	if ini, _ := os.ReadFile(filepath.Join(f.dir, "credentials")); strings.Contains(string(ini), "aws_access_key_id") {
		t.Fatalf("expired credentials still in the credentials file:\n%s", ini)
	}
	if !strings.Contains(f.logs.String(), `"reason":"server_error"`) {
		t.Errorf("failures not classified in logs:\n%s", f.logs)
	}
	// STS recovers: the next retry publishes again.
	f.srv.FailWhen(nil)
	f.clock.fire(w)
	f.clock.next(t)
	if err := output.Check(f.dir, []string{"default"}, f.clock.Now()); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

// kubeletLayout builds what the kubelet writes for a projected volume:
// ..<ts>/token, ..data → ..<ts>, token → ..data/token.
func kubeletLayout(t *testing.T, dir, token string) {
	t.Helper()
	ts := filepath.Join(dir, "..2026_11_24_07_00_00.000000001")
	must(t, os.Mkdir(ts, 0o755))
	must(t, os.WriteFile(filepath.Join(ts, "token"), []byte(token), 0o600))
	must(t, os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")))
	must(t, os.Symlink("..data/token", filepath.Join(dir, "token")))
}

// kubeletRotate swaps ..data to a new timestamped directory atomically, the
// way the kubelet's AtomicWriter does, and removes the old one.
func kubeletRotate(t *testing.T, dir, token string) {
	t.Helper()
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	ts := filepath.Join(dir, "..2026_11_24_08_00_00.000000002")
	must(t, os.Mkdir(ts, 0o755))
	must(t, os.WriteFile(filepath.Join(ts, "token"), []byte(token), 0o600))
	must(t, os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	must(t, os.RemoveAll(filepath.Join(dir, old)))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTokenRotationByDataSwapTriggersAnImmediateRetry(t *testing.T) {
	tokenDir := t.TempDir()
	kubeletLayout(t, tokenDir, "jwt-expired")
	watcher, err := refresh.NewTokenWatcher(filepath.Join(tokenDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	t.Cleanup(func() { cancel(); <-watchDone })
	f := start(t, []string{webRole, targetRole}, 0.5, func(f *fixture) {
		f.tokenFile = filepath.Join(tokenDir, "token")
		f.rotated = watcher.Subscribe()
		f.srv.RejectToken("jwt-expired", ststest.CodeExpiredToken)
	})
	go func() { watcher.Run(ctx, slog.New(slog.DiscardHandler)); close(watchDone) }()

	// Four failed attempts: the loop now backs off for 4–8 s.
	var w waiter
	for i := 1; i <= 4; i++ {
		w = f.clock.next(t)
		if i < 4 {
			f.clock.fire(w)
		}
	}
	attemptAt := f.clock.Now()
	if backoff := w.at.Sub(attemptAt); backoff < 2*time.Second {
		t.Fatalf("backoff after 4 failures is %s", backoff)
	}
	kubeletRotate(t, tokenDir, "jwt-fresh")
	retry := f.clock.next(t)
	if want := attemptAt.Add(refresh.RotationDebounce); !retry.at.Equal(want) {
		t.Fatalf("after rotation the retry is at %s, want %s (the backoff would have waited until %s)", retry.at, want, w.at)
	}
	f.clock.fire(retry)
	f.clock.next(t)
	calls := f.srv.Calls()
	if len(calls) != 6 {
		t.Fatalf("%d STS calls, want 4 failures + 2 hops", len(calls))
	}
	for _, c := range calls[:4] {
		if c.WebIdentityToken != "jwt-expired" || c.ErrorCode != ststest.CodeExpiredToken {
			t.Fatalf("failed attempt %+v", c)
		}
	}
	if calls[4].WebIdentityToken != "jwt-fresh" || calls[4].Issued == nil || calls[5].Issued == nil {
		t.Fatalf("the retry did not use the rotated token: %+v", calls[4])
	}
	if err := output.Check(f.dir, []string{"default"}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.logs.String(), `"reason":"expired_token"`) {
		t.Errorf("failures not classified as expired_token:\n%s", f.logs)
	}
}

func TestTokenWatcherSignalsWhenAPlainTokenFileIsRewritten(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	must(t, os.WriteFile(tokenFile, []byte("a"), 0o600))
	watcher, err := refresh.NewTokenWatcher(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	ch := watcher.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { watcher.Run(ctx, slog.New(slog.DiscardHandler)); close(done) }()
	defer func() { cancel(); <-done }()
	must(t, os.WriteFile(filepath.Join(dir, "unrelated"), []byte("x"), 0o600))
	must(t, os.WriteFile(tokenFile+".new", []byte("b"), 0o600))
	must(t, os.Rename(tokenFile+".new", tokenFile))
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatal("no rotation signal after the token file was replaced")
	}
}

// BenchmarkRefreshTwoHops measures one refresh of the hot path: read the
// token, AssumeRoleWithWebIdentity, AssumeRole (signed), and publish the
// files atomically, against the in-process STS.
func BenchmarkRefreshTwoHops(b *testing.B) {
	srv := ststest.New(b)
	tokenFile := filepath.Join(b.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("jwt"), 0o600)
	c := &chain.Chain{Source: chain.WebIdentity{TokenFile: tokenFile}, Roles: []string{webRole, targetRole}, SessionName: "ns.pod", Region: "us-east-1", Endpoint: srv.URL}
	d := output.NewDir(b.TempDir(), 0o644, -1, []output.Named{{Profile: "default"}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		creds, err := c.Retrieve(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Publish("default", creds); err != nil {
			b.Fatal(err)
		}
	}
}

// A hanging STS must not hold up shutdown: cancelling the context ends the
// in-flight call and Run returns.
func TestCancelDuringASlowSTSCallReturns(t *testing.T) {
	srv := ststest.New(t)
	arrived := make(chan struct{}, 1)
	srv.FailWhen(func(ststest.Call) *ststest.Fault {
		arrived <- struct{}{}
		return &ststest.Fault{Delay: time.Hour}
	})
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("jwt"), 0o600)
	l := &refresh.Loop{
		Profile:  "default",
		Provider: &chain.Chain{Source: chain.WebIdentity{TokenFile: tokenFile}, Roles: []string{webRole}, SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL, CallTimeout: time.Hour},
		Sink:     output.NewDir(t.TempDir(), 0o644, -1, []output.Named{{Profile: "default"}}),
		Clock:    newFakeClock(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	<-arrived
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
}
