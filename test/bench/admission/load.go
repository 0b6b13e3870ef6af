package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rolechain/rolechain/test/bench/benchenv"
)

// phase is one load shape: a closed loop on conns connections, or an open
// loop at rate requests per second.
type phase struct {
	name  string
	conns int
	rate  int
}

func parseScenarios(s string) ([]phase, error) {
	var out []phase
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if len(f) < 2 {
			return nil, fmt.Errorf("-scenarios: %q is not cN or rN", f)
		}
		n, err := strconv.Atoi(f[1:])
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-scenarios: %q is not cN or rN with N > 0", f)
		}
		switch f[0] {
		case 'c':
			out = append(out, phase{name: f, conns: n})
		case 'r':
			out = append(out, phase{name: f, rate: n})
		default:
			return nil, fmt.Errorf("-scenarios: %q is not cN or rN", f)
		}
	}
	return out, nil
}

func protoName(h2 bool) string {
	if h2 {
		return "HTTP/2 on one TLS connection"
	}
	return "HTTP/1.1 keep-alive TLS connections"
}

// newTransport is one client connection pool, as kube-apiserver's webhook
// client builds it for a webhook behind a Service: HTTP/1.1 only (issue
// kubernetes#75791), keep-alive, the target's CA.
func newTransport(ca *benchenv.Authority, h2 bool) *http.Transport {
	t := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	p := new(http.Protocols)
	if h2 {
		p.SetHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	t.Protocols = p
	return t
}

type result struct {
	target, phase  string
	rep            int
	window         time.Duration // measured wall time (open loop: until the last request ended)
	ok, errors     int
	cpu            float64 // webhook CPU seconds over the window
	genCPU         float64 // this process's CPU seconds over the window
	lat            []time.Duration
	rssMax, rssAvg int64 // KiB
	anonMax        int64 // KiB, RssAnon
	rate           int
}

func (r result) perAdmission() time.Duration {
	if r.ok == 0 {
		return 0
	}
	return time.Duration(r.cpu / float64(r.ok) * float64(time.Second))
}

func (r result) throughput() float64 { return float64(r.ok) / r.window.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(r.lat)))) - 1
	return r.lat[max(0, min(i, len(r.lat)-1))]
}

func (r result) line() string {
	return fmt.Sprintf("rep %d %-6s %-10s %6d ok %4d err %7.0f/s  CPU %4.0f µs/adm  p50 %7s p99 %7s p99.9 %7s max %7s  RSS max %5.1f MiB avg %5.1f anon max %5.1f  load generator %3.0f µs/req",
		r.rep, r.phase, r.target, r.ok, r.errors, r.throughput(), us(r.perAdmission()),
		ms(r.pct(50)), ms(r.pct(99)), ms(r.pct(99.9)), ms(r.pct(100)),
		float64(r.rssMax)/1024, float64(r.rssAvg)/1024, float64(r.anonMax)/1024, r.genCPU/float64(max(r.ok, 1))*1e6)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}

// worker is one client: its own connection for HTTP/1.1, a stream of the
// shared connection for HTTP/2.
type worker struct {
	client *http.Client
	lat    []time.Duration
	errors int
}

func workers(t *target, n int, h2 bool) []*worker {
	var shared *http.Transport
	if h2 {
		shared = newTransport(t.ca, true)
	}
	ws := make([]*worker, n)
	for i := range ws {
		tr := shared
		if tr == nil {
			tr = newTransport(t.ca, false)
			tr.MaxConnsPerHost = 1
		}
		// The API server's default (and rolechain's) webhook timeout.
		ws[i] = &worker{client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	}
	return ws
}

func closeIdle(ws []*worker) {
	for _, w := range ws {
		w.client.CloseIdleConnections()
	}
}

// do sends one review and reports whether a 200 came back in full.
func (w *worker) do(ctx context.Context, url string, body []byte) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, */*")
	req.Header.Set("User-Agent", "kube-apiserver-admission")
	resp, err := w.client.Do(req)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err == nil && resp.StatusCode == http.StatusOK
}

// measure runs one phase against one target: warm-up, then the measured
// window, with CPU and RSS taken from the target's /proc entries.
func measure(ctx context.Context, t *target, ph phase, body []byte, cfg config) (result, error) {
	n := ph.conns
	if ph.rate > 0 {
		n = cfg.openConns
	}
	ws := workers(t, n, cfg.http2)
	defer closeIdle(ws)
	res := result{target: t.name, phase: ph.name, rate: ph.rate}

	start := time.Now()
	m0 := start.Add(cfg.warmup)
	m1 := m0.Add(cfg.duration)
	var cpu0, gen0 float64
	var err0 error
	// Snapshot the counters when the measured window opens.
	opened := make(chan struct{})
	go func() {
		time.Sleep(time.Until(m0))
		cpu0, err0 = cpuSeconds(t.pid())
		gen0 = selfCPU()
		close(opened)
	}()
	rss := sampleRSS(t.pid(), m0)

	var wg sync.WaitGroup
	if ph.conns > 0 {
		// Closed loop: every connection sends as soon as it has its answer.
		// A request counts when it completes inside the window.
		for _, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					s := time.Now()
					if s.After(m1) {
						return
					}
					ok := w.do(ctx, t.url, body)
					e := time.Now()
					if e.Before(m0) || e.After(m1) {
						continue
					}
					if ok {
						w.lat = append(w.lat, e.Sub(s))
					} else {
						w.errors++
					}
				}
			}()
		}
		wg.Wait()
		<-opened
		res.window = cfg.duration
	} else {
		// Open loop: request i is due at start + i/rate whether or not
		// earlier ones have finished; a request that waits for a free
		// connection waits on the clock. Requests due inside the window
		// count, however late they end.
		interval := time.Second / time.Duration(ph.rate)
		due := make(chan time.Time, int(cfg.warmup/interval+cfg.duration/interval)+16)
		for _, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for d := range due {
					ok := w.do(ctx, t.url, body)
					if d.Before(m0) {
						continue
					}
					if ok {
						w.lat = append(w.lat, time.Since(d))
					} else {
						w.errors++
					}
				}
			}()
		}
		for i := 0; ; i++ {
			d := start.Add(time.Duration(i) * interval)
			if !d.Before(m1) || ctx.Err() != nil {
				break
			}
			if wait := time.Until(d); wait > 0 {
				time.Sleep(wait)
			}
			due <- d
		}
		close(due)
		wg.Wait()
		<-opened
		// A webhook that cannot keep up ends the window's requests late:
		// its throughput is what it served in that longer time.
		res.window = max(time.Since(m0), cfg.duration)
	}
	cpu1, err := cpuSeconds(t.pid())
	if err := errorsJoin(err0, err); err != nil {
		return res, fmt.Errorf("reading the webhook's CPU time (did it exit?): %w\n%s", err, t.logTail())
	}
	res.cpu = cpu1 - cpu0
	res.genCPU = selfCPU() - gen0
	res.rssMax, res.rssAvg, res.anonMax = rss()
	for _, w := range ws {
		res.lat = append(res.lat, w.lat...)
		res.errors += w.errors
	}
	res.ok = len(res.lat)
	slices.Sort(res.lat)
	return res, ctx.Err()
}

func errorsJoin(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// sampleRSS samples the target's memory every 100 ms from `from` on,
// until the returned function is called; that function returns the
// largest and the average VmRSS, and the largest RssAnon.
func sampleRSS(pid int, from time.Time) func() (maxKiB, avgKiB, anonMaxKiB int64) {
	stop := make(chan struct{})
	done := make(chan [3]int64)
	go func() {
		var peak, anonPeak, sum, n int64
		time.Sleep(time.Until(from))
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			v, anon := memKiB(pid)
			peak, anonPeak = max(peak, v), max(anonPeak, anon)
			sum += v
			n++
			select {
			case <-stop:
				done <- [3]int64{peak, sum / max(n, 1), anonPeak}
				return
			case <-tick.C:
			}
		}
	}()
	return func() (int64, int64, int64) {
		close(stop)
		r := <-done
		return r[0], r[1], r[2]
	}
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// printSummary prints, per phase and target, the median over repetitions
// and the range.
func printSummary(out io.Writer, results []result, targets []*target, phases []phase) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\ttarget\tCPU µs/admission\tthroughput /s\tp50 ms\tp99 ms\tRSS max MiB\tof it anonymous\terrors\t")
	for _, ph := range phases {
		for _, t := range targets {
			var rs []result
			for _, r := range results {
				if r.phase == ph.name && r.target == t.name {
					rs = append(rs, r)
				}
			}
			if len(rs) == 0 {
				continue
			}
			errs := 0
			for _, r := range rs {
				errs += r.errors
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", ph.name, t.name,
				spread(rs, func(r result) float64 { return us(r.perAdmission()) }, 0),
				spread(rs, result.throughput, 0),
				spread(rs, func(r result) float64 { return float64(r.pct(50)) / 1e6 }, 2),
				spread(rs, func(r result) float64 { return float64(r.pct(99)) / 1e6 }, 2),
				spread(rs, func(r result) float64 { return float64(r.rssMax) / 1024 }, 1),
				spread(rs, func(r result) float64 { return float64(r.anonMax) / 1024 }, 1),
				errs)
		}
	}
	tw.Flush()
	fmt.Fprintln(out, "each cell: median [min–max] over the repetitions")
}

func spread(rs []result, f func(result) float64, prec int) string {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	fmtf := func(x float64) string { return strconv.FormatFloat(x, 'f', prec, 64) }
	if len(v) == 1 {
		return fmtf(med)
	}
	return fmt.Sprintf("%s [%s–%s]", fmtf(med), fmtf(v[0]), fmtf(v[len(v)-1]))
}
