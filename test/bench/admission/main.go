// Command admission is the webhook's load benchmark: it measures admission
// the way kube-apiserver meets it. It starts a real kube-apiserver and etcd
// (envtest, KUBEBUILDER_ASSETS), captures the AdmissionReview the API server
// sends for a Deployment's pod, starts each webhook under test as its own
// process (rolechain's cmd/webhook, built here; optionally other builds and
// EKS's pod identity webhook) with its own TLS certificate and a live
// ServiceAccount cache behind it, then sends that review over TLS on
// keep-alive connections:
//
//   - closed loop with 16 and 64 connections (each sends its next request as
//     soon as the last answer arrived): throughput;
//   - open loop at 500/s and 2,000/s (requests start at their scheduled time
//     whether or not earlier ones have finished; latency is measured from
//     that intended start, so queueing is not hidden).
//
// For every phase it reports the webhook process's CPU seconds per admission
// (utime+stime from /proc/<pid>/stat, all threads), latency percentiles and
// resident memory sampled under load. Phases are interleaved across targets
// and repeated, because the machine is noisy. It is a benchmark: it prints
// figures and fails only when a webhook cannot be started or does not
// mutate the pod.
//
// kube-apiserver calls a webhook behind a Service over HTTP/1.1 only
// (k8s.io/apiserver/pkg/util/webhook, kubernetes#75791) and keeps 25 idle
// connections per host; HTTP/2 only for a URL webhook on loopback (-http2
// measures that case). The null target (./nullwebhook) is the floor: TLS
// and HTTP on the same Go stack, without any webhook logic.
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s go run ./test/bench/admission \
//	  -target rolechain=rolechain: -target null=null: \
//	  -target before=rolechain:/path/to/old/rolechain-webhook \
//	  -target eks=eks:/path/to/amazon-eks-pod-identity-webhook
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rolechain/rolechain/test/bench/benchenv"
)

type targetFlags []string

func (t *targetFlags) String() string     { return strings.Join(*t, ",") }
func (t *targetFlags) Set(v string) error { *t = append(*t, v); return nil }

func main() {
	var (
		targets   targetFlags
		seconds   = flag.Duration("duration", 20*time.Second, "length of each measured phase")
		warmup    = flag.Duration("warmup", 3*time.Second, "unmeasured load before each phase, on the same connections")
		reps      = flag.Int("reps", 3, "repetitions of every phase; targets are interleaved within each")
		scenarios = flag.String("scenarios", "c16,c64,r500,r2000", "phases: cN = closed loop on N connections, rN = open loop at N requests/s")
		openConns = flag.Int("open-conns", 64, "connections the open-loop phases may use (kube-apiserver keeps 25 idle per host and opens more when busy)")
		http2     = flag.Bool("http2", false, "send over one HTTP/2 connection instead of HTTP/1.1 connections (kube-apiserver uses HTTP/2 only for URL webhooks on loopback)")
		workDir   = flag.String("work-dir", ".cache/bench/admission", "certificates, kubeconfig, logs, binaries and profiles")
		profile   = flag.Duration("profile", 0, "if > 0, build rolechain with -tags rolechain_pprof and record a CPU profile of each rolechain target (other builds given with -target need that tag too) of this length, under the load of -profile-phase, into the work dir (an extra, unmeasured phase)")
		profPhase = flag.String("profile-phase", "c16", "the load under which -profile records")
		saveBody  = flag.Bool("save-review", false, "write the captured AdmissionReview to the work dir")
	)
	var envs targetFlags
	flag.Var(&targets, "target", "name=kind:binary; kind is rolechain, eks or null (TLS and HTTP only: the floor); an empty binary for rolechain builds ./cmd/webhook, for null ./test/bench/admission/nullwebhook (default: rolechain=rolechain:)")
	flag.Var(&envs, "env", "name=KEY=VALUE: an environment variable for target name only (e.g. after=GOMAXPROCS=1); repeatable")
	flag.Parse()
	if len(targets) == 0 {
		targets = targetFlags{"rolechain=rolechain:"}
	}
	phases, err := parseScenarios(*scenarios)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	profilePhase, err := parseScenarios(*profPhase)
	if err != nil || len(profilePhase) != 1 {
		fmt.Fprintln(os.Stderr, "-profile-phase: want one cN or rN")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// Output piped into a reader that goes away (| head) must not kill
	// the bench before it stops kube-apiserver, etcd and the webhooks.
	signal.Ignore(syscall.SIGPIPE)
	cfg := config{
		duration: *seconds, warmup: *warmup, reps: *reps, phases: phases, openConns: *openConns,
		http2: *http2, profile: *profile, profilePhase: profilePhase[0], saveReview: *saveBody,
	}
	if cfg.workDir, err = filepath.Abs(*workDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg.env = map[string][]string{}
	for _, e := range envs {
		name, kv, ok := strings.Cut(e, "=")
		if !ok || !strings.Contains(kv, "=") {
			fmt.Fprintf(os.Stderr, "-env %q: want name=KEY=VALUE\n", e)
			os.Exit(2)
		}
		cfg.env[name] = append(cfg.env[name], kv)
	}
	if err := run(ctx, cfg, targets); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	duration, warmup time.Duration
	reps             int
	phases           []phase
	openConns        int
	http2            bool
	workDir          string
	profile          time.Duration
	profilePhase     phase
	saveReview       bool
	env              map[string][]string // per target name
}

func run(ctx context.Context, cfg config, targetSpecs []string) error {
	if err := os.MkdirAll(cfg.workDir, 0o755); err != nil {
		return err
	}
	var specs []targetSpec
	for _, s := range targetSpecs {
		t, err := parseTarget(s)
		if err != nil {
			return err
		}
		specs = append(specs, t)
	}
	for i := range specs {
		var err error
		switch {
		case specs[i].kind == kindRolechain && specs[i].binary == "":
			specs[i].binary, err = buildRolechain(ctx, cfg.workDir, cfg.profile > 0)
		case specs[i].kind == kindNull && specs[i].binary == "":
			specs[i].binary, err = build(ctx, filepath.Join(cfg.workDir, "nullwebhook"), "./test/bench/admission/nullwebhook")
		}
		if err != nil {
			return err
		}
	}

	c, err := benchenv.StartCluster(ctx, cfg.workDir, benchObjects()...)
	if err != nil {
		return err
	}
	defer c.Stop()
	review, err := captureReview(ctx, c)
	if err != nil {
		return fmt.Errorf("capturing the API server's AdmissionReview: %w", err)
	}
	fmt.Printf("AdmissionReview captured from kube-apiserver %s: %d bytes (pod object %d bytes)\n", c.Version, len(review.body), review.objectBytes)
	if cfg.saveReview {
		if err := os.WriteFile(filepath.Join(cfg.workDir, "review.json"), review.body, 0o644); err != nil {
			return err
		}
	}

	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, s := range specs {
		t, err := startTarget(ctx, s, c, cfg)
		if err != nil {
			return err
		}
		targets = append(targets, t)
		if err := t.check(ctx, review.body); err != nil {
			return err
		}
		rss, anon := memKiB(t.pid())
		fmt.Printf("target %-10s %s %s, pid %d, idle RSS %.1f MiB (anonymous %.1f), patch of %d operations\n", t.name, strings.Join(cfg.env[t.name], " "), t.binary, t.pid(), float64(rss)/1024, float64(anon)/1024, t.patchOps)
	}

	if cfg.profile > 0 {
		for _, t := range targets {
			if t.pprofAddr == "" {
				continue
			}
			path, err := t.cpuProfile(ctx, review.body, cfg)
			if err != nil {
				return err
			}
			fmt.Printf("CPU profile of %s under %s load: %s (go tool pprof -top %s)\n", t.name, cfg.profilePhase.name, path, path)
		}
	}

	fmt.Printf("\nphases of %s after %s warm-up, %d repetitions, %s, GOMAXPROCS of each webhook = %d CPUs\n",
		cfg.duration, cfg.warmup, cfg.reps, protoName(cfg.http2), numCPU())
	var results []result
	for rep := 1; rep <= cfg.reps; rep++ {
		for _, ph := range cfg.phases {
			// Rotate the order of targets from one repetition to the next, so
			// that none always runs first (or right after the warm machine).
			for i := range targets {
				t := targets[(i+rep-1)%len(targets)]
				if err := ctx.Err(); err != nil {
					return err
				}
				r, err := measure(ctx, t, ph, review.body, cfg)
				if err != nil {
					return fmt.Errorf("%s %s: %w", t.name, ph.name, err)
				}
				r.rep = rep
				fmt.Println(r.line())
				results = append(results, r)
			}
		}
	}
	fmt.Println()
	printSummary(os.Stdout, results, targets, cfg.phases)
	return nil
}
