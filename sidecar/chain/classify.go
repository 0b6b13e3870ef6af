package chain

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Reason classifies why a Retrieve failed. Reasons are metric label values
// and log fields: a fixed, small set that never carries request data.
type Reason string

// Failure reasons.
const (
	ReasonNone                 Reason = ""
	ReasonAccessDenied         Reason = "access_denied"
	ReasonInvalidIdentityToken Reason = "invalid_identity_token"
	ReasonExpiredToken         Reason = "expired_token"
	ReasonThrottling           Reason = "throttling"
	ReasonServerError          Reason = "server_error"
	ReasonTimeout              Reason = "timeout"
	ReasonMalformedResponse    Reason = "malformed_response"
	ReasonTokenFile            Reason = "token_file"
	ReasonSourceCredentials    Reason = "source_credentials"
	ReasonInvalidRequest       Reason = "invalid_request"
	ReasonNetwork              Reason = "network"
	ReasonInvalidCredentials   Reason = "invalid_credentials"
	ReasonOther                Reason = "other"
)

// Classify maps an error from Retrieve to a Reason. Throttling is checked
// before the HTTP status because STS throttles with 400; the status is
// checked before other codes because a 5xx is worth retrying whatever its
// body says.
func Classify(err error) Reason {
	if err == nil {
		return ReasonNone
	}
	var ic *InvalidCredentialsError
	if errors.As(err, &ic) {
		return ReasonInvalidCredentials
	}
	var tf *TokenFileError
	if errors.As(err, &tf) {
		return ReasonTokenFile
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ReasonTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ReasonTimeout
	}
	var se *SourceError
	if errors.As(err, &se) {
		return classifySource(se)
	}
	var api smithy.APIError
	isAPI := errors.As(err, &api)
	if isAPI {
		switch api.ErrorCode() {
		case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown":
			return ReasonThrottling
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return ReasonServerError
	}
	if isAPI {
		switch api.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "IDPRejectedClaim":
			return ReasonAccessDenied
		case "InvalidIdentityToken":
			return ReasonInvalidIdentityToken
		case "ExpiredToken", "ExpiredTokenException":
			return ReasonExpiredToken
		case "InvalidClientTokenId", "SignatureDoesNotMatch", "MissingAuthenticationToken", "UnrecognizedClientException":
			return ReasonSourceCredentials
		case "IDPCommunicationError", "ServiceUnavailable", "InternalFailure", "InternalError":
			return ReasonServerError
		case "ValidationError", "InvalidParameterValue", "MalformedPolicyDocument", "PackedPolicyTooLarge", "RegionDisabledException", "InvalidArgument":
			return ReasonInvalidRequest
		}
	}
	// A peer whose error body names no code the SDK can read (an empty or
	// non-XML body): the HTTP status still says what happened.
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case 403:
			return ReasonAccessDenied
		case 429:
			return ReasonThrottling
		}
	}
	// A connection that fails or is cut while the body is read surfaces
	// inside the SDK's DeserializationError: it is the network's fault, not
	// the peer's bytes, and worth retrying. (A reset can read as net.ErrClosed,
	// "use of closed network connection"; the SDK's retryer treats the two
	// alike, aws-sdk-go-v2 #2737.)
	var oe *net.OpError
	if errors.As(err, &oe) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ReasonNetwork
	}
	var de *smithy.DeserializationError
	var me *MalformedResponseError
	if errors.As(err, &de) || errors.As(err, &me) {
		return ReasonMalformedResponse
	}
	if isAPI {
		return ReasonOther
	}
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		return ReasonSourceCredentials
	}
	return ReasonOther
}

// Transient says whether a failure for this reason may pass by itself, so
// that retrying the same call soon is worthwhile: the network, a timeout,
// throttling, a server error. The others need a change first (a trust
// policy, a token, the configuration).
func (r Reason) Transient() bool {
	switch r {
	case ReasonNetwork, ReasonTimeout, ReasonThrottling, ReasonServerError:
		return true
	}
	return false
}

// classifySource classifies a failure to obtain a chain's source
// credentials from an endpoint (not a timeout: see Classify). The network
// and the endpoint's 5xx and 429 may pass by themselves; any other answer
// (401/403: a token the agent refuses, no association) is the source's.
func classifySource(se *SourceError) Reason {
	var oe *net.OpError
	if errors.As(se, &oe) || errors.Is(se, net.ErrClosed) || errors.Is(se, syscall.ECONNRESET) || errors.Is(se, io.ErrUnexpectedEOF) {
		return ReasonNetwork
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(se, &status) {
		switch code := status.HTTPStatusCode(); {
		case code == 429:
			return ReasonThrottling
		case code >= 500:
			return ReasonServerError
		}
	}
	var me *MalformedResponseError
	var de *smithy.DeserializationError
	if errors.As(se, &me) || errors.As(se, &de) {
		return ReasonMalformedResponse
	}
	return ReasonSourceCredentials
}
