package chart

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/rolechain/rolechain/webhook/options"
)

// The chart and the webhook agree on every value that becomes a webhook
// flag: a value the webhook would refuse at start is refused by
// `helm install` (by values.schema.json or a template `fail`), so that a
// `helm upgrade` cannot roll out a crash-looping webhook. The other way
// round, a value the webhook accepts is accepted by the chart unless the
// row says why the chart is deliberately narrower (chartOnly).
//
// The webhook side is the webhook's own code: the rendered container args
// are parsed by options.AddFlags and checked by options.Validate, as
// cmd/webhook does before it starts anything.

// flagEdge is one value of one chart key, with what each side does with it.
type flagEdge struct {
	path  string // dotted values path
	value any
	// extra values rendered with it (the other end of a comparison).
	with map[string]any
	flag string // the webhook flag the value reaches
	// webhookOK is what the webhook's Validate says about the rendered
	// args; it is checked, not assumed, whenever the chart renders.
	webhookOK bool
	// chartOnly, when set, says why the chart refuses a value the webhook
	// would accept. Such a value cannot render, so webhookOK is taken
	// from the row and checked by feeding the value to the webhook's flag
	// directly.
	chartOnly string
	// off says the value turns the flag off: the chart must not set it,
	// and the webhook must start without it.
	off bool
}

var flagEdges = []flagEdge{
	// --sidecar-image: the webhook requires it non-empty; the chart always
	// composes repository[:tag|@digest] with a repository of at least one
	// character.
	{path: "sidecar.image.repository", value: "registry.example:5000/rc/sidecar", flag: "--sidecar-image", webhookOK: true},
	{path: "sidecar.image.repository", value: "", flag: "--sidecar-image", webhookOK: false},
	{path: "sidecar.image.tag", value: "v1.2.3", flag: "--sidecar-image", webhookOK: true},
	{path: "sidecar.image.digest", value: "sha256:" + strings.Repeat("ab", 32), flag: "--sidecar-image", webhookOK: true},

	// --sidecar-image-pull-policy
	{path: "sidecar.image.pullPolicy", value: "Always", flag: "--sidecar-image-pull-policy", webhookOK: true},
	{path: "sidecar.image.pullPolicy", value: "IfNotPresent", flag: "--sidecar-image-pull-policy", webhookOK: true},
	{path: "sidecar.image.pullPolicy", value: "Never", flag: "--sidecar-image-pull-policy", webhookOK: true},
	{path: "sidecar.image.pullPolicy", value: "always", flag: "--sidecar-image-pull-policy", webhookOK: false},
	{path: "sidecar.image.pullPolicy", value: "", flag: "--sidecar-image-pull-policy", webhookOK: false},

	// --native-sidecars
	{path: "sidecar.nativeSidecars", value: true, flag: "--native-sidecars", webhookOK: true},
	{path: "sidecar.nativeSidecars", value: false, flag: "--native-sidecars", webhookOK: true},
	{path: "sidecar.nativeSidecars", value: "yes", flag: "--native-sidecars", webhookOK: false},

	// --default-region
	{path: "sidecar.defaultRegion", value: "", flag: "--default-region", webhookOK: true},
	{path: "sidecar.defaultRegion", value: "us-east-1", flag: "--default-region", webhookOK: true},
	{path: "sidecar.defaultRegion", value: "us-gov-west-1", flag: "--default-region", webhookOK: true},
	{path: "sidecar.defaultRegion", value: "cn-north-1", flag: "--default-region", webhookOK: true},
	{path: "sidecar.defaultRegion", value: "ap-southeast-12", flag: "--default-region", webhookOK: true},
	{path: "sidecar.defaultRegion", value: "ap-southeast-123", flag: "--default-region", webhookOK: false},
	{path: "sidecar.defaultRegion", value: "us-east", flag: "--default-region", webhookOK: false},
	{path: "sidecar.defaultRegion", value: "Europe", flag: "--default-region", webhookOK: false},
	{path: "sidecar.defaultRegion", value: "US-EAST-1", flag: "--default-region", webhookOK: false},

	// --default-audience
	{path: "sidecar.defaultAudience", value: "sts.amazonaws.com", flag: "--default-audience", webhookOK: true},
	{path: "sidecar.defaultAudience", value: "", flag: "--default-audience", webhookOK: false},
	{path: "sidecar.defaultAudience", value: "a,b", flag: "--default-audience", webhookOK: true, chartOnly: "a comma would read as two audiences where lists are comma-separated"},
	{path: "sidecar.defaultAudience", value: "sts .amazonaws.com", flag: "--default-audience", webhookOK: true, chartOnly: "rolechain.dev/audience refuses surrounding spaces; the chart refuses any whitespace"},

	// --default-token-expiration: whole seconds, 10m to 2^32-1 s.
	{path: "sidecar.defaultTokenExpiration", value: "10m", flag: "--default-token-expiration", webhookOK: true},
	{path: "sidecar.defaultTokenExpiration", value: "600s", flag: "--default-token-expiration", webhookOK: true},
	{path: "sidecar.defaultTokenExpiration", value: "1h", flag: "--default-token-expiration", webhookOK: true},
	{path: "sidecar.defaultTokenExpiration", value: "1h30m", flag: "--default-token-expiration", webhookOK: true},
	{path: "sidecar.defaultTokenExpiration", value: "4294967295s", flag: "--default-token-expiration", webhookOK: true},
	{path: "sidecar.defaultTokenExpiration", value: "1193046h28m15s", flag: "--default-token-expiration", webhookOK: true},
	{path: "sidecar.defaultTokenExpiration", value: "1193046h28m16s", flag: "--default-token-expiration", webhookOK: false},
	{path: "sidecar.defaultTokenExpiration", value: "4294967296s", flag: "--default-token-expiration", webhookOK: false},
	{path: "sidecar.defaultTokenExpiration", value: "9999999999h", flag: "--default-token-expiration", webhookOK: false},
	{path: "sidecar.defaultTokenExpiration", value: "5m", flag: "--default-token-expiration", webhookOK: false},
	{path: "sidecar.defaultTokenExpiration", value: "9m59s", flag: "--default-token-expiration", webhookOK: false},
	{path: "sidecar.defaultTokenExpiration", value: "599s", flag: "--default-token-expiration", webhookOK: false},
	{path: "sidecar.defaultTokenExpiration", value: "0s", flag: "--default-token-expiration", webhookOK: false},
	{path: "sidecar.defaultTokenExpiration", value: "1.5s", flag: "--default-token-expiration", webhookOK: false},
	{path: "sidecar.defaultTokenExpiration", value: "600.5s", flag: "--default-token-expiration", webhookOK: false},
	{path: "sidecar.defaultTokenExpiration", value: "3600", flag: "--default-token-expiration", webhookOK: false},
	{path: "sidecar.defaultTokenExpiration", value: "", flag: "--default-token-expiration", webhookOK: false},
	{path: "sidecar.defaultTokenExpiration", value: "1.5h", flag: "--default-token-expiration", webhookOK: true, chartOnly: "the chart takes whole hours, minutes and seconds (1h30m), so that it can check the bounds itself"},
	{path: "sidecar.defaultTokenExpiration", value: "600000ms", flag: "--default-token-expiration", webhookOK: true, chartOnly: "the chart takes whole hours, minutes and seconds only"},

	// --sidecar-cpu-request, --sidecar-memory-request, --sidecar-memory-limit:
	// empty (none) or a positive quantity.
	{path: "sidecar.cpuRequest", value: "10m", flag: "--sidecar-cpu-request", webhookOK: true},
	{path: "sidecar.cpuRequest", value: "1m", flag: "--sidecar-cpu-request", webhookOK: true},
	{path: "sidecar.cpuRequest", value: "1", flag: "--sidecar-cpu-request", webhookOK: true},
	{path: "sidecar.cpuRequest", value: "0.5", flag: "--sidecar-cpu-request", webhookOK: true},
	{path: "sidecar.cpuRequest", value: "", flag: "--sidecar-cpu-request", webhookOK: true},
	{path: "sidecar.cpuRequest", value: "0", flag: "--sidecar-cpu-request", webhookOK: false},
	{path: "sidecar.cpuRequest", value: "0m", flag: "--sidecar-cpu-request", webhookOK: false},
	{path: "sidecar.cpuRequest", value: "0.0", flag: "--sidecar-cpu-request", webhookOK: false},
	{path: "sidecar.cpuRequest", value: "-1", flag: "--sidecar-cpu-request", webhookOK: false},
	{path: "sidecar.cpuRequest", value: "a lot", flag: "--sidecar-cpu-request", webhookOK: false},
	{path: "sidecar.cpuRequest", value: "1e3", flag: "--sidecar-cpu-request", webhookOK: true, chartOnly: "the chart takes decimal numbers with an SI or binary suffix, no exponent"},
	{path: "sidecar.memoryRequest", value: "16Mi", flag: "--sidecar-memory-request", webhookOK: true},
	{path: "sidecar.memoryRequest", value: "", flag: "--sidecar-memory-request", webhookOK: true},
	{path: "sidecar.memoryRequest", value: "0", flag: "--sidecar-memory-request", webhookOK: false},
	{path: "sidecar.memoryRequest", value: "0Mi", flag: "--sidecar-memory-request", webhookOK: false},
	{path: "sidecar.memoryRequest", value: "-1", flag: "--sidecar-memory-request", webhookOK: false},
	{path: "sidecar.memoryLimit", value: "64Mi", flag: "--sidecar-memory-limit", webhookOK: true},
	{path: "sidecar.memoryLimit", value: "", flag: "--sidecar-memory-limit", webhookOK: true},
	{path: "sidecar.memoryLimit", value: "0", flag: "--sidecar-memory-limit", webhookOK: false},
	{path: "sidecar.memoryLimit", value: "64 MB", flag: "--sidecar-memory-limit", webhookOK: false},
	// The request must not exceed the limit, in whatever units each is.
	{path: "sidecar.memoryRequest", value: "65Mi", with: map[string]any{"memoryLimit": "64Mi"}, flag: "--sidecar-memory-request", webhookOK: false},
	{path: "sidecar.memoryRequest", value: "64Mi", with: map[string]any{"memoryLimit": "64Mi"}, flag: "--sidecar-memory-request", webhookOK: true},
	{path: "sidecar.memoryRequest", value: "63Mi", with: map[string]any{"memoryLimit": "64Mi"}, flag: "--sidecar-memory-request", webhookOK: true},
	{path: "sidecar.memoryRequest", value: "67108864", with: map[string]any{"memoryLimit": "64Mi"}, flag: "--sidecar-memory-request", webhookOK: true},
	{path: "sidecar.memoryRequest", value: "67108865", with: map[string]any{"memoryLimit": "64Mi"}, flag: "--sidecar-memory-request", webhookOK: false},
	{path: "sidecar.memoryRequest", value: "1Gi", with: map[string]any{"memoryLimit": "1024Mi"}, flag: "--sidecar-memory-request", webhookOK: true},
	{path: "sidecar.memoryRequest", value: "1G", with: map[string]any{"memoryLimit": "1Gi"}, flag: "--sidecar-memory-request", webhookOK: true},
	{path: "sidecar.memoryRequest", value: "1Gi", with: map[string]any{"memoryLimit": "1G"}, flag: "--sidecar-memory-request", webhookOK: false},
	{path: "sidecar.memoryRequest", value: "0.5Gi", with: map[string]any{"memoryLimit": "512Mi"}, flag: "--sidecar-memory-request", webhookOK: true},
	{path: "sidecar.memoryRequest", value: "1k", with: map[string]any{"memoryLimit": "1000"}, flag: "--sidecar-memory-request", webhookOK: true},
	{path: "sidecar.memoryRequest", value: "1Ki", with: map[string]any{"memoryLimit": "1k"}, flag: "--sidecar-memory-request", webhookOK: false},
	{path: "sidecar.memoryRequest", value: "1", with: map[string]any{"memoryLimit": "1000m"}, flag: "--sidecar-memory-request", webhookOK: true},
	{path: "sidecar.memoryRequest", value: "1", with: map[string]any{"memoryLimit": "999m"}, flag: "--sidecar-memory-request", webhookOK: false},
	{path: "sidecar.memoryRequest", value: "1Ei", with: map[string]any{"memoryLimit": "1E"}, flag: "--sidecar-memory-request", webhookOK: false},
	{path: "sidecar.memoryRequest", value: "1Gi", with: map[string]any{"memoryLimit": ""}, flag: "--sidecar-memory-request", webhookOK: true},
	{path: "sidecar.memoryRequest", value: "", with: map[string]any{"memoryLimit": "1Mi"}, flag: "--sidecar-memory-request", webhookOK: true},

	// --sidecar-uid, --sidecar-gid: never root, at most the API server's
	// bound.
	{path: "sidecar.uid", value: 1, flag: "--sidecar-uid", webhookOK: true},
	{path: "sidecar.uid", value: 10001, flag: "--sidecar-uid", webhookOK: true},
	{path: "sidecar.uid", value: 2147483647, flag: "--sidecar-uid", webhookOK: true},
	{path: "sidecar.uid", value: 0, flag: "--sidecar-uid", webhookOK: false},
	{path: "sidecar.uid", value: -1, flag: "--sidecar-uid", webhookOK: false},
	{path: "sidecar.uid", value: 2147483648, flag: "--sidecar-uid", webhookOK: false},
	{path: "sidecar.gid", value: 1, flag: "--sidecar-gid", webhookOK: true},
	{path: "sidecar.gid", value: 0, flag: "--sidecar-gid", webhookOK: false},
	{path: "sidecar.gid", value: 4294967295, flag: "--sidecar-gid", webhookOK: false},

	// --session-tag-keys: IAM's tag keys, three that differ in any case
	// (TestChartAcceptsExactlyTheSessionTagKeysTheContractAccepts runs
	// many more keys through both).
	{path: "sidecar.sessionTagKeys.namespace", value: "kubernetes-namespace", flag: "--session-tag-keys", webhookOK: true},
	{path: "sidecar.sessionTagKeys.pod", value: strings.Repeat("p", 128), flag: "--session-tag-keys", webhookOK: true},
	{path: "sidecar.sessionTagKeys.pod", value: strings.Repeat("p", 129), flag: "--session-tag-keys", webhookOK: false},
	{path: "sidecar.sessionTagKeys.pod", value: "", flag: "--session-tag-keys", webhookOK: false},
	{path: "sidecar.sessionTagKeys.pod", value: "aws:pod", flag: "--session-tag-keys", webhookOK: false},
	{path: "sidecar.sessionTagKeys.pod", value: "AWS:pod", flag: "--session-tag-keys", webhookOK: false},
	{path: "sidecar.sessionTagKeys.pod", value: "a,b", flag: "--session-tag-keys", webhookOK: false},
	{path: "sidecar.sessionTagKeys.pod", value: "pod!", flag: "--session-tag-keys", webhookOK: false},
	{path: "sidecar.sessionTagKeys.pod", value: "ROLECHAIN-NAMESPACE", flag: "--session-tag-keys", webhookOK: false},
	{path: "sidecar.sessionTagKeys.serviceAccount", value: "poſ", with: map[string]any{"pod": "pos"}, flag: "--session-tag-keys", webhookOK: false},

	// --port
	{path: "webhook.port", value: 1, flag: "--port", webhookOK: true},
	{path: "webhook.port", value: 65535, flag: "--port", webhookOK: true},
	{path: "webhook.port", value: 0, flag: "--port", webhookOK: false},
	{path: "webhook.port", value: 65536, flag: "--port", webhookOK: false},
	{path: "webhook.port", value: -1, flag: "--port", webhookOK: false},

	// --cert-dir
	{path: "webhook.certDir", value: "/certs", flag: "--cert-dir", webhookOK: true},
	{path: "webhook.certDir", value: "", flag: "--cert-dir", webhookOK: false},
	{path: "webhook.certDir", value: "certs", flag: "--cert-dir", webhookOK: true, chartOnly: "the directory is also the volume's mountPath, which must be absolute"},

	// --metrics-bind-address, --health-probe-bind-address: :<port>.
	{path: "metrics.port", value: 1, flag: "--metrics-bind-address", webhookOK: true},
	{path: "metrics.port", value: 65535, flag: "--metrics-bind-address", webhookOK: true},
	{path: "metrics.port", value: 0, flag: "--metrics-bind-address", webhookOK: true, chartOnly: "\":0\" would listen on a random port that no probe or Service can name"},
	{path: "health.port", value: 8081, flag: "--health-probe-bind-address", webhookOK: true},
	{path: "health.port", value: 0, flag: "--health-probe-bind-address", webhookOK: true, chartOnly: "the probes need a fixed port"},

	// --excluded-namespaces: always kube-system and the release namespace.
	{path: "webhook.excludedNamespaces", value: []any{}, flag: "--excluded-namespaces", webhookOK: true},
	{path: "webhook.excludedNamespaces", value: []any{"tools", "monitoring"}, flag: "--excluded-namespaces", webhookOK: true},
	{path: "webhook.excludedNamespaces", value: []any{"Bad_NS"}, flag: "--excluded-namespaces", webhookOK: true, chartOnly: "a namespace name is a DNS label; the list also goes into the namespaceSelector"},

	// --default-credentials-mode
	{path: "sidecar.defaultCredentialsMode", value: "file", flag: "--default-credentials-mode", webhookOK: true},
	{path: "sidecar.defaultCredentialsMode", value: "endpoint", flag: "--default-credentials-mode", webhookOK: true},
	{path: "sidecar.defaultCredentialsMode", value: "Endpoint", flag: "--default-credentials-mode", webhookOK: false},
	{path: "sidecar.defaultCredentialsMode", value: "", flag: "--default-credentials-mode", webhookOK: false},

	// --namespace-policy
	{path: "webhook.namespacePolicy", value: "optional", flag: "--namespace-policy", webhookOK: true},
	{path: "webhook.namespacePolicy", value: "required", flag: "--namespace-policy", webhookOK: true},
	{path: "webhook.namespacePolicy", value: "Required", flag: "--namespace-policy", webhookOK: false},
	{path: "webhook.namespacePolicy", value: "", flag: "--namespace-policy", webhookOK: false},

	// --cert-mode and the names self-managed mode needs.
	{path: "certs.mode", value: "self-managed", flag: "--cert-mode", webhookOK: true},
	{path: "certs.mode", value: "cert-manager", flag: "--cert-mode", webhookOK: true},
	{path: "certs.mode", value: "files", flag: "--cert-mode", webhookOK: true, chartOnly: "the chart names the two ways it can provide a certificate; files is what cert-manager mode renders"},
	{path: "certs.mode", value: "vault", flag: "--cert-mode", webhookOK: false},
	{path: "certs.secretName", value: "", flag: "--cert-secret-name", webhookOK: true}, // the chart's default name
	{path: "certs.secretName", value: "my-tls", flag: "--cert-secret-name", webhookOK: true},
	{path: "certs.secretName", value: "My_TLS", flag: "--cert-secret-name", webhookOK: true, chartOnly: "a Secret name is a DNS subdomain"},
	{path: "fullnameOverride", value: "rc", flag: "--webhook-config-name", webhookOK: true},
	{path: "fullnameOverride", value: "rc", flag: "--service-name", webhookOK: true},
	{path: "nameOverride", value: "rc", flag: "--webhook-config-name", webhookOK: true},

	// --client-ca-file: set from webhook.clientCA (the CA bundle's file in
	// its read-only mount) when a name is given; absent otherwise. The
	// webhook reads the file at start, so any path passes its flag check;
	// the chart refuses names and keys the API server would refuse.
	{path: "webhook.clientCA.name", value: "", flag: "--client-ca-file", webhookOK: true, off: true},
	{path: "webhook.clientCA.name", value: "apiserver-client-ca", flag: "--client-ca-file", webhookOK: true},
	{path: "webhook.clientCA.name", value: "ca.example.com", flag: "--client-ca-file", webhookOK: true},
	{path: "webhook.clientCA.name", value: strings.Repeat("a", 253), flag: "--client-ca-file", webhookOK: true},
	{path: "webhook.clientCA.name", value: "apiserver-client-ca", with: map[string]any{"kind": "Secret", "key": "tls.crt"}, flag: "--client-ca-file", webhookOK: true},
	{path: "webhook.clientCA.name", value: "apiserver-client-ca", with: map[string]any{"key": "A-b_c.1"}, flag: "--client-ca-file", webhookOK: true},
	{path: "webhook.clientCA.name", value: "Bad_Name", flag: "--client-ca-file", webhookOK: true, chartOnly: "a ConfigMap or Secret name is a DNS subdomain"},
	{path: "webhook.clientCA.name", value: strings.Repeat("a", 254), flag: "--client-ca-file", webhookOK: true, chartOnly: "a ConfigMap or Secret name is at most 253 characters"},
	{path: "webhook.clientCA.name", value: "ca,other", flag: "--client-ca-file", webhookOK: true, chartOnly: "a ConfigMap or Secret name is a DNS subdomain"},
}

// flagsSetWhen are the flags the chart sets only when a value turns them
// on, with values that do: TestEveryWebhookFlagIsCoveredOrDeliberatelyNotExposed
// renders them to see the flag set.
var flagsSetWhen = map[string]map[string]any{
	"--client-ca-file": {"webhook": map[string]any{"clientCA": map[string]any{"name": "apiserver-client-ca"}}},
}

// flagsNotExposed are the webhook flags the chart deliberately does not
// set, with the reason. A flag bound in options.AddFlags must be set by
// the chart (and have rows in flagEdges) or be listed here.
var flagsNotExposed = map[string]string{}

// flagsFromRelease are flags the chart derives from the release itself
// (its name and namespace), not from a value of their own: flagEdges
// covers them through the values that change the names.
var flagsFromRelease = []string{"--service-namespace"}

// webhookValidate runs the webhook's own flag parsing and validation on
// a command line, as cmd/webhook does before it starts.
func webhookValidate(argv []string) error {
	o := options.New()
	fs := pflag.NewFlagSet("rolechain-webhook", pflag.ContinueOnError)
	fs.SetOutput(discard{})
	o.AddFlags(fs)
	if err := fs.Parse(argv); err != nil {
		return err
	}
	return o.Validate()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func renderedArgs(r *Rendered) ([]string, error) {
	o := r.Find("Deployment", ReleaseName)
	if o == nil {
		// fullnameOverride and nameOverride rename it.
		ds := r.OfKind("Deployment")
		if len(ds) != 1 {
			return nil, fmt.Errorf("%d Deployments rendered", len(ds))
		}
		o = &ds[0]
	}
	c := o.U.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	var out []string
	for _, a := range c["args"].([]any) {
		out = append(out, a.(string))
	}
	return out, nil
}

// directArgs are the flags a row's values would become, written by hand for
// values the chart refuses to render.
func directArgs(e flagEdge) []string {
	flagValue := fmt.Sprint(e.value)
	switch e.path {
	case "metrics.port", "health.port":
		flagValue = ":" + flagValue
	case "webhook.clientCA.name":
		flagValue = "/etc/rolechain/client-ca/" + flagValue
	case "webhook.excludedNamespaces":
		var names []string
		for _, n := range e.value.([]any) {
			names = append(names, n.(string))
		}
		flagValue = strings.Join(names, ",")
	}
	if name, ok := strings.CutPrefix(e.path, "sidecar.sessionTagKeys."); ok {
		keys := map[string]any{"namespace": "rolechain-namespace", "pod": "rolechain-pod", "serviceAccount": "rolechain-service-account"}
		maps.Copy(keys, e.with)
		keys[name] = e.value
		return []string{fmt.Sprintf("%s=%v,%v,%v", e.flag, keys["namespace"], keys["pod"], keys["serviceAccount"])}
	}
	out := []string{e.flag + "=" + flagValue}
	for k, v := range e.with {
		flag := map[string]string{"memoryLimit": "--sidecar-memory-limit"}[k]
		if flag == "" {
			panic("directArgs: no flag for " + k)
		}
		out = append(out, fmt.Sprintf("%s=%v", flag, v))
	}
	return out
}

func edgeValues(e flagEdge) map[string]any {
	v := set(e.path, e.value)
	if e.with != nil {
		parent := v
		keys := strings.Split(e.path, ".")
		for _, k := range keys[:len(keys)-1] {
			parent = parent[k].(map[string]any)
		}
		for k, w := range e.with {
			parent[k] = w
		}
	}
	return v
}

func TestChartRefusesExactlyTheFlagValuesTheWebhookRefuses(t *testing.T) {
	defaults, err := Render(nil)
	if err != nil {
		t.Fatal(err)
	}
	base, err := renderedArgs(defaults)
	if err != nil {
		t.Fatal(err)
	}
	if err := webhookValidate(base); err != nil {
		t.Fatalf("the webhook refuses the chart's defaults: %v", err)
	}
	for _, e := range flagEdges {
		name := fmt.Sprintf("%s=%v", e.path, e.value)
		if e.with != nil {
			name += fmt.Sprintf(" with %v", e.with)
		}
		t.Run(name, func(t *testing.T) {
			r, renderErr := Render(edgeValues(e))
			if renderErr != nil {
				if e.webhookOK && e.chartOnly == "" {
					t.Fatalf("the chart refuses a value the webhook accepts: %v", renderErr)
				}
				// The refusal names the value, as a JSON pointer (schema)
				// or a dotted path (template check).
				pointer := "/" + strings.ReplaceAll(e.path, ".", "/")
				if msg := renderErr.Error(); !strings.Contains(msg, pointer) && !strings.Contains(msg, e.path+"=") {
					t.Errorf("the refusal names neither %s nor %s=: %v", pointer, e.path, renderErr)
				}
				// Check the row's claim about the webhook by giving it the
				// value directly, over the chart's defaults.
				argv := append(slices.Clone(base), directArgs(e)...)
				werr := webhookValidate(argv)
				if e.webhookOK && werr != nil {
					t.Errorf("row says the webhook accepts %v (%s), but it refuses: %v", directArgs(e), e.chartOnly, werr)
				}
				if !e.webhookOK && werr == nil {
					t.Errorf("row says the webhook refuses %v, but it accepts it", directArgs(e))
				}
				return
			}
			if e.chartOnly != "" {
				t.Fatalf("row says the chart refuses it (%s), but it renders", e.chartOnly)
			}
			argv, err := renderedArgs(r)
			if err != nil {
				t.Fatal(err)
			}
			if e.off {
				if slices.ContainsFunc(argv, func(a string) bool { return strings.HasPrefix(a, e.flag+"=") }) {
					t.Fatalf("the value turns %s off, but the rendered args %v set it", e.flag, argv)
				}
				if err := webhookValidate(argv); err != nil {
					t.Errorf("the webhook refuses the args without %s: %v", e.flag, err)
				}
				return
			}
			if !slices.ContainsFunc(argv, func(a string) bool { return strings.HasPrefix(a, e.flag+"=") }) {
				t.Fatalf("rendered args %v lack %s", argv, e.flag)
			}
			werr := webhookValidate(argv)
			switch {
			case werr != nil && e.webhookOK:
				t.Errorf("row says the webhook accepts it, but it refuses %v: %v", argv, werr)
			case werr != nil:
				t.Errorf("helm renders a value the webhook refuses at start (it would crash-loop): %v", werr)
			case !e.webhookOK:
				t.Errorf("row says the webhook refuses it, but it accepts %v", argv)
			}
		})
	}
}

// Every flag the webhook binds is either set by the chart and covered by
// flagEdges, or listed in flagsNotExposed: a flag added to
// options.AddFlags without a decision here fails.
func TestEveryWebhookFlagIsCoveredOrDeliberatelyNotExposed(t *testing.T) {
	fs := pflag.NewFlagSet("rolechain-webhook", pflag.ContinueOnError)
	options.New().AddFlags(fs)
	bound := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { bound["--"+f.Name] = true })

	r := mustRender(t, nil)
	argv, err := renderedArgs(r)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, a := range argv {
		k, _, _ := strings.Cut(a, "=")
		set[k] = true
	}
	for flag, vals := range flagsSetWhen {
		on, err := renderedArgs(mustRender(t, vals))
		if err != nil {
			t.Fatal(err)
		}
		if set[flag] {
			t.Errorf("%s is listed in flagsSetWhen, but the defaults set it", flag)
		}
		if !slices.ContainsFunc(on, func(a string) bool { return strings.HasPrefix(a, flag+"=") }) {
			t.Errorf("%s is not set by the values flagsSetWhen gives: %v", flag, on)
		}
		set[flag] = true
	}
	covered := map[string]bool{}
	for _, e := range flagEdges {
		covered[e.flag] = true
	}
	for _, f := range flagsFromRelease {
		covered[f] = true
	}
	for flag := range bound {
		_, skipped := flagsNotExposed[flag]
		switch {
		case skipped && set[flag]:
			t.Errorf("%s is listed as not exposed, but the chart sets it", flag)
		case skipped:
		case !set[flag]:
			t.Errorf("the webhook binds %s but the chart does not set it: expose it or list it in flagsNotExposed with the reason", flag)
		case !covered[flag]:
			t.Errorf("the chart sets %s but flagEdges has no row for it", flag)
		}
	}
	for flag := range set {
		if !bound[flag] {
			t.Errorf("the chart sets %s, which the webhook does not bind", flag)
		}
	}
	for flag := range flagsNotExposed {
		if !bound[flag] {
			t.Errorf("flagsNotExposed lists %s, which the webhook does not bind", flag)
		}
	}
}
