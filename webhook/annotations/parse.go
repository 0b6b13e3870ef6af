package annotations

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rolechain/rolechain/internal/contract"
)

// Defaults are the operator's settings (webhook flags) that apply when a pod
// does not set the matching annotation. They never get written into the
// pod's annotations, so defaults and user input stay distinguishable.
type Defaults struct {
	// Region is the region of every profile that names none and whose
	// roles are in Region's partition (a default region of partition aws
	// must not send an aws-cn pod to an endpoint that cannot assume its
	// roles); "" leaves the region unset.
	Region string
	// Audience is the projected token's audience.
	Audience string
	// TokenExpirationSeconds is the projected token's lifetime.
	TokenExpirationSeconds int64
	// CPURequest, MemoryRequest and MemoryLimit are the sidecar's resources;
	// a zero quantity leaves that resource unset.
	CPURequest, MemoryRequest, MemoryLimit resource.Quantity
	// SessionTagKeys are the keys of the session tags (--session-tag-keys),
	// already validated; the zero value means contract.DefaultSessionTagKeys.
	SessionTagKeys contract.SessionTagKeys
}

// Config is everything the injection needs, typed and validated: what the
// pod asked for, with the operator's defaults filled in.
type Config struct {
	// Profiles holds the main profile first, then the extra profiles in
	// name order. Each has passed contract.Validate.
	Profiles []contract.Profile
	// Audience and TokenExpirationSeconds configure the projected token.
	Audience               string
	TokenExpirationSeconds int64
	// SkipContainers are the containers that get neither mount nor env,
	// sorted and without duplicates.
	SkipContainers []string
	// CredentialsEndpoint selects the container-credentials endpoint mode.
	CredentialsEndpoint bool
	// CredentialsMode is the credentials mode and where it came from, for
	// the status. Parse sets it only when the pod sets
	// CredentialsEndpoint (From CredentialsModeFromPod); nil leaves the
	// mode to the namespace's and the cluster's defaults, which the
	// webhook server resolves (package credentialsmode) before the
	// injection.
	CredentialsMode *CredentialsModeChoice
	// RefreshInterval caps the time between refreshes; 0 leaves the
	// sidecar's half-lifetime schedule alone.
	RefreshInterval time.Duration
	// Source is SourceWebIdentity or SourcePodIdentity. With
	// SourcePodIdentity every profile's WebIdentityRoleARN is empty and its
	// RoleARNs hold the whole chain, and Audience and
	// TokenExpirationSeconds are unused.
	Source string
	// Resources are the sidecar's requests and limits.
	Resources corev1.ResourceRequirements
	// SessionTagKeys are the keys of the session tags the sidecar sends for
	// every profile with SessionTags (the operator's, never the pod's).
	SessionTagKeys contract.SessionTagKeys
}

// Main returns the main profile: the one the app's SDK uses by default.
func (c Config) Main() contract.Profile { return c.Profiles[0] }

// Requested reports whether the pod asks rolechain for anything: it carries
// a rolechain.dev/ key other than Status, which the webhook writes. A pod
// with a misspelt key or only a named profile's keys is requested too, so
// that it is denied with the key named rather than admitted unchanged (the
// webhook configuration's matchConditions select the same pods).
func Requested(pod *corev1.Pod) bool {
	for k := range pod.Annotations {
		if strings.HasPrefix(k, Prefix) && k != Status {
			return true
		}
	}
	return false
}

// Accepted forms of the pod-wide keys, quoted in error messages.
const (
	durationForm = "must be whole seconds (\"3600\") or a Go duration (\"1h\")"
	boolForm     = "must be \"true\" or \"false\""
)

// annotationPath roots a field path at the pod annotation key.
func annotationPath(key string) *field.Path {
	return field.NewPath("metadata", "annotations").Key(key)
}

// Parse reads the pod's rolechain annotations (and the IRSA annotation of
// its ServiceAccount, which may be nil) into a Config. It returns every
// problem at once: errors, each rooted at metadata.annotations[<key>] (or
// the ServiceAccount's annotation), make the pod invalid; warnings are
// returned to the user but do not stop it. The stages:
//
//  1. sort the rolechain keys into pod-wide keys and per-profile groups,
//     refusing unknown keys (groupKeys);
//  2. read the pod-wide keys (podWide);
//  3. build each profile from its group, with inheritance and the
//     operator's defaults, checking only the annotations' syntax
//     (profiles.go);
//  4. validate the profiles with the contract's rules, the sidecar's own,
//     locating each error at the annotation that set the value.
func Parse(pod *corev1.Pod, sa *corev1.ServiceAccount, d Defaults) (Config, field.ErrorList, []string) {
	p := parser{pod: pod, sa: sa, d: d, ann: pod.Annotations}
	if d.SessionTagKeys == (contract.SessionTagKeys{}) {
		d.SessionTagKeys = contract.DefaultSessionTagKeys
	}
	cfg := Config{Audience: d.Audience, TokenExpirationSeconds: d.TokenExpirationSeconds, Source: SourceWebIdentity, SessionTagKeys: d.SessionTagKeys}
	p.source(&cfg)                          // first: it decides how every chain is read
	mainName, groups := p.groupKeys()       // (1)
	p.podWide(&cfg)                         // (2)
	p.buildProfiles(&cfg, mainName, groups) // (3), (4)
	return cfg, dedupe(p.errs), p.warnings
}

type parser struct {
	pod      *corev1.Pod
	sa       *corev1.ServiceAccount
	d        Defaults
	ann      map[string]string
	errs     field.ErrorList
	warnings []string
	// podIdentity: Source is SourcePodIdentity, so chains start from the
	// Pod Identity credentials instead of a web-identity hop.
	podIdentity bool
}

func (p *parser) invalid(key, value, detail string) {
	p.errs = append(p.errs, field.Invalid(annotationPath(key), value, detail))
}

func (p *parser) warn(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

func (p *parser) source(cfg *Config) {
	v, ok := p.ann[Source]
	if !ok {
		return
	}
	switch v {
	case SourceWebIdentity:
	case SourcePodIdentity:
		cfg.Source, p.podIdentity = v, true
	default:
		p.invalid(Source, v, `must be "web-identity" or "pod-identity"`)
	}
}

// groupKeys sorts every rolechain key into the per-profile groups (suffix
// "" is the main profile) and returns them with the main profile's name.
// Pod-wide keys are read by podWide. Unknown keys are errors: a typo such
// as rolechain.dev/regoin must not silently drop a setting.
func (p *parser) groupKeys() (mainName string, groups map[string]map[string]string) {
	groups = map[string]map[string]string{}
	for _, key := range sortedKeys(p.ann) {
		if !strings.HasPrefix(key, Prefix) || slices.Contains(podKeys, key) {
			continue
		}
		value := p.ann[key]
		name, suffix, dotted := strings.Cut(strings.TrimPrefix(key, Prefix), ".")
		base := Prefix + name
		switch {
		case dotted && suffix == "":
			p.invalid(key, value, "has an empty profile name after the dot; use <key>.<profile>")
		case slices.Contains(perProfileKeys, base):
			if groups[suffix] == nil {
				groups[suffix] = map[string]string{}
			}
			groups[suffix][base] = value
		case key == AllowedRoleARNs:
			p.invalid(key, value, "is a namespace annotation: cluster admins set it on the namespace, where it limits the roles of every pod")
		case key == CredentialsMode:
			p.invalid(key, value, fmt.Sprintf("is a namespace annotation: cluster admins set it on the namespace, where it is the default of every pod; a pod chooses its own mode with %s: \"true\" (endpoint) or \"false\" (file)", CredentialsEndpoint))
		default:
			p.invalid(key, value, "is not a rolechain annotation: the keys are "+keyList())
		}
	}
	mainName = DefaultProfileName
	if v, ok := p.ann[Profile]; ok {
		if !contract.ValidProfileName(v) {
			p.invalid(Profile, v, contract.ProfileNameForm)
		} else {
			mainName = v
		}
	}
	return mainName, groups
}

// podWide reads the keys that apply to the whole pod.
func (p *parser) podWide(cfg *Config) {
	if p.podIdentity {
		// These shape the projected token of the web-identity hop; with
		// Pod Identity rolechain adds no token, so they would do nothing.
		for _, k := range []string{Audience, TokenExpiration} {
			if v, ok := p.ann[k]; ok {
				p.invalid(k, v, "configures the projected token of the web-identity hop; with "+Source+": pod-identity there is none (EKS's webhook gives the sidecar its Pod Identity token)")
			}
		}
	}
	if v, ok := p.ann[Audience]; ok && !p.podIdentity {
		if v == "" || strings.TrimSpace(v) != v || len(v) > 253 {
			p.invalid(Audience, v, "must be a non-empty audience of at most 253 characters without surrounding spaces")
		} else {
			cfg.Audience = v
		}
	}
	if v, ok := p.ann[TokenExpiration]; ok && !p.podIdentity {
		if s, ok := p.seconds(TokenExpiration, v, MinTokenExpirationSeconds, MaxTokenExpirationSeconds); ok {
			cfg.TokenExpirationSeconds = s
		}
	}
	if v, ok := p.ann[CredentialsEndpoint]; ok {
		cfg.CredentialsEndpoint = p.boolean(CredentialsEndpoint, v)
		if v == "true" || v == "false" {
			mode := CredentialsModeFile
			if cfg.CredentialsEndpoint {
				mode = CredentialsModeEndpoint
			}
			cfg.CredentialsMode = &CredentialsModeChoice{Mode: mode, From: CredentialsModeFromPod}
		}
		if cfg.CredentialsEndpoint {
			// The webhook cannot see which SDK an image holds; an old one
			// ignores the token file and gets 401 from the endpoint.
			p.warn("%s: the app's AWS SDK must read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (AWS CLI ≥ 2.15.0 or 1.30.0, boto3/botocore ≥ 1.34.41, Go v2 ≥ release-2023-11-14, JavaScript v3 ≥ 3.458.0, Java v2 ≥ 2.21.30; older ones, such as Debian bookworm's awscli 2.9 and botocore 1.29, get 401)",
				CredentialsEndpoint)
		}
		if cfg.CredentialsEndpoint && p.pod.Spec.HostNetwork {
			p.warn("%s: the pod uses the host network, so the credentials endpoint listens on the node's 127.0.0.1:%d; a second such pod on the node cannot start its sidecar",
				CredentialsEndpoint, contract.DefaultCredentialsEndpointPort)
		}
	}
	if v, ok := p.ann[RefreshInterval]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < contract.MinRefreshInterval || d > contract.MaxRefreshInterval {
			p.invalid(RefreshInterval, v, fmt.Sprintf("must be a Go duration from %s to %s, such as 5m", contract.MinRefreshInterval, contract.MaxRefreshInterval))
		} else {
			cfg.RefreshInterval = d
		}
	}
	if v, ok := p.ann[SkipContainers]; ok {
		cfg.SkipContainers = p.skipContainers(v)
	}
	if sp := p.pod.Spec.ShareProcessNamespace; sp != nil && *sp {
		// A container running as the sidecar's UID (or as root) could
		// read the sidecar's memory and token through /proc.
		p.warn("spec.shareProcessNamespace: the pod shares its process namespace, so a container running as root or as the sidecar's user can read the sidecar's web-identity token and credentials through /proc; run app containers as another non-root user, or do not share the namespace")
	}
	cfg.Resources = p.resources()
}

// dedupe drops repeated errors: a value an extra profile inherits from the
// main profile is reported once, at the key that set it.
func dedupe(errs field.ErrorList) field.ErrorList {
	var out field.ErrorList
	seen := map[string]bool{}
	for _, e := range errs {
		if k := e.Error(); !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

func (p *parser) seconds(key, v string, min, max int64) (int64, bool) {
	s, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		d, derr := time.ParseDuration(v)
		if derr != nil || d%time.Second != 0 {
			p.invalid(key, v, durationForm)
			return 0, false
		}
		s = int64(d / time.Second)
	}
	if s < min || s > max {
		p.invalid(key, v, fmt.Sprintf("must be between %d and %d seconds", min, max))
		return 0, false
	}
	return s, true
}

func (p *parser) boolean(key, v string) bool {
	switch v {
	case "true":
		return true
	case "false":
		return false
	}
	p.invalid(key, v, boolForm)
	return false
}

func (p *parser) skipContainers(v string) []string {
	var names []string
	for _, part := range strings.Split(v, ",") {
		name := strings.TrimSpace(part)
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			p.invalid(SkipContainers, v, fmt.Sprintf("must be a comma-separated list of container names; %q: %s", name, strings.Join(errs, "; ")))
			continue
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if !hasContainer(p.pod, name) {
			// Not an error: a later webhook may add the container.
			p.warn("%s: %q is not a container of this pod (yet)", SkipContainers, name)
		}
	}
	return names
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func (p *parser) resources() corev1.ResourceRequirements {
	quantity := func(key string, def resource.Quantity) resource.Quantity {
		v, ok := p.ann[key]
		if !ok {
			return def
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			p.invalid(key, v, "must be a positive Kubernetes quantity such as 10m, 100Mi or 1Gi")
			return def
		}
		return q
	}
	cpuReq := quantity(SidecarCPURequest, p.d.CPURequest)
	memReq := quantity(SidecarMemoryRequest, p.d.MemoryRequest)
	memLim := quantity(SidecarMemoryLimit, p.d.MemoryLimit)
	if !memLim.IsZero() && memReq.Cmp(memLim) > 0 {
		key := SidecarMemoryRequest
		if _, ok := p.ann[key]; !ok {
			key = SidecarMemoryLimit
		}
		p.invalid(key, p.ann[key], fmt.Sprintf("the sidecar's memory request %s must not exceed its memory limit %s", memReq.String(), memLim.String()))
	}
	var r corev1.ResourceRequirements
	set := func(l *corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
		if q.IsZero() {
			return
		}
		if *l == nil {
			*l = corev1.ResourceList{}
		}
		(*l)[name] = q
	}
	set(&r.Requests, corev1.ResourceCPU, cpuReq)
	set(&r.Requests, corev1.ResourceMemory, memReq)
	set(&r.Limits, corev1.ResourceMemory, memLim)
	return r
}

func keyList() string {
	names := make([]string, 0, len(perProfileKeys)+len(podKeys))
	for _, k := range perProfileKeys {
		names = append(names, strings.TrimPrefix(k, Prefix)+"[.<profile>]")
	}
	for _, k := range podKeys {
		if k != Status {
			names = append(names, strings.TrimPrefix(k, Prefix))
		}
	}
	return strings.Join(names, ", ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
