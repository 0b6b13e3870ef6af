package chain

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"

	awsxml "github.com/aws/aws-sdk-go-v2/aws/protocol/xml"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// maxErrorBody bounds how much of an error response is buffered; STS error
// documents are well under 1 KiB.
const maxErrorBody = 64 << 10

// noMessage stands in for an S3-style error's empty <Message>.
const noMessage = "(no message)"

// wrapS3StyleErrors makes STS-compatible peers that answer with S3-style
// error documents (Ceph radosgw: <Error><Code>AccessDenied</Code>…</Error>)
// readable by the SDK's own STS error decoder, which expects the query
// protocol's <ErrorResponse><Error>…</Error></ErrorResponse>. Without it
// every such refusal surfaces as "api error UnknownError: UnknownError",
// losing the peer's code and message. The SDK's readers parse both shapes;
// this only re-shapes one into the other.
func wrapS3StyleErrors(stack *middleware.Stack) error {
	// Added last to the deserialize step, it runs closest to the transport:
	// it sees the raw response before the operation's deserializer reads it.
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("rolechain.WrapS3StyleErrors",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if err != nil {
				return out, md, err
			}
			resp, ok := out.RawResponse.(*smithyhttp.Response)
			if !ok || resp.StatusCode < 300 || resp.Body == nil {
				return out, md, err
			}
			body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
			if readErr != nil {
				// The decoder gets what was read, then the same read error,
				// so the failure stays the network's (chain.Classify).
				resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), failingReader{readErr}))
				return out, md, err
			}
			resp.Body = io.NopCloser(bytes.NewReader(wrapErrorDocument(body)))
			return out, md, err
		}), middleware.After)
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// wrapErrorDocument returns an S3-style error document (root element
// <Error>) rewritten as the query protocol's <ErrorResponse> with the same
// code, message and request ID, and any other body unchanged (an STS error
// document, HTML from a proxy, nothing).
func wrapErrorDocument(body []byte) []byte {
	if rootElement(body) != "Error" {
		return body
	}
	// The SDK's own reader of unwrapped (S3) error documents.
	parts, err := awsxml.GetErrorResponseComponents(bytes.NewReader(body), true)
	if err != nil {
		return body
	}
	if parts.Message == "" {
		// radosgw sends none; the SDK would repeat "UnknownError" in its
		// place, which reads like a lost code.
		parts.Message = noMessage
	}
	type queryError struct {
		Code    string
		Message string
	}
	type queryErrorResponse struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Error     queryError
		RequestID string `xml:"RequestId"`
	}
	wrapped, err := xml.Marshal(queryErrorResponse{Error: queryError{parts.Code, parts.Message}, RequestID: parts.RequestID})
	if err != nil {
		return body
	}
	return wrapped
}

// rootElement is the local name of body's first element, or "" when body
// is not XML.
func rootElement(body []byte) string {
	dec := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.RawToken()
		if err != nil {
			return ""
		}
		if start, ok := tok.(xml.StartElement); ok {
			return start.Name.Local
		}
		// the <?xml …?> declaration, comments, whitespace: read on
	}
}
