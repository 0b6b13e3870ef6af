package contract

import (
	"strconv"
	"time"
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

// Sources of the credentials that start every chain (the sidecar's
// --source). The webhook renders only the first two.
const (
	// SourceWebIdentity, the default: AssumeRoleWithWebIdentity into the
	// profile's WebIdentityRoleARN with the projected token.
	SourceWebIdentity = "web-identity"
	// SourcePodIdentity starts every chain from the EKS Pod Identity
	// credentials of the pod: the container-credentials endpoint named by
	// AWS_CONTAINER_CREDENTIALS_FULL_URI, authorized by the token in
	// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, as EKS's webhook sets them.
	// Every role of the chain is then assumed with sts:AssumeRole.
	SourcePodIdentity = "pod-identity"
	// SourceDefaultChain and SourceStatic start from the SDK's default
	// chain and from key files in a directory: the sidecar on its own (CI).
	SourceDefaultChain = "default-chain"
	SourceStatic       = "static"
)

// The SDKs' container-credentials variables: the endpoint rolechain serves
// in endpoint mode, and the one EKS Pod Identity's webhook sets (which
// --source pod-identity reads).
const (
	EnvContainerCredentialsFullURI     = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	EnvContainerAuthorizationTokenFile = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
)

// The sidecar's command line as the webhook renders it.
const (
	// SidecarCommand is the sidecar binary's path in its image.
	SidecarCommand = "/rolechain-sidecar"
	// ProbeCommand is the subcommand of the startup and readiness probes.
	ProbeCommand = "probe"
	// ExitWhenReadyFlag makes the fallback init container exit once every
	// profile's credentials are written.
	ExitWhenReadyFlag = "--exit-when-ready"
)

// EndpointPathPrefix is the container-credentials endpoint's path; a
// profile's credentials are at EndpointPathPrefix + its name.
const EndpointPathPrefix = "/v1/credentials/"

// EndpointURL is the container-credentials URL of a profile as the webhook
// gives it to app containers.
func EndpointURL(profileName string) string {
	return "http://127.0.0.1:" + strconv.Itoa(DefaultCredentialsEndpointPort) + EndpointPathPrefix + profileName
}

// Bounds of a pod's configuration.
const (
	// MaxHops bounds a chain (web-identity hop + via roles + target). STS
	// has no such limit; it keeps a typo from making a pod wait on a long
	// chain of failing calls and keeps ROLECHAIN_PROFILES small.
	MaxHops = 10
	// MaxProfiles bounds the number of profiles of one sidecar, for the
	// same reason.
	MaxProfiles = 20
	// MinRefreshInterval and MaxRefreshInterval bound the longest time
	// between two refreshes (--refresh-interval): below the minimum it
	// would be a busy loop against STS's quota.
	MinRefreshInterval = 10 * time.Second
	MaxRefreshInterval = 12 * time.Hour
)
