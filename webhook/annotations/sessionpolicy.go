package annotations

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/rolechain/rolechain/internal/contract"
)

// sessionPolicy reads a profile's SessionPolicy and SessionPolicyARNs
// into pr, whose chain is already set. get looks a per-profile key up as
// profile does; neither key is inherited by extra profiles, because a
// session policy narrows one target's session.
func (p *parser) sessionPolicy(pr *contract.Profile, get func(base string, inherits bool) (value, key string, ok bool), arns arnRules) {
	if v, k, ok := get(SessionPolicy, false); ok {
		if err := contract.ValidateSessionPolicy(v); err != nil {
			p.invalid(k, abbreviate(v), err.Error()+"; it must be "+contract.SessionPolicyForm)
		} else {
			pr.SessionPolicy = v
		}
	}
	v, k, ok := get(SessionPolicyARNs, false)
	if !ok {
		return
	}
	targetPartition := ""
	if pr.WebIdentityRoleARN != "" {
		targetPartition = arns.partition(pr.Target())
	}
	var list []string
	valid := true
	for _, part := range strings.Split(v, ",") {
		arn := strings.TrimSpace(part)
		partition, isPolicy := contract.PolicyARNPartition(arn)
		switch {
		case arn == "":
			p.invalid(k, v, "must be a comma-separated list of managed policy ARNs without empty entries")
		case !isPolicy:
			p.invalid(k, arn, "must be "+contract.PolicyARNForm)
		case targetPartition != "" && partition != targetPartition:
			p.invalid(k, arn, fmt.Sprintf("is in partition %q but the target role %s is in %q: session policies must be in the role's partition", partition, pr.Target(), targetPartition))
		case slices.Contains(list, arn):
			p.invalid(k, arn, "is listed twice")
		default:
			list = append(list, arn)
			continue
		}
		valid = false
	}
	if len(list) > contract.MaxSessionPolicyARNs {
		p.invalid(k, v, fmt.Sprintf("lists %d policies; STS accepts at most %d managed session policies", len(list), contract.MaxSessionPolicyARNs))
		valid = false
	}
	if valid {
		pr.SessionPolicyARNs = list
	}
}

// abbreviate keeps an error message readable when the bad value is a long
// policy document: its start, and how long it was.
func abbreviate(v string) string {
	const keep = 60
	if utf8.RuneCountInString(v) <= keep+20 {
		return v
	}
	return fmt.Sprintf("%s… (%d characters)", string([]rune(v)[:keep]), utf8.RuneCountInString(v))
}
