package contract

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The profile fields as they are named in EnvProfiles (Profile's JSON
// names): Locate maps them to what a user wrote.
const (
	FieldName               = "name"
	FieldWebIdentityRoleARN = "webIdentityRoleARN"
	FieldRoleARNs           = "roleARNs"
	FieldExternalID         = "externalID"
	FieldSessionName        = "sessionName"
	FieldDurationSeconds    = "durationSeconds"
	FieldRegion             = "region"
	FieldSTSEndpoint        = "stsEndpoint"
	FieldSessionTags        = "sessionTags"
	FieldSessionPolicy      = "sessionPolicy"
	FieldSessionPolicyARNs  = "sessionPolicyARNs"
)

// Locate returns where field of profile i came from, for an error message:
// the webhook roots it at the pod annotation (or the ServiceAccount's) that
// set it, the sidecar at its flag or --profiles[i].field. item is the index
// within a list field (RoleARNs, SessionPolicyARNs), -1 otherwise.
type Locate func(i int, field string, item int) *field.Path

// Accepted forms, quoted in error messages.
const (
	RoleARNForm     = "must be an IAM role ARN: arn:<aws|aws-cn|aws-us-gov>:iam::<12-digit account>:role/[<path>/]<name>, name of 1-64 characters of [A-Za-z0-9_+=,.@-], path of the characters ! to DEL (U+0021-U+007F)"
	PeerRoleARNForm = "must be a role ARN: arn:<partition>:iam::[<12-digit account>]:role/[<path>/]<name>, name of 1-64 characters of [A-Za-z0-9_+=,.@-], path of the characters ! to DEL (U+0021-U+007F) (any partition and no account are allowed because the STS endpoint is not an AWS endpoint)"
	ProfileNameForm = "must be 1-63 characters of [A-Za-z0-9_.-] starting with a letter or digit"
	RegionForm      = "must be an AWS region such as us-east-1 or eu-central-2"
	EndpointForm    = "must be an absolute http or https URL with a host and no user info, query or fragment, such as https://sts.eu-west-1.amazonaws.com"
	ExternalIDForm  = "must be 2-1224 characters of [A-Za-z0-9_+=,.@:/-]"
	SessionNameForm = "must be 2-64 characters of [A-Za-z0-9_+=,.@-]"
)

var (
	// Lengths are checked apart: RE2 caps repeat counts at 1000, and a
	// bounded repeat compiles into a large program.
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]+$`)
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	regionRE      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	profileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
)

// ValidProfileName reports whether name may name a profile: a section of
// the INI files and the stem of its JSON files. 63 characters keep it
// usable as an annotation key's suffix.
func ValidProfileName(name string) bool { return len(name) <= 63 && profileNameRE.MatchString(name) }

// ValidSessionName reports whether s is a valid RoleSessionName (and
// SourceIdentity): STS's 2-64 characters of [\w+=,.@-].
func ValidSessionName(s string) bool {
	return len(s) >= 2 && len(s) <= 64 && sessionNameRE.MatchString(s)
}

// ValidExternalID reports whether s is a valid sts:ExternalId: 2-1224
// characters of [\w+=,.@:/-].
func ValidExternalID(s string) bool {
	return len(s) >= 2 && len(s) <= 1224 && externalIDRE.MatchString(s)
}

// ValidRegion reports whether s looks like an AWS region.
func ValidRegion(s string) bool { return regionRE.MatchString(s) }

// IsPeerEndpoint reports whether a valid STS endpoint URL is outside AWS's
// domains (amazonaws.com, amazonaws.com.cn, api.aws): an STS-compatible
// peer such as MinIO or Ceph radosgw, whose roles need not look like AWS's
// and whose signing region is not tied to a partition.
func IsPeerEndpoint(endpoint string) bool {
	if endpoint == "" {
		return false
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() == "" {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	for _, aws := range []string{"amazonaws.com", "amazonaws.com.cn", "api.aws"} {
		if host == aws || strings.HasSuffix(host, "."+aws) {
			return false
		}
	}
	return true
}

// STSEndpointProblem says what is wrong with an STS endpoint URL, or ""
// when it is acceptable. A URL with user information is shown without its
// password, and one that does not parse is not shown at all: it may hold
// one.
func STSEndpointProblem(v string) string {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "is not a URL; it " + EndpointForm
	case u.User != nil:
		return fmt.Sprintf("%q must not hold user information (user:password@): STS authenticates each request by its signature", u.Redacted())
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return fmt.Sprintf("%q %s", v, EndpointForm)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.Contains(v, "#"):
		return fmt.Sprintf("%q must not have a query or fragment", v)
	}
	return ""
}

// SigningRegion is the region a profile's STS calls are made in: its own,
// else the default region of its roles' partition, else (a peer with a
// partition of its own) us-east-1, which STS-compatible services accept
// as a signing region. It is not written anywhere the app reads: a
// profile without a region gets none in the config file.
func SigningRegion(p Profile) string {
	if p.Region != "" {
		return p.Region
	}
	if partition, ok := ParseRoleARN(p.Target(), IsPeerEndpoint(p.STSEndpoint)); ok {
		if r := DefaultRegion(partition); r != "" {
			return r
		}
	}
	return "us-east-1"
}

// Validate checks profiles as the sidecar will use them, with chains
// started from source (a Source* constant), and returns every problem at
// once, each located by at. It is the one set of rules: the webhook denies
// a pod whose profiles it refuses, and the sidecar refuses to start with
// them, so that a pod the webhook admits is a pod whose sidecar runs.
//
// Profiles are checked as they travel in EnvProfiles: zero values mean the
// sidecar's defaults (DurationSeconds 0 is DefaultDurationSeconds, an empty
// SessionName is derived from the pod), except Name, which must be set.
func Validate(profiles []Profile, source string, at Locate) field.ErrorList {
	var errs field.ErrorList
	if len(profiles) == 0 {
		return append(errs, field.Required(at(0, FieldRoleARNs, -1), "at least one profile with a role to assume"))
	}
	if len(profiles) > MaxProfiles {
		errs = append(errs, field.TooMany(at(MaxProfiles, FieldName, -1), len(profiles), MaxProfiles))
	}
	seen := map[string]bool{}
	for i, p := range profiles {
		errs = append(errs, validateProfile(i, p, source, at)...)
		if seen[p.Name] {
			errs = append(errs, field.Duplicate(at(i, FieldName, -1), p.Name))
		}
		seen[p.Name] = true
	}
	return errs
}

func validateProfile(i int, p Profile, source string, at Locate) field.ErrorList {
	var errs field.ErrorList
	invalid := func(f string, item int, value any, detail string) {
		errs = append(errs, field.Invalid(at(i, f, item), value, detail))
	}
	if !ValidProfileName(p.Name) {
		invalid(FieldName, -1, p.Name, ProfileNameForm)
	}

	peer := false
	if p.STSEndpoint != "" {
		if problem := STSEndpointProblem(p.STSEndpoint); problem != "" {
			// The value is in the problem, redacted where it needs to be.
			errs = append(errs, field.Invalid(at(i, FieldSTSEndpoint, -1), "", problem))
		} else {
			peer = IsPeerEndpoint(p.STSEndpoint)
		}
	}
	form := RoleARNForm
	if peer {
		form = PeerRoleARNForm
	}

	// (1) The chain: who assumes the first role, every ARN's form, one
	// partition, the length.
	webIdentity := source == SourceWebIdentity
	switch {
	case webIdentity && p.WebIdentityRoleARN == "":
		errs = append(errs, field.Required(at(i, FieldWebIdentityRoleARN, -1), "the first role, assumed with the web identity: "+form))
	case !webIdentity && p.WebIdentityRoleARN != "":
		invalid(FieldWebIdentityRoleARN, -1, p.WebIdentityRoleARN, fmt.Sprintf("is only used when the chain starts with a web identity; with source %s every role is assumed with sts:AssumeRole: list it first among the roles", source))
	case !webIdentity && len(p.RoleARNs) == 0:
		errs = append(errs, field.Required(at(i, FieldRoleARNs, -1), fmt.Sprintf("at least one role to assume with source %s: %s", source, form)))
	}
	type hop struct {
		arn, field string
		item       int
	}
	var hops []hop
	if p.WebIdentityRoleARN != "" {
		hops = append(hops, hop{p.WebIdentityRoleARN, FieldWebIdentityRoleARN, -1})
	}
	for j, r := range p.RoleARNs {
		hops = append(hops, hop{r, FieldRoleARNs, j})
	}
	partitions := map[string]string{} // ARN → partition, valid ones only
	for _, h := range hops {
		if part, ok := ParseRoleARN(h.arn, peer); ok {
			partitions[h.arn] = part
		} else {
			invalid(h.field, h.item, h.arn, form)
		}
	}
	partition, targetARN := "", ""
	if len(hops) > 0 {
		target := hops[len(hops)-1]
		partition, targetARN = partitions[target.arn], target.arn
		for _, h := range hops {
			if pp, ok := partitions[h.arn]; ok && partition != "" && pp != partition {
				invalid(h.field, h.item, h.arn, fmt.Sprintf("is in partition %q but the target is in %q: STS cannot chain roles across partitions", pp, partition))
			}
		}
	}
	if len(hops) > MaxHops {
		invalid(FieldRoleARNs, -1, len(hops), fmt.Sprintf("the chain of profile %q has %d roles; at most %d are allowed", p.Name, len(hops), MaxHops))
	}
	// Roles assumed with sts:AssumeRole: all but a web-identity first hop.
	assumeRoleHops := len(hops)
	if webIdentity && p.WebIdentityRoleARN != "" {
		assumeRoleHops--
	}

	// (2) What every hop sends.
	if p.ExternalID != "" {
		if !ValidExternalID(p.ExternalID) {
			invalid(FieldExternalID, -1, p.ExternalID, ExternalIDForm)
		} else if assumeRoleHops < 1 {
			invalid(FieldExternalID, -1, p.ExternalID, fmt.Sprintf("is sent on sts:AssumeRole hops, and profile %q has none: its one role is assumed with AssumeRoleWithWebIdentity, which takes no external ID", p.Name))
		}
	}
	if p.SessionName != "" && !ValidSessionName(p.SessionName) {
		invalid(FieldSessionName, -1, p.SessionName, SessionNameForm)
	}
	switch d := p.DurationSeconds; {
	case d == 0:
	case d < MinDurationSeconds || d > MaxDurationSeconds:
		invalid(FieldDurationSeconds, -1, d, fmt.Sprintf("must be between %d and %d seconds (15m to 12h)", MinDurationSeconds, MaxDurationSeconds))
	case source == SourcePodIdentity && d > MaxChainedDurationSeconds:
		// Pod Identity's credentials are a role session's, so even the
		// first role is reached by chaining. (Static and default-chain
		// keys may be an IAM user's, which STS lets assume a role for 12h.)
		invalid(FieldDurationSeconds, -1, d, fmt.Sprintf("must be at most %d seconds (1h) because the chain of profile %q starts from %s credentials: every role is assumed with a role session's credentials, and STS caps sessions reached by role chaining at 1 hour", MaxChainedDurationSeconds, p.Name, source))
	case len(hops) > 1 && d > MaxChainedDurationSeconds:
		invalid(FieldDurationSeconds, -1, d, fmt.Sprintf("must be at most %d seconds (1h) because profile %q chains %d roles: STS caps sessions reached by role chaining at 1 hour", MaxChainedDurationSeconds, p.Name, len(hops)))
	}
	if p.SessionTags && assumeRoleHops < 1 {
		invalid(FieldSessionTags, -1, true, fmt.Sprintf("session tags go on sts:AssumeRole hops, and profile %q has none: AssumeRoleWithWebIdentity takes session tags only from the token's own claims, which Kubernetes does not set; chain a second role to tag it", p.Name))
	}

	// (3) Where the calls go.
	if p.Region != "" {
		switch {
		case !ValidRegion(p.Region):
			invalid(FieldRegion, -1, p.Region, RegionForm)
		case !peer && partition != "" && PartitionOfRegion(p.Region) != partition:
			invalid(FieldRegion, -1, p.Region, fmt.Sprintf("is in partition %q but the roles of profile %q are in %q: that region's STS endpoint cannot assume them", PartitionOfRegion(p.Region), p.Name, partition))
		}
	}

	// (4) The target's session policies.
	if p.SessionPolicy != "" {
		if err := ValidateSessionPolicy(p.SessionPolicy); err != nil {
			invalid(FieldSessionPolicy, -1, Abbreviate(p.SessionPolicy), err.Error()+"; it must be "+SessionPolicyForm)
		}
	}
	if len(p.SessionPolicyARNs) > MaxSessionPolicyARNs {
		invalid(FieldSessionPolicyARNs, -1, len(p.SessionPolicyARNs), fmt.Sprintf("lists %d policies; STS accepts at most %d managed session policies", len(p.SessionPolicyARNs), MaxSessionPolicyARNs))
	}
	for j, arn := range p.SessionPolicyARNs {
		part, ok := PolicyARNPartition(arn)
		switch {
		case !ok:
			invalid(FieldSessionPolicyARNs, j, arn, "must be "+PolicyARNForm)
		case partition != "" && part != partition:
			invalid(FieldSessionPolicyARNs, j, arn, fmt.Sprintf("is in partition %q but the target role %s is in %q: session policies must be in the role's partition", part, targetARN, partition))
		case slices.Contains(p.SessionPolicyARNs[:j], arn):
			invalid(FieldSessionPolicyARNs, j, arn, "is listed twice")
		}
	}
	return errs
}
