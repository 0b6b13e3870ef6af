// Package mutation is the test harness's stand-in for EKS's pod identity
// webhook (aws/amazon-eks-pod-identity-webhook, which every EKS cluster runs
// as the MutatingWebhookConfiguration "pod-identity-webhook"): Mutate does to
// a pod what that webhook documents and does, for IAM Roles for Service
// Accounts and for EKS Pod Identity, so that rolechain can be tested against
// it in either webhook order without an EKS cluster.
//
// It is written from EKS's README and the behaviour of its
// pkg/handler/handler.go, and on purpose shares no code or constant with
// rolechain's webhook/eks package, which recognizes these injections: tests
// that put the two together must not agree merely because both read the
// same constant.
//
// Not reproduced: the random jitter EKS adds to the default token lifetime
// of Pod Identity tokens (a test needs a deterministic pod), the ConfigMap
// and composed-role-ARN modes, and the Pod Identity association itself,
// which EKS keeps in its API: here a ServiceAccount annotation stands for it
// (AssociationAnnotation).
package mutation

import (
	"encoding/csv"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// AssociationAnnotation on a ServiceAccount stands for an EKS Pod Identity
// association of that ServiceAccount (value "true").
const AssociationAnnotation = "ekswebhook.rolechain.test/pod-identity-association"

// Config holds the webhook's flags, with EKS's defaults in Defaults.
type Config struct {
	// AnnotationPrefix of the ServiceAccount and pod annotations
	// (--annotation-prefix).
	AnnotationPrefix string
	// Region, when set, is written to AWS_DEFAULT_REGION and AWS_REGION
	// (--aws-default-region).
	Region string
	// RegionalSTS adds AWS_STS_REGIONAL_ENDPOINTS=regional
	// (--sts-regional-endpoint; a ServiceAccount annotation overrides it).
	RegionalSTS bool
	// Audience of the IRSA token (--token-audience).
	Audience string
	// MountPath of the IRSA token (--token-mount-path).
	MountPath string
	// TokenExpiration of both tokens in seconds (--token-expiration).
	TokenExpiration int64
	// Pod Identity: the --container-credentials-* flags.
	ContainerCredentialsAudience   string
	ContainerCredentialsMountPath  string
	ContainerCredentialsVolumeName string
	ContainerCredentialsTokenPath  string
	ContainerCredentialsFullURI    string
}

// Defaults are EKS's flag defaults (amazon-eks-pod-identity-webhook main.go).
func Defaults() Config {
	return Config{
		AnnotationPrefix:               "eks.amazonaws.com",
		Audience:                       "sts.amazonaws.com",
		MountPath:                      "/var/run/secrets/eks.amazonaws.com/serviceaccount",
		TokenExpiration:                86400,
		ContainerCredentialsAudience:   "pods.eks.amazonaws.com",
		ContainerCredentialsMountPath:  "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount",
		ContainerCredentialsVolumeName: "eks-pod-identity-token",
		ContainerCredentialsTokenPath:  "eks-pod-identity-token",
		ContainerCredentialsFullURI:    "http://169.254.170.23/v1/credentials",
	}
}

// Mutate returns the pod as EKS's webhook would leave it, given its
// ServiceAccount (nil: none, nothing to do), and whether anything changed.
// The input is not modified.
func Mutate(pod *corev1.Pod, sa *corev1.ServiceAccount, cfg Config) (*corev1.Pod, bool) {
	p, ok := patchConfig(pod, sa, cfg)
	if !ok {
		return pod, false
	}
	out := pod.DeepCopy()
	tokenFile := p.mountPath + "/" + p.tokenPath
	if out.Spec.NodeSelector["kubernetes.io/os"] == "windows" || out.Spec.NodeSelector["beta.kubernetes.io/os"] == "windows" {
		tokenFile = "C:" + strings.ReplaceAll(tokenFile, "/", `\`)
	}
	changed := false
	for _, list := range []*[]corev1.Container{&out.Spec.InitContainers, &out.Spec.Containers} {
		for i := range *list {
			c := &(*list)[i]
			if p.skip[c.Name] {
				continue
			}
			if addToContainer(c, tokenFile, p, cfg) {
				changed = true
			}
		}
	}
	if p.podIdentity {
		// EKS labels every Pod Identity pod.
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
		if out.Labels["eks.amazonaws.com/pod-identity"] != "enabled" {
			out.Labels["eks.amazonaws.com/pod-identity"] = "enabled"
			changed = true
		}
	}
	hasVolume := false
	for _, v := range out.Spec.Volumes {
		hasVolume = hasVolume || v.Name == p.volumeName
	}
	if !hasVolume {
		// EKS patches /spec/volumes/0: its volume goes first. It adds the
		// volume even when every container is skipped.
		v := corev1.Volume{Name: p.volumeName, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: p.audience, ExpirationSeconds: &p.expiration, Path: p.tokenPath,
			}}},
		}}}
		out.Spec.Volumes = append([]corev1.Volume{v}, out.Spec.Volumes...)
		changed = true
	}
	return out, changed
}

type podPatch struct {
	podIdentity bool
	roleARN     string
	audience    string
	regionalSTS bool
	expiration  int64
	mountPath   string
	volumeName  string
	tokenPath   string
	skip        map[string]bool
}

// patchConfig decides what to inject: Pod Identity when the ServiceAccount
// has an association (it wins), else IRSA when it has a role, else nothing.
func patchConfig(pod *corev1.Pod, sa *corev1.ServiceAccount, cfg Config) (podPatch, bool) {
	if sa == nil {
		return podPatch{}, false
	}
	ann := func(m map[string]string, key string) (string, bool) {
		v, ok := m[cfg.AnnotationPrefix+"/"+key]
		return v, ok
	}
	p := podPatch{regionalSTS: cfg.RegionalSTS, expiration: cfg.TokenExpiration, skip: map[string]bool{}}
	if v, ok := ann(sa.Annotations, "sts-regional-endpoints"); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			p.regionalSTS = b
		}
	}
	if v, ok := ann(sa.Annotations, "token-expiration"); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			p.expiration = n
		}
	}
	switch {
	case sa.Annotations[AssociationAnnotation] == "true":
		p.podIdentity = true
		p.audience = cfg.ContainerCredentialsAudience
		p.mountPath, p.volumeName, p.tokenPath = cfg.ContainerCredentialsMountPath, cfg.ContainerCredentialsVolumeName, cfg.ContainerCredentialsTokenPath
	default:
		role, ok := ann(sa.Annotations, "role-arn")
		if !ok || role == "" {
			return podPatch{}, false
		}
		p.roleARN = role
		p.audience = cfg.Audience
		if v, ok := ann(sa.Annotations, "audience"); ok {
			p.audience = v
		}
		p.mountPath, p.volumeName, p.tokenPath = cfg.MountPath, "aws-iam-token", "token"
	}
	// The pod's own token-expiration wins (at least 600 s, at most a day).
	if v, ok := ann(pod.Annotations, "token-expiration"); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			p.expiration = min(max(n, 600), 86400)
		}
	}
	// skip-containers: the first CSV record; unreadable means skip none.
	if v, ok := ann(pod.Annotations, "skip-containers"); ok {
		if names, err := csv.NewReader(strings.NewReader(v)).Read(); err == nil {
			for _, n := range names {
				p.skip[n] = true
			}
		}
	}
	return p, true
}

// addToContainer appends, to a container not skipped, what EKS appends,
// each only when the container sets none of its variables, and the mount
// when the container has none of that name. A container that already sets
// the credentials, a region and the STS variable is left alone entirely,
// mount included (as EKS does).
func addToContainer(c *corev1.Container, tokenFile string, p podPatch, cfg Config) bool {
	defined := func(names ...string) bool {
		for _, e := range c.Env {
			for _, n := range names {
				if e.Name == n {
					return true
				}
			}
		}
		return false
	}
	credNames := []string{"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"}
	if p.podIdentity {
		credNames = []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"}
	}
	credsDefined := defined(credNames...)
	regionDefined := defined("AWS_REGION", "AWS_DEFAULT_REGION")
	stsDefined := defined("AWS_STS_REGIONAL_ENDPOINTS")
	if credsDefined && regionDefined && stsDefined {
		return false
	}
	changed := false
	add := func(name, value string) {
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
		changed = true
	}
	if !stsDefined && p.regionalSTS {
		add("AWS_STS_REGIONAL_ENDPOINTS", "regional")
	}
	if !regionDefined && cfg.Region != "" {
		add("AWS_DEFAULT_REGION", cfg.Region)
		add("AWS_REGION", cfg.Region)
	}
	if !credsDefined {
		if p.podIdentity {
			add("AWS_CONTAINER_CREDENTIALS_FULL_URI", cfg.ContainerCredentialsFullURI)
			add("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokenFile)
		} else {
			add("AWS_ROLE_ARN", p.roleARN)
			add("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile)
		}
	}
	for _, m := range c.VolumeMounts {
		if m.Name == p.volumeName {
			return changed
		}
	}
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: p.volumeName, MountPath: p.mountPath, ReadOnly: true})
	return true
}
