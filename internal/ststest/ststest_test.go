package ststest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/rolechain/rolechain/internal/ststest"
)

func client(srv *ststest.Server, creds aws.CredentialsProvider) *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds, Retryer: aws.NopRetryer{}})
}

func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func TestIssuedCredentialsSignTheNextHopUntilTheyExpire(t *testing.T) {
	srv := ststest.New(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	ctx := context.Background()
	out, err := client(srv, aws.AnonymousCredentials{}).AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::111111111111:role/web"), RoleSessionName: aws.String("s1"), WebIdentityToken: aws.String("jwt"), DurationSeconds: aws.Int32(900),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Credentials.Expiration.Equal(now.Add(15 * time.Minute)) {
		t.Fatalf("expiration %s", out.Credentials.Expiration)
	}
	c := out.Credentials
	signer := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
	})
	in := &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/t"), RoleSessionName: aws.String("s1"), ExternalId: aws.String("x1")}
	if _, err := client(srv, signer).AssumeRole(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.DurationSeconds = aws.Int32(7200)
	if _, err := client(srv, signer).AssumeRole(ctx, in); code(err) != ststest.CodeValidationError {
		t.Fatalf("chained 2h session: %v, want ValidationError", err)
	}
	in.DurationSeconds = nil
	mu.Lock()
	now = now.Add(15 * time.Minute)
	mu.Unlock()
	if _, err := client(srv, signer).AssumeRole(ctx, in); code(err) != ststest.CodeExpiredCallerToken {
		t.Fatalf("after expiry: %v, want ExpiredToken", err)
	}
	calls := srv.CallsOf(ststest.ActionAssumeRole)
	if len(calls) != 3 || calls[0].SignedBy != *c.AccessKeyId || calls[0].ExternalID != "x1" {
		t.Fatalf("recorded %+v", calls)
	}
}

func TestSignatureOverADifferentBodyIsRejected(t *testing.T) {
	srv := ststest.New(t)
	srv.AddKey(ststest.Credentials{AccessKeyID: "AKIA1", SecretAccessKey: "secret"})
	form := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {"arn:aws:iam::222222222222:role/t"}, "RoleSessionName": {"s1"}}
	send := func(signed, sent string) int {
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(sent))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		sum := sha256.Sum256([]byte(signed))
		req.ContentLength = int64(len(sent))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIA1", SecretAccessKey: "secret"}, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := form.Encode()
	if got := send(body, body); got != 200 {
		t.Fatalf("correctly signed request: %d", got)
	}
	tampered := strings.Replace(body, "s1", "s2", 1)
	if got := send(body, tampered); got != 403 {
		t.Fatalf("tampered body: %d, want 403", got)
	}
	if c := srv.Calls(); c[1].ErrorCode != ststest.CodeSignatureDoesNotMatch {
		t.Fatalf("error %q", c[1].ErrorCode)
	}
}

func TestFaultsAndRejectedTokens(t *testing.T) {
	srv := ststest.New(t)
	srv.RejectToken("old", ststest.CodeInvalidIdentityToken)
	srv.FailNext(ststest.Fault{Code: ststest.CodeThrottling}, ststest.Fault{Status: 502})
	ctx := context.Background()
	call := func(token string) error {
		_, err := client(srv, aws.AnonymousCredentials{}).AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String("arn:aws:iam::111111111111:role/web"), RoleSessionName: aws.String("s1"), WebIdentityToken: aws.String(token)})
		return err
	}
	if code(call("new")) != ststest.CodeThrottling {
		t.Fatal("first fault not served")
	}
	if err := call("new"); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("second fault: %v", err)
	}
	if code(call("old")) != ststest.CodeInvalidIdentityToken {
		t.Fatal("rejected token accepted")
	}
	if err := call("new"); err != nil {
		t.Fatal(err)
	}
	statuses := []int{}
	for _, c := range srv.Calls() {
		statuses = append(statuses, c.Status)
	}
	if want := []int{400, 502, 400, 200}; !slices.Equal(statuses, want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}
}
