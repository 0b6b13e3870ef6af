package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// setupConfig is what runSetup creates in the STS.
type setupConfig struct {
	endpoint, region     string
	accessKey, secretKey string
	account              string
	issuer               string
	thumbprints          []string
	clientIDs            []string
	subjects             []string
	webRole, targetRole  string
	bucket, objectKey    string
	objectBody           string
}

// runSetup registers the cluster issuer as an OIDC provider and creates the
// roles and the bucket of the harness through RGW's IAM and S3 APIs, as an
// account administrator would in AWS:
//
//   - role web trusts the federated provider for AssumeRoleWithWebIdentity
//     when sub is one of the allowed service accounts, and may only
//     sts:AssumeRole into target;
//   - role target trusts only role web and may read the bucket;
//   - the bucket, owned by the administrator, holds one object.
//
// Every run replaces the provider and the roles, so it converges whatever an
// earlier run left. It prints the resulting ARNs as KEY=VALUE lines.
func runSetup(args []string) error {
	var c setupConfig
	var thumbs, clients, subjects string
	fs := flag.NewFlagSet("setup", flag.ExitOnError)
	fs.StringVar(&c.endpoint, "endpoint", "", "RGW endpoint (IAM, STS and S3)")
	fs.StringVar(&c.region, "region", "us-east-1", "region to sign with")
	fs.StringVar(&c.account, "account", "123456789012", "account (RGW tenant) of the roles")
	fs.StringVar(&c.issuer, "issuer", "", "issuer URL to register as OIDC provider")
	fs.StringVar(&thumbs, "thumbprints", "", "comma-separated SHA-1 thumbprints of the issuer's certificates")
	fs.StringVar(&clients, "client-ids", "sts.amazonaws.com", "comma-separated audiences the provider accepts")
	fs.StringVar(&subjects, "subjects", "rolechain-e2e:app", "comma- or space-separated NAMESPACE:SERVICEACCOUNT allowed to assume the web role")
	fs.StringVar(&c.webRole, "web-role", "web", "name of the first-hop role")
	fs.StringVar(&c.targetRole, "target-role", "target", "name of the chained role")
	fs.StringVar(&c.bucket, "bucket", "rolechain-e2e", "bucket readable only through the target role")
	fs.StringVar(&c.objectKey, "object-key", "hello.txt", "key of the object in the bucket")
	fs.StringVar(&c.objectBody, "object-body", "hello from rolechain via role chaining\n", "content of the object")
	_ = fs.Parse(args)
	c.accessKey = os.Getenv("STS_ADMIN_ACCESS_KEY")
	c.secretKey = os.Getenv("STS_ADMIN_SECRET_KEY")
	c.thumbprints = splitList(thumbs)
	c.clientIDs = splitList(clients)
	c.subjects = splitList(subjects)
	if c.endpoint == "" || c.issuer == "" || len(c.thumbprints) == 0 || c.accessKey == "" || c.secretKey == "" {
		return errors.New("setup: --endpoint, --issuer, --thumbprints and env STS_ADMIN_ACCESS_KEY, STS_ADMIN_SECRET_KEY are required")
	}
	for _, s := range c.subjects {
		if ns, sa, ok := strings.Cut(s, ":"); !ok || ns == "" || sa == "" {
			return fmt.Errorf("setup: --subjects entry %q must be NAMESPACE:SERVICEACCOUNT", s)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return c.run(ctx)
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' })
}

// providerHost is how RGW (like AWS) names a provider: the issuer URL
// without its scheme. It appears in the provider ARN and in condition keys.
func providerHost(issuer string) string {
	u, err := url.Parse(strings.TrimSuffix(issuer, "/"))
	if err != nil {
		return issuer
	}
	return u.Host + u.Path
}

func policyJSON(statements ...map[string]any) string {
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
	if err != nil {
		panic(err) // only maps of strings: cannot fail
	}
	return string(b)
}

func (c *setupConfig) run(ctx context.Context) error {
	creds := credentials.NewStaticCredentialsProvider(c.accessKey, c.secretKey, "")
	iamc := iam.New(iam.Options{Region: c.region, BaseEndpoint: aws.String(c.endpoint), Credentials: creds})
	s3c := s3.New(s3.Options{Region: c.region, BaseEndpoint: aws.String(c.endpoint), Credentials: creds, UsePathStyle: true})

	host := providerHost(c.issuer)
	providerARN, err := c.replaceProvider(ctx, iamc, host)
	if err != nil {
		return fmt.Errorf("OIDC provider %s: %w", c.issuer, err)
	}
	targetARN := fmt.Sprintf("arn:aws:iam::%s:role/%s", c.account, c.targetRole)
	webARN := fmt.Sprintf("arn:aws:iam::%s:role/%s", c.account, c.webRole)

	subs := make([]string, 0, len(c.subjects))
	for _, s := range c.subjects {
		subs = append(subs, "system:serviceaccount:"+s)
	}
	webTrust := policyJSON(map[string]any{
		"Effect":    "Allow",
		"Principal": map[string]any{"Federated": []string{providerARN}},
		"Action":    []string{"sts:AssumeRoleWithWebIdentity"},
		"Condition": map[string]any{"StringEquals": map[string]any{host + ":sub": subs}},
	})
	// In AWS the first hop needs sts:AssumeRole on the target; RGW only
	// evaluates the target's trust policy, the grant keeps the setup honest.
	webPerms := policyJSON(map[string]any{
		"Effect":   "Allow",
		"Action":   []string{"sts:AssumeRole"},
		"Resource": []string{targetARN},
	})
	targetTrust := policyJSON(map[string]any{
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": []string{webARN}},
		"Action":    []string{"sts:AssumeRole"},
	})
	targetPerms := policyJSON(map[string]any{
		"Effect":   "Allow",
		"Action":   []string{"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"},
		"Resource": []string{"arn:aws:s3:::" + c.bucket, "arn:aws:s3:::" + c.bucket + "/*"},
	})
	if err := replaceRole(ctx, iamc, c.webRole, webTrust, webPerms); err != nil {
		return fmt.Errorf("role %s: %w", c.webRole, err)
	}
	if err := replaceRole(ctx, iamc, c.targetRole, targetTrust, targetPerms); err != nil {
		return fmt.Errorf("role %s: %w", c.targetRole, err)
	}

	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &c.bucket}); err != nil && !isCode(err, "BucketAlreadyOwnedByYou") {
		return fmt.Errorf("create bucket %s: %w", c.bucket, err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &c.bucket, Key: &c.objectKey, Body: bytes.NewReader([]byte(c.objectBody)),
	}); err != nil {
		return fmt.Errorf("put object %s/%s: %w", c.bucket, c.objectKey, err)
	}
	fmt.Printf("OIDC_PROVIDER_ARN=%s\nWEB_ROLE_ARN=%s\nTARGET_ROLE_ARN=%s\n", providerARN, webARN, targetARN)
	return nil
}

// replaceProvider deletes any provider for the issuer and registers it anew,
// so thumbprints and client IDs always match this run's certificate.
func (c *setupConfig) replaceProvider(ctx context.Context, iamc *iam.Client, host string) (string, error) {
	list, err := iamc.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	switch {
	case notFound(err):
		// RGW 16 answers 404 while no provider exists at all.
		list = &iam.ListOpenIDConnectProvidersOutput{}
	case err != nil:
		return "", fmt.Errorf("list: %w", err)
	}
	for _, p := range list.OpenIDConnectProviderList {
		if p.Arn != nil && strings.HasSuffix(*p.Arn, ":oidc-provider/"+host) {
			if _, err := iamc.DeleteOpenIDConnectProvider(ctx, &iam.DeleteOpenIDConnectProviderInput{OpenIDConnectProviderArn: p.Arn}); err != nil {
				return "", fmt.Errorf("delete %s: %w", *p.Arn, err)
			}
		}
	}
	out, err := iamc.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
		Url:            aws.String(c.issuer),
		ClientIDList:   c.clientIDs,
		ThumbprintList: c.thumbprints,
	})
	if err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	arn := aws.ToString(out.OpenIDConnectProviderArn)
	if want := fmt.Sprintf("arn:aws:iam::%s:oidc-provider/%s", c.account, host); arn != want {
		return "", fmt.Errorf("created provider %q, want %q: is the admin user in tenant %s?", arn, want, c.account)
	}
	return arn, nil
}

// replaceRole deletes the role (with its inline policies) if it exists and
// creates it with the given trust and one inline permission policy.
func replaceRole(ctx context.Context, iamc *iam.Client, name, trust, perms string) error {
	if _, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: &name}); err == nil {
		pols, err := iamc.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: &name})
		if err != nil {
			return fmt.Errorf("list policies: %w", err)
		}
		for _, p := range pols.PolicyNames {
			if _, err := iamc.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: &name, PolicyName: aws.String(p)}); err != nil {
				return fmt.Errorf("delete policy %s: %w", p, err)
			}
		}
		if _, err := iamc.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: &name}); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
	} else if !notFound(err) {
		return fmt.Errorf("get: %w", err)
	}
	if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: &name, AssumeRolePolicyDocument: &trust}); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := iamc.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName: &name, PolicyName: aws.String(name + "-permissions"), PolicyDocument: &perms,
	}); err != nil {
		return fmt.Errorf("put policy: %w", err)
	}
	return nil
}

// notFound recognises NoSuchEntity. RGW sends S3-style <Error> bodies that
// the IAM query-protocol decoder cannot read, so the HTTP status is what
// tells.
func notFound(err error) bool {
	return isCode(err, "NoSuchEntity") || httpStatus(err) == http.StatusNotFound
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}
