package options

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/sidecar/chain"
	"github.com/rolechain/rolechain/sidecar/output"
)

// tagValue is STS's character set for a session tag's value.
var (
	sessionNameBad = regexp.MustCompile(`[^\w+=,.@-]`)
	tagValue       = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
)

func validTagValue(s string) bool { return len(s) <= 256 && tagValue.MatchString(s) }

// Validate checks the whole configuration and resolves the profiles with
// their defaults (name, session name, duration, region) filled in. The
// error lists every problem, one per line, each naming its flag.
func (c *Config) Validate() ([]contract.Profile, error) {
	var errs []string
	bad := func(flag, format string, args ...any) {
		errs = append(errs, c.flagRef(flag)+": "+fmt.Sprintf(format, args...))
	}

	switch c.Source {
	case SourceWebIdentity:
		if c.TokenFile == "" {
			bad("token-file", "must name the projected token file with --source web-identity")
		}
	case SourceDefaultChain:
	case SourceStatic:
		if c.StaticCredentialsDir == "" {
			bad("static-credentials-dir", "must name a directory of key files with --source static")
		}
	case SourcePodIdentity:
		for _, problem := range c.podIdentityProblems() {
			bad("source", "%s", problem)
		}
	default:
		bad("source", "%q must be web-identity, default-chain, static or pod-identity", c.Source)
	}
	if c.StaticCredentialsDir != "" && c.Source != SourceStatic {
		bad("static-credentials-dir", "is only read with --source static")
	}
	if c.SourceIdentity != "" && !contract.ValidSessionName(c.SourceIdentity) {
		bad("source-identity", "%q must be 2–64 characters of [\\w+=,.@-]", c.SourceIdentity)
	}

	keys, keyErrs := contract.ParseSessionTagKeys(c.SessionTagKeys, field.NewPath(c.flagRef("session-tag-keys")))
	for _, e := range keyErrs {
		errs = append(errs, e.Error())
	}
	c.tagKeys = keys

	profiles := c.profiles(bad)
	if len(profiles) > 0 {
		c.validateProfiles(profiles, &errs)
	}

	if c.Once {
		format := c.Format
		if format == "" {
			format = output.FormatINI
		}
		if !slices.Contains(output.Formats, format) {
			bad("format", "%q must be one of ini, json, env, process", c.Format)
		} else if format != output.FormatINI && len(profiles) > 1 {
			bad("format", "%s prints one profile, but %d are configured; use ini", format, len(profiles))
		}
		if c.CredentialsEndpointPort != 0 {
			bad("credentials-endpoint-port", "has no effect with --once")
		}
		if c.MetricsPort != 0 {
			bad("metrics-port", "has no effect with --once")
		}
		if c.RefreshInterval != 0 {
			bad("refresh-interval", "has no effect with --once")
		}
		if c.ExitWhenReady {
			// --once writes nothing to --output-dir, so there is nothing
			// to become ready.
			bad("exit-when-ready", "cannot be combined with %s: --once prints credentials and writes nothing to --output-dir", c.flagRef("once"))
		}
	} else {
		if c.Format != "" {
			bad("format", "is only used with --once")
		}
		if c.Output != "" {
			bad("output", "is only used with --once")
		}
		if c.OutputDir == "" {
			bad("output-dir", "must not be empty")
		}
	}
	for _, port := range []struct {
		flag string
		v    int
	}{{"credentials-endpoint-port", c.CredentialsEndpointPort}, {"metrics-port", c.MetricsPort}} {
		if port.v < 0 || port.v > 65535 {
			bad(port.flag, "%d must be a TCP port (1–65535) or 0 for off", port.v)
		}
	}
	if c.RefreshInterval != 0 && (c.RefreshInterval < contract.MinRefreshInterval || c.RefreshInterval > contract.MaxRefreshInterval) {
		bad("refresh-interval", "%s must be 0 (off) or between %s and %s", c.RefreshInterval, contract.MinRefreshInterval, contract.MaxRefreshInterval)
	}
	if c.CredentialsEndpointPort != 0 && c.CredentialsEndpointPort == c.MetricsPort {
		bad("metrics-port", "%d is also --credentials-endpoint-port", c.MetricsPort)
	}
	if c.FileGroup < -1 {
		bad("file-group", "%d must be a group ID or -1", c.FileGroup)
	}
	if c.FileGroup >= 0 && !c.changed["file-mode"] {
		c.FileMode = 0o640
	}
	c.validateFileMode(bad)
	c.validatePaths(bad)

	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return profiles, nil
}

// singleProfileFlags are the flags that build the one profile when
// --profiles is not set.
var singleProfileFlags = []string{"profile", "web-identity-role-arn", "role-arn", "external-id", "session-name", "duration", "region", "sts-endpoint", "session-tags", "session-policy", "session-policy-arns"}

// fieldFlag maps a Profile JSON field to its single-profile flag.
var fieldFlag = map[string]string{
	"name": "profile", "webIdentityRoleARN": "web-identity-role-arn", "roleARNs": "role-arn", "externalID": "external-id",
	"sessionName": "session-name", "durationSeconds": "duration", "region": "region", "stsEndpoint": "sts-endpoint", "sessionTags": "session-tags",
	"sessionPolicy": "session-policy", "sessionPolicyARNs": "session-policy-arns",
}

func (c *Config) profiles(bad func(flag, format string, args ...any)) []contract.Profile {
	if c.ProfilesJSON == "" {
		return []contract.Profile{{
			Name:               c.Profile,
			WebIdentityRoleARN: c.WebIdentityRoleARN,
			RoleARNs:           c.RoleARNs,
			ExternalID:         c.ExternalID,
			SessionName:        c.SessionName,
			DurationSeconds:    int32(c.Duration),
			Region:             c.Region,
			STSEndpoint:        c.STSEndpoint,
			SessionTags:        c.SessionTags,
			SessionPolicy:      c.SessionPolicy,
			SessionPolicyARNs:  c.SessionPolicyARNs,
		}}
	}
	for _, f := range singleProfileFlags {
		if c.changed[f] {
			bad(f, "cannot be combined with --profiles; set it in the profile instead")
		}
	}
	ps, err := contract.Decode(c.ProfilesJSON)
	if err != nil {
		bad("profiles", "%v", err)
		return nil
	}
	if len(ps) == 0 {
		bad("profiles", "must list at least one profile")
	}
	return ps
}

// fieldRef names a profile field in messages: the single-profile flag, or
// --profiles[i].field.
func (c *Config) fieldRef(i int, field string) string {
	if c.ProfilesJSON == "" {
		return c.flagRef(fieldFlag[field])
	}
	return fmt.Sprintf("%s[%d].%s", c.flagRef("profiles"), i, field)
}

// validateProfiles fills in the defaults the contract leaves to the
// sidecar (name, session name, duration), checks the profiles with the
// contract's rules — the webhook's own, so that what the webhook admits
// the sidecar accepts — and then what only the sidecar can check (the
// session tags' values from the downward API, --source-identity).
func (c *Config) validateProfiles(profiles []contract.Profile, errs *[]string) {
	for i := range profiles {
		if profiles[i].Name == "" {
			profiles[i].Name = contract.DefaultProfileName
		}
	}
	locate := func(i int, f string, item int) *field.Path {
		path := field.NewPath(c.fieldRef(i, f))
		if item >= 0 && c.ProfilesJSON != "" {
			path = path.Index(item)
		}
		return path
	}
	source := c.Source
	if !slices.Contains([]string{SourceWebIdentity, SourceDefaultChain, SourceStatic, SourcePodIdentity}, source) {
		source = SourceWebIdentity // --source is reported; check the profiles as the default would
	}
	for _, e := range contract.Validate(profiles, source, locate) {
		*errs = append(*errs, e.Field+": "+e.ErrorBody())
	}
	for i := range profiles {
		p := &profiles[i]
		if p.SessionName == "" {
			p.SessionName = DefaultSessionName(c.PodNamespace, c.PodName)
		}
		if p.DurationSeconds == 0 {
			p.DurationSeconds = contract.DefaultDurationSeconds
		}
		assumeRoleHops := len(p.Chain())
		if c.Source == SourceWebIdentity && p.WebIdentityRoleARN != "" {
			assumeRoleHops--
		}
		if p.SessionTags {
			for _, v := range []struct{ env, value string }{
				{contract.EnvPodNamespace, c.PodNamespace}, {contract.EnvPodName, c.PodName}, {contract.EnvServiceAccount, c.ServiceAccount},
			} {
				if !validTagValue(v.value) {
					*errs = append(*errs, c.fieldRef(i, contract.FieldSessionTags)+fmt.Sprintf(": needs %s to be set to a valid tag value, got %q", v.env, v.value))
				}
			}
		}
		if c.SourceIdentity != "" && assumeRoleHops < 1 {
			*errs = append(*errs, c.flagRef("source-identity")+fmt.Sprintf(": profile %s has no sts:AssumeRole hop to set it on", p.Name))
		}
	}
}

// DefaultSessionName derives a RoleSessionName from the pod:
// "<namespace>.<pod>" with characters outside [\w+=,.@-] replaced by '-',
// at most 64 characters (keeping the end of a long pod name, where
// generated names are unique), or "rolechain" without a pod.
func DefaultSessionName(namespace, pod string) string {
	namespace = sessionNameBad.ReplaceAllString(namespace, "-")
	pod = sessionNameBad.ReplaceAllString(pod, "-")
	var s string
	switch {
	case namespace != "" && pod != "":
		if len(namespace)+1+len(pod) > 64 {
			namespace = namespace[:min(len(namespace), 20)]
			pod = pod[max(0, len(pod)-(64-len(namespace)-1)):]
		}
		s = namespace + "." + pod
	default:
		s = namespace + pod
	}
	if len(s) > 64 {
		s = s[len(s)-64:]
	}
	if len(s) < 2 {
		return "rolechain"
	}
	return s
}

// Tags returns the session tags of a profile that asks for them, under
// the keys of --session-tag-keys. Call it after Validate.
func (c *Config) Tags(p contract.Profile) []chain.Tag {
	if !p.SessionTags {
		return nil
	}
	return []chain.Tag{{Key: c.tagKeys.Namespace, Value: c.PodNamespace}, {Key: c.tagKeys.Pod, Value: c.PodName}, {Key: c.tagKeys.ServiceAccount, Value: c.ServiceAccount}}
}

// FilePerm returns the mode for files in the output directory.
func (c *Config) FilePerm() os.FileMode { return os.FileMode(c.FileMode) }

// validateFileMode keeps --file-mode to modes that make sense for files of
// credentials: the owner (the sidecar, and its probe) reads them; only the
// owner may write (the sidecar replaces them by rename anyway, so a write
// bit only serves someone tampering); nothing executes them; and with
// --file-group, that group can read them, which is its only purpose.
func (c *Config) validateFileMode(bad func(flag, format string, args ...any)) {
	m := os.FileMode(c.FileMode)
	switch {
	case m&0o400 == 0:
		bad("file-mode", "%04o does not let the owner read the files; use 0600, 0640 or 0644", uint32(m))
	case m&0o022 != 0:
		bad("file-mode", "%04o lets group or others write credentials; only the owner may write (e.g. 0640, 0644)", uint32(m))
	case m&0o111 != 0:
		bad("file-mode", "%04o sets execute bits on credentials files; use 0600, 0640 or 0644", uint32(m))
	case c.FileGroup >= 0 && m&0o040 == 0:
		bad("file-mode", "%04o gives --file-group %d no read access; use 0640 (the default with --file-group) or 0440", uint32(m), c.FileGroup)
	}
}

// validatePaths refuses control characters in the flags that name files:
// a line break in a path is legal to the kernel but never what was meant.
// (Other string values have patterns of their own, which refuse them.)
func (c *Config) validatePaths(bad func(flag, format string, args ...any)) {
	for _, f := range []struct{ flag, value string }{
		{"token-file", c.TokenFile}, {"output-dir", c.OutputDir}, {"static-credentials-dir", c.StaticCredentialsDir}, {"output", c.Output},
	} {
		if hasControl(f.value) {
			bad(f.flag, "%q contains a control character", f.value)
		}
	}
}

// ValidateProbe checks only what the probe reads, the output directory and
// the profile names, and returns the names: the probe reads files and must
// not fail for want of the chain's flags.
func (c *Config) ValidateProbe() ([]string, error) {
	var errs []string
	bad := func(flag, format string, args ...any) {
		errs = append(errs, c.flagRef(flag)+": "+fmt.Sprintf(format, args...))
	}
	if c.OutputDir == "" {
		bad("output-dir", "must not be empty")
	} else if hasControl(c.OutputDir) {
		bad("output-dir", "%q contains a control character", c.OutputDir)
	}
	var names []string
	if c.ProfilesJSON == "" {
		names = []string{c.Profile}
	} else if ps, err := contract.Decode(c.ProfilesJSON); err != nil {
		bad("profiles", "%v", err)
	} else {
		for _, p := range ps {
			names = append(names, cmp.Or(p.Name, contract.DefaultProfileName))
		}
	}
	for i, name := range names {
		if !contract.ValidProfileName(name) {
			errs = append(errs, c.fieldRef(i, "name")+fmt.Sprintf(": %q %s (it names files)", name, contract.ProfileNameForm))
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return names, nil
}

// podIdentityProblems checks the container-credentials variables that
// --source pod-identity reads. Like the AWS SDKs, it accepts plain http only
// to a loopback address or to the addresses of EKS's and ECS's agents: the
// authorization token travels with every request.
func (c *Config) podIdentityProblems() []string {
	uri, file := c.ContainerCredentialsFullURI, c.ContainerAuthorizationTokenFile
	var problems []string
	if uri == "" {
		who := "this pod's ServiceAccount"
		if c.ServiceAccount != "" {
			who = "ServiceAccount " + c.ServiceAccount
		}
		problems = append(problems, fmt.Sprintf("pod-identity needs %s, which EKS's webhook sets only for a ServiceAccount with an EKS Pod Identity association: is there one for %s?", EnvContainerCredentialsFullURI, who))
	} else if u, err := url.Parse(uri); err != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
		problems = append(problems, fmt.Sprintf("pod-identity: %s=%q must be an http or https URL with a host", EnvContainerCredentialsFullURI, uri))
	} else if u.Scheme == "http" && !agentHost(u.Hostname()) {
		problems = append(problems, fmt.Sprintf("pod-identity: %s=%q uses plain http to a host that is neither loopback nor EKS's or ECS's agent (169.254.170.23, fd00:ec2::23, 169.254.170.2): the authorization token would cross the network unencrypted", EnvContainerCredentialsFullURI, uri))
	}
	if file == "" {
		problems = append(problems, fmt.Sprintf("pod-identity needs %s, the token EKS's agent expects; EKS's webhook sets it with %s", EnvContainerAuthorizationTokenFile, EnvContainerCredentialsFullURI))
	}
	return problems
}

// agentHost reports whether host is an address the AWS SDKs let a
// container-credentials endpoint use over plain http: loopback ("localhost"
// included), or the link-local addresses of EKS's and ECS's agents.
func agentHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.Equal(net.IPv4(169, 254, 170, 23)) || ip.Equal(net.IPv4(169, 254, 170, 2)) || ip.Equal(net.ParseIP("fd00:ec2::23")))
}
