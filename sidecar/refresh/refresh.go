// Package refresh keeps one profile's credentials fresh: it retrieves them,
// publishes them, sleeps until about half their lifetime has passed (or an
// optional shorter interval), and does it again. On failure it keeps the
// last good credentials published until they expire, retries with capped
// exponential backoff and jitter, and retries at once when the web-identity
// token is rotated.
//
// Between two refreshes a Loop is blocked on one timer: it does no polling
// and wakes no thread.
package refresh

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/rolechain/rolechain/sidecar/chain"
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
	MinInterval = 10 * time.Second
	MaxInterval = 12 * time.Hour
)

// ReasonOutput is the failure reason when credentials were retrieved but
// could not be published.
const ReasonOutput chain.Reason = "output"

// Clock is the time source of a Loop; tests inject a fake.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has elapsed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

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
// than 2×MinBeforeExpiry (STS never issues them) are refreshed at half-life,
// but not sooner than a minute: credentials that look expired on arrival
// (a skewed clock) must not turn the loop into a busy one.
func NextRefresh(now, expiration time.Time, r float64) time.Time {
	life := expiration.Sub(now)
	if life < 2*MinBeforeExpiry {
		return now.Add(max(life/2, time.Minute))
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
// positive interval below MinInterval counts as MinInterval.
//
// The interval wins over NextRefresh's one-minute floor for credentials
// that look expired on arrival. That floor exists because a schedule
// derived from an untrustworthy lifetime (a skewed clock) could otherwise
// shrink towards zero; the interval does not depend on the lifetime or the
// clock's skew, was chosen by the operator, and is itself a floor
// (MinInterval, less 10 % jitter), so it cannot make a busy loop. Letting
// the one-minute floor win instead would silently stretch a 10 s interval
// to a minute exactly when something is wrong, breaking the promise that
// files rotate at least every interval.
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

	var last chain.Credentials // last good credentials, published while have
	have := false
	failures := 0
	for {
		attempt := clock.Now()
		creds, err := l.Provider.Retrieve(ctx)
		if ctx.Err() != nil {
			return nil
		}
		reason := chain.Classify(err)
		if err == nil {
			if err = l.Sink.Publish(l.Profile, creds); err != nil {
				reason = ReasonOutput
			}
		}

		var wake time.Time
		now := clock.Now()
		if err == nil {
			last, have, failures = creds, true, 0
			wake = NextRefreshWithin(now, creds.Expiration, l.Interval, rnd())
			log.Info("credentials refreshed", "expiration", creds.Expiration, "next_refresh", wake)
			l.record(reason, creds.Expiration)
		} else {
			failures++
			wait := Backoff(failures, rnd())
			wake = now.Add(wait)
			// Wake at expiry to withdraw what can no longer be used.
			if have && last.Expiration.Before(wake) {
				wake = last.Expiration
			}
			attrs := []any{"reason", string(reason), "error", err.Error(), "consecutive_failures", failures, "retry_at", wake}
			if have {
				attrs = append(attrs, "published_expiration", last.Expiration)
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

		if have && failures > 0 && !clock.Now().Before(last.Expiration) {
			have = false
			if err := l.Sink.Withdraw(l.Profile); err != nil {
				log.Error("removing expired credentials failed", "error", err.Error())
			}
			log.Error("credentials expired before a refresh succeeded; removed them", "expiration", last.Expiration)
			if l.Recorder != nil {
				l.Recorder.Expiry(l.Profile, time.Time{})
			}
		}
	}
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
