//go:build rolechain_nodefaultchain

package daemon

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func loadDefaultChain(context.Context) (aws.CredentialsProvider, error) {
	return nil, errors.New("this build has no SDK default chain (built with -tags rolechain_nodefaultchain); use --source web-identity or static")
}
