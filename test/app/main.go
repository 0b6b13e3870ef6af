// Command app is the test application of the rolechain harness: a pod-sized
// AWS client built on aws-sdk-go-v2 that proves which credentials work.
//
//	app chain  trade a web-identity token for the web role, chain
//	           sts:AssumeRole into the target role, list and read the bucket
//	           (what the sidecar does, done by hand: the smoke test);
//	app read   read the object with whatever the SDK's default chain finds
//	           (AWS_SHARED_CREDENTIALS_FILE, AWS_CONTAINER_CREDENTIALS_FULL_URI,
//	           …), once or in a loop: the e2e suite's app container;
//	app agent  a stand-in for EKS's Pod Identity Agent in the pod: the
//	           container-credentials endpoint at 169.254.170.23, trading the
//	           pod's Pod Identity token for a role's credentials at the STS.
//
// Every flag can also be set by the environment variable APP_<FLAG> (upper
// case, dashes as underscores), so a pod spec needs no args.
//
// Exit status: 0 success, 2 usage, 3 the web-identity hop failed, 4 the
// AssumeRole hop failed, 5 S3 refused or failed, 1 anything else.
// Credentials are never printed; error bodies from the server are, on stderr.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const (
	exitOK        = 0
	exitOther     = 1
	exitUsage     = 2
	exitWebHop    = 3
	exitChainHop  = 4
	exitS3Refused = 5
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: app chain|read|agent [flags]  (app <command> -h for flags)")
		os.Exit(exitUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var code int
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "chain":
		code = runChain(ctx, args)
	case "read":
		code = runRead(ctx, args)
	case "agent":
		code = runAgent(ctx, args)
	default:
		fmt.Fprintf(os.Stderr, "app: unknown command %q: want chain, read or agent\n", cmd)
		code = exitUsage
	}
	os.Exit(code)
}

// parseFlags parses args after applying APP_<FLAG> environment defaults.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "APP_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}

// errorBodies is the SDK's HTTP client with one addition: the body of every
// non-2xx response is printed to stderr. RGW answers with S3-style <Error>
// documents that the STS and IAM decoders cannot read, so the SDK's error
// says little more than the status; the body says why. Success bodies hold
// credentials and are never printed.
type errorBodies struct {
	next interface {
		Do(*http.Request) (*http.Response, error)
	}
	log io.Writer // os.Stderr when nil
}

func (c errorBodies) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(req)
	if err != nil || resp.StatusCode < 300 {
		return resp, err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, errors.Join(err, rerr)
	}
	w := c.log
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, "http: %s %s -> %d %s\n", req.Method, req.URL.Redacted(), resp.StatusCode, strings.TrimSpace(string(body)))
	return resp, nil
}
