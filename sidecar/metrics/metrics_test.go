package metrics_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rolechain/rolechain/sidecar/chain"
	"github.com/rolechain/rolechain/sidecar/metrics"
)

func TestRefreshesAndSecondsToExpiry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	now := time.Unix(1_000_000, 0)
	m := metrics.New(reg, func() time.Time { return now })
	m.Refreshed("default", chain.ReasonNone)
	m.Refreshed("default", chain.ReasonThrottling)
	m.Expiry("default", now.Add(90*time.Second))
	m.ObserveSTS("AssumeRole", 20*time.Millisecond, nil)
	m.ObserveSTS("AssumeRole", time.Second, errors.New("boom"))

	want := `
# HELP rolechain_sidecar_credentials_expiry_seconds Seconds until the published credentials of a profile expire (absent when none are published).
# TYPE rolechain_sidecar_credentials_expiry_seconds gauge
rolechain_sidecar_credentials_expiry_seconds{profile="default"} 90
# HELP rolechain_sidecar_refreshes_total Credential refreshes by profile, result (success, failure) and failure reason.
# TYPE rolechain_sidecar_refreshes_total counter
rolechain_sidecar_refreshes_total{profile="default",reason="",result="success"} 1
rolechain_sidecar_refreshes_total{profile="default",reason="throttling",result="failure"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rolechain_sidecar_refreshes_total", "rolechain_sidecar_credentials_expiry_seconds"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "rolechain_sidecar_sts_request_duration_seconds"); n != 2 {
		t.Fatalf("%d latency series, want success and other", n)
	}
	m.Expiry("default", time.Time{})
	if n := testutil.CollectAndCount(reg, "rolechain_sidecar_credentials_expiry_seconds"); n != 0 {
		t.Fatalf("expiry gauge still present after withdrawal")
	}
}
