// Package metrics exposes the sidecar's Prometheus metrics. Labels are
// profile names, operation names and failure reasons: a small fixed set,
// never request data, so no secret can become a label value.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rolechain/rolechain/sidecar/chain"
)

// Metrics implements refresh.Recorder and records STS latency.
type Metrics struct {
	refreshes *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	now       func() time.Time

	mu      sync.Mutex
	expires map[string]time.Time
}

// New registers the metrics with reg. now is the clock for seconds to
// expiry (nil: time.Now).
func New(reg prometheus.Registerer, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rolechain_sidecar_refreshes_total",
			Help: "Credential refreshes by profile, result (success, failure) and failure reason.",
		}, []string{"profile", "result", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rolechain_sidecar_sts_request_duration_seconds",
			Help:    "Latency of STS calls by operation and result (success, or the failure reason).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation", "result"}),
		now:     now,
		expires: map[string]time.Time{},
	}
	reg.MustRegister(m.refreshes, m.latency, (*expiryCollector)(m))
	return m
}

// Refreshed counts one refresh.
func (m *Metrics) Refreshed(profile string, reason chain.Reason) {
	if reason == chain.ReasonNone {
		m.refreshes.WithLabelValues(profile, "success", "").Inc()
		return
	}
	m.refreshes.WithLabelValues(profile, "failure", string(reason)).Inc()
}

// Expiry records the published credentials' expiration (zero: none).
func (m *Metrics) Expiry(profile string, expiration time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if expiration.IsZero() {
		delete(m.expires, profile)
		return
	}
	m.expires[profile] = expiration
}

// ObserveSTS records one STS call; it has chain.Chain's Observe signature.
func (m *Metrics) ObserveSTS(operation string, d time.Duration, err error) {
	result := "success"
	if err != nil {
		result = string(chain.Classify(err))
	}
	m.latency.WithLabelValues(operation, result).Observe(d.Seconds())
}

var (
	expiryDesc = prometheus.NewDesc("rolechain_sidecar_credentials_expiry_seconds",
		"Seconds until the published credentials of a profile expire (absent when none are published).", []string{"profile"}, nil)
	expiryTSDesc = prometheus.NewDesc("rolechain_sidecar_credentials_expiration_timestamp_seconds",
		"Unix time at which the published credentials of a profile expire.", []string{"profile"}, nil)
)

// expiryCollector computes seconds-to-expiry at scrape time, so that no
// timer has to keep a gauge current (the sidecar stays idle between
// refreshes).
type expiryCollector Metrics

func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- expiryDesc
	ch <- expiryTSDesc
}

func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for p, exp := range c.expires {
		ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, exp.Sub(now).Seconds(), p)
		ch <- prometheus.MustNewConstMetric(expiryTSDesc, prometheus.GaugeValue, float64(exp.Unix()), p)
	}
}
