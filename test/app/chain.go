package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
)

// runChain does by hand what the sidecar does: AssumeRoleWithWebIdentity
// with the token, then sts:AssumeRole into the target role with the web
// role's credentials, then lists the bucket and reads the object with the
// final credentials. --target-role-arn may name several roles, chained in
// order; without it the web role's credentials go to S3.
func runChain(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("chain", flag.ContinueOnError)
	tokenFile := fs.String("token-file", "", "web-identity token file (a projected service-account token)")
	webRole := fs.String("web-role-arn", "", "role to assume with the web-identity token")
	targetRole := fs.String("target-role-arn", "", "comma-separated roles to chain into with sts:AssumeRole, in order (empty: stop after the first hop)")
	endpoint := fs.String("sts-endpoint", "", "STS endpoint URL (empty: the SDK's default for the region)")
	s3Endpoint := fs.String("s3-endpoint", "", "S3 endpoint URL (empty: --sts-endpoint)")
	region := fs.String("region", envOr("AWS_REGION", "us-east-1"), "region")
	bucket := fs.String("bucket", "", "bucket to list and read")
	key := fs.String("key", "", "object to read (empty: only list)")
	list := fs.Bool("list", true, "list the bucket before reading")
	session := fs.String("session-name", "rolechain-app", "role session name for both hops")
	duration := fs.Duration("duration", 15*time.Minute, "requested session duration for both hops")
	if err := parseFlags(fs, args); err != nil {
		fmt.Fprintln(os.Stderr, "app chain:", err)
		return exitUsage
	}
	if *tokenFile == "" || *webRole == "" || *bucket == "" {
		fmt.Fprintln(os.Stderr, "app chain: --token-file, --web-role-arn and --bucket are required")
		return exitUsage
	}
	if *s3Endpoint == "" {
		*s3Endpoint = *endpoint
	}
	token, err := os.ReadFile(*tokenFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "app chain: --token-file:", err)
		return exitUsage
	}
	httpc := errorBodies{next: &http.Client{Timeout: 30 * time.Second}}
	stsOpts := func(o *sts.Options) {
		o.Region = *region
		o.HTTPClient = httpc
		if *endpoint != "" {
			o.BaseEndpoint = endpoint
		}
	}
	secs := aws.Int32(int32(duration.Seconds()))

	// Hop 1: the token is the only credential; the SDK sends this call unsigned.
	web, err := sts.New(sts.Options{}, stsOpts).AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          webRole,
		RoleSessionName:  session,
		WebIdentityToken: aws.String(strings.TrimSpace(string(token))),
		DurationSeconds:  secs,
	})
	if err != nil {
		report("web-identity", *webRole, err)
		return exitWebHop
	}
	fmt.Printf("web-identity: ok %s expires %s\n", aws.ToString(web.AssumedRoleUser.Arn), web.Credentials.Expiration.UTC().Format(time.RFC3339))
	creds := web.Credentials

	// Hops 2…n: chain into each role in turn, signed with the previous session.
	for _, role := range splitList(*targetRole) {
		chained, err := sts.New(sts.Options{Credentials: static(creds)}, stsOpts).AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn:         aws.String(role),
			RoleSessionName: session,
			DurationSeconds: secs,
		})
		if err != nil {
			report("assume-role", role, err)
			return exitChainHop
		}
		fmt.Printf("assume-role: ok %s expires %s\n", aws.ToString(chained.AssumedRoleUser.Arn), chained.Credentials.Expiration.UTC().Format(time.RFC3339))
		creds = chained.Credentials
	}

	s3c := s3.New(s3.Options{
		Region: *region, Credentials: static(creds), HTTPClient: httpc, UsePathStyle: true,
		DisableLogOutputChecksumValidationSkipped: true, // RGW sends no checksums: not news
	}, func(o *s3.Options) {
		if *s3Endpoint != "" {
			o.BaseEndpoint = s3Endpoint
		}
	})
	if *list {
		out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket})
		if err != nil {
			report("s3-list", *bucket, err)
			return exitS3Refused
		}
		keys := make([]string, 0, len(out.Contents))
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		fmt.Printf("s3-list: ok %s: [%s]\n", *bucket, strings.Join(keys, " "))
	}
	if *key == "" {
		return exitOK
	}
	body, err := getObject(ctx, s3c, *bucket, *key)
	if err != nil {
		report("s3-get", *bucket+"/"+*key, err)
		return exitS3Refused
	}
	fmt.Printf("s3-get: ok %s/%s: %d bytes %q\n", *bucket, *key, len(body), body)
	return exitOK
}

func static(c *ststypes.Credentials) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
}

func getObject(ctx context.Context, c *s3.Client, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	defer func() { _ = out.Body.Close() }()
	return io.ReadAll(io.LimitReader(out.Body, 1<<20))
}

// report prints a failed step as "STEP: FAILED <what>: HTTP <status> <code>:
// <message>", from what the SDK could decode, then its full error.
func report(step, what string, err error) {
	status, code, msg := 0, "", ""
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg = ae.ErrorCode(), ae.ErrorMessage()
	}
	fmt.Printf("%s: FAILED %s: HTTP %d %s: %s\n", step, what, status, code, msg)
	fmt.Fprintf(os.Stderr, "%s: %v\n", step, err)
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
