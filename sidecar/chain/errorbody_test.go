package chain_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/rolechain/rolechain/internal/ststest"
	"github.com/rolechain/rolechain/sidecar/chain"
)

// Ceph radosgw answers STS calls with S3-style <Error> documents (bodies
// copied from radosgw 18, see test/sts/README.md). The error must still carry
// the peer's code, message and HTTP status, as an STS document's would.
func TestS3StyleErrorBodiesKeepTheirCodeAndMessage(t *testing.T) {
	cases := []struct {
		name        string
		fault       ststest.Fault
		wantCode    string
		wantMessage string
		wantStatus  int
		wantReqID   string // "" when the body has none to check
		wantReason  chain.Reason
	}{
		{
			name: "radosgw trust refusal",
			fault: ststest.Fault{Status: 403, Body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message></Message>` +
				`<RequestId>tx00000747a87b35eddd41b-006b054394-100e-default</RequestId><HostId>100e-default-default</HostId></Error>`},
			wantCode: "AccessDenied", wantMessage: "(no message)", wantStatus: 403, wantReqID: "tx00000747a87b35eddd41b-006b054394-100e-default", wantReason: chain.ReasonAccessDenied,
		},
		{
			name: "radosgw bad argument, with a message and whitespace",
			fault: ststest.Fault{Status: 400, Body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>InvalidArgument</Code>\n" +
				"  <Message>duration out of range</Message>\n  <RequestId>tx1</RequestId>\n</Error>\n"},
			wantCode: "InvalidArgument", wantMessage: "duration out of range", wantStatus: 400, wantReqID: "tx1", wantReason: chain.ReasonInvalidRequest,
		},
		{
			name:     "S3-style throttling",
			fault:    ststest.Fault{Status: 503, Body: `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`},
			wantCode: "SlowDown", wantMessage: "Please reduce your request rate.", wantStatus: 503, wantReason: chain.ReasonThrottling,
		},
		{
			name:     "an STS error document is read as before",
			fault:    ststest.Fault{Code: ststest.CodeAccessDenied, Message: "not authorized to perform sts:AssumeRole"},
			wantCode: "AccessDenied", wantMessage: "not authorized to perform sts:AssumeRole", wantStatus: 403, wantReason: chain.ReasonAccessDenied,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := retrieveAnswered(t, tc.fault)
			var api smithy.APIError
			if !errors.As(err, &api) {
				t.Fatalf("err = %v, want an API error", err)
			}
			if api.ErrorCode() != tc.wantCode || api.ErrorMessage() != tc.wantMessage {
				t.Errorf("code, message = %q, %q; want %q, %q", api.ErrorCode(), api.ErrorMessage(), tc.wantCode, tc.wantMessage)
			}
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != tc.wantStatus {
				t.Errorf("err = %v, want HTTP status %d", err, tc.wantStatus)
			}
			if tc.wantReqID != "" && (re == nil || re.ServiceRequestID() != tc.wantReqID) {
				t.Errorf("err = %v, want request ID %s", err, tc.wantReqID)
			}
			if strings.Contains(err.Error(), "UnknownError") {
				t.Errorf("err = %v: the peer's code was lost", err)
			}
			if got := chain.Classify(err); got != tc.wantReason {
				t.Errorf("Classify = %q, want %q", got, tc.wantReason)
			}
		})
	}
}

// Bodies that are not an XML error document reach the SDK untouched: a
// proxy's HTML page still fails by status, an empty body too.
func TestNonXMLErrorBodiesAreClassifiedByStatus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault ststest.Fault
		want  chain.Reason
	}{
		{"empty 403", ststest.Fault{Status: 403, Body: " "}, chain.ReasonAccessDenied},
		{"HTML 502", ststest.Fault{Status: 502}, chain.ReasonServerError},
		{"JSON 429", ststest.Fault{Status: 429, Body: `{"message":"slow down"}`}, chain.ReasonThrottling},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := retrieveAnswered(t, tc.fault)
			if got := chain.Classify(err); got != tc.want {
				t.Fatalf("Classify(%v) = %q, want %q", err, got, tc.want)
			}
		})
	}
}

// cutErrorBodies breaks every error response's body after 20 bytes with err.
type cutErrorBodies struct{ err error }

func (c cutErrorBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && resp.StatusCode >= 300 {
		resp.Body = &failingBody{ReadCloser: resp.Body, left: 20, err: c.err}
	}
	return resp, err
}

// A connection that breaks while an error document is read: the error
// names the real cause (not an XML syntax error from the part that was
// read), and the HTTP status still classifies it.
func TestABrokenErrorBodyKeepsItsCause(t *testing.T) {
	srv := ststest.New(t)
	srv.FailNext(ststest.Fault{Code: ststest.CodeAccessDenied})
	c := &chain.Chain{Source: chain.WebIdentity{TokenFile: writeToken(t, t.TempDir(), "jwt")}, Roles: []string{webRole},
		SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL,
		HTTPClient: &http.Client{Transport: cutErrorBodies{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}}}
	_, err := c.Retrieve(context.Background())
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("err = %v, want the connection reset as its cause", err)
	}
	if got := chain.Classify(err); got != chain.ReasonAccessDenied {
		t.Errorf("Classify(%v) = %q, want access_denied (HTTP 403)", err, got)
	}
}
