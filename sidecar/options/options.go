// Package options turns the sidecar's flags and their ROLECHAIN_* twins
// into one Config, and validates it once, reporting every problem with the
// flag (or profile field) it concerns and what that flag accepts.
package options

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/pflag"

	"github.com/rolechain/rolechain/internal/contract"
)

// Sources of the credentials that start a chain (--source).
const (
	SourceWebIdentity  = contract.SourceWebIdentity
	SourceDefaultChain = contract.SourceDefaultChain
	SourceStatic       = contract.SourceStatic
	// SourcePodIdentity starts from EKS Pod Identity's credentials, read
	// from the container-credentials variables EKS's webhook sets.
	SourcePodIdentity = contract.SourcePodIdentity
)

// The container-credentials variables of the SDKs, which EKS's webhook sets
// for a ServiceAccount with a Pod Identity association; --source
// pod-identity reads them.
const (
	EnvContainerCredentialsFullURI     = contract.EnvContainerCredentialsFullURI
	EnvContainerAuthorizationTokenFile = contract.EnvContainerAuthorizationTokenFile
)

// Config is everything the sidecar is told. Flags bind straight onto it;
// Validate checks it and resolves the profiles.
type Config struct {
	// One of: a JSON list of profiles (what the webhook sets) …
	ProfilesJSON string
	// … or the single-profile flags (for people and CI).
	Profile            string
	WebIdentityRoleARN string
	RoleARNs           []string
	ExternalID         string
	SessionName        string
	Duration           Seconds
	Region             string
	STSEndpoint        string
	SessionTags        bool
	SessionPolicy      string
	SessionPolicyARNs  []string

	// SessionTagKeys are the keys of the session tags of every profile
	// with SessionTags, in contract.SessionTagKeys's comma-separated form
	// (namespace, pod, ServiceAccount); the webhook sets it
	// (contract.EnvSessionTagKeys). Validate parses it into tagKeys.
	SessionTagKeys string
	tagKeys        contract.SessionTagKeys

	// SourceIdentity is set on the first sts:AssumeRole hop of every profile.
	SourceIdentity       string
	Source               string
	TokenFile            string
	StaticCredentialsDir string

	OutputDir string
	FileMode  FileMode
	FileGroup int

	Once   bool
	Format string
	Output string

	// ExitWhenReady runs the refresh loops only until every profile's
	// credentials are in OutputDir once: the one-shot init container that
	// precedes the regular sidecar on clusters without native sidecars.
	ExitWhenReady bool

	// RefreshInterval is the longest time between two successful refreshes
	// of a profile (0: only the lifetime-based schedule).
	RefreshInterval time.Duration

	CredentialsEndpointPort int
	MetricsPort             int

	// From the downward API; environment only.
	PodName, PodNamespace, ServiceAccount string

	// ContainerCredentialsFullURI and ContainerAuthorizationTokenFile are
	// the Pod Identity Agent's endpoint and the token it expects, for
	// --source pod-identity; environment only (EnvContainerCredentials*).
	ContainerCredentialsFullURI, ContainerAuthorizationTokenFile string

	// fromEnv maps a flag name to the variable that set it, for messages.
	fromEnv map[string]string
	// changed records flags set on the command line or by environment.
	changed map[string]bool
}

// New returns a Config holding the defaults.
func New() *Config {
	return &Config{
		Profile:        contract.DefaultProfileName,
		SessionTagKeys: contract.DefaultSessionTagKeys.String(),
		Source:         SourceWebIdentity,
		TokenFile:      contract.TokenFile,
		OutputDir:      contract.OutputDir,
		FileMode:       0o644,
		FileGroup:      -1,
		fromEnv:        map[string]string{},
		changed:        map[string]bool{},
	}
}

// AddFlags binds every flag onto c. The help text is the reference
// documentation of each flag.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.ProfilesJSON, "profiles", "", `profiles as a JSON list (the webhook sets ROLECHAIN_PROFILES): [{"name","webIdentityRoleARN","roleARNs","externalID","sessionName","durationSeconds","region","stsEndpoint","sessionTags","sessionPolicy","sessionPolicyARNs"}]; excludes the single-profile flags`)
	fs.StringVar(&c.Profile, "profile", c.Profile, "single profile: section name in the credentials and config files, and the name of its JSON files")
	fs.StringVar(&c.WebIdentityRoleARN, "web-identity-role-arn", "", "single profile: first hop, assumed with AssumeRoleWithWebIdentity and the token (--source web-identity)")
	fs.Var(NewStringList(&c.RoleARNs), "role-arn", "single profile: role assumed with sts:AssumeRole after the previous hop, in order; repeatable or comma-separated; the last is the target")
	fs.StringVar(&c.ExternalID, "external-id", "", "single profile: ExternalId sent on every sts:AssumeRole hop (2–1224 characters of [\\w+=,.@:/-])")
	fs.StringVar(&c.SessionName, "session-name", "", "single profile: RoleSessionName of every hop ([\\w+=,.@-], 2–64); default <namespace>.<pod> from ROLECHAIN_POD_NAMESPACE/ROLECHAIN_POD_NAME, or \"rolechain\"")
	fs.Var(&c.Duration, "duration", "single profile: session duration of every hop, seconds or Go duration (900s–12h, default 1h; at most 1h when the chain has more than one role: STS caps chained sessions)")
	fs.StringVar(&c.Region, "region", "", "single profile: region of the STS endpoint and of the config file; unset, STS is called in us-east-1, cn-north-1 or us-gov-west-1 by the role ARN's partition, and the config file names no region")
	fs.StringVar(&c.STSEndpoint, "sts-endpoint", "", "single profile: STS endpoint URL replacing the regional one (http or https; no user info, query or fragment)")
	fs.BoolVar(&c.SessionTags, "session-tags", false, "single profile: tag every sts:AssumeRole hop with the pod's namespace, name and ServiceAccount (from ROLECHAIN_POD_NAMESPACE, ROLECHAIN_POD_NAME, ROLECHAIN_SERVICE_ACCOUNT), under the keys of --session-tag-keys")
	fs.StringVar(&c.SessionTagKeys, "session-tag-keys", c.SessionTagKeys, "keys of the session tags of every profile with session tags: namespace,pod,service-account, comma-separated; each "+strings.TrimPrefix(contract.SessionTagKeyForm, "must be ")+", not starting with aws:, no two the same in any case. The sidecar sets these tags, so whoever holds the previous hop can set them too: they authorise nothing, and the default keys differ from EKS Pod Identity's (kubernetes-namespace, kubernetes-service-account), which AWS sets")
	fs.StringVar(&c.SessionPolicy, "session-policy", "", fmt.Sprintf("single profile: inline IAM policy (JSON) sent as the session policy (Policy) of the target hop only: the credentials get the intersection of the target role's permissions and this policy (at most %d characters, as STS counts them)", contract.MaxSessionPolicyChars))
	fs.Var(NewStringList(&c.SessionPolicyARNs), "session-policy-arns", fmt.Sprintf("single profile: managed policy ARNs sent as session policies (PolicyArns) of the target hop only, in the target's partition; at most %d, repeatable or comma-separated", contract.MaxSessionPolicyARNs))

	fs.StringVar(&c.Source, "source", c.Source, "credentials that start each chain: web-identity (the token file), default-chain (the AWS SDK default chain), static (key files in --static-credentials-dir) or pod-identity (EKS Pod Identity: the endpoint in "+EnvContainerCredentialsFullURI+" with the token in "+EnvContainerAuthorizationTokenFile+", as EKS's webhook sets them); with all but web-identity every role is assumed with sts:AssumeRole")
	fs.StringVar(&c.TokenFile, "token-file", c.TokenFile, "projected service-account token, re-read before every AssumeRoleWithWebIdentity (--source web-identity)")
	fs.StringVar(&c.StaticCredentialsDir, "static-credentials-dir", "", "directory (a mounted Secret) with files aws_access_key_id, aws_secret_access_key and optionally aws_session_token (--source static)")
	fs.StringVar(&c.SourceIdentity, "source-identity", "", "SourceIdentity set on the first sts:AssumeRole hop of every profile ([\\w+=,.@-], 2–64)")

	fs.StringVar(&c.OutputDir, "output-dir", c.OutputDir, "directory of the files kept fresh: credentials (INI, every profile), config (INI, regions), <profile>.json (access_key_id, secret_access_key, session_token, expiration in Unix seconds), <profile>.process.json (credential_process output: Version 1, RFC 3339 Expiration), and endpoint-token when the endpoint is on")
	fs.Var(&c.FileMode, "file-mode", "octal mode of the files in --output-dir: the owner reads, only the owner writes, nothing executes, and with --file-group the group reads (default 0644; 0640 when --file-group is set and this is not)")
	fs.IntVar(&c.FileGroup, "file-group", -1, "numeric group of the files in --output-dir (-1: unchanged)")

	fs.BoolVar(&c.Once, "once", false, "retrieve credentials once, print them in --format and exit (CI); writes nothing to --output-dir; a transient failure (network, timeout, throttling, 5xx) is retried, 3 tries in all, a refusal is not")
	fs.StringVar(&c.Format, "format", "", "with --once: ini (every profile), json, env (export lines) or process (credential_process); default ini")
	fs.StringVar(&c.Output, "output", "", "with --once: write to this file (mode 0600, atomically) instead of stdout")
	fs.BoolVar(&c.ExitWhenReady, "exit-when-ready", false, "run as without --once (same files in --output-dir, retries, logs, metrics) but exit 0 as soon as every profile's credentials have been written once; for an init container ahead of the regular sidecar (the webhook's --native-sidecars=false mode); not with --once")

	fs.DurationVar(&c.RefreshInterval, "refresh-interval", 0, "longest time between two successful refreshes of every profile, a Go duration such as 30s (0: off, else 10s–12h): each refresh is scheduled at the earlier of the lifetime-based point (about half the session, never later than 5 min before expiry) and this interval less up to 10% jitter; rotates credentials on disk more often than half the session duration")
	fs.IntVar(&c.CredentialsEndpointPort, "credentials-endpoint-port", 0, fmt.Sprintf("serve the container-credentials endpoint on 127.0.0.1:PORT at /v1/credentials/<profile>, authorized by the token in <output-dir>/endpoint-token (0: off; the webhook uses %d)", contract.DefaultCredentialsEndpointPort))
	fs.IntVar(&c.MetricsPort, "metrics-port", 0, "serve Prometheus metrics on :PORT/metrics (0: off)")
}

// EnvName is the environment variable mirroring a flag: ROLECHAIN_ and the
// flag in upper snake case.
func EnvName(flag string) string {
	return "ROLECHAIN_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ApplyEnv sets each flag not given on the command line from its
// ROLECHAIN_* variable (lists comma-separated), and reads the downward-API
// variables. Command-line flags win over the environment.
func (c *Config) ApplyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			c.changed[f.Name] = true
			return
		}
		if f.Name == "help" || f.Name == "version" {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookup(name)
		if !ok || v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Sprintf("--%s (from %s): %v", f.Name, name, err))
			return
		}
		c.fromEnv[f.Name] = name
		c.changed[f.Name] = true
	})
	c.PodName, _ = lookup(contract.EnvPodName)
	c.PodNamespace, _ = lookup(contract.EnvPodNamespace)
	c.ServiceAccount, _ = lookup(contract.EnvServiceAccount)
	c.ContainerCredentialsFullURI, _ = lookup(EnvContainerCredentialsFullURI)
	c.ContainerAuthorizationTokenFile, _ = lookup(EnvContainerAuthorizationTokenFile)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// flagRef names a flag in messages, with the variable that set it.
func (c *Config) flagRef(name string) string {
	if env, ok := c.fromEnv[name]; ok {
		return "--" + name + " (from " + env + ")"
	}
	return "--" + name
}

// Seconds is a duration flag in whole seconds; it accepts "3600" or "1h".
type Seconds int32

// Set parses seconds or a Go duration.
func (s *Seconds) Set(v string) error {
	if n, err := strconv.ParseInt(v, 10, 32); err == nil {
		*s = Seconds(n)
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d%time.Second != 0 {
		return fmt.Errorf("%q is not a whole number of seconds or a duration such as 1h", v)
	}
	if d > 1<<31*time.Second {
		return fmt.Errorf("%q is too long", v)
	}
	*s = Seconds(d / time.Second)
	return nil
}

func (s *Seconds) String() string {
	if *s == 0 {
		return ""
	}
	return (time.Duration(*s) * time.Second).String()
}

// Type names the flag's value in --help.
func (s *Seconds) Type() string { return "duration" }

// FileMode is an octal permission flag.
type FileMode os.FileMode

// Set parses an octal mode such as 0640.
func (m *FileMode) Set(v string) error {
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil || n > 0o777 {
		return fmt.Errorf("%q is not an octal mode between 0000 and 0777", v)
	}
	*m = FileMode(n)
	return nil
}

func (m *FileMode) String() string { return fmt.Sprintf("%#o", uint32(*m)) }

// Type names the flag's value in --help.
func (m *FileMode) Type() string { return "octal" }

// StringList is a list flag: repeatable, each value comma-separated. Use
// it for every list flag instead of pflag's StringSlice, which parses CSV:
// a CSV record ends at a line break, so "A\nB" silently became [A] and
// the rest was dropped. A value holding any control character is refused.
type StringList struct {
	p   *[]string
	set bool // the first Set replaces the default, later ones append
}

// NewStringList binds a StringList onto p.
func NewStringList(p *[]string) *StringList { return &StringList{p: p} }

// Set appends the comma-separated items of v.
func (l *StringList) Set(v string) error {
	if hasControl(v) {
		return fmt.Errorf("%q contains a control character (a line break?): give the items comma-separated or repeat the flag", v)
	}
	items := strings.Split(v, ",")
	if !l.set {
		*l.p = items
		l.set = true
		return nil
	}
	*l.p = append(*l.p, items...)
	return nil
}

func (l *StringList) String() string {
	if len(*l.p) == 0 {
		return "" // no "(default [])" in --help
	}
	return "[" + strings.Join(*l.p, ",") + "]"
}

// Type names the flag's value in --help.
func (l *StringList) Type() string { return "strings" }

// hasControl reports whether s holds a control character (a line break, a
// tab, NUL, DEL, …), which no value of ours may contain.
func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }
