// Package options holds the webhook's flags: one struct they bind onto,
// one Validate that checks them all and names each bad flag, and the
// conversions into the settings the other packages take.
package options

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
	"github.com/rolechain/rolechain/webhook/policy"
)

// Certificate modes.
const (
	// CertModeFiles serves the certificate found in --cert-dir (mounted from
	// a Secret, for example one cert-manager keeps).
	CertModeFiles = "files"
	// CertModeCertManager is CertModeFiles under the name operators look for.
	CertModeCertManager = "cert-manager"
	// CertModeSelfManaged generates and rotates the certificate itself.
	CertModeSelfManaged = "self-managed"
)

// Options are the webhook's settings, one field per flag.
type Options struct {
	Port                   int
	CertDir                string
	MetricsBindAddress     string
	HealthProbeBindAddress string
	SidecarImage           string
	SidecarImagePullPolicy string
	NativeSidecars         bool
	DefaultRegion          string
	DefaultAudience        string
	DefaultTokenExpiration time.Duration
	SidecarCPURequest      string
	SidecarMemoryRequest   string
	SidecarMemoryLimit     string
	ExcludedNamespaces     []string
	CertMode               string
	WebhookConfigName      string
	ServiceName            string
	ServiceNamespace       string
	CertSecretName         string
	NamespacePolicy        string
	// SessionTagKeys are the keys of the session tags, in
	// contract.SessionTagKeys's comma-separated form; Validate parses them.
	SessionTagKeys string
	sessionTagKeys contract.SessionTagKeys
	// SidecarUID and SidecarGID are the sidecar's runAsUser and
	// runAsGroup: never root (0).
	SidecarUID, SidecarGID int64
	// DefaultCredentialsMode is the cluster's credentials mode, file or
	// endpoint, for pods that set no rolechain.dev/credentials-endpoint
	// in a namespace without rolechain.dev/credentials-mode.
	DefaultCredentialsMode string
	// ClientCAFile, when set, makes the webhook server require a client
	// certificate signed by this CA (PEM) at the TLS handshake: the one
	// kube-apiserver presents when its admission configuration gives it
	// one. A relative path is read from CertDir.
	ClientCAFile string
}

// New returns the defaults.
func New() *Options {
	return &Options{
		Port:                   9443,
		CertDir:                "/tmp/k8s-webhook-server/serving-certs",
		MetricsBindAddress:     ":8080",
		HealthProbeBindAddress: ":8081",
		SidecarImagePullPolicy: string(corev1.PullIfNotPresent),
		NativeSidecars:         true,
		DefaultAudience:        contract.DefaultAudience,
		DefaultTokenExpiration: time.Hour,
		SidecarCPURequest:      "10m",
		SidecarMemoryRequest:   "16Mi",
		SidecarMemoryLimit:     "64Mi",
		ExcludedNamespaces:     []string{"kube-system"},
		CertMode:               CertModeFiles,
		WebhookConfigName:      "rolechain-webhook",
		ServiceName:            "rolechain-webhook",
		ServiceNamespace:       "rolechain-system",
		CertSecretName:         "rolechain-webhook-tls",
		NamespacePolicy:        string(policy.ModeOptional),
		SessionTagKeys:         contract.DefaultSessionTagKeys.String(),
		SidecarUID:             inject.SidecarUID,
		SidecarGID:             inject.SidecarUID,
		DefaultCredentialsMode: annotations.CredentialsModeFile,
	}
}

// AddFlags binds every option to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.Port, "port", o.Port, "HTTPS port of the admission webhook server")
	fs.StringVar(&o.CertDir, "cert-dir", o.CertDir, "directory with tls.crt and tls.key, reloaded when they change (written by the webhook in self-managed mode)")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress, "address of the Prometheus /metrics endpoint; \"0\" disables it")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", o.HealthProbeBindAddress, "address of the /healthz and /readyz endpoints")
	fs.StringVar(&o.SidecarImage, "sidecar-image", o.SidecarImage, "image of the injected rolechain-sidecar (required)")
	fs.StringVar(&o.SidecarImagePullPolicy, "sidecar-image-pull-policy", o.SidecarImagePullPolicy, "imagePullPolicy of the sidecar: Always, IfNotPresent or Never")
	fs.BoolVar(&o.NativeSidecars, "native-sidecars", o.NativeSidecars, "inject a native sidecar (init container with restartPolicy: Always, Kubernetes >= 1.29); false injects a one-shot init container plus a regular sidecar container")
	fs.StringVar(&o.DefaultRegion, "default-region", o.DefaultRegion, "AWS region of profiles without rolechain.dev/region; empty leaves it unset")
	fs.StringVar(&o.DefaultAudience, "default-audience", o.DefaultAudience, "audience of the projected token when the pod sets no rolechain.dev/audience")
	fs.DurationVar(&o.DefaultTokenExpiration, "default-token-expiration", o.DefaultTokenExpiration, "lifetime of the projected token when the pod sets no rolechain.dev/token-expiration (>= 10m, whole seconds)")
	fs.StringVar(&o.SidecarCPURequest, "sidecar-cpu-request", o.SidecarCPURequest, "CPU request of the sidecar; empty for none")
	fs.StringVar(&o.SidecarMemoryRequest, "sidecar-memory-request", o.SidecarMemoryRequest, "memory request of the sidecar; empty for none")
	fs.StringVar(&o.SidecarMemoryLimit, "sidecar-memory-limit", o.SidecarMemoryLimit, "memory limit of the sidecar; empty for none")
	fs.StringSliceVar(&o.ExcludedNamespaces, "excluded-namespaces", o.ExcludedNamespaces, "namespaces whose pods are never mutated (comma-separated)")
	fs.StringVar(&o.CertMode, "cert-mode", o.CertMode, "where the serving certificate comes from: files (also: cert-manager) or self-managed")
	fs.StringVar(&o.WebhookConfigName, "webhook-config-name", o.WebhookConfigName, "MutatingWebhookConfiguration whose caBundle self-managed mode sets")
	fs.StringVar(&o.ServiceName, "service-name", o.ServiceName, "Service in front of the webhook; self-managed mode issues the certificate for its DNS names")
	fs.StringVar(&o.ServiceNamespace, "service-namespace", o.ServiceNamespace, "namespace of the Service and of the certificate Secret")
	fs.StringVar(&o.CertSecretName, "cert-secret-name", o.CertSecretName, "Secret that holds the self-managed CA and serving certificate")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "PEM CA bundle; when set, only clients with a certificate it signed (kube-apiserver, given one by its admission configuration) get past the TLS handshake; a relative path is read from --cert-dir; empty accepts any client")
	fs.StringVar(&o.SessionTagKeys, "session-tag-keys", o.SessionTagKeys, "keys of the session tags the sidecar sends with "+annotations.SessionTags+": namespace,pod,service-account, comma-separated; each "+strings.TrimPrefix(contract.SessionTagKeyForm, "must be ")+", not starting with aws:, no two the same in any case. The caller sets these tags, so anyone holding a chain's first hop can forge them: they authorise nothing. The defaults differ from EKS Pod Identity's (kubernetes-namespace, kubernetes-service-account), which AWS sets")
	fs.Int64Var(&o.SidecarUID, "sidecar-uid", o.SidecarUID, "runAsUser of the sidecar, 1-2147483647 (never root); choose one no app container of the cluster runs as: a container with the sidecar's UID in a pod with shareProcessNamespace can reach its /proc")
	fs.Int64Var(&o.SidecarGID, "sidecar-gid", o.SidecarGID, "runAsGroup of the sidecar, 1-2147483647 (never root's group)")
	fs.StringVar(&o.DefaultCredentialsMode, "default-credentials-mode", o.DefaultCredentialsMode, "credentials mode of pods that set no "+annotations.CredentialsEndpoint+" in a namespace without "+annotations.CredentialsMode+": file (the shared credentials file, for CLIs and short jobs) or endpoint (the container-credentials endpoint, which long-running AWS SDK clients refresh from)")
	fs.StringVar(&o.NamespacePolicy, "namespace-policy", o.NamespacePolicy, "optional: a namespace without the annotation "+annotations.AllowedRoleARNs+" (role ARN patterns its pods may assume) is unrestricted; required: its pods that ask for a role are denied")
}

// Validate checks every option and returns all problems at once, each
// naming its flag and what it accepts.
func (o *Options) Validate() error {
	var errs []error
	bad := func(flag string, value any, want string) {
		errs = append(errs, fmt.Errorf("--%s=%v: %s", flag, value, want))
	}
	if o.Port < 1 || o.Port > 65535 {
		bad("port", o.Port, "must be a TCP port, 1-65535")
	}
	if o.CertDir == "" {
		bad("cert-dir", o.CertDir, "must be a directory")
	}
	if o.SidecarImage == "" {
		bad("sidecar-image", `""`, "is required: the image of rolechain-sidecar")
	}
	if !slices.Contains([]string{string(corev1.PullAlways), string(corev1.PullIfNotPresent), string(corev1.PullNever)}, o.SidecarImagePullPolicy) {
		bad("sidecar-image-pull-policy", o.SidecarImagePullPolicy, "must be Always, IfNotPresent or Never")
	}
	if o.DefaultRegion != "" && !contract.ValidRegion(o.DefaultRegion) {
		bad("default-region", o.DefaultRegion, "must be empty or an AWS region such as us-east-1")
	}
	if o.DefaultAudience == "" {
		bad("default-audience", `""`, "must not be empty")
	}
	if o.DefaultTokenExpiration < annotations.MinTokenExpirationSeconds*time.Second ||
		o.DefaultTokenExpiration > annotations.MaxTokenExpirationSeconds*time.Second || o.DefaultTokenExpiration%time.Second != 0 {
		bad("default-token-expiration", o.DefaultTokenExpiration, "must be whole seconds, at least 10m (the kubelet's minimum)")
	}
	quantities := map[string]*resource.Quantity{}
	for flag, v := range map[string]string{
		"sidecar-cpu-request": o.SidecarCPURequest, "sidecar-memory-request": o.SidecarMemoryRequest, "sidecar-memory-limit": o.SidecarMemoryLimit,
	} {
		if v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			bad(flag, v, "must be empty or a positive quantity such as 10m or 64Mi")
			continue
		}
		quantities[flag] = &q
	}
	if req, lim := quantities["sidecar-memory-request"], quantities["sidecar-memory-limit"]; req != nil && lim != nil && req.Cmp(*lim) > 0 {
		bad("sidecar-memory-request", o.SidecarMemoryRequest, "must not exceed --sidecar-memory-limit="+o.SidecarMemoryLimit)
	}
	switch o.CertMode {
	case CertModeFiles, CertModeCertManager:
	case CertModeSelfManaged:
		for flag, v := range map[string]string{
			"webhook-config-name": o.WebhookConfigName, "service-name": o.ServiceName,
			"service-namespace": o.ServiceNamespace, "cert-secret-name": o.CertSecretName,
		} {
			if v == "" {
				bad(flag, `""`, "is required with --cert-mode=self-managed")
			}
		}
	default:
		bad("cert-mode", o.CertMode, "must be files, cert-manager or self-managed")
	}
	keys, keyErrs := contract.ParseSessionTagKeys(o.SessionTagKeys, field.NewPath("--session-tag-keys"))
	for _, e := range keyErrs {
		errs = append(errs, fmt.Errorf("%s=%v: %s", e.Field, e.BadValue, e.Detail))
	}
	o.sessionTagKeys = keys
	// Root is refused: Pod Security "restricted" forbids runAsUser 0, and
	// a root sidecar's /proc and files are open to any root co-tenant. The
	// upper bound is the API server's own for these fields.
	for flag, id := range map[string]int64{"sidecar-uid": o.SidecarUID, "sidecar-gid": o.SidecarGID} {
		if id < 1 || id > math.MaxInt32 {
			bad(flag, id, "must be 1-2147483647: the sidecar never runs as root")
		}
	}
	if !slices.Contains(policy.Modes, policy.Mode(o.NamespacePolicy)) {
		bad("namespace-policy", o.NamespacePolicy, "must be optional or required")
	}
	if !slices.Contains(annotations.CredentialsModes, o.DefaultCredentialsMode) {
		bad("default-credentials-mode", o.DefaultCredentialsMode, "must be file or endpoint")
	}
	// Sorted by flag name, whatever the map iteration order was.
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Defaults returns the annotation defaults. Call it after Validate.
func (o *Options) Defaults() annotations.Defaults {
	q := func(s string) resource.Quantity {
		if s == "" {
			return resource.Quantity{}
		}
		return resource.MustParse(s)
	}
	return annotations.Defaults{
		Region:                 o.DefaultRegion,
		Audience:               o.DefaultAudience,
		TokenExpirationSeconds: int64(o.DefaultTokenExpiration / time.Second),
		CPURequest:             q(o.SidecarCPURequest),
		MemoryRequest:          q(o.SidecarMemoryRequest),
		MemoryLimit:            q(o.SidecarMemoryLimit),
		SessionTagKeys:         o.sessionTagKeys,
	}
}

// Injector returns the sidecar settings.
func (o *Options) Injector() inject.Injector {
	return inject.Injector{
		Image:          o.SidecarImage,
		PullPolicy:     corev1.PullPolicy(o.SidecarImagePullPolicy),
		NativeSidecars: o.NativeSidecars,
		UID:            o.SidecarUID,
		GID:            o.SidecarGID,
	}
}
