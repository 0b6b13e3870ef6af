package annotations

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rolechain/rolechain/internal/contract"
)

// origin says where each value of one profile came from, so that the
// contract's errors name the annotation a user wrote.
type origin struct {
	// fields maps a contract field to the path of the key that set it.
	fields map[string]*field.Path
	// roles holds, for each of the profile's RoleARNs, the key it came from.
	roles []*field.Path
	// roleKey is the profile's rolechain.dev/role-arn[.<name>] key.
	roleKey string
	// nameKey is where the profile's name comes from.
	nameKey string
}

// buildProfiles builds the main profile and the extra profiles from their
// groups (stage 3) and validates them with the contract (stage 4).
func (p *parser) buildProfiles(cfg *Config, mainName string, groups map[string]map[string]string) {
	main := groups[""]
	if main == nil {
		main = map[string]string{}
	}
	var origins []origin
	if _, ok := main[RoleARN]; !ok {
		// Without a target there is no chain to check: the contract's
		// errors would only repeat this one in other words.
		p.errs = append(p.errs, field.Required(annotationPath(RoleARN), "the pod's target role: "+contract.RoleARNForm))
	}
	pr, o := p.profile(mainName, "", main, nil)
	cfg.Profiles, origins = append(cfg.Profiles, pr), append(origins, o)

	var extras []string
	for suffix := range groups {
		if suffix != "" {
			extras = append(extras, suffix)
		}
	}
	slices.Sort(extras)
	for _, name := range extras {
		g := groups[name]
		roleKey := RoleARN + "." + name
		switch _, hasRole := g[RoleARN]; {
		case !contract.ValidProfileName(name):
			for _, base := range sortedKeys(g) {
				p.invalid(base+"."+name, g[base], "profile name \""+name+"\" after the dot "+contract.ProfileNameForm)
			}
		case name == mainName:
			p.invalid(roleKey, g[RoleARN], fmt.Sprintf("profile %q is the main profile (%s); give the extra profile another name", name, Profile))
		case !hasRole:
			for _, base := range sortedKeys(g) {
				p.invalid(base+"."+name, g[base], fmt.Sprintf("profile %q has no %s; set it or remove this annotation", name, roleKey))
			}
		default:
			pr, o := p.profile(name, "."+name, g, main)
			cfg.Profiles, origins = append(cfg.Profiles, pr), append(origins, o)
		}
	}

	// (4) The contract's rules. A main profile without its target is left
	// out (reported above); the indexes map back to origins.
	var checked []contract.Profile
	var at []origin
	for i, pr := range cfg.Profiles {
		if i == 0 && main[RoleARN] == "" {
			if _, ok := main[RoleARN]; !ok {
				continue
			}
		}
		checked, at = append(checked, pr), append(at, origins[i])
	}
	if len(checked) == 0 {
		return
	}
	locate := func(i int, f string, item int) *field.Path {
		if i >= len(at) { // too many profiles: the first one too many
			return annotationPath(at[len(at)-1].roleKey)
		}
		o := at[i]
		if f == contract.FieldRoleARNs && item >= 0 && item < len(o.roles) {
			return o.roles[item]
		}
		if f == contract.FieldName {
			return annotationPath(o.nameKey)
		}
		if path, ok := o.fields[f]; ok {
			return path
		}
		return annotationPath(o.roleKey)
	}
	for _, e := range contract.Validate(checked, cfg.Source, locate) {
		p.errs = append(p.errs, p.shown(e))
	}
}

// shown makes a contract error read as the user wrote the value: a
// single-valued key's own text ("2h" rather than 7200), and, for the
// ServiceAccount's IRSA role, the way to override it from the pod.
func (p *parser) shown(e *field.Error) *field.Error {
	if key, ok := strings.CutPrefix(e.Field, "metadata.annotations["); ok {
		key = strings.TrimSuffix(key, "]")
		name, _, _ := strings.Cut(strings.TrimPrefix(key, Prefix), ".")
		base := Prefix + name
		// An STS endpoint is never shown as written: it may hold a
		// password (user:password@), which the contract's message
		// already shows redacted.
		if v, set := p.ann[key]; set && !listKey(base) && base != STSEndpoint && e.Type == field.ErrorTypeInvalid {
			if base == SessionPolicy {
				v = contract.Abbreviate(v)
			}
			e.BadValue = v
		}
		return e
	}
	if p.sa != nil && strings.HasPrefix(e.Field, "serviceaccounts[") {
		e.Detail += "; or set " + WebIdentityRoleARN + " on the pod"
	}
	return e
}

// listKey reports whether a key's value is a list, whose errors show the
// item at fault rather than the whole value.
func listKey(base string) bool {
	return base == ViaRoleARNs || base == SessionPolicyARNs
}

// profile builds one profile from its group of annotations, checking only
// their syntax (lists, durations, booleans); the contract checks the
// values. suffix is "" for the main profile or ".<name>". inherit is the
// main profile's group for extra profiles (nil for the main one): region,
// STS endpoint, session tags and the web-identity role carry over, because
// they describe the cluster and its first hop rather than the target.
func (p *parser) profile(name, suffix string, g, inherit map[string]string) (contract.Profile, origin) {
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
	o := origin{fields: map[string]*field.Path{}, roleKey: key(RoleARN), nameKey: key(RoleARN)}
	if suffix == "" {
		o.nameKey = Profile
	}
	set := func(f, k string) { o.fields[f] = annotationPath(k) }
	endpoint, endpointKey, hasEndpoint := get(STSEndpoint, true)
	if hasEndpoint {
		pr.STSEndpoint = endpoint
		set(contract.FieldSTSEndpoint, endpointKey)
		if u, err := url.Parse(endpoint); err == nil && u.Scheme == "http" && contract.STSEndpointProblem(endpoint) == "" && endpointKey == key(STSEndpoint) {
			p.warn("%s: %s uses plain http; the web-identity token and the credentials cross the network unencrypted", endpointKey, endpoint)
		}
	}

	// (a) The chain: [first hop] + via roles + target.
	type hop struct {
		arn  string
		path *field.Path
	}
	var chain []hop
	switch v, k, ok := get(WebIdentityRoleARN, true); {
	case ok && p.podIdentity:
		// Reported once, by the profile that sets it (not again by each
		// extra profile inheriting the main profile's).
		if k == key(WebIdentityRoleARN) {
			p.invalid(k, v, "is not used with "+Source+": pod-identity: the chain starts from the Pod Identity association's role; list any roles before the target in "+key(ViaRoleARNs))
		}
	case ok:
		chain = append(chain, hop{v, annotationPath(k)})
	case p.podIdentity:
		// The ServiceAccount's IRSA role is not a hop either: Pod
		// Identity's credentials come from EKS's agent.
	case p.sa != nil && p.sa.Annotations[IRSARoleARN] != "":
		chain = append(chain, hop{p.sa.Annotations[IRSARoleARN], p.saPath()})
	}
	if v, k, ok := get(ViaRoleARNs, false); ok {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				p.invalid(k, v, "must be a comma-separated list of IAM role ARNs without empty entries")
				continue
			}
			chain = append(chain, hop{part, annotationPath(k)})
		}
	}
	if v, ok := g[RoleARN]; ok {
		// A first hop equal to the target with nothing between is one
		// hop, not a role assuming itself.
		if len(chain) == 1 && chain[0].arn == v && !p.podIdentity {
			chain = nil
		}
		chain = append(chain, hop{v, annotationPath(key(RoleARN))})
	}
	if len(chain) > 0 {
		rest := chain
		if !p.podIdentity {
			// The first role is assumed with the web identity; with Pod
			// Identity every role is assumed with sts:AssumeRole.
			pr.WebIdentityRoleARN, rest = chain[0].arn, chain[1:]
			o.fields[contract.FieldWebIdentityRoleARN] = chain[0].path
		}
		for _, h := range rest {
			pr.RoleARNs = append(pr.RoleARNs, h.arn)
			o.roles = append(o.roles, h.path)
		}
	}
	if _, k, ok := get(ViaRoleARNs, false); ok {
		set(contract.FieldRoleARNs, k) // the chain's length is the via roles' doing
	}
	if len(pr.Chain()) == 0 && !p.podIdentity {
		set(contract.FieldWebIdentityRoleARN, key(RoleARN))
	}

	// (b) What every hop sends.
	if v, k, ok := get(SessionDuration, false); ok {
		set(contract.FieldDurationSeconds, k)
		if s, ok := p.seconds(k, v, math.MinInt64, math.MaxInt64); ok {
			// The contract checks the bounds; out of int32's range is
			// out of its bounds too, and 0 must not read as "unset".
			pr.DurationSeconds = int32(min(max(s, -1), math.MaxInt32))
			if s == 0 {
				pr.DurationSeconds = -1
			}
		}
	}
	if v, k, ok := get(ExternalID, false); ok {
		set(contract.FieldExternalID, k)
		if len(pr.Chain()) == 1 && !p.podIdentity && contract.ValidExternalID(v) {
			// Admitted with a warning, but not passed on: a single
			// web-identity hop takes no external ID. (An invalid one is
			// passed on, for the contract to say what is wrong with it.)
			p.warn("%s: profile %q has a single web-identity hop, which takes no external ID; it is only sent on sts:AssumeRole hops, so it is ignored", k, name)
		} else {
			pr.ExternalID = v
		}
	}
	if v, k, ok := get(SessionName, false); ok {
		set(contract.FieldSessionName, k)
		pr.SessionName = v
		if v == "" {
			p.invalid(k, v, contract.SessionNameForm)
		}
	}
	if v, k, ok := get(SessionTags, true); ok {
		set(contract.FieldSessionTags, k)
		pr.SessionTags = p.boolean(k, v)
		if pr.SessionTags && p.podIdentity && k == key(SessionTags) {
			if clash := eksTagClashes(p.d.SessionTagKeys); len(clash) > 0 {
				p.warn("%s: EKS Pod Identity tags its sessions transitively with %s, which the session tag keys this webhook is configured with (--session-tag-keys=%s) set too, and STS does not let a later hop set an inherited transitive tag again: use an association with disableSessionTags, leave %s off (the chain carries EKS's tags anyway), or ask the operator for keys of rolechain's own", k, strings.Join(clash, ", "), p.d.SessionTagKeys, k)
			}
		}
	}

	// (c) Where the calls go. The operator's default region applies to
	// profiles in its partition only (or behind a peer, which has none).
	if v, k, ok := get(Region, true); ok {
		set(contract.FieldRegion, k)
		pr.Region = v
		if v == "" {
			p.invalid(k, v, contract.RegionForm)
		}
	} else if r := p.d.Region; r != "" {
		partition, known := contract.ParseRoleARN(pr.Target(), contract.IsPeerEndpoint(pr.STSEndpoint))
		if !known || contract.IsPeerEndpoint(pr.STSEndpoint) || contract.PartitionOfRegion(r) == partition {
			pr.Region = r
		}
	}

	// (d) The target's session policies (not inherited: they narrow one
	// target's session).
	if v, k, ok := get(SessionPolicy, false); ok {
		set(contract.FieldSessionPolicy, k)
		pr.SessionPolicy = v
		if v == "" {
			p.invalid(k, v, "the policy is empty; it must be "+contract.SessionPolicyForm)
		}
	}
	if v, k, ok := get(SessionPolicyARNs, false); ok {
		set(contract.FieldSessionPolicyARNs, k)
		for _, part := range strings.Split(v, ",") {
			arn := strings.TrimSpace(part)
			if arn == "" {
				p.invalid(k, v, "must be a comma-separated list of managed policy ARNs without empty entries")
				continue
			}
			pr.SessionPolicyARNs = append(pr.SessionPolicyARNs, arn)
		}
	}
	return pr, o
}

// saPath roots an error at the ServiceAccount's IRSA annotation.
func (p *parser) saPath() *field.Path {
	return field.NewPath("serviceaccounts").Key(p.sa.Name).Child("metadata", "annotations").Key(IRSARoleARN)
}

// eksTagClashes lists the keys that are also tags EKS Pod Identity sets
// transitively, in any case (IAM compares tag keys case-insensitively;
// EKS's are in lower case).
func eksTagClashes(keys contract.SessionTagKeys) []string {
	var clash []string
	for _, k := range keys.Keys() {
		if slices.ContainsFunc(contract.EKSPodIdentityTagKeys, func(eks string) bool { return contract.FoldTagKey(k) == eks }) {
			clash = append(clash, k)
		}
	}
	return clash
}
