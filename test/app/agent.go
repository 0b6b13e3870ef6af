package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// runAgent is a stand-in for EKS's Pod Identity Agent, for the e2e suite:
// an HTTP server in the pod's network namespace, at the agent's own address
// (169.254.170.23:80, which it adds to the loopback interface; that takes
// CAP_NET_ADMIN), serving the container-credentials protocol at
// /v1/credentials. Where EKS's agent trades the pod's Pod Identity token for
// the association role's credentials with EKS Auth, this one trades it with
// the STS peer: AssumeRoleWithWebIdentity into --role-arn, the STS then
// checking the token's signature, issuer, audience and subject as EKS Auth
// does. A request without a token is refused, and no token or key is ever
// printed.
func runAgent(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	listen := fs.String("listen", "169.254.170.23:80", "address to serve on; a non-loopback IP is first added to the lo interface")
	role := fs.String("role-arn", "", "the Pod Identity association's role")
	endpoint := fs.String("sts-endpoint", "", "STS endpoint URL")
	region := fs.String("region", envOr("AWS_REGION", "us-east-1"), "region")
	if err := parseFlags(fs, args); err != nil {
		fmt.Fprintln(os.Stderr, "app agent:", err)
		return exitUsage
	}
	if *role == "" || *endpoint == "" {
		fmt.Fprintln(os.Stderr, "app agent: --role-arn and --sts-endpoint are required")
		return exitUsage
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "app agent: --listen:", err)
		return exitUsage
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() && ip.To4() != nil {
		if err := addLoopbackAddress(ip.To4()); err != nil {
			fmt.Fprintln(os.Stderr, "app agent: adding", ip, "to lo:", err)
			return exitOther
		}
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "app agent:", err)
		return exitOther
	}
	client := sts.New(sts.Options{Region: *region, BaseEndpoint: endpoint, HTTPClient: errorBodies{next: &http.Client{Timeout: 30 * time.Second}}})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/credentials", func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get("Authorization")
		if token == "" {
			writeAgentError(w, http.StatusUnauthorized, "AccessDeniedException", "no Authorization header")
			return
		}
		out, err := client.AssumeRoleWithWebIdentity(r.Context(), &sts.AssumeRoleWithWebIdentityInput{
			RoleArn: role, RoleSessionName: aws.String("eks-pod-identity"), WebIdentityToken: aws.String(strings.TrimSpace(token)),
		})
		if err != nil {
			// The STS's error is about the token, never the token itself.
			fmt.Printf("agent: refused: %v\n", err)
			writeAgentError(w, http.StatusForbidden, "AccessDeniedException", "the STS refused the pod's token")
			return
		}
		c := out.Credentials
		fmt.Printf("agent: served %s until %s\n", aws.ToString(out.AssumedRoleUser.Arn), c.Expiration.UTC().Format(time.RFC3339))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId": aws.ToString(c.AccessKeyId), "SecretAccessKey": aws.ToString(c.SecretAccessKey),
			"Token": aws.ToString(c.SessionToken), "Expiration": c.Expiration.UTC().Format(time.RFC3339),
		})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Printf("agent: serving on %s for role %s\n", *listen, *role)
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "app agent:", err)
		return exitOther
	}
	return exitOK
}

func writeAgentError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": msg})
}
