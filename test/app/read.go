package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// runRead reads one object with the SDK's default credential chain, as any
// application in a pod would: keys from AWS_SHARED_CREDENTIALS_FILE, the
// container-credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI +
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE), and so on. The S3 endpoint comes
// from --s3-endpoint or the SDK's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
//
// One line per read: "read N: ok …" or "read N: FAILED …", with the
// credentials' source and expiry (never the keys). With --interval it keeps
// reading; --count bounds the reads (0: until stopped). The exit status is
// that of the last read.
func runRead(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("read", flag.ContinueOnError)
	bucket := fs.String("bucket", "", "bucket")
	key := fs.String("key", "", "object key")
	s3Endpoint := fs.String("s3-endpoint", "", "S3 endpoint URL (empty: the SDK's configuration)")
	interval := fs.Duration("interval", 0, "time between reads (0: read once)")
	count := fs.Int("count", 0, "number of reads with --interval (0: until stopped)")
	reload := fs.Bool("reload", false, "load the SDK configuration afresh for every read, as a new process would; "+
		"by default one configuration serves all reads, as in a long-running application")
	if err := parseFlags(fs, args); err != nil {
		fmt.Fprintln(os.Stderr, "app read:", err)
		return exitUsage
	}
	if *bucket == "" || *key == "" {
		fmt.Fprintln(os.Stderr, "app read: --bucket and --key are required")
		return exitUsage
	}
	if *interval == 0 {
		*count = 1
	}

	var client *s3.Client
	code := exitOK
	for n := 1; *count == 0 || n <= *count; n++ {
		if client == nil || *reload {
			c, err := newS3(ctx, *s3Endpoint)
			if err != nil {
				fmt.Printf("read %d: FAILED loading the SDK configuration: %v\n", n, err)
				return exitOther
			}
			client = c
		}
		code = readOnce(ctx, client, n, *bucket, *key)
		if *count != 0 && n == *count {
			break
		}
		select {
		case <-ctx.Done():
			return code
		case <-time.After(*interval):
		}
	}
	return code
}

func newS3(ctx context.Context, endpoint string) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	// Wrapped after loading: the SDK must first apply AWS_CA_BUNDLE to its
	// own client, which it cannot do to a client of ours.
	// LoadDefaultConfig leaves HTTPClient nil unless something (such as
	// AWS_CA_BUNDLE) made it build one; the service clients then use the
	// default. Wrapping nil would panic on the first request.
	next := cfg.HTTPClient
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = errorBodies{next: next}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true // RGW sends no checksums: not news
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

func readOnce(ctx context.Context, c *s3.Client, n int, bucket, key string) int {
	creds, err := c.Options().Credentials.Retrieve(ctx)
	if err != nil {
		fmt.Printf("read %d: FAILED no credentials: %v\n", n, err)
		return exitOther
	}
	about := "source=" + creds.Source
	if creds.CanExpire {
		about += " expires=" + creds.Expires.UTC().Format(time.RFC3339)
	}
	body, err := getObject(ctx, c, bucket, key)
	if err != nil {
		report(fmt.Sprintf("read %d", n), bucket+"/"+key+" ("+about+")", err)
		return exitS3Refused
	}
	sum := sha256.Sum256(body)
	fmt.Printf("read %d: ok %s/%s %d bytes sha256=%s %s content=%q\n", n, bucket, key, len(body), hex.EncodeToString(sum[:8]), about, body)
	return exitOK
}
