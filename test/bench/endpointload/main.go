// Command endpointload drives a running rolechain-sidecar's credentials
// endpoint the way a pod's SDK clients meet it, and prints what the
// clients saw and what it cost the sidecar (test/bench/sidecar-endpoint.sh
// runs it; make bench runs that).
//
// Each of -clients clients has its own keep-alive connection (its own
// transport, as separate SDK processes would) and sends GETs with the
// token at -rate/-clients per second, open loop: latency is measured from
// the intended send time, so queueing in the sidecar is not hidden by a
// client that waits before sending its next request. -stalled connections
// are opened first, each sending a request's head with a body announced
// and never the body, or nothing at all (-stall silent); with -reconnect
// each is reopened as soon as the sidecar closes it, a flood that never
// ends.
//
// The sidecar's CPU time comes from /proc/PID/stat (utime + stime, all
// threads) before and after the run; its RSS and open descriptors are
// sampled every 50 ms.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

func main() {
	endpoint := flag.String("url", "", "credentials endpoint URL (http://127.0.0.1:PORT/v1/credentials/PROFILE)")
	tokenFile := flag.String("token-file", "", "the endpoint's authorization token file")
	clients := flag.Int("clients", 200, "concurrent clients, each with its own keep-alive connection")
	rate := flag.Float64("rate", 200, "requests per second of all clients together")
	duration := flag.Duration("duration", 10*time.Second, "length of the run")
	pid := flag.Int("pid", 0, "the sidecar's process ID (CPU, RSS, descriptors)")
	stalled := flag.Int("stalled", 0, "connections held stalled during the run")
	reconnect := flag.Bool("reconnect", false, "reopen a stalled connection as soon as the sidecar closes it (a flood that never ends) instead of leaving it closed")
	stallMode := flag.String("stall", "body", "how stalled connections stall: body (a request head announcing a body that never comes) or silent (nothing sent)")
	flag.BoolVar(&showErrors, "show-errors", false, "print the first error of each kind")
	flag.Parse()
	if *endpoint == "" || *tokenFile == "" || *pid == 0 || *clients < 1 || *rate <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	token, err := os.ReadFile(*tokenFile)
	check(err)
	u, err := url.Parse(*endpoint)
	check(err)

	stop := make(chan struct{})
	var holders sync.WaitGroup
	if *stalled > 0 {
		head := "GET " + u.Path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAuthorization: " + string(token) + "\r\nContent-Length: 4096\r\n\r\n"
		if *stallMode == "silent" {
			head = ""
		}
		holdStalled(u.Host, head, *stalled, *reconnect, stop, &holders)
	}

	var sample sampler
	sampleDone := make(chan struct{})
	go sample.run(*pid, stop, sampleDone)

	cpu0 := cpuSeconds(*pid)
	interval := time.Duration(float64(*clients) / *rate * float64(time.Second))
	begin := time.Now().Add(100 * time.Millisecond)
	end := begin.Add(*duration)
	results := make([]clientResult, *clients)
	var wg sync.WaitGroup
	for i := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			phase := interval * time.Duration(i) / time.Duration(*clients)
			results[i] = runClient(*endpoint, string(token), begin.Add(phase), end, interval)
		}()
	}
	wg.Wait()
	cpu1 := cpuSeconds(*pid)
	close(stop)
	holders.Wait()
	<-sampleDone

	var lat []time.Duration
	errs := map[string]int{}
	for _, r := range results {
		lat = append(lat, r.latencies...)
		for k, v := range r.errors {
			errs[k] += v
		}
	}
	slices.Sort(lat)
	failed := 0
	for _, v := range errs {
		failed += v
	}
	total := len(lat) + failed
	flood := "held"
	if *reconnect {
		flood = "reopened when closed"
	}
	fmt.Printf("clients %d, open loop %.0f req/s for %s; stalled connections: %d (%s, %s)\n", *clients, *rate, *duration, *stalled, *stallMode, flood)
	fmt.Printf("  requests %d: ok %d, failed %d", total, len(lat), failed)
	for _, k := range sortedKeys(errs) {
		fmt.Printf(" [%s: %d]", k, errs[k])
	}
	fmt.Println()
	if len(lat) > 0 {
		fmt.Printf("  latency from intended send: p50 %s  p90 %s  p99 %s  max %s\n",
			pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99), lat[len(lat)-1].Round(time.Microsecond))
	}
	cpu := cpu1 - cpu0
	perReq := 0.0
	if total > 0 {
		perReq = cpu / float64(total) * 1e6
	}
	fmt.Printf("  sidecar: CPU %.2f s (%.0f µs per request), max VmRSS %d KiB, max open descriptors %d, stalled connections closed by it %d\n",
		cpu, perReq, sample.maxRSS.Load(), sample.maxFDs.Load(), stalledClosed.Load())
}

type clientResult struct {
	latencies []time.Duration
	errors    map[string]int
}

func runClient(endpoint, token string, first, end time.Time, interval time.Duration) clientResult {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	res := clientResult{errors: map[string]int{}}
	for at := first; at.Before(end); at = at.Add(interval) {
		time.Sleep(time.Until(at))
		req, _ := http.NewRequest(http.MethodGet, endpoint, nil)
		req.Header.Set("Authorization", token)
		resp, err := c.Do(req)
		if err != nil {
			res.errors[errorKind(err)]++
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			res.errors[errorKind(err)]++
		case resp.StatusCode != http.StatusOK:
			res.errors["HTTP "+strconv.Itoa(resp.StatusCode)]++
		default:
			res.latencies = append(res.latencies, time.Since(at))
		}
	}
	return res
}

var (
	showErrors bool
	shownErrs  sync.Map
)

func errorKind(err error) string {
	if showErrors {
		if _, seen := shownErrs.LoadOrStore(err.Error()[:min(len(err.Error()), 60)], true); !seen {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection reset"):
		return "reset"
	case strings.Contains(err.Error(), "EOF"):
		return "EOF"
	case strings.Contains(err.Error(), "connection refused"):
		return "refused"
	}
	return "other"
}

var stalledClosed atomic.Int64

// holdStalled opens n connections that each send head (maybe nothing) and
// nothing more; with reconnect, one the sidecar closes is reopened.
func holdStalled(addr, head string, n int, reconnect bool, stop <-chan struct{}, wg *sync.WaitGroup) {
	opened := make(chan struct{}, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
						continue
					}
				}
				io.WriteString(c, head)
				if first {
					opened <- struct{}{}
					first = false
				}
				closed := make(chan struct{})
				go func() { io.Copy(io.Discard, c); close(closed) }()
				select {
				case <-stop:
					c.Close()
					return
				case <-closed:
					stalledClosed.Add(1)
					c.Close()
					if !reconnect {
						return
					}
				}
			}
		}()
	}
	for range n {
		<-opened
	}
}

type sampler struct{ maxRSS, maxFDs atomic.Int64 }

func (s *sampler) run(pid int, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if rss := rssKiB(pid); rss > s.maxRSS.Load() {
			s.maxRSS.Store(rss)
		}
		if entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil && int64(len(entries)) > s.maxFDs.Load() {
			s.maxFDs.Store(int64(len(entries)))
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

// cpuSeconds is the process's user + system CPU time so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	// The command name (field 2) may hold spaces; fields count from the
	// closing parenthesis. utime and stime are fields 14 and 15.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return float64(utime+stime) / clockTicks
}

func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted)-1) * p)
	return sorted[i].Round(time.Microsecond)
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "endpointload:", err)
		os.Exit(1)
	}
}
