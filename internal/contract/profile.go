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

// Well-known locations inside an injected pod.
const (
	// OutputDir is where the sidecar writes credentials: a memory-backed
	// emptyDir, read-write in the sidecar and read-only in app containers.
	OutputDir = "/var/run/rolechain"
	// TokenDir holds the projected service-account token; it is mounted into
	// the sidecar only.
	TokenDir = "/var/run/secrets/rolechain/serviceaccount"
	// TokenFile is the projected token's path inside TokenDir.
	TokenFile = TokenDir + "/token"

	// CredentialsFileName is the INI shared credentials file (every profile).
	CredentialsFileName = "credentials"
	// ConfigFileName is the INI config file with each profile's region.
	ConfigFileName = "config"
	// EndpointTokenFileName holds the authorization token that the
	// container-credentials endpoint expects (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).
	EndpointTokenFileName = "endpoint-token"

	// DefaultProfileName is the profile the SDKs read when AWS_PROFILE is unset.
	DefaultProfileName = "default"
	// DefaultDurationSeconds is the session duration when none is configured.
	DefaultDurationSeconds = 3600
	// MinDurationSeconds and MaxDurationSeconds bound DurationSeconds (STS limits).
	MinDurationSeconds = 900
	MaxDurationSeconds = 43200
	// MaxChainedDurationSeconds is STS's cap on a session reached by role
	// chaining (AssumeRole called with temporary credentials).
	MaxChainedDurationSeconds = 3600
	// DefaultAudience is the audience of the projected token.
	DefaultAudience = "sts.amazonaws.com"
	// DefaultCredentialsEndpointPort is the loopback port of the
	// container-credentials endpoint when it is enabled.
	DefaultCredentialsEndpointPort = 61000
)

// Environment variables of the sidecar container. Every flag of the sidecar
// has a ROLECHAIN_* twin; these are the ones the webhook sets.
const (
	EnvProfiles                = "ROLECHAIN_PROFILES"
	EnvTokenFile               = "ROLECHAIN_TOKEN_FILE"
	EnvOutputDir               = "ROLECHAIN_OUTPUT_DIR"
	EnvCredentialsEndpointPort = "ROLECHAIN_CREDENTIALS_ENDPOINT_PORT"
	// EnvRefreshInterval caps the time between two refreshes (a Go duration).
	EnvRefreshInterval = "ROLECHAIN_REFRESH_INTERVAL"
	// EnvSource selects what starts the chains (--source); the webhook sets
	// it to SourcePodIdentity only, web identity being the default.
	EnvSource = "ROLECHAIN_SOURCE"
	// Filled from the downward API: a pod created from generateName has no
	// name at admission time, so the webhook cannot write it in literally.
	EnvPodName        = "ROLECHAIN_POD_NAME"
	EnvPodNamespace   = "ROLECHAIN_POD_NAMESPACE"
	EnvServiceAccount = "ROLECHAIN_SERVICE_ACCOUNT"
)

// SourcePodIdentity is the --source value that starts every chain from
// the EKS Pod Identity credentials of the pod: the container-credentials
// endpoint named by AWS_CONTAINER_CREDENTIALS_FULL_URI, authorized by the
// token in AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, as EKS's webhook sets
// them. Every role of the chain is then assumed with sts:AssumeRole.
const SourcePodIdentity = "pod-identity"

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
	// SessionTags adds the tags kubernetes-namespace, kubernetes-pod and
	// kubernetes-service-account to every hop (needs sts:TagSession).
	SessionTags bool `json:"sessionTags,omitempty"`
	// SessionPolicy is an inline IAM policy (JSON) sent as Policy on the
	// target hop only: the hops before it need their full permissions to
	// assume the next role.
	SessionPolicy string `json:"sessionPolicy,omitempty"`
	// SessionPolicyARNs are managed policy ARNs sent as PolicyArns on the
	// target hop only.
	SessionPolicyARNs []string `json:"sessionPolicyARNs,omitempty"`
}

// Chain returns every role of the profile in the order it is assumed.
func (p Profile) Chain() []string {
	return append([]string{p.WebIdentityRoleARN}, p.RoleARNs...)
}

// Target returns the role whose credentials the profile yields.
func (p Profile) Target() string {
	chain := p.Chain()
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
