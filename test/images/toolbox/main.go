// Command toolbox is the one static binary inside the test images of the
// cluster harness: the smoke test and the e2e suite run it as sidecar, app,
// HTTP backend and probe, so the harness needs no distribution image and no
// registry.
//
// Usage: toolbox COMMAND [ARG...]
//
//	sleep [DURATION]            block until DURATION (default: forever) or SIGTERM
//	mark [--after D] FILE TEXT  write TEXT to FILE (after D), then block like sleep
//	exists FILE                 exit 0 iff FILE exists (a probe)
//	cat FILE...                 print files
//	serve ADDR [TEXT|@FILE]     HTTP server answering every path with TEXT, or with the
//	                            contents of FILE read at start (fails if FILE is missing),
//	                            or with the host name
//	get URL                     HTTP GET, print the body, exit 1 unless 200
//	jwt-claims FILE [CLAIM]     print the claims (payload JSON) of the JWT in FILE, unverified;
//	                            with CLAIM only that claim: a string as is, a list one per line
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: toolbox sleep|mark|exists|cat|serve|get|jwt-claims ARG...")
		os.Exit(2)
	}
	// SIGTERM ends every command promptly, so pods delete without waiting
	// out their grace period.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1], os.Args[2:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "toolbox %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cmd string, args []string, out io.Writer) error {
	switch cmd {
	case "sleep":
		return sleep(ctx, args)
	case "mark":
		return mark(ctx, args)
	case "exists":
		if len(args) != 1 {
			return errors.New("want exactly one FILE")
		}
		_, err := os.Stat(args[0])
		return err
	case "cat":
		for _, name := range args {
			b, err := os.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := out.Write(b); err != nil {
				return err
			}
		}
		return nil
	case "serve":
		return serve(ctx, args)
	case "get":
		return get(ctx, args, out)
	case "jwt-claims":
		if len(args) < 1 || len(args) > 2 {
			return errors.New("want FILE [CLAIM]")
		}
		b, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		claims, err := jwtClaims(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		if len(args) == 1 {
			j, err := json.MarshalIndent(claims, "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(out, string(j))
			return err
		}
		return printClaim(out, claims, args[1])
	default:
		return fmt.Errorf("unknown command (want sleep, mark, exists, cat, serve, get or jwt-claims)")
	}
}

// sleep blocks for the optional duration, or until ctx ends.
func sleep(ctx context.Context, args []string) error {
	if len(args) == 0 {
		<-ctx.Done()
		return nil
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return fmt.Errorf("DURATION: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	return nil
}

// mark writes a file, optionally after a delay, then blocks: a stand-in for
// a sidecar that becomes ready some time after it starts.
func mark(ctx context.Context, args []string) error {
	var after time.Duration
	if len(args) > 0 && args[0] == "--after" {
		if len(args) < 2 {
			return errors.New("--after needs a duration")
		}
		d, err := time.ParseDuration(args[1])
		if err != nil {
			return fmt.Errorf("--after: %w", err)
		}
		after, args = d, args[2:]
	}
	if len(args) != 2 {
		return errors.New("want FILE TEXT")
	}
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(after):
	}
	if err := os.WriteFile(args[0], []byte(args[1]+"\n"), 0o644); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func serve(ctx context.Context, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("want ADDR [TEXT]")
	}
	text, err := os.Hostname()
	if err != nil {
		return err
	}
	if len(args) == 2 {
		text = args[1]
		if name, ok := strings.CutPrefix(text, "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return err
			}
			text = strings.TrimSpace(string(b))
		}
	}
	srv := &http.Server{
		Addr:              args[0],
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintln(w, text)
		}),
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func get(ctx context.Context, args []string, out io.Writer) error {
	if len(args) != 1 {
		return errors.New("want URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(out, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %s", args[0], resp.Status)
	}
	return nil
}

// jwtClaims returns the payload of a compact JWS. It does not verify the
// signature: the tests only inspect what the kubelet wrote.
func jwtClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT: %d dot-separated parts, want 3", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("JWT payload: %w", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("JWT payload: %w", err)
	}
	return claims, nil
}

// printClaim prints one claim so that shell scripts can compare it without a
// JSON parser: a string as is, a list of strings one per line, anything else
// as JSON.
func printClaim(out io.Writer, claims map[string]any, name string) error {
	v, ok := claims[name]
	if !ok {
		return fmt.Errorf("no claim %q", name)
	}
	switch v := v.(type) {
	case string:
		_, err := fmt.Fprintln(out, v)
		return err
	case []any:
		for _, e := range v {
			if _, err := fmt.Fprintln(out, e); err != nil {
				return err
			}
		}
		return nil
	default:
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, string(j))
		return err
	}
}
