package options_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/sidecar/options"
)

const (
	web    = "arn:aws:iam::111111111111:role/web"
	target = "arn:aws:iam::222222222222:role/target"
)

func parse(t *testing.T, args []string, env map[string]string) (*options.Config, []contract.Profile, error) {
	t.Helper()
	c := options.New()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	if err := c.ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		return c, nil, err
	}
	ps, err := c.Validate()
	return c, ps, err
}

func TestSingleProfileFlagsBuildOneProfileWithDefaults(t *testing.T) {
	_, ps, err := parse(t, []string{"--web-identity-role-arn", web, "--role-arn", target},
		map[string]string{contract.EnvPodNamespace: "team-a", contract.EnvPodName: "app-7d9f"})
	if err != nil {
		t.Fatal(err)
	}
	want := []contract.Profile{{Name: "default", WebIdentityRoleARN: web, RoleARNs: []string{target}, SessionName: "team-a.app-7d9f", DurationSeconds: 3600}}
	if !reflect.DeepEqual(ps, want) {
		t.Fatalf("got %+v\nwant %+v", ps, want)
	}
}

func TestProfilesFromEnvironment(t *testing.T) {
	js, _ := contract.Encode([]contract.Profile{
		{Name: "a", WebIdentityRoleARN: web, RoleARNs: []string{target}, Region: "eu-west-1", SessionTags: true},
		{Name: "b", WebIdentityRoleARN: "arn:aws-cn:iam::333333333333:role/cn", DurationSeconds: 43200},
	})
	c, ps, err := parse(t, nil, map[string]string{
		contract.EnvProfiles: js, contract.EnvPodNamespace: "ns", contract.EnvPodName: "pod", contract.EnvServiceAccount: "sa",
		contract.EnvOutputDir: "/tmp/out", contract.EnvCredentialsEndpointPort: "61000",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[1].Region != "" || contract.SigningRegion(ps[1]) != "cn-north-1" || ps[1].DurationSeconds != 43200 || ps[0].SessionName != "ns.pod" {
		t.Fatalf("profiles %+v", ps)
	}
	if c.OutputDir != "/tmp/out" || c.CredentialsEndpointPort != 61000 {
		t.Fatalf("env not applied: %+v", c)
	}
	tags := c.Tags(ps[0])
	if len(tags) != 3 || tags[0].Value != "ns" || tags[2].Value != "sa" {
		t.Fatalf("tags %+v", tags)
	}
}

func TestExitWhenReadyIsAValidDaemonOption(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"--web-identity-role-arn", web, "--exit-when-ready"}, nil},
		{"env", []string{"--web-identity-role-arn", web}, map[string]string{"ROLECHAIN_EXIT_WHEN_READY": "true"}},
	} {
		c, _, err := parse(t, tc.args, tc.env)
		if err != nil || !c.ExitWhenReady || c.Once {
			t.Errorf("%s: ExitWhenReady %v Once %v err %v", tc.name, c.ExitWhenReady, c.Once, err)
		}
	}
	if c, _, err := parse(t, []string{"--web-identity-role-arn", web}, map[string]string{"ROLECHAIN_EXIT_WHEN_READY": "false"}); err != nil || c.ExitWhenReady {
		t.Errorf("ROLECHAIN_EXIT_WHEN_READY=false: ExitWhenReady %v err %v", c.ExitWhenReady, err)
	}
}

func TestCommandLineWinsOverEnvironment(t *testing.T) {
	c, _, err := parse(t, []string{"--web-identity-role-arn", web, "--output-dir", "/flag"}, map[string]string{"ROLECHAIN_OUTPUT_DIR": "/env"})
	if err != nil || c.OutputDir != "/flag" {
		t.Fatalf("output dir %q, err %v", c.OutputDir, err)
	}
}

// Every invalid setting is reported with the flag (and, when it came from
// the environment, the variable) it belongs to, and what is accepted.
func TestInvalidValuesNameTheirFlag(t *testing.T) {
	base := []string{"--web-identity-role-arn", web}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad ARN", []string{"--web-identity-role-arn", "arn:aws:iam::1:user/x"}, nil, `--web-identity-role-arn: Invalid value: "arn:aws:iam::1:user/x": must be an IAM role ARN`},
		{"missing web identity role", nil, nil, "--web-identity-role-arn: Required value: the first role, assumed with the web identity"},
		{"duration too short", append(base, "--duration", "60"), nil, "--duration: Invalid value: 60: must be between 900 and 43200 seconds"},
		{"chained duration over an hour", append(base, "--role-arn", target, "--duration", "2h"), nil, "--duration: Invalid value: 7200: must be at most 3600 seconds (1h) because profile \"default\" chains 2 roles"},
		{"duration from env", append(base, "--role-arn", target), map[string]string{"ROLECHAIN_DURATION": "5h"}, "--duration (from ROLECHAIN_DURATION): Invalid value: 18000: must be at most 3600 seconds"},
		{"unparsable duration from env", base, map[string]string{"ROLECHAIN_DURATION": "soon"}, `--duration (from ROLECHAIN_DURATION): "soon" is not a whole number of seconds`},
		{"session name", append(base, "--session-name", "has space"), nil, `--session-name: Invalid value: "has space": must be 2-64 characters`},
		{"external id", append(base, "--role-arn", target, "--external-id", "x"), nil, "--external-id: Invalid value: \"x\": must be 2-1224 characters"},
		{"external id without AssumeRole hop", append(base, "--external-id", "abc"), nil, "--external-id: Invalid value: \"abc\": is sent on sts:AssumeRole hops, and profile \"default\" has none"},
		{"region", append(base, "--region", "Europe"), nil, `--region: Invalid value: "Europe": must be an AWS region`},
		{"region in another partition", append(base, "--region", "cn-north-1"), nil, "--region: Invalid value: \"cn-north-1\": is in partition \"aws-cn\" but the roles of profile \"default\" are in \"aws\""},
		{"chain across partitions", append(base, "--role-arn", "arn:aws-cn:iam::222222222222:role/t"), nil, "STS cannot chain roles across partitions"},
		{"unknown partition without endpoint", []string{"--web-identity-role-arn", "arn:minio:iam:::role/x"}, nil, "must be an IAM role ARN: arn:<aws|aws-cn|aws-us-gov>"},
		{"sts endpoint", append(base, "--sts-endpoint", "sts.example.com"), nil, `--sts-endpoint: Invalid value: "": "sts.example.com" must be an absolute http or https URL`},
		{"source", append(base, "--source", "magic"), nil, `--source: "magic" must be web-identity, default-chain, static or pod-identity`},
		{"static without dir", []string{"--source", "static", "--role-arn", target}, nil, "--static-credentials-dir: must name a directory"},
		{"web identity role with another source", append(base, "--source", "default-chain", "--role-arn", target), nil, "--web-identity-role-arn: Invalid value: \"arn:aws:iam::111111111111:role/web\": is only used when the chain starts with a web identity"},
		{"default chain without roles", []string{"--source", "default-chain"}, nil, "--role-arn: Required value: at least one role to assume with source default-chain"},
		{"format without once", append(base, "--format", "json"), nil, "--format: is only used with --once"},
		{"bad format", append(base, "--once", "--format", "yaml"), nil, `--format: "yaml" must be one of ini, json, env, process`},
		{"endpoint with once", append(base, "--once", "--credentials-endpoint-port", "61000"), nil, "--credentials-endpoint-port: has no effect with --once"},
		{"port range", append(base, "--metrics-port", "70000"), nil, "--metrics-port: 70000 must be a TCP port"},
		{"same ports", append(base, "--metrics-port", "9000", "--credentials-endpoint-port", "9000"), nil, "--metrics-port: 9000 is also --credentials-endpoint-port"},
		{"profile name", append(base, "--profile", "../etc"), nil, `--profile: Invalid value: "../etc": must be 1-63 characters`},
		{"session tags without pod env", append(base, "--role-arn", target, "--session-tags"), nil, "--session-tags: needs ROLECHAIN_POD_NAMESPACE to be set"},
		{"session tags without AssumeRole hop", append(base, "--session-tags"), map[string]string{contract.EnvPodNamespace: "n", contract.EnvPodName: "p", contract.EnvServiceAccount: "s"}, "--session-tags: Invalid value: true: session tags go on sts:AssumeRole hops"},
		{"refresh interval too short", append(base, "--refresh-interval", "5s"), nil, "--refresh-interval: 5s must be 0 (off) or between 10s and 12h0m0s"},
		{"refresh interval too long", append(base, "--refresh-interval", "13h"), nil, "--refresh-interval: 13h0m0s must be 0 (off) or between 10s and 12h0m0s"},
		{"negative refresh interval", append(base, "--refresh-interval", "-1m"), nil, "--refresh-interval: -1m0s must be 0 (off) or between 10s and 12h0m0s"},
		{"refresh interval from env", base, map[string]string{"ROLECHAIN_REFRESH_INTERVAL": "1s"}, "--refresh-interval (from ROLECHAIN_REFRESH_INTERVAL): 1s must be 0 (off) or between 10s and 12h0m0s"},
		{"unparsable refresh interval from env", base, map[string]string{"ROLECHAIN_REFRESH_INTERVAL": "30"}, "--refresh-interval (from ROLECHAIN_REFRESH_INTERVAL): "},
		{"refresh interval with once", append(base, "--once", "--refresh-interval", "1m"), nil, "--refresh-interval: has no effect with --once"},
		{"exit when ready with once", append(base, "--once", "--exit-when-ready"), nil, "--exit-when-ready: cannot be combined with --once"},
		{"exit when ready from env with once from env", base, map[string]string{"ROLECHAIN_EXIT_WHEN_READY": "true", "ROLECHAIN_ONCE": "true"},
			"--exit-when-ready (from ROLECHAIN_EXIT_WHEN_READY): cannot be combined with --once (from ROLECHAIN_ONCE)"},
		{"unparsable exit when ready from env", base, map[string]string{"ROLECHAIN_EXIT_WHEN_READY": "soon"}, `--exit-when-ready (from ROLECHAIN_EXIT_WHEN_READY): `},
		{"file mode", append(base, "--file-mode", "999"), nil, `"999" is not an octal mode`},
		{"profiles with single-profile flags", []string{"--profiles", `[{"name":"a","webIdentityRoleARN":"` + web + `"}]`, "--region", "eu-west-1"}, nil, "--region: cannot be combined with --profiles"},
		{"profiles JSON field", []string{"--profiles", `[{"name":"a","webIdentityRoleARN":"` + web + `","durationSeconds":60}]`}, nil, "--profiles[0].durationSeconds: Invalid value: 60: must be between"},
		{"profiles from env", nil, map[string]string{contract.EnvProfiles: `[{"name":"a","webIdentityRoleARN":"x"}]`}, `--profiles (from ROLECHAIN_PROFILES)[0].webIdentityRoleARN: Invalid value: "x": must be an IAM role ARN`},
		{"duplicate profiles", []string{"--profiles", `[{"name":"a","webIdentityRoleARN":"` + web + `"},{"name":"a","webIdentityRoleARN":"` + web + `"}]`}, nil, `--profiles[1].name: Duplicate value: "a"`},
		{"unknown JSON field", []string{"--profiles", `[{"name":"a","roleArn":"x"}]`}, nil, `--profiles: ROLECHAIN_PROFILES is not a JSON list of profiles`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parse(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestEveryProblemIsReportedAtOnce(t *testing.T) {
	_, _, err := parse(t, []string{"--web-identity-role-arn", "nope", "--duration", "1", "--region", "x"}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, one per flag, got:\n%s", err)
	}
}

func TestValidSettingsAreAccepted(t *testing.T) {
	for _, args := range [][]string{
		{"--web-identity-role-arn", web, "--duration", "12h"},
		{"--web-identity-role-arn", web, "--role-arn", target + ",arn:aws:iam::333333333333:role/t2", "--external-id", "ext-123", "--duration", "900"},
		{"--web-identity-role-arn", "arn:minio:iam:::role/x", "--sts-endpoint", "http://127.0.0.1:9000"},
		{"--source", "static", "--static-credentials-dir", "/secret", "--role-arn", target, "--duration", "43200", "--source-identity", "alice"},
		{"--web-identity-role-arn", "arn:aws-us-gov:iam::111111111111:role/g", "--once", "--format", "env"},
	} {
		if _, _, err := parse(t, args, nil); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func TestRefreshInterval(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want time.Duration
	}{
		{nil, nil, 0},
		{[]string{"--refresh-interval", "0"}, nil, 0},
		{[]string{"--refresh-interval", "10s"}, nil, 10 * time.Second},
		{[]string{"--refresh-interval", "12h"}, nil, 12 * time.Hour},
		{nil, map[string]string{"ROLECHAIN_REFRESH_INTERVAL": "90s"}, 90 * time.Second},
		{[]string{"--refresh-interval", "2m"}, map[string]string{"ROLECHAIN_REFRESH_INTERVAL": "90s"}, 2 * time.Minute},
	} {
		c, _, err := parse(t, append([]string{"--web-identity-role-arn", web}, tc.args...), tc.env)
		if err != nil || c.RefreshInterval != tc.want {
			t.Errorf("%v %v: interval %s err %v, want %s", tc.args, tc.env, c.RefreshInterval, err, tc.want)
		}
	}
}

func TestFileGroupDefaultsModeTo0640(t *testing.T) {
	c, _, err := parse(t, []string{"--web-identity-role-arn", web, "--file-group", "1000"}, nil)
	if err != nil || c.FilePerm() != 0o640 {
		t.Fatalf("mode %v err %v", c.FilePerm(), err)
	}
	c, _, _ = parse(t, []string{"--web-identity-role-arn", web, "--file-group", "1000", "--file-mode", "0644"}, nil)
	if c.FilePerm() != 0o644 {
		t.Fatalf("explicit mode overridden: %v", c.FilePerm())
	}
}

func TestDefaultSessionName(t *testing.T) {
	long := strings.Repeat("p", 80) + "-x7k2q"
	for _, tc := range []struct{ ns, pod, want string }{
		{"default", "app-1", "default.app-1"},
		{"", "", "rolechain"},
		{"ns", "", "ns"},
		{"weird ns", "pod:1", "weird-ns.pod-1"},
		{"namespace-that-is-quite-long", long, "namespace-that-is-qu." + long[len(long)-43:]},
	} {
		got := options.DefaultSessionName(tc.ns, tc.pod)
		if got != tc.want || len(got) > 64 {
			t.Errorf("DefaultSessionName(%q, %q) = %q, want %q", tc.ns, tc.pod, got, tc.want)
		}
	}
}

// Hostile or broken input (a line break pasted into a variable, a JSON
// value with garbage after it, a password in a URL, a file mode nobody can
// use) is a usage error naming the flag, never a silently changed value.
func TestHostileValuesAreRefusedNamingTheirFlag(t *testing.T) {
	base := []string{"--web-identity-role-arn", web}
	evil := "arn:aws:iam::333333333333:role/evil"
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		// pflag's StringSlice reads CSV, whose first record ends at the
		// line break: the target was cut to its first line and assumed.
		{"line break in --role-arn", append(base, "--role-arn", target+"\n"+evil), nil, `--role-arn" flag: "` + target + `\n` + evil + `" contains a control character`},
		{"line break in ROLECHAIN_ROLE_ARN", base, map[string]string{"ROLECHAIN_ROLE_ARN": target + "\n" + evil}, `--role-arn (from ROLECHAIN_ROLE_ARN): "` + target + `\n` + evil + `" contains a control character`},
		{"carriage return in --role-arn", append(base, "--role-arn", target+"\r"), nil, `contains a control character`},
		{"line break in --web-identity-role-arn", []string{"--web-identity-role-arn", web + "\n" + evil}, nil, `--web-identity-role-arn: Invalid value: "` + web + `\n` + evil + `": must be an IAM role ARN`},
		{"line break in --output-dir", append(base, "--output-dir", "/var/run/x\ny"), nil, `--output-dir: "/var/run/x\ny" contains a control character`},
		{"line break in --token-file", append(base, "--token-file", "/t\n"), nil, `--token-file: "/t\n" contains a control character`},
		{"tab in --output", append(base, "--once", "--output", "/o\tx"), nil, `--output: "/o\tx" contains a control character`},
		{"line break in --static-credentials-dir", []string{"--source", "static", "--role-arn", target, "--static-credentials-dir", "/s\n"}, nil, `--static-credentials-dir: "/s\n" contains a control character`},
		{"garbage after the profiles JSON", nil, map[string]string{contract.EnvProfiles: `[{"name":"a","webIdentityRoleARN":"` + web + `"}]garbage`},
			`--profiles (from ROLECHAIN_PROFILES): ROLECHAIN_PROFILES is not a JSON list of profiles: data after the list`},
		{"a second JSON value after the profiles", []string{"--profiles", `[{"name":"a","webIdentityRoleARN":"` + web + `"}] []`}, nil, `data after the list`},
		{"password in --sts-endpoint", append(base, "--sts-endpoint", "https://user:hunter2@sts.example.test"), nil, `--sts-endpoint: Invalid value: "": "https://user:xxxxx@sts.example.test" must not hold user information`},
		{"query in --sts-endpoint", append(base, "--sts-endpoint", "https://sts.example.test/?a=b"), nil, `--sts-endpoint: Invalid value: "": "https://sts.example.test/?a=b" must not have a query or fragment`},
		{"unparsable --sts-endpoint", append(base, "--sts-endpoint", "http://u:p@[::1"), nil, `--sts-endpoint: Invalid value: "": is not a URL`},
		{"file mode 0777", append(base, "--file-mode", "0777"), nil, "--file-mode: 0777 lets group or others write"},
		{"file mode 0000", append(base, "--file-mode", "0000"), nil, "--file-mode: 0000 does not let the owner read"},
		{"file mode 0755", append(base, "--file-mode", "0755"), nil, "--file-mode: 0755 sets execute bits"},
		{"file mode 0600 with a group", append(base, "--file-mode", "0600", "--file-group", "1000"), nil, "--file-mode: 0600 gives --file-group 1000 no read access; use 0640"},
		{"file mode from env with a group", append(base, "--file-group", "1000"), map[string]string{"ROLECHAIN_FILE_MODE": "0604"}, "--file-mode (from ROLECHAIN_FILE_MODE): 0604 gives --file-group 1000 no read access"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ps, err := parse(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v (profiles %+v)\nwant it to contain %q", err, ps, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error repeats the password: %v", err)
			}
		})
	}
}

// EKS's webhook sets these for a ServiceAccount with a Pod Identity association.
var eksPodIdentityEnv = map[string]string{
	options.EnvContainerCredentialsFullURI:     "http://169.254.170.23/v1/credentials",
	options.EnvContainerAuthorizationTokenFile: "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
}

func TestPodIdentitySourceReadsEKSContainerCredentialsVariables(t *testing.T) {
	js, _ := contract.Encode([]contract.Profile{{Name: "default", RoleARNs: []string{web, target}, ExternalID: "ext-id"}})
	env := map[string]string{contract.EnvProfiles: js, contract.EnvSource: contract.SourcePodIdentity}
	for k, v := range eksPodIdentityEnv {
		env[k] = v
	}
	c, ps, err := parse(t, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != options.SourcePodIdentity || c.ContainerCredentialsFullURI != eksPodIdentityEnv[options.EnvContainerCredentialsFullURI] ||
		c.ContainerAuthorizationTokenFile != eksPodIdentityEnv[options.EnvContainerAuthorizationTokenFile] {
		t.Fatalf("config %+v", c)
	}
	if len(ps) != 1 || ps[0].DurationSeconds != 3600 || ps[0].ExternalID != "ext-id" {
		t.Fatalf("profiles %+v", ps)
	}
}

func TestPodIdentitySourceProblemsNameWhatIsMissingOrUnsafe(t *testing.T) {
	js, _ := contract.Encode([]contract.Profile{{Name: "default", RoleARNs: []string{target}}})
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" = valid
	}{
		{"EKS's agent over IPv4", eksPodIdentityEnv, ""},
		{"EKS's agent over IPv6", map[string]string{options.EnvContainerCredentialsFullURI: "http://[fd00:ec2::23]/v1/credentials", options.EnvContainerAuthorizationTokenFile: "/t"}, ""},
		{"a loopback agent", map[string]string{options.EnvContainerCredentialsFullURI: "http://127.0.0.1:8080/creds", options.EnvContainerAuthorizationTokenFile: "/t"}, ""},
		{"https anywhere", map[string]string{options.EnvContainerCredentialsFullURI: "https://creds.example.com/v1", options.EnvContainerAuthorizationTokenFile: "/t"}, ""},
		{"no association", map[string]string{contract.EnvServiceAccount: "app"}, "Pod Identity association: is there one for ServiceAccount app?"},
		{"plain http elsewhere", map[string]string{options.EnvContainerCredentialsFullURI: "http://10.0.0.7/v1/credentials", options.EnvContainerAuthorizationTokenFile: "/t"}, "unencrypted"},
		{"no token file", map[string]string{options.EnvContainerCredentialsFullURI: "http://169.254.170.23/v1/credentials"}, options.EnvContainerAuthorizationTokenFile},
		{"not a URL", map[string]string{options.EnvContainerCredentialsFullURI: "169.254.170.23", options.EnvContainerAuthorizationTokenFile: "/t"}, "http or https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{contract.EnvProfiles: js, contract.EnvSource: contract.SourcePodIdentity}
			for k, v := range tc.env {
				env[k] = v
			}
			_, _, err := parse(t, nil, env)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want valid: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--source (from ROLECHAIN_SOURCE)")):
				t.Fatalf("error %v, want it to name --source and contain %q", err, tc.want)
			}
		})
	}
}

func TestSaneFileModesAreAccepted(t *testing.T) {
	for _, args := range [][]string{
		{"--file-mode", "0600"}, {"--file-mode", "0400"}, {"--file-mode", "0644"}, {"--file-mode", "0444"},
		{"--file-mode", "0640", "--file-group", "1000"}, {"--file-mode", "0440", "--file-group", "1000"}, {"--file-group", "1000"},
	} {
		if _, _, err := parse(t, append([]string{"--web-identity-role-arn", web}, args...), nil); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// --role-arn keeps its list semantics: repeatable, comma-separated, the
// environment twin comma-separated.
func TestRoleARNListsAreRepeatableAndCommaSeparated(t *testing.T) {
	third := "arn:aws:iam::333333333333:role/t3"
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--role-arn", target, "--role-arn", third}, nil},
		{[]string{"--role-arn", target + "," + third}, nil},
		{nil, map[string]string{"ROLECHAIN_ROLE_ARN": target + "," + third}},
	} {
		_, ps, err := parse(t, append([]string{"--web-identity-role-arn", web}, tc.args...), tc.env)
		if err != nil || len(ps) != 1 || !reflect.DeepEqual(ps[0].RoleARNs, []string{target, third}) {
			t.Errorf("%v %v: %+v %v", tc.args, tc.env, ps, err)
		}
	}
}

// The probe reads files: it needs the output directory and the profile
// names, not the chain.
func TestProbeNeedsOnlyTheOutputDirAndProfileNames(t *testing.T) {
	probe := func(args []string, env map[string]string) ([]string, string, error) {
		c := options.New()
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		c.AddFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := c.ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
			t.Fatal(err)
		}
		names, err := c.ValidateProbe()
		return names, c.OutputDir, err
	}
	if names, dir, err := probe([]string{"--output-dir", "/out"}, nil); err != nil || !reflect.DeepEqual(names, []string{"default"}) || dir != "/out" {
		t.Errorf("no chain flags: %v %q %v", names, dir, err)
	}
	if names, _, err := probe([]string{"--profile", "reports"}, nil); err != nil || !reflect.DeepEqual(names, []string{"reports"}) {
		t.Errorf("--profile: %v %v", names, err)
	}
	js := `[{"name":"a","webIdentityRoleARN":"` + web + `"},{"webIdentityRoleARN":"` + web + `"}]`
	if names, _, err := probe(nil, map[string]string{contract.EnvProfiles: js}); err != nil || !reflect.DeepEqual(names, []string{"a", "default"}) {
		t.Errorf("profiles: %v %v", names, err)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--profile", "../x"}, nil, `--profile: "../x" must be 1-63 characters`},
		{[]string{"--output-dir", ""}, nil, "--output-dir: must not be empty"},
		{[]string{"--output-dir", "/o\n"}, nil, "--output-dir: \"/o\\n\" contains a control character"},
		{nil, map[string]string{contract.EnvProfiles: "[]x"}, "--profiles (from ROLECHAIN_PROFILES): ROLECHAIN_PROFILES is not a JSON list of profiles"},
	} {
		if _, _, err := probe(tc.args, tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: %v, want %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestPodIdentitySourceCapsEvenOneRoleAtOneHourAndTakesNoWebIdentityRole(t *testing.T) {
	js, _ := contract.Encode([]contract.Profile{{Name: "default", WebIdentityRoleARN: web, RoleARNs: []string{target}, DurationSeconds: 7200}})
	env := map[string]string{contract.EnvProfiles: js, contract.EnvSource: contract.SourcePodIdentity}
	for k, v := range eksPodIdentityEnv {
		env[k] = v
	}
	_, _, err := parse(t, nil, env)
	if err == nil || !strings.Contains(err.Error(), "webIdentityRoleARN: Invalid value: \"arn:aws:iam::111111111111:role/web\": is only used when the chain starts with a web identity") || !strings.Contains(err.Error(), "Invalid value: 7200: must be at most 3600 seconds (1h)") {
		t.Fatalf("error %v", err)
	}
}
