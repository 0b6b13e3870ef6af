// Package contract defines the contract between the webhook and the sidecar:
// what one credentials profile is (a chain of roles and how to assume them),
// how a list of profiles travels in the sidecar's environment, and the paths
// and variable names both sides must agree on.
//
// The webhook renders []Profile into the ROLECHAIN_PROFILES variable of the
// injected sidecar; the sidecar parses it back with Decode. Keeping both
// directions in one package means a field added here cannot be rendered by
// one side and ignored by the other.
package contract

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Profile is one named set of credentials and the chain of roles that
// produces it. The first hop is AssumeRoleWithWebIdentity into
// WebIdentityRoleARN; each entry of RoleARNs is then assumed in order with
// the previous hop's credentials (sts:AssumeRole). The last role of the chain
// is the target whose credentials are written out. With RoleARNs empty the
// web-identity role is itself the target (one hop).
type Profile struct {
	// Name is the profile's section name in the credentials and config files.
	Name string `json:"name"`
	// WebIdentityRoleARN is the first hop, assumed with the projected token.
	WebIdentityRoleARN string `json:"webIdentityRoleARN"`
	// RoleARNs are the hops after the first, in order; the last is the target.
	RoleARNs []string `json:"roleARNs,omitempty"`
	// ExternalID is sent on every sts:AssumeRole hop (trust policies that do
	// not check sts:ExternalId ignore it).
	ExternalID string `json:"externalID,omitempty"`
	// SessionName is the RoleSessionName of every hop; empty means derived
	// from the pod's namespace and name.
	SessionName string `json:"sessionName,omitempty"`
	// DurationSeconds is the requested session duration of every hop; 0 means
	// DefaultDurationSeconds. Hops reached by chaining must not exceed
	// MaxChainedDurationSeconds.
	DurationSeconds int32 `json:"durationSeconds,omitempty"`
	// Region selects the regional STS endpoint and is written to the config file.
	Region string `json:"region,omitempty"`
	// STSEndpoint overrides the STS endpoint URL.
	STSEndpoint string `json:"stsEndpoint,omitempty"`
	// SessionTags tags every sts:AssumeRole hop with the pod's namespace,
	// name and ServiceAccount, under the operator's SessionTagKeys (needs
	// sts:TagSession). The caller sets them: they authorise nothing.
	SessionTags bool `json:"sessionTags,omitempty"`
	// SessionPolicy is an inline IAM policy (JSON) sent as Policy on the
	// target hop only: the hops before it need their full permissions to
	// assume the next role.
	SessionPolicy string `json:"sessionPolicy,omitempty"`
	// SessionPolicyARNs are managed policy ARNs sent as PolicyArns on the
	// target hop only.
	SessionPolicyARNs []string `json:"sessionPolicyARNs,omitempty"`
}

// Chain returns every role of the profile in the order it is assumed: the
// web-identity role, when the chain starts with one, then RoleARNs. A chain
// that starts from other credentials (SourcePodIdentity) has no web-identity
// role, and Chain does not invent an empty one.
func (p Profile) Chain() []string {
	if p.WebIdentityRoleARN == "" {
		return p.RoleARNs
	}
	return append([]string{p.WebIdentityRoleARN}, p.RoleARNs...)
}

// Target returns the role whose credentials the profile yields.
// It is "" for a profile without roles (which Validate refuses).
func (p Profile) Target() string {
	chain := p.Chain()
	if len(chain) == 0 {
		return ""
	}
	return chain[len(chain)-1]
}

// Encode renders profiles as the value of EnvProfiles.
func Encode(profiles []Profile) (string, error) {
	b, err := json.Marshal(profiles)
	if err != nil {
		return "", fmt.Errorf("encoding profiles: %w", err)
	}
	return string(b), nil
}

// Decode parses the value of EnvProfiles: one JSON list, with nothing but
// white space after it. Unknown fields are an error, so a webhook newer
// than its sidecar fails loudly instead of dropping a setting.
// It does not validate values; callers validate once, with their own messages.
func Decode(value string) ([]Profile, error) {
	var profiles []Profile
	dec := json.NewDecoder(strings.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&profiles); err != nil {
		return nil, fmt.Errorf("%s is not a JSON list of profiles: %w", EnvProfiles, err)
	}
	// One list and nothing after it: a value that was cut, pasted twice or
	// glued to something else must not pass for its first part.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s is not a JSON list of profiles: data after the list", EnvProfiles)
	}
	return profiles, nil
}
