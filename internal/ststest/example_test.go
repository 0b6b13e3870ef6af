package ststest_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolechain/rolechain/internal/ststest"
)

// Point an STS client at the server, chain two roles, then assert on the
// recorded calls: the second hop was signed with the first hop's keys.
func Example() {
	srv := ststest.NewUnstarted() // in a test: srv := ststest.New(t)
	srv.Start()
	defer srv.Close()
	ctx := context.Background()
	anon := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}})
	first, _ := anon.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::111111111111:role/web"), RoleSessionName: aws.String("ns.pod"), WebIdentityToken: aws.String("jwt"),
	})
	c := first.Credentials
	signed := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)})
	srv.FailNext(ststest.Fault{Code: ststest.CodeThrottling}) // the SDK retries it
	_, err := signed.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::222222222222:role/target"), RoleSessionName: aws.String("ns.pod"), ExternalId: aws.String("ext-1"),
	})
	fmt.Println("error:", err)
	for _, call := range srv.Calls() {
		fmt.Printf("%s %d %q signed-by-first-hop=%t external-id=%q\n", call.Action, call.Status, call.ErrorCode, call.SignedBy == *c.AccessKeyId, call.ExternalID)
	}
	// Output:
	// error: <nil>
	// AssumeRoleWithWebIdentity 200 "" signed-by-first-hop=false external-id=""
	// AssumeRole 400 "Throttling" signed-by-first-hop=true external-id="ext-1"
	// AssumeRole 200 "" signed-by-first-hop=true external-id="ext-1"
}
