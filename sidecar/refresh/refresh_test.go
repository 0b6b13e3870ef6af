package refresh_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
// when it fires. Time moves only when the test fires a timer or advances
// it.
type fakeClock struct {
	mu        sync.Mutex
	now       time.Time
	waits     chan waiter
	deadlines []deadline
}

type deadline struct {
	at     time.Time
	cancel context.CancelFunc
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

// WithDeadline returns a context that is done once the fake time reaches
// t (when a timer fire or advance moves it there).
func (f *fakeClock) WithDeadline(ctx context.Context, t time.Time) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.now.Before(t) {
		cancel()
	} else {
		f.deadlines = append(f.deadlines, deadline{t, cancel})
	}
	return ctx, cancel
}

// advance moves time to t (never back), ending the contexts whose deadline
// it reaches.
func (f *fakeClock) advance(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.now) {
		f.now = t
	}
	keep := f.deadlines[:0]
	for _, d := range f.deadlines {
		if f.now.Before(d.at) {
			keep = append(keep, d)
		} else {
			d.cancel()
		}
	}
	f.deadlines = keep
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
	f.advance(w.at)
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

	// wrap, when prepare sets it, wraps the output directory's Sink.
	wrap func(refresh.Sink) refresh.Sink
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
		Provider: &chain.Chain{Source: chain.WebIdentity{TokenFile: f.tokenFile}, Roles: roles, SessionName: "ns.pod", Region: "us-east-1", Endpoint: f.srv.URL, Now: f.clock.Now},
		Sink:     f.sink(d),
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

func (f *fixture) sink(d refresh.Sink) refresh.Sink {
	if f.wrap != nil {
		return f.wrap(d)
	}
	return d
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
		{"30 s credentials: half-life comes before the interval", 30 * time.Second, time.Minute, 0, 15 * time.Second},
		// The Loop never publishes credentials that expire within
		// MinLifetime; for them NextRefresh only has a floor.
		{"expired on arrival: the floor", -time.Hour, 5 * time.Minute, 0, refresh.MinLifetime / 2},
		{"below MinInterval counts as MinInterval", time.Hour, time.Second, 0, refresh.MinInterval},
		{"below MinInterval, expired on arrival", -time.Hour, time.Nanosecond, 0.5, refresh.MinLifetime / 2},
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
		{8 * time.Minute, 0.9, 4 * time.Minute, 4 * time.Minute},    // shorter than STS issues: half-life
		{30 * time.Second, 0.9, 15 * time.Second, 15 * time.Second}, // a peer's short sessions: half-life
		{-time.Hour, 0.5, 5 * time.Second, 5 * time.Second},         // expired on arrival (never published): a floor, no busy loop
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
	withdrawAt := expiration.Add(-refresh.MaxWithdrawMargin)

	calls := len(f.srv.Calls())
	failures := 0
	for {
		w = f.clock.next(t)
		failures++
		now := f.clock.Now()
		wait := w.at.Sub(now)
		if w.at.Equal(withdrawAt) {
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
	// Shortly before expiry (a tenth of the lifetime, at most 10 s): the
	// credentials are withdrawn while still valid, then a retry follows.
	if err := output.Check(f.dir, []string{"default"}, withdrawAt); err != nil {
		t.Fatalf("credentials gone before their withdrawal time: %v", err)
	}
	f.clock.fire(w)
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

// published reads the expiration of the profile's JSON file, or the zero
// time when there is none.
func published(t *testing.T, dir string) time.Time {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "default.json"))
	if os.IsNotExist(err) {
		return time.Time{}
	}
	if err != nil {
		t.Fatal(err)
	}
	var c output.CredentialsJSON
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return time.Unix(c.Expiration, 0)
}

// A peer that issues 30 s sessions: every refresh comes at half-life,
// before the files expire, and never sooner (no busy loop). The probe saw
// an expired file half of every minute (a one-minute floor).
func TestShortLivedCredentialsAreReplacedBeforeTheyExpire(t *testing.T) {
	f := start(t, []string{webRole, targetRole}, 0.5, func(f *fixture) { f.srv.SetLifetime(30 * time.Second) })
	for refreshNo := 1; refreshNo <= 10; refreshNo++ {
		w := f.clock.next(t)
		if n := len(f.srv.Calls()); n != 2*refreshNo {
			t.Fatalf("refresh %d: %d STS calls, want %d", refreshNo, n, 2*refreshNo)
		}
		now := f.clock.Now()
		if wait := w.at.Sub(now); wait != 15*time.Second {
			t.Fatalf("refresh %d: next one after %s, want 15s (half of 30 s)", refreshNo, wait)
		}
		// The files stay valid up to the instant the next refresh starts.
		if err := output.Check(f.dir, []string{"default"}, w.at); err != nil {
			t.Fatalf("refresh %d: at the next refresh %s: %v", refreshNo, w.at, err)
		}
		f.clock.fire(w)
	}
}

// Credentials that arrive expired, or that expire before a refresh could
// replace them, are never published: the attempt fails with
// expires_too_soon and is retried with backoff (one STS call per hop per
// attempt), until STS issues usable ones.
func TestCredentialsThatExpireTooSoonAreNeverPublished(t *testing.T) {
	// One hop: with two, STS itself refuses to chain from expired
	// credentials.
	for _, life := range []time.Duration{-time.Minute, 5 * time.Second} {
		t.Run(life.String(), func(t *testing.T) {
			f := start(t, []string{webRole}, 0.5, func(f *fixture) { f.srv.SetLifetime(life) })
			for attempt := 1; attempt <= 3; attempt++ {
				w := f.clock.next(t)
				if _, err := os.Stat(filepath.Join(f.dir, "default.json")); !os.IsNotExist(err) {
					t.Fatalf("attempt %d: credentials expiring after %s were published", attempt, life)
				}
				if n := len(f.srv.Calls()); n != attempt {
					t.Fatalf("attempt %d: %d STS calls, want %d", attempt, n, attempt)
				}
				if want := refresh.Backoff(attempt, 0.5); w.at.Sub(f.clock.Now()) != want {
					t.Fatalf("attempt %d: retry after %s, want the backoff %s", attempt, w.at.Sub(f.clock.Now()), want)
				}
				f.clock.fire(w)
			}
			if logs := f.logs.String(); !strings.Contains(logs, `"reason":"expires_too_soon"`) || strings.Contains(logs, "credentials refreshed") {
				t.Fatalf("logs:\n%s", logs)
			}
			f.srv.SetLifetime(0)
			f.clock.fire(f.clock.next(t))
			f.clock.next(t)
			if err := output.Check(f.dir, []string{"default"}, f.clock.Now()); err != nil {
				t.Fatalf("after STS issued usable credentials: %v", err)
			}
		})
	}
}

// STS's clock three hours off ours, either way: the skew is measured from
// the Date header and logged, and the files and the schedule use the
// expiration on our clock. (Behind, the credentials looked expired on
// arrival and were published anyway; ahead, they looked four hours long.)
func TestClockSkewIsDetectedLoggedAndTakenOut(t *testing.T) {
	for _, skew := range []time.Duration{3 * time.Hour, -3 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			f := start(t, []string{webRole, targetRole}, 0.5, func(f *fixture) {
				f.srv.SetClock(func() time.Time { return f.clock.Now().Add(skew) })
			})
			w := f.clock.next(t)
			now := f.clock.Now()
			// Date has a resolution of a second: the measured offset may be
			// up to a second larger, never smaller (expiry never later).
			measured := skew + time.Second
			if got, want := published(t, f.dir), now.Add(time.Hour-time.Second); !got.Equal(want) {
				t.Fatalf("published expiration %s, want %s (one hour on our clock, less the Date header's second; STS said %s)", got, want, f.srv.Issued()[1].Expiration)
			}
			if want := now.Add(30*time.Minute - time.Second/2); !w.at.Equal(want) {
				t.Fatalf("next refresh %s, want %s", w.at, want)
			}
			if logs := f.logs.String(); !strings.Contains(logs, `"sts_clock_ahead_by":"`+measured.String()+`"`) {
				t.Fatalf("the skew is not logged as %s:\n%s", measured, logs)
			}
		})
	}
}

// A refresh that is still waiting for STS when the published credentials
// reach their withdrawal time does not keep them on disk: the call is cut
// short there, the files are removed, and the loop retries with backoff.
// (They stayed up to the 10 s call timeout, past their expiration.)
func TestAHangingRefreshDoesNotKeepCredentialsPastTheirWithdrawal(t *testing.T) {
	arrived := make(chan struct{}, 1)
	f := start(t, []string{webRole, targetRole}, 0.5, func(f *fixture) { f.srv.SetLifetime(30 * time.Second) })
	w := f.clock.next(t)
	expiration := published(t, f.dir)
	f.srv.FailWhen(func(ststest.Call) *ststest.Fault {
		arrived <- struct{}{}
		return &ststest.Fault{Delay: time.Hour}
	})
	f.clock.fire(w) // the refresh at half-life hangs at hop 1
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the refresh never reached STS")
	}
	withdrawAt := expiration.Add(-3 * time.Second) // a tenth of 30 s
	if err := output.Check(f.dir, []string{"default"}, withdrawAt); err != nil {
		t.Fatalf("credentials gone before their withdrawal time: %v", err)
	}
	f.clock.advance(withdrawAt)
	retry := f.clock.next(t)
	if _, err := os.Stat(filepath.Join(f.dir, "default.json")); !os.IsNotExist(err) {
		t.Fatalf("credentials still on disk at %s, %s before they expire, while the refresh hangs", withdrawAt, expiration.Sub(withdrawAt))
	}
	if want := withdrawAt.Add(refresh.Backoff(1, 0.5)); !retry.at.Equal(want) {
		t.Fatalf("retry at %s, want %s", retry.at, want)
	}
	// The fake STS records the hanging call when it sees the client give
	// up, on its own goroutine: after the loop has moved on, not before.
	if n := settledCalls(f.srv, 3); n != 3 {
		t.Fatalf("%d STS calls, want 2 + the hanging one", n)
	}
	if logs := f.logs.String(); !strings.Contains(logs, `"reason":"timeout"`) || !strings.Contains(logs, "removed them") {
		t.Fatalf("logs:\n%s", logs)
	}
}

// settledCalls returns how many calls srv has recorded once it holds at
// least want, or after 10 s if it never does.
func settledCalls(srv *ststest.Server, want int) int {
	for deadline := time.Now().Add(10 * time.Second); len(srv.Calls()) < want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	return len(srv.Calls())
}

// failingSink fails Publish while fail is set, and counts attempts.
type failingSink struct {
	refresh.Sink
	mu       sync.Mutex
	fail     bool
	attempts []chain.Credentials
}

func (s *failingSink) Publish(name string, c chain.Credentials) error {
	s.mu.Lock()
	s.attempts = append(s.attempts, c)
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return errors.New("writing credentials: read-only file system")
	}
	return s.Sink.Publish(name, c)
}

func (s *failingSink) setFail(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = v
}

// While the output cannot be written, the loop retries the write with the
// credentials it already holds, not STS (which minted new keys on every
// retry and threw them away). Once they are due for refresh, STS is asked
// again.
func TestAFailedWriteIsRetriedWithTheHeldCredentials(t *testing.T) {
	sink := &failingSink{fail: true}
	f := start(t, []string{webRole, targetRole}, 0.5, func(f *fixture) {
		f.wrap = func(d refresh.Sink) refresh.Sink { sink.Sink = d; return sink }
	})
	for attempt := 1; attempt <= 5; attempt++ {
		w := f.clock.next(t)
		if n := len(f.srv.Calls()); n != 2 {
			t.Fatalf("write attempt %d: %d STS calls, want 2 (one retrieval)", attempt, n)
		}
		if attempt == 5 {
			sink.setFail(false)
		}
		f.clock.fire(w)
	}
	w := f.clock.next(t)
	first := f.srv.Issued()[1]
	if n := len(f.srv.Calls()); n != 2 {
		t.Fatalf("%d STS calls, want 2", n)
	}
	b, _ := os.ReadFile(filepath.Join(f.dir, "default.json"))
	if !strings.Contains(string(b), first.AccessKeyID) {
		t.Fatalf("default.json does not hold the first retrieval's keys:\n%s", b)
	}
	if logs := f.logs.String(); !strings.Contains(logs, `"reason":"output"`) || !strings.Contains(logs, `"after_failed_write":true`) {
		t.Fatalf("logs:\n%s", logs)
	}
	// The next refresh is the one scheduled for the held credentials.
	if want := first.Expiration.Add(-30 * time.Minute); !w.at.Equal(want) {
		t.Fatalf("next refresh %s, want %s (half-life of the held credentials)", w.at, want)
	}

	// Writes failing until the held credentials are due: then STS again.
	sink.setFail(true)
	f.clock.fire(w) // due: retrieve (2 calls), the write fails
	for f.clock.Now().Before(first.Expiration.Add(-time.Minute)) {
		w = f.clock.next(t)
		if w.at.After(first.Expiration) {
			t.Fatalf("retry at %s, after the first credentials' expiration %s", w.at, first.Expiration)
		}
		f.clock.fire(w)
	}
	if n := len(f.srv.Calls()); n != 4 && n != 6 {
		t.Fatalf("%d STS calls over half an hour of failed writes, want 4 (or 6 once the second keys are due)", n)
	}
}
