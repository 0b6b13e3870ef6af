package inject

import "github.com/rolechain/rolechain/webhook/annotations"

// Kinds of session policy recorded in Status.SessionPolicies.
const (
	// SessionPolicyInline: rolechain.dev/session-policy (sts Policy).
	SessionPolicyInline = "inline"
	// SessionPolicyManaged: rolechain.dev/session-policy-arns (sts PolicyArns).
	SessionPolicyManaged = "managed"
)

// sessionPolicies lists, per profile, the kinds of session policy its
// target hop carries; nil when no profile has one.
func sessionPolicies(cfg annotations.Config) map[string][]string {
	var out map[string][]string
	for _, p := range cfg.Profiles {
		var kinds []string
		if p.SessionPolicy != "" {
			kinds = append(kinds, SessionPolicyInline)
		}
		if len(p.SessionPolicyARNs) > 0 {
			kinds = append(kinds, SessionPolicyManaged)
		}
		if kinds == nil {
			continue
		}
		if out == nil {
			out = map[string][]string{}
		}
		out[p.Name] = kinds
	}
	return out
}
