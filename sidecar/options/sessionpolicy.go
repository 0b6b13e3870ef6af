package options

import (
	"slices"

	"github.com/rolechain/rolechain/internal/contract"
)

// validateSessionPolicy checks a profile's session policies as STS bounds
// them (contract.ValidateSessionPolicy and the ARN limits); partition is the
// chain's, "" when the roles were invalid (reported already).
func validateSessionPolicy(p contract.Profile, partition string, bad func(field, format string, args ...any)) {
	if p.SessionPolicy != "" {
		if err := contract.ValidateSessionPolicy(p.SessionPolicy); err != nil {
			bad("sessionPolicy", "%v; it must be %s", err, contract.SessionPolicyForm)
		}
	}
	if len(p.SessionPolicyARNs) > contract.MaxSessionPolicyARNs {
		bad("sessionPolicyARNs", "lists %d policies; STS accepts at most %d", len(p.SessionPolicyARNs), contract.MaxSessionPolicyARNs)
	}
	for i, arn := range p.SessionPolicyARNs {
		part, ok := contract.PolicyARNPartition(arn)
		switch {
		case !ok:
			bad("sessionPolicyARNs", "%q must be %s", arn, contract.PolicyARNForm)
		case partition != "" && part != partition:
			bad("sessionPolicyARNs", "%q is in partition %s but the roles are in %s", arn, part, partition)
		case slices.Contains(p.SessionPolicyARNs[:i], arn):
			bad("sessionPolicyARNs", "%q is listed twice", arn)
		}
	}
}
