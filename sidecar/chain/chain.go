// Package chain turns a source of identity (a projected service-account
// token, the SDK's default credential chain, static keys, or EKS Pod
// Identity's container-credentials endpoint) into
// credentials for a target role by walking a chain of STS calls:
// AssumeRoleWithWebIdentity (anonymous) for the first hop when the source is
// a token, then sts:AssumeRole signed with the previous hop's credentials for
// each further role.
//
// A Chain is a Provider: one method, Retrieve, that makes exactly one STS
// call per hop and returns the last hop's credentials. It holds no
// credentials between calls, so every refresh starts again from the source
// (the token is re-read from disk each time).
package chain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/rolechain/rolechain/sidecar/credcheck"
	"github.com/rolechain/rolechain/sidecar/redact"
)

// Credentials are temporary AWS credentials. Their String, GoString and
// LogValue methods redact the secrets, so that formatting or logging a value
// by mistake cannot leak them.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Expiration is when the credentials expire by our clock (Chain.Now):
	// STS states it by its own clock, and ClockOffset is taken out, so that
	// whoever compares it with this node's clock (the refresh schedule, an
	// SDK reading the files or the endpoint) is right even when the clocks
	// disagree.
	Expiration time.Time
	// ClockOffset is how far STS's clock was ahead of ours (negative:
	// behind) when it issued the credentials, measured from the response's
	// Date header; 0 when they agree within MinClockOffset or STS sent no
	// Date.
	ClockOffset time.Duration
}

// String redacts everything but the expiration.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{<redacted>, Expiration: %s}", c.Expiration.UTC().Format(time.RFC3339))
}

// GoString redacts like String (for %#v).
func (c Credentials) GoString() string { return c.String() }

// LogValue logs only the expiration.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("expiration", c.Expiration))
}

// Provider yields fresh credentials. Retrieve makes the STS calls; it
// returns an error that Classify understands when any hop fails.
type Provider interface {
	Retrieve(ctx context.Context) (Credentials, error)
}

// Source yields the credentials (or token) that start a chain.
type Source interface {
	// isSource keeps the set closed: WebIdentity, Static, AWSProvider and
	// PodIdentity.
	isSource()
}

// WebIdentity starts the chain with AssumeRoleWithWebIdentity. TokenFile is
// read on every Retrieve: the kubelet rotates it by swapping a symlink, so
// an open file or cached content would go stale.
type WebIdentity struct {
	TokenFile string
}

// AWSProvider starts the chain with sts:AssumeRole signed by an SDK
// credentials provider (the default chain).
type AWSProvider struct {
	Provider aws.CredentialsProvider
}

// Static starts the chain with sts:AssumeRole signed by keys read, on every
// Retrieve, from files in Dir (a mounted Secret): aws_access_key_id,
// aws_secret_access_key and, optionally, aws_session_token.
type Static struct {
	Dir string
}

func (WebIdentity) isSource() {}
func (AWSProvider) isSource() {}
func (Static) isSource()      {}

// Static key file names inside Static.Dir.
const (
	StaticAccessKeyIDFile     = "aws_access_key_id"
	StaticSecretAccessKeyFile = "aws_secret_access_key"
	StaticSessionTokenFile    = "aws_session_token"
)

// Tag is an STS session tag.
type Tag struct{ Key, Value string }

// Chain assumes Roles in order starting from Source.
type Chain struct {
	Source Source
	// Roles are the role ARNs in the order they are assumed; the last is the
	// target. With a WebIdentity source the first is assumed with the token.
	Roles []string
	// SessionName is the RoleSessionName of every hop.
	SessionName string
	// DurationSeconds of every hop; 0 leaves it to STS (one hour).
	DurationSeconds int32
	// ExternalID is sent on every sts:AssumeRole hop when set.
	ExternalID string
	// SourceIdentity is sent on the first sts:AssumeRole hop only: STS
	// carries it through the chain and refuses to change it afterwards.
	SourceIdentity string
	// Tags are sent, not transitive, on every sts:AssumeRole hop (a
	// transitive tag could not be set again by the next hop).
	Tags []Tag
	// SessionPolicy (an inline IAM policy) and SessionPolicyARNs (managed
	// policies) are sent as Policy and PolicyArns on the last hop only,
	// whichever call that is: they narrow the target's session, while
	// every earlier hop needs its full permissions to assume the next role.
	SessionPolicy     string
	SessionPolicyARNs []string

	// Region selects the regional STS endpoint and the signing region.
	Region string
	// Endpoint, when set, replaces the regional endpoint (an STS-compatible
	// service or a test server).
	Endpoint string
	// HTTPClient is used for every call; nil means a default client.
	HTTPClient *http.Client
	// CallTimeout bounds each STS call; 0 means 10 s.
	CallTimeout time.Duration
	// Observe, when set, is told the outcome and latency of every STS call.
	Observe func(operation string, d time.Duration, err error)
	// Now is the clock for latency; nil means time.Now.
	Now func() time.Time
}

var _ Provider = (*Chain)(nil)

// Retrieve makes one STS call per role and returns the target's credentials.
func (c *Chain) Retrieve(ctx context.Context) (Credentials, error) {
	if len(c.Roles) == 0 {
		return Credentials{}, errors.New("chain: no roles to assume")
	}
	var prev aws.CredentialsProvider
	var creds Credentials
	for i, role := range c.Roles {
		var err error
		last := i == len(c.Roles)-1
		switch src := c.Source.(type) {
		case WebIdentity:
			if i == 0 {
				creds, err = c.webIdentity(ctx, src.TokenFile, role, last)
			} else {
				creds, err = c.assumeRole(ctx, prev, role, i == 1, last)
			}
		case AWSProvider:
			if i == 0 {
				prev = heldProvider{src.Provider}
			}
			creds, err = c.assumeRole(ctx, prev, role, i == 0, last)
		case Static:
			if i == 0 {
				if prev, err = readStatic(src.Dir); err != nil {
					return Credentials{}, err
				}
			}
			creds, err = c.assumeRole(ctx, prev, role, i == 0, last)
		case PodIdentity:
			if i == 0 {
				if prev, err = c.podIdentity(ctx, src); err != nil {
					return Credentials{}, err
				}
			}
			creds, err = c.assumeRole(ctx, prev, role, i == 0, last)
		default:
			return Credentials{}, fmt.Errorf("chain: unknown source %T", c.Source)
		}
		if err != nil {
			return Credentials{}, &HopError{Hop: i + 1, Hops: len(c.Roles), Role: role, Err: err}
		}
		holdCredentials(hopOwner{c, i}, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
		prev = staticProvider(creds)
	}
	return creds, nil
}

// HopError says which hop of a chain failed.
type HopError struct {
	Hop, Hops int
	Role      string
	Err       error
}

func (e *HopError) Error() string {
	return fmt.Sprintf("assuming %s (hop %d of %d): %v", e.Role, e.Hop, e.Hops, e.Err)
}

func (e *HopError) Unwrap() error { return e.Err }

// TokenFileError is returned when the web-identity token cannot be read.
type TokenFileError struct{ Err error }

func (e *TokenFileError) Error() string { return "reading web-identity token: " + e.Err.Error() }
func (e *TokenFileError) Unwrap() error { return e.Err }

// MaxWebIdentityTokenLength is the longest WebIdentityToken STS accepts
// (AssumeRoleWithWebIdentity: 4 to 20,000 characters). A longer file is
// refused before anything is sent: reading it whole and posting it on
// every retry cost 212 MB of RSS for a 50 MB file, for a sure refusal.
const MaxWebIdentityTokenLength = 20000

// readToken reads at most MaxWebIdentityTokenLength bytes of path (tokens
// are ASCII: a byte is a character), and fails if the file holds more.
// Opening the path afresh follows the current ..data symlink, so a rotated
// token is picked up.
func readToken(path string) ([]byte, error) {
	b, tooLarge, err := readBounded(path, MaxWebIdentityTokenLength)
	if tooLarge {
		return nil, fmt.Errorf("%s holds more than %d bytes; STS accepts web-identity tokens of at most %d characters, so it was not sent", path, MaxWebIdentityTokenLength, MaxWebIdentityTokenLength)
	}
	return b, err
}

func (c *Chain) webIdentity(ctx context.Context, tokenFile, role string, last bool) (Credentials, error) {
	b, err := readToken(tokenFile)
	if err != nil {
		return Credentials{}, &TokenFileError{Err: err}
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return Credentials{}, &TokenFileError{Err: fmt.Errorf("%s is empty", tokenFile)}
	}
	redact.Default.Hold(tokenOwner(tokenFile), redact.WebIdentityToken, token)
	in := &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(role),
		RoleSessionName:  aws.String(c.SessionName),
		WebIdentityToken: aws.String(token),
		DurationSeconds:  c.duration(),
	}
	if last {
		in.Policy, in.PolicyArns = c.sessionPolicy()
	}
	// AssumeRoleWithWebIdentity takes neither SourceIdentity nor Tags: STS
	// reads both from the token's claims. They go on the AssumeRole hops.
	client := c.client(aws.AnonymousCredentials{})
	start := c.now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	out, err := client.AssumeRoleWithWebIdentity(ctx, in)
	c.observe("AssumeRoleWithWebIdentity", start, err)
	if err != nil {
		return Credentials{}, err
	}
	return c.fromSTS(out.Credentials, out.ResultMetadata, start)
}

func (c *Chain) assumeRole(ctx context.Context, signer aws.CredentialsProvider, role string, first, last bool) (Credentials, error) {
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(role),
		RoleSessionName: aws.String(c.SessionName),
		DurationSeconds: c.duration(),
	}
	if c.ExternalID != "" {
		in.ExternalId = aws.String(c.ExternalID)
	}
	if first && c.SourceIdentity != "" {
		in.SourceIdentity = aws.String(c.SourceIdentity)
	}
	for _, t := range c.Tags {
		in.Tags = append(in.Tags, ststypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	if last {
		in.Policy, in.PolicyArns = c.sessionPolicy()
	}
	client := c.client(signer)
	start := c.now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	out, err := client.AssumeRole(ctx, in)
	c.observe("AssumeRole", start, err)
	if err != nil {
		return Credentials{}, err
	}
	return c.fromSTS(out.Credentials, out.ResultMetadata, start)
}

// sessionPolicy returns the Policy and PolicyArns parameters of the last
// hop: nil when unset, so that the SDK sends neither.
func (c *Chain) sessionPolicy() (*string, []ststypes.PolicyDescriptorType) {
	var policy *string
	if c.SessionPolicy != "" {
		policy = aws.String(c.SessionPolicy)
	}
	var arns []ststypes.PolicyDescriptorType
	for _, arn := range c.SessionPolicyARNs {
		arns = append(arns, ststypes.PolicyDescriptorType{Arn: aws.String(arn)})
	}
	return policy, arns
}

func (c *Chain) client(creds aws.CredentialsProvider) *sts.Client {
	return sts.New(sts.Options{
		Region:      c.Region,
		Credentials: creds,
		HTTPClient:  c.httpClient(),
		// The refresh loop owns retries (with backoff, classification and
		// metrics); SDK retries inside it would multiply STS calls and hide
		// failures from both.
		Retryer:    aws.NopRetryer{},
		APIOptions: []func(*middleware.Stack) error{wrapS3StyleErrors, spacesAsPercent20},
		BaseEndpoint: func() *string {
			if c.Endpoint == "" {
				return nil
			}
			return aws.String(c.Endpoint)
		}(),
	})
}

var defaultHTTPClient = &http.Client{}

func (c *Chain) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return defaultHTTPClient
}

func (c *Chain) duration() *int32 {
	if c.DurationSeconds == 0 {
		return nil
	}
	return aws.Int32(c.DurationSeconds)
}

func (c *Chain) timeout() time.Duration {
	if c.CallTimeout > 0 {
		return c.CallTimeout
	}
	return 10 * time.Second
}

func (c *Chain) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Chain) observe(op string, start time.Time, err error) {
	if c.Observe != nil {
		c.Observe(op, c.now().Sub(start), err)
	}
}

// fromSTS turns an STS response into Credentials whose Expiration is on
// our clock (see Credentials.ClockOffset).
func (c *Chain) fromSTS(sc *ststypes.Credentials, md middleware.Metadata, sent time.Time) (Credentials, error) {
	if sc == nil || sc.AccessKeyId == nil || sc.SecretAccessKey == nil || sc.SessionToken == nil || sc.Expiration == nil {
		return Credentials{}, &MalformedResponseError{What: "response has no complete Credentials element"}
	}
	if err := ValidateCredentials(*sc.AccessKeyId, *sc.SecretAccessKey, *sc.SessionToken, *sc.Expiration); err != nil {
		return Credentials{}, err
	}
	offset := clockOffset(md, sent, c.now())
	return Credentials{
		AccessKeyID:     *sc.AccessKeyId,
		SecretAccessKey: *sc.SecretAccessKey,
		SessionToken:    *sc.SessionToken,
		Expiration:      sc.Expiration.Add(-offset).UTC(),
		ClockOffset:     offset,
	}, nil
}

// MinClockOffset is the smallest difference between STS's clock and ours
// that counts: below it, converting expirations would only add noise.
const MinClockOffset = time.Second

// clockOffset estimates how far STS's clock is ahead of ours (negative:
// behind) from the Date header of a response (parsed by the SDK) to a
// request sent at sent and answered at received, both on our clock. Date
// has a resolution of one second, so STS's clock read between date and
// date+1s when it answered, at some instant between sent and received:
// every offset between date−received and date+1s−sent explains the
// header. When that range excludes zero, its upper end is returned: the
// one that puts the expiration earliest on our clock, so that credentials
// are never taken to last longer than they do. It is 0 when the range
// holds zero, when the offset is under MinClockOffset, and when the
// response has no Date.
func clockOffset(md middleware.Metadata, sent, received time.Time) time.Duration {
	date, ok := awsmiddleware.GetServerTime(md)
	if !ok || date.IsZero() {
		return 0
	}
	lo, hi := date.Sub(received), date.Add(time.Second).Sub(sent)
	if (lo <= 0 && hi >= 0) || (hi > -MinClockOffset && hi < MinClockOffset) {
		return 0
	}
	return hi
}

// MalformedResponseError is a 200 response the SDK parsed but that lacks
// what STS always sends.
type MalformedResponseError struct{ What string }

func (e *MalformedResponseError) Error() string { return "malformed STS response: " + e.What }

func staticProvider(c Credentials) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{
			AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
			Source: "rolechain", CanExpire: true, Expires: c.Expiration,
		}, nil
	})
}

// Owners of the secrets a Chain registers with redact.Default: every
// secret it reads or receives stays registered until the same owner holds
// a newer one, so an error that echoes it (now or at the next attempt) is
// scrubbed wherever it is logged or printed.
type (
	tokenOwner  string // the token file
	staticOwner string // the static credentials directory
	hopOwner    struct {
		c   *Chain
		hop int
	}
	providerOwner struct{} // an SDK provider: one per process, and its value may not be comparable
)

func holdCredentials(owner any, akid, secret, token string) {
	redact.Default.Hold(owner, redact.AccessKeyID, akid)
	redact.Default.Hold(owner, redact.SecretAccessKey, secret)
	redact.Default.Hold(owner, redact.SessionToken, token)
}

// heldProvider registers the credentials an SDK provider (the default
// chain) hands out before they sign the first hop.
type heldProvider struct{ p aws.CredentialsProvider }

func (h heldProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := h.p.Retrieve(ctx)
	if err != nil {
		return c, err
	}
	holdCredentials(providerOwner{}, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	// The same rules as STS's answers, before the keys sign anything: an
	// environment variable or shared file of the default chain is input
	// too. Long-term keys have no token and no expiration.
	var exp time.Time
	if c.CanExpire {
		exp = c.Expires
	}
	if err := credcheck.Check(c.AccessKeyID, c.SecretAccessKey, c.SessionToken, exp, credcheck.Need{}); err != nil {
		return aws.Credentials{}, fmt.Errorf("the SDK default chain's credentials (%s): %w", c.Source, err)
	}
	return c, nil
}

// MaxSourceFileSize bounds what the sidecar reads from a static
// credentials file and from the Pod Identity token file. Each holds at most
// a few kilobytes (a session token, a projected ServiceAccount token); a
// mounted file of any size must not be read whole on every refresh, as the
// web-identity token once was (212 MB of RSS for a 50 MB file).
const MaxSourceFileSize = 64 << 10

// readBounded reads path whole if it holds at most limit bytes; for a
// larger file it reads no further than limit+1 and reports tooLarge, so a
// file of any size costs at most that much memory.
func readBounded(path string, limit int64) (b []byte, tooLarge bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	b, err = io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(b)) > limit {
		return nil, true, nil
	}
	return b, false, nil
}

// readSourceFile reads a static credentials file or the Pod Identity token
// file, at most MaxSourceFileSize bytes; the error for a larger one names
// the path and the limit, never the content.
func readSourceFile(path string) ([]byte, error) {
	b, tooLarge, err := readBounded(path, MaxSourceFileSize)
	if tooLarge {
		return nil, fmt.Errorf("%s holds more than %d bytes, more than any credential; it was not used", path, MaxSourceFileSize)
	}
	return b, err
}

func readStatic(dir string) (aws.CredentialsProvider, error) {
	read := func(name string, optional bool) (string, error) {
		b, err := readSourceFile(dir + "/" + name)
		if err != nil {
			if optional && errors.Is(err, os.ErrNotExist) {
				return "", nil
			}
			return "", fmt.Errorf("reading static credentials: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	akid, err := read(StaticAccessKeyIDFile, false)
	if err != nil {
		return nil, err
	}
	secret, err := read(StaticSecretAccessKeyFile, false)
	if err != nil {
		return nil, err
	}
	token, err := read(StaticSessionTokenFile, true)
	if err != nil {
		return nil, err
	}
	if akid == "" || secret == "" {
		return nil, fmt.Errorf("reading static credentials: %s or %s in %s is empty", StaticAccessKeyIDFile, StaticSecretAccessKeyFile, dir)
	}
	holdCredentials(staticOwner(dir), akid, secret, token)
	if err := credcheck.Check(akid, secret, token, time.Time{}, credcheck.Need{}); err != nil {
		return nil, fmt.Errorf("static credentials in %s: %w", dir, err)
	}
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token, Source: "rolechain-static"}, nil
	}), nil
}
