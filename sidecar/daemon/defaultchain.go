//go:build !rolechain_nodefaultchain

package daemon

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// loadDefaultChain returns the AWS SDK's default credential chain (--source
// default-chain). The SDK's config package, with its SSO clients, is about
// 1.5 MB of the binary's mapped text and tables; the in-pod sidecar, which
// always uses web identity, can leave it out with -tags rolechain_nodefaultchain.
func loadDefaultChain(ctx context.Context) (aws.CredentialsProvider, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS SDK configuration: %w", err)
	}
	return cfg.Credentials, nil
}
