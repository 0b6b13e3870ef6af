package options

import (
	"slices"

	"github.com/rolechain/rolechain/sidecar/profile"
)

// validateSessionPolicy checks a profile's session policies as STS bounds
// them (profile.ValidateSessionPolicy and the ARN limits); partition is the
// chain's, "" when the roles were invalid (reported already).
func validateSessionPolicy(p profile.Profile, partition string, bad func(field, format string, args ...any)) {
	if p.SessionPolicy != "" {
		if err := profile.ValidateSessionPolicy(p.SessionPolicy); err != nil {
			bad("sessionPolicy", "%v; it must be %s", err, profile.SessionPolicyForm)
		}
	}
	if len(p.SessionPolicyARNs) > profile.MaxSessionPolicyARNs {
		bad("sessionPolicyARNs", "lists %d policies; STS accepts at most %d", len(p.SessionPolicyARNs), profile.MaxSessionPolicyARNs)
	}
	for i, arn := range p.SessionPolicyARNs {
		part, ok := profile.PolicyARNPartition(arn)
		switch {
		case !ok:
			bad("sessionPolicyARNs", "%q must be %s", arn, profile.PolicyARNForm)
		case partition != "" && part != partition:
			bad("sessionPolicyARNs", "%q is in partition %s but the roles are in %s", arn, part, partition)
		case slices.Contains(p.SessionPolicyARNs[:i], arn):
			bad("sessionPolicyARNs", "%q is listed twice", arn)
		}
	}
}
