// Package refresh keeps one profile's credentials fresh: it retrieves them,
// publishes them, sleeps until about half their lifetime has passed (or an
// optional shorter interval), and does it again. On failure it keeps the
// last good credentials published until shortly before they expire,
// retries with capped exponential backoff and jitter, and retries at once
// when the web-identity token is rotated.
//
// What is published is valid at every instant, or absent: credentials
// that expire too soon to be replaced in time are never published, and
// published ones are withdrawn shortly before they expire unless a refresh
// has replaced them, even while that refresh is still waiting for STS.
//
// Between two refreshes a Loop is blocked on one timer: it does no polling
// and wakes no thread.
package refresh

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/rolechain/rolechain/sidecar/chain"

	"github.com/rolechain/rolechain/internal/contract"
)

// Scheduling constants.
const (
	// MinBeforeExpiry is the latest a refresh is scheduled: SDKs that cache
	// credentials refresh them when 5 minutes (botocore: up to 15) remain,
	// so files must be fresh by then.
	MinBeforeExpiry = 5 * time.Minute
	// BackoffBase and BackoffCap bound the wait between failed attempts.
	BackoffBase = time.Second
	BackoffCap  = time.Minute
	// RotationDebounce is the least time between a failed attempt and a
	// retry caused by a token rotation: the kubelet's swap makes several
	// filesystem events, which must not turn into several STS calls.
	RotationDebounce = time.Second
	// MinInterval and MaxInterval bound Loop.Interval (--refresh-interval).
	// MinInterval is what keeps an interval from being a busy loop, so the
	// Loop enforces it even on a caller that skipped validation.
	MinInterval = contract.MinRefreshInterval
	MaxInterval = contract.MaxRefreshInterval
	// MinLifetime is the least time credentials must have left, on
	// arrival, to be published. The next refresh comes at half of it and
	// must replace them before they are withdrawn; and refreshing at half
	// of an ever shorter lifetime would approach a busy loop. STS never
	// issues less than 15 minutes; a peer issuing 30 s works, one issuing
	// 5 s, or credentials already expired (a skewed clock without a Date
	// header to correct it), fail with ReasonExpiresTooSoon.
	MinLifetime = 10 * time.Second
	// MaxWithdrawMargin bounds how long before their expiration credentials
	// that no refresh replaced are withdrawn: a tenth of their lifetime, at
	// most this. The margin covers the withdrawal itself (file removals,
	// fsync) and a reader that uses what it just read.
	MaxWithdrawMargin = 10 * time.Second
)

// Failure reasons of the Loop's own, besides chain.Classify's.
const (
	// ReasonOutput: credentials were retrieved but could not be published.
	ReasonOutput chain.Reason = "output"
	// ReasonExpiresTooSoon: STS answered with credentials that expire
	// within MinLifetime by this node's clock.
	ReasonExpiresTooSoon chain.Reason = "expires_too_soon"
)

// Clock is the time source of a Loop; tests inject a fake.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has elapsed.
	After(d time.Duration) <-chan time.Time
	// WithDeadline returns a copy of ctx that is done at t.
	WithDeadline(ctx context.Context, t time.Time) (context.Context, context.CancelFunc)
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (realClock) WithDeadline(ctx context.Context, t time.Time) (context.Context, context.CancelFunc) {
	return context.WithDeadline(ctx, t)
}

// Sink receives a profile's credentials (output files, the credentials
// endpoint).
type Sink interface {
	// Publish replaces the profile's credentials.
	Publish(profile string, c chain.Credentials) error
	// Withdraw removes them: they expired and could not be renewed.
	Withdraw(profile string) error
}

// Recorder receives refresh outcomes (metrics). Reason is chain.ReasonNone
// on success.
type Recorder interface {
	Refreshed(profile string, reason chain.Reason)
	// Expiry records when the published credentials expire; the zero time
	// means none are published.
	Expiry(profile string, expiration time.Time)
}

// Loop refreshes one profile. Fields other than Profile, Provider and Sink
// are optional.
type Loop struct {
	Profile  string
	Provider chain.Provider
	Sink     Sink
	Recorder Recorder
	Log      *slog.Logger
	Clock    Clock
	// Rand returns a number in [0, 1) for jitter.
	Rand func() float64
	// Rotated signals that the web-identity token changed on disk.
	Rotated <-chan struct{}
	// Interval, when not zero, is the longest time between two successful
	// refreshes (--refresh-interval): credentials on disk rotate at least
	// this often, whatever their lifetime. See NextRefreshWithin.
	Interval time.Duration
}

// NextRefresh returns when credentials obtained at now and expiring at
// expiration should be refreshed: at 45–55 % of their lifetime (r in [0, 1)
// picks the point, so that many pods started together spread out), but never
// later than MinBeforeExpiry before expiration. Credentials shorter-lived
// than 2×MinBeforeExpiry (STS never issues them; other peers may) are
// refreshed at half-life, which leaves the other half for retries before
// they are withdrawn; the floor of MinLifetime/2 only matters for
// lifetimes the Loop refuses to publish, and keeps them from scheduling a
// busy loop.
func NextRefresh(now, expiration time.Time, r float64) time.Time {
	life := expiration.Sub(now)
	if life < 2*MinBeforeExpiry {
		return now.Add(max(life/2, MinLifetime/2))
	}
	at := now.Add(time.Duration(float64(life) * (0.45 + 0.1*r)))
	if latest := expiration.Add(-MinBeforeExpiry); at.After(latest) {
		at = latest
	}
	return at
}

// NextRefreshWithin is NextRefresh capped by an interval: the earlier of
// NextRefresh and now + interval, where r shortens the interval by up to
// 10 % (spreading pods started together) but never lengthens it. An
// interval of 0 means no cap: the result is exactly NextRefresh. A
// positive interval below MinInterval counts as MinInterval, which, less
// 10 % jitter, keeps the interval from making a busy loop.
func NextRefreshWithin(now, expiration time.Time, interval time.Duration, r float64) time.Time {
	at := NextRefresh(now, expiration, r)
	if interval <= 0 {
		return at
	}
	interval = max(interval, MinInterval)
	capped := now.Add(interval - time.Duration(float64(interval)*0.1*r))
	if capped.Before(at) {
		return capped
	}
	return at
}

// WithdrawAt returns when credentials obtained at now and expiring at
// expiration are withdrawn if no refresh has replaced them by then: a
// tenth of their lifetime before expiration, at most MaxWithdrawMargin.
func WithdrawAt(now, expiration time.Time) time.Time {
	return expiration.Add(-min(expiration.Sub(now)/10, MaxWithdrawMargin))
}

// Backoff returns the wait after the n-th consecutive failure (n ≥ 1):
// BackoffBase doubling up to BackoffCap, of which r in [0, 1) keeps 50–100 %
// ("equal jitter": never zero, so never a busy loop; spread, so that pods
// failing together do not retry together).
func Backoff(n int, r float64) time.Duration {
	d := BackoffCap
	if n < 7 { // 2^6 s > 60 s
		d = min(BackoffBase<<(n-1), BackoffCap)
	}
	return d/2 + time.Duration(float64(d/2)*r)
}

// held are credentials the Loop has vetted, with their schedule.
type held struct {
	creds      chain.Credentials
	refreshAt  time.Time // when they are due for refresh
	withdrawAt time.Time // when they must be gone unless replaced
}

// Run refreshes until ctx is done, then returns nil. Errors are logged,
// recorded and retried, never returned: the pod needs the loop to live.
func (l *Loop) Run(ctx context.Context) error {
	clock := l.Clock
	if clock == nil {
		clock = realClock{}
	}
	rnd := l.Rand
	if rnd == nil {
		rnd = rand.Float64
	}
	log := l.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("profile", l.Profile)

	var (
		cur      *held // published, until cur.withdrawAt
		pending  *held // retrieved, but publishing failed: written again, not fetched again
		stale    bool  // a withdrawal failed: the files may still hold old credentials
		failures int
	)
	withdraw := func(why string) {
		if err := l.Sink.Withdraw(l.Profile); err != nil {
			stale = true
			log.Error("removing credentials failed", "error", err.Error())
		} else {
			stale = false
		}
		if cur != nil {
			log.Error(why, "expiration", cur.creds.Expiration)
			cur = nil
		}
		if l.Recorder != nil {
			l.Recorder.Expiry(l.Profile, time.Time{})
		}
	}
	for {
		attempt := clock.Now()
		var next *held
		var reason chain.Reason
		var err error
		rewrite := pending != nil && attempt.Before(pending.refreshAt)
		if rewrite {
			// The last attempt got credentials but could not write them:
			// write those again, rather than mint new ones at STS and
			// throw them away on every retry.
			next = pending
		} else {
			pending = nil
			next, reason, err = l.retrieve(ctx, clock, log, cur, rnd())
			if ctx.Err() != nil {
				return nil
			}
		}
		if next != nil {
			if err = l.Sink.Publish(l.Profile, next.creds); err != nil {
				reason, pending = ReasonOutput, next
			} else {
				cur, pending, stale, failures = next, nil, false, 0
			}
		}

		var wake time.Time
		now := clock.Now()
		if err == nil {
			wake = cur.refreshAt
			attrs := []any{"expiration", cur.creds.Expiration, "next_refresh", wake}
			if rewrite {
				attrs = append(attrs, "after_failed_write", true)
			}
			log.Info("credentials refreshed", attrs...)
			l.record(reason, cur.creds.Expiration)
		} else {
			if cur != nil && !now.Before(cur.withdrawAt) {
				withdraw("credentials expire before a refresh succeeded; removed them")
			}
			failures++
			wake = now.Add(Backoff(failures, rnd()))
			// Wake to withdraw what can no longer be used.
			if cur != nil && cur.withdrawAt.Before(wake) {
				wake = cur.withdrawAt
			}
			attrs := []any{"reason", string(reason), "error", err.Error(), "consecutive_failures", failures, "retry_at", wake}
			if cur != nil {
				attrs = append(attrs, "published_expiration", cur.creds.Expiration)
			}
			log.Warn("refresh failed", attrs...)
			l.record(reason, time.Time{})
		}

		timer := clock.After(wake.Sub(now))
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-timer:
				break wait
			case <-l.Rotated:
				if failures == 0 {
					// Healthy: the next scheduled refresh reads the new
					// token anyway.
					continue
				}
				now := clock.Now()
				earliest := attempt.Add(RotationDebounce)
				if !now.Before(earliest) {
					log.Info("token rotated, retrying now")
					break wait
				}
				if earliest.Before(wake) {
					wake = earliest
					timer = clock.After(earliest.Sub(now))
				}
			}
		}

		if cur != nil && failures > 0 && !clock.Now().Before(cur.withdrawAt) {
			withdraw("credentials expire before a refresh succeeded; removed them")
		} else if stale && cur == nil {
			withdraw("retrying the removal of expired credentials")
		}
	}
}

// retrieve asks the Provider for new credentials and vets them. While cur
// is published, the call is cut short at cur.withdrawAt: a refresh still
// waiting for STS then must not keep credentials on disk past that point.
func (l *Loop) retrieve(ctx context.Context, clock Clock, log *slog.Logger, cur *held, r float64) (*held, chain.Reason, error) {
	rctx := ctx
	if cur != nil {
		var cancel context.CancelFunc
		rctx, cancel = clock.WithDeadline(ctx, cur.withdrawAt)
		defer cancel()
	}
	creds, err := l.Provider.Retrieve(rctx)
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return nil, chain.ReasonTimeout, fmt.Errorf("still waiting for STS when the published credentials had to be withdrawn: %w", err)
		}
		return nil, chain.Classify(err), err
	}
	now := clock.Now()
	if creds.ClockOffset != 0 {
		log.Warn("STS's clock differs from this node's; expirations are converted to this node's clock (requests signed here fail once the difference exceeds 5 minutes)",
			"sts_clock_ahead_by", creds.ClockOffset.String(), "expiration", creds.Expiration)
	}
	if life := creds.Expiration.Sub(now); life < MinLifetime {
		return nil, ReasonExpiresTooSoon, fmt.Errorf("STS returned credentials that expire at %s, %s from now by this node's clock: not published, because they could not be refreshed before they expire (at least %s needed)",
			creds.Expiration.Format(time.RFC3339), life.Round(time.Second), MinLifetime)
	}
	return &held{
		creds:      creds,
		refreshAt:  NextRefreshWithin(now, creds.Expiration, l.Interval, r),
		withdrawAt: WithdrawAt(now, creds.Expiration),
	}, chain.ReasonNone, nil
}

func (l *Loop) record(reason chain.Reason, expiration time.Time) {
	if l.Recorder == nil {
		return
	}
	l.Recorder.Refreshed(l.Profile, reason)
	if !expiration.IsZero() {
		l.Recorder.Expiry(l.Profile, expiration)
	}
}
