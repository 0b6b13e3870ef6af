package chain

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// spacesAsPercent20 makes every space in an STS request body travel as
// "%20" instead of "+". Both mean a space in a form-encoded body, and AWS
// STS reads both; Ceph radosgw 16.2 reads "+" in its STS parameters as a
// plus sign, so a session policy written with spaces ("Effect": "Deny")
// reached it as invalid JSON and every call failed with
// MalformedPolicyDocument (seen on the harness's radosgw 16.2.15). The SDK
// escapes a literal '+' as %2B, so every '+' in its body is a space, and
// the decoded parameters stay exactly what was configured.
//
// It runs first in the build step: the content length and the payload
// hash that SigV4 signs are computed afterwards, over the rewritten body.
func spacesAsPercent20(stack *middleware.Stack) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("rolechain.SpacesAsPercent20",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			req, ok := in.Request.(*smithyhttp.Request)
			if !ok || req.GetStream() == nil {
				return next.HandleBuild(ctx, in)
			}
			body, err := io.ReadAll(req.GetStream())
			if err != nil {
				return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("reading the STS request body: %w", err)
			}
			body = bytes.ReplaceAll(body, []byte("+"), []byte("%20"))
			if in.Request, err = req.SetStream(bytes.NewReader(body)); err != nil {
				return middleware.BuildOutput{}, middleware.Metadata{}, err
			}
			return next.HandleBuild(ctx, in)
		}), middleware.Before)
}
