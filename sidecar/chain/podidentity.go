package chain

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"

	"github.com/rolechain/rolechain/sidecar/credcheck"
	"github.com/rolechain/rolechain/sidecar/redact"
)

// PodIdentity starts the chain with sts:AssumeRole signed by the
// credentials of the pod's EKS Pod Identity association, fetched afresh on
// every Retrieve from the container-credentials endpoint of EKS's Pod
// Identity Agent (URL, the value of AWS_CONTAINER_CREDENTIALS_FULL_URI),
// authorized by the token in TokenFile (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE),
// which the kubelet rotates: it is read on every Retrieve, as is, as the
// SDKs read it. The request is the SDK's own (credentials/endpointcreds).
//
// The token is a credential: no error of this source carries it, whatever
// the endpoint answers (see SourceError), and it is held in redact.Default
// like every other secret, so the sinks scrub it from anything else too.
type PodIdentity struct {
	URL       string
	TokenFile string
}

func (PodIdentity) isSource() {}

// SourceError is a failure to obtain the credentials that start a chain
// from an endpoint (the Pod Identity Agent). What names the source; the
// error text has every occurrence of the authorization token replaced, in
// case the endpoint echoed it back.
type SourceError struct {
	What string
	Err  error

	token string
}

func (e *SourceError) Error() string {
	msg := fmt.Sprintf("retrieving %s: %v", e.What, e.Err)
	if e.token != "" {
		msg = strings.ReplaceAll(msg, e.token, "[redacted]")
	}
	return msg
}

func (e *SourceError) Unwrap() error { return e.Err }

// podIdentity fetches the source credentials.
func (c *Chain) podIdentity(ctx context.Context, src PodIdentity) (aws.CredentialsProvider, error) {
	what := "the Pod Identity credentials from " + src.URL
	var token string // the last token read, to keep it out of errors
	provider := endpointcreds.New(src.URL, func(o *endpointcreds.Options) {
		o.HTTPClient = c.httpClient()
		// The refresh loop owns retries, as for STS.
		o.Retryer = aws.NopRetryer{}
		o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
			b, err := readSourceFile(src.TokenFile)
			if err != nil {
				return "", fmt.Errorf("reading the authorization token: %w", err)
			}
			token = string(b)
			redact.Default.Hold(podIdentityOwner(src.TokenFile), redact.PodIdentityToken, token)
			if token == "" {
				return "", fmt.Errorf("the authorization token file %s is empty", src.TokenFile)
			}
			return token, nil
		})
	})
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	creds, err := provider.Retrieve(ctx)
	if err != nil {
		return nil, &SourceError{What: what, Err: err, token: token}
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return nil, &SourceError{What: what, Err: &MalformedResponseError{What: "the endpoint's answer has no AccessKeyId or SecretAccessKey"}}
	}
	if err := credcheck.Check(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken, creds.Expires, credcheck.Need{}); err != nil {
		return nil, &SourceError{What: what, Err: err}
	}
	holdCredentials(podIdentityOwner(src.URL), creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }), nil
}

// podIdentityOwner holds, in redact.Default, the authorization token read
// from a file (keyed by the file) and the credentials the agent answered
// (keyed by its URL): the process's log and stderr sinks scrub both.
type podIdentityOwner string
