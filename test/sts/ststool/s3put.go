package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// runS3Put creates a bucket (if missing) and writes one object into it with
// long-term keys from STS_ADMIN_ACCESS_KEY / STS_ADMIN_SECRET_KEY: the data a
// peer without IAM roles (MinIO) needs for the harness.
func runS3Put(args []string) error {
	fs := flag.NewFlagSet("s3put", flag.ExitOnError)
	endpoint := fs.String("endpoint", "", "S3 endpoint URL")
	region := fs.String("region", "us-east-1", "region to sign with")
	bucket := fs.String("bucket", "rolechain-e2e", "bucket")
	key := fs.String("object-key", "hello.txt", "object key")
	body := fs.String("object-body", "hello from rolechain via web identity\n", "object content")
	_ = fs.Parse(args)
	ak, sk := os.Getenv("STS_ADMIN_ACCESS_KEY"), os.Getenv("STS_ADMIN_SECRET_KEY")
	if *endpoint == "" || ak == "" || sk == "" {
		return errors.New("s3put: --endpoint and env STS_ADMIN_ACCESS_KEY, STS_ADMIN_SECRET_KEY are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := s3.New(s3.Options{
		Region: *region, BaseEndpoint: endpoint, UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
	})
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil && !isCode(err, "BucketAlreadyOwnedByYou") {
		return fmt.Errorf("create bucket %s: %w", *bucket, err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader([]byte(*body))}); err != nil {
		return fmt.Errorf("put object %s/%s: %w", *bucket, *key, err)
	}

	return nil
}
