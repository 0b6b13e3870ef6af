// Package metrics defines the webhook's Prometheus metrics. Labels are
// bounded: results, lookup sources and denial reasons are fixed sets,
// namespaces are those in the webhook's cache (others are OtherNamespace).
// No label ever carries an annotation value, a pod name or anything secret.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Admission results.
const (
	ResultInjected = "injected" // the pod was mutated
	ResultSkipped  = "skipped"  // not opted in, excluded namespace, not a CREATE
	ResultDenied   = "denied"   // invalid annotations
	ResultErrored  = "errored"  // the request or a lookup failed
)

// Metrics holds the webhook's collectors.
type Metrics struct {
	// Admissions counts admission requests by result.
	Admissions *prometheus.CounterVec
	// Injections counts mutated pods by namespace: one the webhook's
	// namespace cache holds, else OtherNamespace.
	Injections *prometheus.CounterVec
	// Denials counts denied pods by reason: the annotation key (without
	// prefix and profile suffix) that was invalid, "namespace-policy"
	// for a pod its namespace's role policy refused, or
	// "namespace-credentials-mode" for a malformed namespace default.
	Denials *prometheus.CounterVec
	// ServiceAccountLookups counts ServiceAccount reads by source: "cache",
	// "api" (cache miss, direct GET) or "absent".
	ServiceAccountLookups *prometheus.CounterVec
	// NamespaceLookups counts Namespace reads (one read serves its role
	// policy and its credentials mode) by source: "cache", "api" (a cache miss, or the re-read
	// before a denial) or "absent".
	NamespaceLookups *prometheus.CounterVec
	// CredentialsModes counts injected pods by credentials mode ("file",
	// "endpoint"), where it came from ("pod", "namespace", "cluster") and
	// lifetime ("long-running": restartPolicy Always;
	// "run-to-completion"): at most 12 series. File mode for long-running
	// pods is what a platform team watches.
	CredentialsModes *prometheus.CounterVec
	// Latency observes the handling time of every admission request.
	Latency prometheus.Histogram
}

// New creates the collectors and registers them with reg (which may be nil,
// for tests that only read the values).
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rolechain_webhook_admissions_total",
			Help: "Pod admission requests handled, by result (injected, skipped, denied, errored).",
		}, []string{"result"}),
		Injections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rolechain_webhook_injections_total",
			Help: "Pods the sidecar was injected into, by namespace.",
		}, []string{"namespace"}),
		Denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rolechain_webhook_denials_total",
			Help: "Pods denied for invalid annotations, by the annotation at fault (one count per invalid annotation), or by the namespace's role policy (namespace-policy) or credentials mode (namespace-credentials-mode).",
		}, []string{"reason"}),
		ServiceAccountLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rolechain_webhook_serviceaccount_lookups_total",
			Help: "ServiceAccount reads, by source (cache, api after a cache miss, absent).",
		}, []string{"source"}),
		NamespaceLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rolechain_webhook_namespace_lookups_total",
			Help: "Namespace reads for the namespace role policy and credentials mode, by source (cache, api after a cache miss or before a denial, absent).",
		}, []string{"source"}),
		CredentialsModes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rolechain_webhook_credentials_modes_total",
			Help: "Pods the sidecar was injected into, by credentials mode (file, endpoint), where the mode came from (pod, namespace, cluster) and lifetime (long-running: restartPolicy Always; run-to-completion: Never or OnFailure).",
		}, []string{"mode", "from", "lifetime"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rolechain_webhook_admission_duration_seconds",
			Help: "Time to handle one pod admission request.",
			// Admission sits on the pod-creation path; the API server's
			// default webhook timeout is 10 s.
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Admissions, m.Injections, m.Denials, m.ServiceAccountLookups, m.NamespaceLookups, m.CredentialsModes, m.Latency)
	}
	return m
}

// OtherNamespace is the namespace label of an injection into a namespace
// the webhook's cache does not hold: a namespace created a moment ago, or
// one named by a forged review. Anyone who can reach the webhook can send
// reviews; labelling their invented namespaces would add a series each.
// Namespace names are DNS labels, so "_other" is never a real one.
const OtherNamespace = "_other"
