// Package annotations is the public annotation contract of the rolechain
// webhook: the keys a pod uses to ask for AWS credentials, their defaults and
// bounds, and Parse, which turns a pod's annotations (and its
// ServiceAccount's) into one typed, validated Config before any pod is
// touched. Every key, its default and its bounds are declared in this file.
package annotations

import (
	"github.com/rolechain/rolechain/internal/contract"
)

// Prefix starts every rolechain annotation key.
const Prefix = "rolechain.dev/"

// Keys a pod sets. Keys marked "per profile" also exist suffixed with
// ".<profile>" (for example rolechain.dev/role-arn.reports) to add further
// named profiles to the same pod; the others are pod-wide.
const (
	// RoleARN opts the pod in. Value: the IAM role ARN whose credentials the
	// pod receives (the target, last hop of the chain). Per profile.
	// Form: arn:<aws|aws-cn|aws-us-gov>:iam::<12 digits>:role/[<path>/]<name>;
	// behind an STS endpoint outside AWS's domains (STSEndpoint) any
	// partition and no account are allowed too (arn:minio:iam:::role/<id>).
	RoleARN = Prefix + "role-arn"

	// WebIdentityRoleARN is the first hop, assumed with
	// AssumeRoleWithWebIdentity. Default: the ServiceAccount's
	// eks.amazonaws.com/role-arn (IRSA); without either, the first role of
	// the chain (a via role or the target) is assumed with the web identity.
	// Per profile; an extra profile without it inherits the main profile's.
	WebIdentityRoleARN = Prefix + "web-identity-role-arn"

	// ViaRoleARNs is a comma-separated list of intermediate roles assumed in
	// order between the first hop and the target. Per profile. The whole
	// chain has at most contract.MaxHops roles.
	ViaRoleARNs = Prefix + "via-role-arns"

	// ExternalID is sent as sts:ExternalId on every AssumeRole hop.
	// Bounds: 2–1224 characters of [\w+=,.@:/-]. Per profile.
	ExternalID = Prefix + "external-id"

	// SessionName is the RoleSessionName of every hop. Default: derived by
	// the sidecar from the pod's namespace and name. Bounds: 2–64
	// characters of [\w+=,.@-]. Per profile.
	SessionName = Prefix + "session-name"

	// SessionDuration is the session duration of every hop, in seconds
	// ("1800") or as a Go duration ("30m"). Default 3600 s. Bounds:
	// 900–43200 s; at most 3600 s when the chain has more than one hop,
	// because STS caps sessions reached by role chaining at one hour.
	// Per profile.
	SessionDuration = Prefix + "session-duration"

	// Region is the AWS region: regional STS endpoint, the config file and,
	// for the main profile, AWS_REGION/AWS_DEFAULT_REGION in the app.
	// Default: --default-region. Form: like us-east-1. Per profile; an extra
	// profile without it inherits the main profile's.
	Region = Prefix + "region"

	// STSEndpoint overrides the STS endpoint URL. Form: an absolute http(s)
	// URL with a host and no query or fragment. Per profile; an extra
	// profile without it inherits the main profile's.
	STSEndpoint = Prefix + "sts-endpoint"

	// SessionTags, "true" or "false", tags every hop with the pod's
	// namespace, name and ServiceAccount (needs sts:TagSession). Default
	// false. Per profile; an extra profile without it inherits the main's.
	SessionTags = Prefix + "session-tags"

	// Audience is the audience of the projected ServiceAccount token.
	// Default: --default-audience (sts.amazonaws.com).
	Audience = Prefix + "audience"

	// TokenExpiration is the projected token's expirationSeconds, in
	// seconds or as a Go duration. Default: --default-token-expiration
	// (3600 s). Bounds: 600 s (the kubelet's minimum) to 2^32-1 s.
	TokenExpiration = Prefix + "token-expiration"

	// Profile names the main profile's section in the credentials and
	// config files. Default "default". Form: 1–63 characters of
	// [A-Za-z0-9_.-] starting with a letter or digit (it must fit in an
	// annotation key as a suffix).
	Profile = Prefix + "profile"

	// SkipContainers is a comma-separated list of container or init
	// container names that get neither the credentials mount nor the env.
	SkipContainers = Prefix + "skip-containers"

	// CredentialsEndpoint, "true" or "false", makes the sidecar serve the
	// container-credentials endpoint and points the app's SDK at it instead
	// of at the credentials file. Default false.
	CredentialsEndpoint = Prefix + "credentials-endpoint"

	// SidecarCPURequest, SidecarMemoryRequest and SidecarMemoryLimit
	// override the sidecar's resources. Defaults: --sidecar-cpu-request,
	// --sidecar-memory-request, --sidecar-memory-limit. Form: a Kubernetes
	// quantity; a request must not exceed its limit.
	SidecarCPURequest    = Prefix + "sidecar-cpu-request"
	SidecarMemoryRequest = Prefix + "sidecar-memory-request"
	SidecarMemoryLimit   = Prefix + "sidecar-memory-limit"

	// RefreshInterval caps the time between two refreshes of every profile
	// (the sidecar's --refresh-interval): credentials on disk rotate at
	// least this often, instead of at about half their lifetime. Form: a Go
	// duration. Bounds: contract.MinRefreshInterval to
	// contract.MaxRefreshInterval. Default:
	// off.
	RefreshInterval = Prefix + "refresh-interval"

	// Source is what starts every profile's chain: "web-identity" (the
	// default: a projected ServiceAccount token and
	// AssumeRoleWithWebIdentity) or "pod-identity": the credentials of the
	// pod's EKS Pod Identity association, which EKS's webhook gives the
	// sidecar (AWS_CONTAINER_CREDENTIALS_FULL_URI and its token), and from
	// which every role of the chain is assumed with sts:AssumeRole. With
	// pod-identity the pod sets no web-identity-role-arn, audience or
	// token-expiration (there is no web-identity hop and no token of
	// rolechain's), and every session is capped at 1 hour (role chaining).
	Source = Prefix + "source"

	// Status is written by the webhook, never read as input: what it
	// injected and which user-set env variables it kept. (When the API
	// server calls the webhook again for the same pod, the injection reads
	// back the record of what it removed of EKS's, which leaves no other
	// trace.)
	Status = Prefix + "status"

	// SessionPolicy is an inline IAM policy (JSON) sent as the session
	// policy (sts Policy) on the target hop: the session gets the
	// intersection of the target role's permissions and this policy. Form:
	// a JSON object with Statement (and optionally Version, Id); at most
	// contract.MaxSessionPolicyChars characters of STS's character set, as
	// STS counts the plaintext. Per profile; not inherited (it belongs to
	// the target).
	SessionPolicy = Prefix + "session-policy"

	// SessionPolicyARNs is a comma-separated list of managed policy ARNs
	// sent as session policies (sts PolicyArns) on the target hop. Bounds:
	// at most contract.MaxSessionPolicyARNs, in the target role's
	// partition. Per profile; not inherited.
	SessionPolicyARNs = Prefix + "session-policy-arns"

	// AllowedRoleARNs is a NAMESPACE annotation, set by cluster admins: a
	// comma-separated list of role ARN patterns (see webhook/policy for
	// the '*' rule). Every role a pod of the namespace would assume, in
	// every profile, must match one, or the pod is denied. Without it the
	// namespace is unrestricted, unless the webhook runs with
	// --namespace-policy=required; an empty value allows no role.
	AllowedRoleARNs = Prefix + "allowed-role-arns"

	// CredentialsMode is a NAMESPACE annotation, set by cluster admins:
	// the credentials mode (CredentialsModeFile or CredentialsModeEndpoint)
	// of the namespace's pods that do not set CredentialsEndpoint
	// themselves. Without it the webhook's --default-credentials-mode
	// applies; any other value denies those pods until it is fixed
	// (package credentialsmode), rather than fall back to the mode the
	// admin meant to change.
	CredentialsMode = Prefix + "credentials-mode"

	// IRSARoleARN is the ServiceAccount annotation of EKS IAM Roles for
	// Service Accounts, used as the first hop when the pod names none.
	IRSARoleARN = "eks.amazonaws.com/role-arn"
)

// Values of Source.
const (
	SourceWebIdentity = contract.SourceWebIdentity
	SourcePodIdentity = contract.SourcePodIdentity
)

// Credentials modes: the values of CredentialsMode and of the webhook's
// --default-credentials-mode. CredentialsEndpoint "true" is
// CredentialsModeEndpoint, "false" CredentialsModeFile.
const (
	// CredentialsModeFile points the app's SDK at the shared credentials
	// and config files (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE).
	CredentialsModeFile = "file"
	// CredentialsModeEndpoint points it at the sidecar's
	// container-credentials endpoint, which SDKs refresh from; the files
	// are still written, for tools that read them by path.
	CredentialsModeEndpoint = "endpoint"
)

// CredentialsModes lists the accepted modes, for validation and errors.
var CredentialsModes = []string{CredentialsModeFile, CredentialsModeEndpoint}

// Where a pod's credentials mode came from, recorded in Status.
const (
	// CredentialsModeFromPod: the pod's own CredentialsEndpoint, or the
	// sidecar it already carries.
	CredentialsModeFromPod = "pod"
	// CredentialsModeFromNamespace: its namespace's CredentialsMode.
	CredentialsModeFromNamespace = "namespace"
	// CredentialsModeFromCluster: the webhook's --default-credentials-mode.
	CredentialsModeFromCluster = "cluster"
)

// CredentialsModeFroms lists the sources in precedence order.
var CredentialsModeFroms = []string{CredentialsModeFromPod, CredentialsModeFromNamespace, CredentialsModeFromCluster}

// CredentialsModeChoice is the credentials mode a pod got and where the
// choice came from; the injection records it in Status.
type CredentialsModeChoice struct {
	// Mode is CredentialsModeFile or CredentialsModeEndpoint.
	Mode string `json:"mode"`
	// From is CredentialsModeFromPod, CredentialsModeFromNamespace or
	// CredentialsModeFromCluster.
	From string `json:"from"`
}

// Bounds and defaults of the pod-wide keys; a profile's are the
// contract's (internal/contract), which the sidecar checks too.
const (
	// DefaultProfileName is the main profile's name when Profile is unset.
	DefaultProfileName = contract.DefaultProfileName
	// MinTokenExpirationSeconds is the kubelet's minimum for a projected token.
	MinTokenExpirationSeconds = 600
	// MaxTokenExpirationSeconds is the API's bound (expirationSeconds < 2^32).
	MaxTokenExpirationSeconds = 1<<32 - 1
)

// perProfileKeys are the keys that may be suffixed with ".<profile>".
var perProfileKeys = []string{
	RoleARN, WebIdentityRoleARN, ViaRoleARNs, ExternalID, SessionName,
	SessionDuration, Region, STSEndpoint, SessionTags,
	SessionPolicy, SessionPolicyARNs,
}

// podKeys are the keys that apply to the whole pod and take no suffix.
var podKeys = []string{
	Audience, TokenExpiration, Profile, SkipContainers, CredentialsEndpoint, RefreshInterval,
	SidecarCPURequest, SidecarMemoryRequest, SidecarMemoryLimit, Status,
	Source,
}

// Keys returns every key Parse accepts without a suffix, for documentation
// and tests.
func Keys() []string {
	return append(append([]string{}, perProfileKeys...), podKeys...)
}

// PerProfileKeys returns the keys that may also be suffixed ".<profile>".
func PerProfileKeys() []string {
	return append([]string{}, perProfileKeys...)
}
