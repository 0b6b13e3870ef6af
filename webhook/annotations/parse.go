package annotations

import (
	"fmt"
	"net/url"
	"regexp"
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
	// Region is the region of every profile that names none; "" leaves the
	// region unset.
	Region string
	// Audience is the projected token's audience.
	Audience string
	// TokenExpirationSeconds is the projected token's lifetime.
	TokenExpirationSeconds int64
	// CPURequest, MemoryRequest and MemoryLimit are the sidecar's resources;
	// a zero quantity leaves that resource unset.
	CPURequest, MemoryRequest, MemoryLimit resource.Quantity
}

// Config is everything the injection needs, typed and validated.
type Config struct {
	// Profiles holds the main profile first, then the extra profiles in
	// name order. Each is ready to be encoded for the sidecar.
	Profiles []contract.Profile
	// Audience and TokenExpirationSeconds configure the projected token.
	Audience               string
	TokenExpirationSeconds int64
	// SkipContainers are the containers that get neither mount nor env,
	// sorted and without duplicates.
	SkipContainers []string
	// CredentialsEndpoint selects the container-credentials endpoint mode.
	CredentialsEndpoint bool
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
	// NamespacePolicy is the verdict of the namespace's AllowedRoleARNs on
	// this pod, set by the webhook server once it checked it; Parse leaves
	// it nil, and the status then says nothing about it.
	NamespacePolicy *NamespacePolicy
}

// Main returns the main profile: the one the app's SDK uses by default.
func (c Config) Main() contract.Profile { return c.Profiles[0] }

// Requested reports whether the pod opted in: it carries RoleARN.
func Requested(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[RoleARN]
	return ok
}

var (
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	// Length (2-1224) is checked apart: RE2 caps repeat counts at 1000.
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	regionRE      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	profileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
)

// Accepted forms, quoted in error messages so a denied user knows what to write.
const (
	roleARNForm     = "must be an IAM role ARN: arn:<aws|aws-cn|aws-us-gov>:iam::<12-digit account>:role/[<path>/]<name>, name of 1-64 characters of [A-Za-z0-9_+=,.@-]"
	peerRoleARNForm = "must be a role ARN: arn:<partition>:iam::[<12-digit account>]:role/[<path>/]<name>, name of 1-64 characters of [A-Za-z0-9_+=,.@-] (any partition and no account are allowed because " + STSEndpoint + " is not an AWS endpoint)"
	durationForm    = "must be whole seconds (\"3600\") or a Go duration (\"1h\")"
	boolForm        = "must be \"true\" or \"false\""
	profileNameForm = "must be 1-63 characters of [A-Za-z0-9_.-] starting with a letter or digit"
)

// annotationPath roots a field path at the pod annotation key.
func annotationPath(key string) *field.Path {
	return field.NewPath("metadata", "annotations").Key(key)
}

// Parse reads the pod's rolechain annotations (and the IRSA annotation of
// its ServiceAccount, which may be nil) into a Config. It returns every
// problem at once: errors, each rooted at metadata.annotations[<key>], make
// the pod invalid; warnings are returned to the user but do not stop it.
// Parse expects Requested(pod); without RoleARN it reports it as required.
func Parse(pod *corev1.Pod, sa *corev1.ServiceAccount, d Defaults) (Config, field.ErrorList, []string) {
	p := parser{pod: pod, sa: sa, d: d, ann: pod.Annotations}
	cfg := p.parse()
	return cfg, p.errs, p.warnings
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

func (p *parser) parse() Config {
	cfg := Config{Audience: p.d.Audience, TokenExpirationSeconds: p.d.TokenExpirationSeconds, Source: SourceWebIdentity}
	// The source first: it decides how every profile's chain is read.
	if v, ok := p.ann[Source]; ok {
		switch v {
		case SourceWebIdentity:
		case SourcePodIdentity:
			cfg.Source, p.podIdentity = v, true
		default:
			p.invalid(Source, v, `must be "web-identity" or "pod-identity"`)
		}
	}

	// Sort every rolechain key into the pod-wide ones and the per-profile
	// groups (suffix "" is the main profile). Unknown keys are errors: a
	// typo such as rolechain.dev/regoin must not silently drop a setting.
	groups := map[string]map[string]string{}
	keys := make([]string, 0, len(p.ann))
	for k := range p.ann {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if !strings.HasPrefix(key, Prefix) {
			continue
		}
		value := p.ann[key]
		if slices.Contains(podKeys, key) {
			continue
		}
		name, suffix, dotted := strings.Cut(strings.TrimPrefix(key, Prefix), ".")
		base := Prefix + name
		if dotted && suffix == "" {
			p.invalid(key, value, "has an empty profile name after the dot; use <key>.<profile>")
			continue
		}
		if slices.Contains(perProfileKeys, base) {
			if groups[suffix] == nil {
				groups[suffix] = map[string]string{}
			}
			groups[suffix][base] = value
			continue
		}
		if key == AllowedRoleARNs {
			p.invalid(key, value, "is a namespace annotation: cluster admins set it on the namespace, where it limits the roles of every pod")
			continue
		}
		p.invalid(key, value, "is not a rolechain annotation: the keys are "+keyList())
	}

	mainName := DefaultProfileName
	if v, ok := p.ann[Profile]; ok {
		if !profileNameRE.MatchString(v) {
			p.invalid(Profile, v, profileNameForm)
		} else {
			mainName = v
		}
	}

	main := groups[""]
	if main == nil {
		main = map[string]string{}
	}
	if _, ok := main[RoleARN]; !ok {
		p.errs = append(p.errs, field.Required(annotationPath(RoleARN), "the pod's target role: "+roleARNForm))
	}
	cfg.Profiles = append(cfg.Profiles, p.profile(mainName, "", main, nil))

	extras := make([]string, 0, len(groups))
	for suffix := range groups {
		if suffix != "" {
			extras = append(extras, suffix)
		}
	}
	slices.Sort(extras)
	if len(extras)+1 > MaxProfiles {
		p.invalid(RoleARN+"."+extras[0], p.ann[RoleARN+"."+extras[0]], fmt.Sprintf("a pod may have at most %d profiles, this one has %d", MaxProfiles, len(extras)+1))
	}
	for _, name := range extras {
		g := groups[name]
		roleKey := RoleARN + "." + name
		if !profileNameRE.MatchString(name) {
			for _, base := range sortedKeys(g) {
				p.invalid(base+"."+name, g[base], "profile name \""+name+"\" after the dot "+profileNameForm)
			}
			continue
		}
		if name == mainName {
			p.invalid(roleKey, g[RoleARN], fmt.Sprintf("profile %q is the main profile (%s); give the extra profile another name", name, Profile))
			continue
		}
		if _, ok := g[RoleARN]; !ok {
			for _, base := range sortedKeys(g) {
				p.invalid(base+"."+name, g[base], fmt.Sprintf("profile %q has no %s; set it or remove this annotation", name, roleKey))
			}
			continue
		}
		cfg.Profiles = append(cfg.Profiles, p.profile(name, "."+name, g, main))
	}

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
		if err != nil || d < MinRefreshInterval || d > MaxRefreshInterval {
			p.invalid(RefreshInterval, v, fmt.Sprintf("must be a Go duration from %s to %s, such as 5m", MinRefreshInterval, MaxRefreshInterval))
		} else {
			cfg.RefreshInterval = d
		}
	}
	if v, ok := p.ann[SkipContainers]; ok {
		cfg.SkipContainers = p.skipContainers(v)
	}
	cfg.Resources = p.resources()
	return cfg
}

// profile builds one profile from its group of annotations; suffix is
// "" for the main profile or ".<name>". inherit is the main profile's group
// for extra profiles (nil for the main one): region, STS endpoint, session
// tags and the web-identity role carry over, because they describe the
// cluster and its first hop rather than the target.
func (p *parser) profile(name, suffix string, g, inherit map[string]string) contract.Profile {
	key := func(base string) string { return base + suffix }
	get := func(base string, inherits bool) (string, string, bool) {
		if v, ok := g[base]; ok {
			return v, key(base), true
		}
		if inherits && inherit != nil {
			if v, ok := inherit[base]; ok {
				return v, base, true
			}
		}
		return "", "", false
	}
	pr := contract.Profile{Name: name}
	endpoint, _, _ := get(STSEndpoint, true)
	arns := arnRulesFor(endpoint)

	// The chain: [first hop] + via roles + target, with partitions checked.
	type hop struct{ arn, key string }
	var chain []hop
	if v, k, ok := get(WebIdentityRoleARN, true); ok && p.podIdentity {
		// Reported once, by the profile that sets it (not again by each
		// extra profile inheriting the main profile's).
		if k == key(WebIdentityRoleARN) {
			p.invalid(k, v, "is not used with "+Source+": pod-identity: the chain starts from the Pod Identity association's role; list any roles before the target in "+key(ViaRoleARNs))
		}
	} else if ok {
		if p.roleARN(k, v, arns) {
			chain = append(chain, hop{v, k})
		}
	} else if p.podIdentity {
		// The ServiceAccount's IRSA role is not a hop either: Pod
		// Identity's credentials come from EKS's agent.
	} else if p.sa != nil && p.sa.Annotations[IRSARoleARN] != "" {
		v := p.sa.Annotations[IRSARoleARN]
		if _, ok := arns.parse(v); ok {
			chain = append(chain, hop{v, IRSARoleARN})
		} else {
			p.errs = append(p.errs, field.Invalid(p.saPath(), v, arns.form+"; or set "+key(WebIdentityRoleARN)+" on the pod"))
		}
	}
	if v, k, ok := get(ViaRoleARNs, false); ok {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				p.invalid(k, v, "must be a comma-separated list of IAM role ARNs without empty entries")
				continue
			}
			if p.roleARN(k, part, arns) {
				chain = append(chain, hop{part, k})
			}
		}
	}
	targetOK := false
	if v, ok := g[RoleARN]; ok {
		if p.roleARN(key(RoleARN), v, arns) {
			targetOK = true
			// A first hop equal to the target with nothing between is one
			// hop, not a role assuming itself.
			if len(chain) == 1 && chain[0].arn == v && !p.podIdentity {
				chain = nil
			}
			chain = append(chain, hop{v, key(RoleARN)})
		}
	}
	if len(chain) > MaxHops {
		v, _, _ := get(ViaRoleARNs, false)
		p.invalid(key(ViaRoleARNs), v, fmt.Sprintf("the chain has %d roles; at most %d are allowed", len(chain), MaxHops))
	}
	if len(chain) > 0 {
		part := arns.partition(chain[len(chain)-1].arn)
		for _, h := range chain {
			if pp := arns.partition(h.arn); pp != part {
				detail := fmt.Sprintf("is in partition %q but the target is in %q: STS cannot chain roles across partitions", pp, part)
				if h.key == IRSARoleARN {
					p.errs = append(p.errs, field.Invalid(p.saPath(), h.arn, detail+"; or set "+key(WebIdentityRoleARN)+" on the pod"))
				} else {
					p.invalid(h.key, h.arn, detail)
				}
			}
		}
		rest := chain
		if !p.podIdentity {
			// The first role is assumed with the web identity; with Pod
			// Identity every role is assumed with sts:AssumeRole.
			pr.WebIdentityRoleARN, rest = chain[0].arn, chain[1:]
		}
		for _, h := range rest {
			pr.RoleARNs = append(pr.RoleARNs, h.arn)
		}
	}
	// Hops counts the roles even when one was invalid, so the duration
	// message below is right whatever else is wrong.
	hops := len(chain)
	if !targetOK {
		hops++
	}

	if v, k, ok := get(SessionDuration, false); ok {
		if s, ok := p.seconds(k, v, contract.MinDurationSeconds, contract.MaxDurationSeconds); ok {
			if p.podIdentity && s > contract.MaxChainedDurationSeconds {
				p.invalid(k, v, fmt.Sprintf("must be at most %d seconds (1h) because %s is pod-identity: every role of profile %q is assumed with the Pod Identity session's credentials, and STS caps sessions reached by role chaining at 1 hour", contract.MaxChainedDurationSeconds, Source, name))
			} else if hops > 1 && s > contract.MaxChainedDurationSeconds {
				p.invalid(k, v, fmt.Sprintf("must be at most %d seconds (1h) because profile %q chains %d roles: STS caps sessions reached by role chaining at 1 hour", contract.MaxChainedDurationSeconds, name, hops))
			} else {
				pr.DurationSeconds = int32(s)
			}
		}
	}
	if v, k, ok := get(ExternalID, false); ok {
		if !externalIDRE.MatchString(v) || len(v) < 2 || len(v) > 1224 {
			p.invalid(k, v, "must be 2-1224 characters of [A-Za-z0-9_+=,.@:/-]")
		} else {
			if hops == 1 && !p.podIdentity {
				// Admitted with a warning, but not passed on: the sidecar
				// rejects an external ID on a chain without sts:AssumeRole
				// hops, and would never start.
				p.warn("%s: profile %q has a single web-identity hop, which takes no external ID; it is only sent on sts:AssumeRole hops, so it is ignored", k, name)
			} else {
				pr.ExternalID = v
			}
		}
	}
	if v, k, ok := get(SessionName, false); ok {
		if !sessionNameRE.MatchString(v) {
			p.invalid(k, v, "must be 2-64 characters of [A-Za-z0-9_+=,.@-]")
		} else {
			pr.SessionName = v
		}
	}
	if v, k, ok := get(Region, true); ok {
		if !regionRE.MatchString(v) {
			p.invalid(k, v, "must be an AWS region such as us-east-1 or eu-central-2")
		} else {
			pr.Region = v
		}
	} else {
		pr.Region = p.d.Region
	}
	if v, k, ok := get(STSEndpoint, true); ok {
		if p.endpoint(k, v) {
			pr.STSEndpoint = v
		}
	}
	if pr.Region != "" && pr.STSEndpoint == "" && len(chain) > 0 {
		if want := contract.PartitionOfRegion(pr.Region); want != awsARNs.partition(pr.Target()) {
			p.warn("%s: region %q belongs to partition %q but profile %q's roles are in %q", key(Region), pr.Region, want, name, awsARNs.partition(pr.Target()))
		}
	}
	if v, k, ok := get(SessionTags, true); ok {
		pr.SessionTags = p.boolean(k, v)
		if pr.SessionTags && p.podIdentity && k == key(SessionTags) {
			p.warn("%s: EKS Pod Identity tags its sessions transitively with kubernetes-namespace and kubernetes-service-account, which rolechain's session tags set too, and STS does not let a later hop set an inherited transitive tag again: use an association with disableSessionTags, or leave %s off (the chain carries EKS's tags anyway)", k, k)
		}
	}
	p.sessionPolicy(&pr, get, arns)
	return pr
}

// saPath roots an error at the ServiceAccount's IRSA annotation.
func (p *parser) saPath() *field.Path {
	return field.NewPath("serviceaccounts").Key(p.sa.Name).Child("metadata", "annotations").Key(IRSARoleARN)
}

// arnRules is the role ARN shape a profile's roles must have, by the STS
// endpoint that will assume them.
type arnRules struct {
	peer bool // parseRoleARN's: any partition, the account optional
	form string
}

var (
	awsARNs  = arnRules{false, roleARNForm}
	peerARNs = arnRules{true, peerRoleARNForm}
)

// parse checks arn and returns its partition.
func (r arnRules) parse(arn string) (partition string, ok bool) {
	return parseRoleARN(arn, r.peer)
}

// arnRulesFor keeps AWS's strict form (which catches a mistyped partition or
// account before the pod exists) unless the profile's STS endpoint is a
// valid URL outside AWS's domains, whose roles need not look like AWS's.
func arnRulesFor(stsEndpoint string) arnRules {
	if stsEndpoint == "" {
		return awsARNs
	}
	u, err := url.Parse(stsEndpoint)
	if err != nil || u.Hostname() == "" {
		return awsARNs // the endpoint's own error says what is wrong
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	for _, aws := range []string{"amazonaws.com", "amazonaws.com.cn", "api.aws"} {
		if host == aws || strings.HasSuffix(host, "."+aws) {
			return awsARNs
		}
	}
	return peerARNs
}

func (p *parser) roleARN(key, v string, rules arnRules) bool {
	if _, ok := rules.parse(v); !ok {
		p.invalid(key, v, rules.form)
		return false
	}
	return true
}

// partition is arn's partition, or "" if it is not a role ARN.
func (r arnRules) partition(arn string) string {
	partition, _ := r.parse(arn)
	return partition
}

// seconds parses whole seconds or a Go duration and checks [min, max].
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

func (p *parser) endpoint(key, v string) bool {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		p.invalid(key, v, "must be an absolute http or https URL with a host and no user info, query or fragment, such as https://sts.eu-west-1.amazonaws.com")
		return false
	}
	if u.Scheme == "http" {
		p.warn("%s: %s uses plain http; the web-identity token and the credentials cross the network unencrypted", key, v)
	}
	return true
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
