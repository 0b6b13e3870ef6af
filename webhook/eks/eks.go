// Package eks knows what EKS's pod identity webhook
// (github.com/aws/amazon-eks-pod-identity-webhook, the MutatingWebhookConfiguration
// "pod-identity-webhook" of every EKS cluster) injects into a pod, so that
// rolechain can take exactly that out of the containers it serves and leave
// everything a user set on purpose alone.
//
// What EKS injects, read from its pkg/handler/handler.go and the defaults of
// its flags in main.go (v0.6.x), for every init and regular container not
// listed in the pod annotation eks.amazonaws.com/skip-containers:
//
//   - IAM Roles for Service Accounts (the ServiceAccount has
//     eks.amazonaws.com/role-arn): AWS_ROLE_ARN=<the role> and
//     AWS_WEB_IDENTITY_TOKEN_FILE=/var/run/secrets/eks.amazonaws.com/serviceaccount/token,
//     both appended together and only when the container sets neither; a
//     read-only mount of the projected volume "aws-iam-token" (source: one
//     ServiceAccount token, path "token") at
//     /var/run/secrets/eks.amazonaws.com/serviceaccount, whatever the env.
//   - EKS Pod Identity (the ServiceAccount has a Pod Identity association;
//     it wins over IRSA): AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials
//     (http://[fd00:ec2::23]/v1/credentials on IPv6 clusters) and
//     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token,
//     together and only when the container sets neither; a read-only mount
//     of the projected volume "eks-pod-identity-token" (audience
//     pods.eks.amazonaws.com) at /var/run/secrets/pods.eks.amazonaws.com/serviceaccount.
//   - Both, when EKS is configured so: AWS_STS_REGIONAL_ENDPOINTS=regional,
//     and AWS_DEFAULT_REGION plus AWS_REGION when the container sets
//     neither. They select no credentials, cannot be told apart from a
//     user's own by name or value, and this package does not touch them.
//
// For pods with a Windows node selector EKS writes the token paths as
// C:\var\run\secrets\…; both spellings are recognized.
//
// Recognition is by EKS's exact names and values: a variable of the same
// name with another value (a user's own AWS_ROLE_ARN with a token file of
// their own) is not EKS's, and neither is one set through valueFrom.
package eks

import (
	"encoding/csv"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/rolechain/rolechain/internal/contract"
)

// Pod metadata EKS's webhook reads.
const (
	// SkipContainersAnnotation is a pod annotation: a comma-separated
	// (CSV) list of container names EKS's webhook leaves alone.
	SkipContainersAnnotation = "eks.amazonaws.com/skip-containers"
	// SkipWebhookLabel, present on a pod, keeps EKS's webhook from being
	// called for it at all (the objectSelector of its configuration).
	SkipWebhookLabel = "eks.amazonaws.com/skip-pod-identity-webhook"
)

// RegionEnv are the variables EKS's webhook gives every container it
// serves besides its credential pairs (AWS_STS_REGIONAL_ENDPOINTS when EKS
// is configured so).
var RegionEnv = []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_STS_REGIONAL_ENDPOINTS"}

// IAM Roles for Service Accounts.
const (
	EnvRoleARN              = "AWS_ROLE_ARN"
	EnvWebIdentityTokenFile = "AWS_WEB_IDENTITY_TOKEN_FILE"
	// IRSAVolume is the projected token volume and its mount's name.
	IRSAVolume    = "aws-iam-token"
	IRSAMountPath = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
	// IRSATokenPath is the token's path inside the volume.
	IRSATokenPath = "token"
	// IRSATokenFile is the value EKS gives AWS_WEB_IDENTITY_TOKEN_FILE.
	IRSATokenFile = IRSAMountPath + "/" + IRSATokenPath
)

// EKS Pod Identity.
const (
	// The SDKs' container-credentials variables, which EKS sets to its
	// agent and rolechain's endpoint mode to its sidecar.
	EnvContainerCredentialsFullURI     = contract.EnvContainerCredentialsFullURI
	EnvContainerAuthorizationTokenFile = contract.EnvContainerAuthorizationTokenFile
	// PodIdentityVolume is the projected token volume and its mount's name.
	PodIdentityVolume    = "eks-pod-identity-token"
	PodIdentityMountPath = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
	// PodIdentityTokenPath is the token's path inside the volume.
	PodIdentityTokenPath = "eks-pod-identity-token"
	// PodIdentityTokenFile is the value EKS gives
	// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.
	PodIdentityTokenFile = PodIdentityMountPath + "/" + PodIdentityTokenPath
	// PodIdentityAudience is the audience of the Pod Identity token.
	PodIdentityAudience = "pods.eks.amazonaws.com"
	// AgentURLIPv4 and AgentURLIPv6 are the EKS Pod Identity Agent's
	// endpoints, the values EKS gives AWS_CONTAINER_CREDENTIALS_FULL_URI.
	AgentURLIPv4 = "http://169.254.170.23/v1/credentials"
	AgentURLIPv6 = "http://[fd00:ec2::23]/v1/credentials"
)

// Kind is a set of EKS's two injections.
type Kind uint8

// The injections.
const (
	IRSA Kind = 1 << iota
	PodIdentity
)

// windowsPath is how EKS spells a token path for a pod with a Windows
// node selector: "C:" and backslashes.
func windowsPath(p string) string { return "C:" + strings.ReplaceAll(p, "/", `\`) }

// isLiteral reports whether c sets name to a literal value in values.
func isLiteral(c *corev1.Container, name string, values ...string) bool {
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	return i >= 0 && c.Env[i].ValueFrom == nil && slices.Contains(values, c.Env[i].Value)
}

// HasIRSAEnv reports whether c holds the AWS_ROLE_ARN and
// AWS_WEB_IDENTITY_TOKEN_FILE that EKS injects: the token file is EKS's, and
// the role is a literal (EKS writes the ServiceAccount's role, which may be
// any ARN).
func HasIRSAEnv(c *corev1.Container) bool {
	if !isLiteral(c, EnvWebIdentityTokenFile, IRSATokenFile, windowsPath(IRSATokenFile)) {
		return false
	}
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == EnvRoleARN })
	return i >= 0 && c.Env[i].ValueFrom == nil
}

// HasPodIdentityEnv reports whether c holds the container-credentials pair
// that EKS injects: the agent's URL and EKS's token file.
func HasPodIdentityEnv(c *corev1.Container) bool {
	return isLiteral(c, EnvContainerCredentialsFullURI, AgentURLIPv4, AgentURLIPv6) &&
		isLiteral(c, EnvContainerAuthorizationTokenFile, PodIdentityTokenFile, windowsPath(PodIdentityTokenFile))
}

// isMount reports whether m is the mount EKS adds for volume at path.
func isMount(m corev1.VolumeMount, volume, path string) bool {
	return m.Name == volume && m.MountPath == path && m.ReadOnly && m.SubPath == "" && m.SubPathExpr == "" && m.MountPropagation == nil
}

// IsIRSAMount and IsPodIdentityMount recognize the token mounts EKS adds.
func IsIRSAMount(m corev1.VolumeMount) bool { return isMount(m, IRSAVolume, IRSAMountPath) }

// IsPodIdentityMount: see IsIRSAMount.
func IsPodIdentityMount(m corev1.VolumeMount) bool {
	return isMount(m, PodIdentityVolume, PodIdentityMountPath)
}

// isTokenVolume reports whether v is a projected volume of exactly one
// ServiceAccount token at path, named name.
func isTokenVolume(v corev1.Volume, name, path string) bool {
	p := v.Projected
	return v.Name == name && p != nil && len(p.Sources) == 1 && p.Sources[0].ServiceAccountToken != nil &&
		p.Sources[0].ServiceAccountToken.Path == path
}

// IsTokenVolume reports whether v is one of EKS's token volumes
// (aws-iam-token or eks-pod-identity-token, by name and shape). Their
// audience and lifetime are configurable in EKS and not checked.
func IsTokenVolume(v corev1.Volume) bool {
	return isTokenVolume(v, IRSAVolume, IRSATokenPath) ||
		(isTokenVolume(v, PodIdentityVolume, PodIdentityTokenPath) && v.Projected.Sources[0].ServiceAccountToken.Audience == PodIdentityAudience)
}

// Holds reports whether c holds anything EKS injects: either env pair or
// either token mount.
func Holds(c *corev1.Container) bool {
	return HasIRSAEnv(c) || HasPodIdentityEnv(c) || slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return IsIRSAMount(m) || IsPodIdentityMount(m)
	})
}

// Touched reports whether EKS's webhook has mutated the pod spec: a
// container holds one of its injections, or the pod has one of its token
// volumes (which EKS adds even when it skips every container).
func Touched(spec *corev1.PodSpec) bool {
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			if Holds(&list[i]) {
				return true
			}
		}
	}
	return slices.ContainsFunc(spec.Volumes, IsTokenVolume)
}

// Strip removes from c what EKS injected of the given kinds: the env pair
// and the token mount of each. It returns what it removed, env names first
// then "volumeMount <name>", or nil.
func Strip(c *corev1.Container, kinds Kind) []string {
	var removed []string
	dropEnv := func(names ...string) {
		c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return slices.Contains(names, e.Name) })
		removed = append(removed, names...)
	}
	if kinds&IRSA != 0 && HasIRSAEnv(c) {
		dropEnv(EnvRoleARN, EnvWebIdentityTokenFile)
	}
	if kinds&PodIdentity != 0 && HasPodIdentityEnv(c) {
		dropEnv(EnvContainerCredentialsFullURI, EnvContainerAuthorizationTokenFile)
	}
	c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		if (kinds&IRSA != 0 && IsIRSAMount(m)) || (kinds&PodIdentity != 0 && IsPodIdentityMount(m)) {
			removed = append(removed, "volumeMount "+m.Name)
			return true
		}
		return false
	})
	// An emptied list is dropped, as it would be absent had EKS not run.
	if len(removed) > 0 && len(c.Env) == 0 {
		c.Env = nil
	}
	if len(removed) > 0 && len(c.VolumeMounts) == 0 {
		c.VolumeMounts = nil
	}
	return removed
}

// PodIdentityInjection returns the container-credentials env pair and the
// token mount EKS gave c, in that order, when c holds the pair.
func PodIdentityInjection(c *corev1.Container) ([]corev1.EnvVar, *corev1.VolumeMount, bool) {
	if !HasPodIdentityEnv(c) {
		return nil, nil, false
	}
	var env []corev1.EnvVar
	for _, e := range c.Env {
		if e.Name == EnvContainerCredentialsFullURI || e.Name == EnvContainerAuthorizationTokenFile {
			env = append(env, e)
		}
	}
	var mount *corev1.VolumeMount
	if i := slices.IndexFunc(c.VolumeMounts, IsPodIdentityMount); i >= 0 {
		mount = &c.VolumeMounts[i]
	}
	return env, mount, true
}

// SkipContainers parses the value of SkipContainersAnnotation as EKS does:
// the first record of a CSV document.
func SkipContainers(value string) ([]string, error) {
	names, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a comma-separated list that EKS's webhook can read: %w", SkipContainersAnnotation, value, err)
	}
	return names, nil
}

// AddSkipContainers returns value with every name in add that it lacks
// appended, in the order given. value "" is an absent annotation. It fails,
// and changes nothing, when EKS could not read value: appending to it would
// not make EKS skip anything either.
func AddSkipContainers(value string, add []string) (string, error) {
	var have []string
	if value != "" {
		var err error
		if have, err = SkipContainers(value); err != nil {
			return value, err
		}
	}
	out := value
	for _, name := range add {
		if slices.Contains(have, name) {
			continue
		}
		have = append(have, name)
		if out != "" {
			out += ","
		}
		out += name
	}
	return out, nil
}
