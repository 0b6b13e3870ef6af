package chart

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
)

// webhookFlags is the webhook's command line as the webhook↔chart contract
// names it; the chart must set each one, exactly once.
var webhookFlags = []string{
	"--port", "--cert-dir", "--metrics-bind-address", "--health-probe-bind-address",
	"--sidecar-image", "--sidecar-image-pull-policy", "--native-sidecars",
	"--default-region", "--default-audience", "--default-token-expiration",
	"--sidecar-cpu-request", "--sidecar-memory-request", "--sidecar-memory-limit",
	"--excluded-namespaces", "--cert-mode", "--webhook-config-name", "--service-name",
	"--service-namespace", "--cert-secret-name", "--namespace-policy",
	"--sidecar-uid", "--sidecar-gid", "--session-tag-keys",
	"--default-credentials-mode",
}

func TestChartSetsEveryWebhookFlagAndNoOther(t *testing.T) {
	a := args(t, deployment(t, mustRender(t, nil)))
	got := slices.Sorted(maps.Keys(a))
	want := slices.Sorted(slices.Values(webhookFlags))
	if !slices.Equal(got, want) {
		t.Errorf("webhook flags\n got %v\nwant %v", got, want)
	}
	defaults := map[string]string{
		"--port":                      "9443",
		"--cert-dir":                  "/tmp/k8s-webhook-server/serving-certs",
		"--metrics-bind-address":      ":8080",
		"--health-probe-bind-address": ":8081",
		"--sidecar-image":             "rolechain/sidecar:0.1.0",
		"--sidecar-image-pull-policy": "IfNotPresent",
		"--native-sidecars":           "true",
		"--default-region":            "",
		"--default-audience":          "sts.amazonaws.com",
		"--default-token-expiration":  "3600s",
		"--sidecar-cpu-request":       "10m",
		"--sidecar-memory-request":    "16Mi",
		"--sidecar-memory-limit":      "64Mi",
		"--excluded-namespaces":       "kube-system," + Namespace,
		"--cert-mode":                 "self-managed",
		"--webhook-config-name":       ReleaseName,
		"--service-name":              ReleaseName,
		"--service-namespace":         Namespace,
		"--cert-secret-name":          ReleaseName + "-tls",
		"--namespace-policy":          "optional",
		"--sidecar-uid":               "65532",
		"--sidecar-gid":               "65532",
		"--session-tag-keys":          "rolechain-namespace,rolechain-pod,rolechain-service-account",
		"--default-credentials-mode":  "file",
	}
	for flag, want := range defaults {
		if a[flag] != want {
			t.Errorf("default %s=%q, want %q", flag, a[flag], want)
		}
	}
	extra := args(t, deployment(t, mustRender(t, map[string]any{"webhook": map[string]any{"extraArgs": []any{"--zap-log-level=debug"}}})))
	if extra["--zap-log-level"] != "debug" {
		t.Errorf("webhook.extraArgs not appended: %v", extra)
	}
}

// set builds a values tree with one leaf at a dotted path.
func set(path string, v any) map[string]any {
	keys := strings.Split(path, ".")
	out := map[string]any{keys[len(keys)-1]: v}
	for i := len(keys) - 2; i >= 0; i-- {
		out = map[string]any{keys[i]: out}
	}
	return out
}

// leaves lists the dotted paths of every leaf of a values tree.
func leaves(prefix string, v any) []string {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return []string{prefix}
	}
	var out []string
	for k, child := range m {
		out = append(out, leaves(prefix+"."+k, child)...)
	}
	sort.Strings(out)
	return out
}

// Every value under sidecar (and the webhook's own listening values) reaches
// the webhook flag it documents, with the value given, and nothing else
// changes. A value added to values.yaml without a row here fails the test.
func TestEveryValueReachesItsWebhookFlag(t *testing.T) {
	digest := "sha256:" + strings.Repeat("0f", 32)
	cases := []struct {
		path  string
		value any
		flag  string
		want  string
	}{
		{"sidecar.image.repository", "registry.example/rc/sidecar", "--sidecar-image", "registry.example/rc/sidecar:0.1.0"},
		{"sidecar.image.tag", "v9.9.9", "--sidecar-image", "rolechain/sidecar:v9.9.9"},
		{"sidecar.image.digest", digest, "--sidecar-image", "rolechain/sidecar@" + digest},
		{"sidecar.image.pullPolicy", "Never", "--sidecar-image-pull-policy", "Never"},
		{"sidecar.nativeSidecars", false, "--native-sidecars", "false"},
		{"sidecar.defaultRegion", "eu-west-1", "--default-region", "eu-west-1"},
		{"sidecar.defaultAudience", "sts.example.com", "--default-audience", "sts.example.com"},
		{"sidecar.defaultTokenExpiration", "2h", "--default-token-expiration", "2h"},
		{"sidecar.cpuRequest", "25m", "--sidecar-cpu-request", "25m"},
		{"sidecar.memoryRequest", "48Mi", "--sidecar-memory-request", "48Mi"},
		{"sidecar.memoryLimit", "128Mi", "--sidecar-memory-limit", "128Mi"},
		{"sidecar.uid", 10001, "--sidecar-uid", "10001"},
		{"sidecar.uid", 2147483647, "--sidecar-uid", "2147483647"}, // no float formatting on the way
		{"sidecar.gid", 10002, "--sidecar-gid", "10002"},
		{"sidecar.sessionTagKeys.namespace", "kubernetes-namespace", "--session-tag-keys", "kubernetes-namespace,rolechain-pod,rolechain-service-account"},
		{"sidecar.sessionTagKeys.pod", "team/pod name", "--session-tag-keys", "rolechain-namespace,team/pod name,rolechain-service-account"},
		{"sidecar.sessionTagKeys.serviceAccount", "sa", "--session-tag-keys", "rolechain-namespace,rolechain-pod,sa"},
		{"webhook.port", 10443, "--port", "10443"},
		{"webhook.certDir", "/certs", "--cert-dir", "/certs"},
		{"webhook.excludedNamespaces", []any{"tools"}, "--excluded-namespaces", "kube-system," + Namespace + ",tools"},
		{"webhook.namespacePolicy", "required", "--namespace-policy", "required"},
		{"sidecar.defaultCredentialsMode", "endpoint", "--default-credentials-mode", "endpoint"},
		{"metrics.port", 9090, "--metrics-bind-address", ":9090"},
		{"health.port", 9091, "--health-probe-bind-address", ":9091"},
		{"certs.secretName", "my-tls", "--cert-secret-name", "my-tls"},
		{"certs.mode", "cert-manager", "--cert-mode", "files"},
	}

	ch, err := loader.Load(ChartDir())
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.path] = true
	}
	for _, leaf := range leaves("sidecar", ch.Values["sidecar"]) {
		if !covered[leaf] {
			t.Errorf("value %s has no row in this table: which webhook flag does it set?", leaf)
		}
	}

	defaults := args(t, deployment(t, mustRender(t, nil)))
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			got := args(t, deployment(t, mustRender(t, set(c.path, c.value))))
			if got[c.flag] != c.want {
				t.Errorf("%s=%v gives %s=%q, want %q", c.path, c.value, c.flag, got[c.flag], c.want)
			}
			if got[c.flag] == defaults[c.flag] {
				t.Errorf("%s=%v does not change %s from its default", c.path, c.value, c.flag)
			}
		})
	}
}

// values.schema.json rejects values the webhook or the API server would
// reject later, and names the offending key.
func TestSchemaRejectsBadValues(t *testing.T) {
	cases := []struct {
		path  string
		value any
	}{
		{"replicaCount", 0},
		{"replicas", 2}, // a typo of replicaCount must not be ignored
		{"image.pullPolicy", "Sometimes"},
		{"image.digest", "sha256:short"},
		{"sidecar.image.pullPolicy", "always"},
		{"sidecar.image.repository", "Not A Repo"},
		{"sidecar.cpuLimit", "100m"},
		{"sidecar.nativeSidecars", "yes"},
		{"sidecar.defaultRegion", "Europe"},
		{"sidecar.defaultAudience", "a,b"},
		{"sidecar.defaultTokenExpiration", "3600"},
		{"sidecar.memoryLimit", "64 MB"},
		{"sidecar.cpuRequest", "a lot"},
		{"sidecar.uid", 0},
		{"sidecar.gid", 0},
		{"sidecar.uid", 2147483648},
		{"sidecar.uid", "65532"},
		{"sidecar.sessionTagKeys.pod", "aws:pod"},
		{"sidecar.sessionTagKeys.pod", "a,b"},
		{"sidecar.sessionTagKeys.namespace", ""},
		{"sidecar.sessionTagKeys.node", "x"},
		{"webhook.port", 70000},
		{"webhook.failurePolicy", "Retry"},
		{"webhook.timeoutSeconds", 31},
		{"webhook.timeoutSeconds", 0},
		{"webhook.excludedNamespaces", []any{"Bad_NS"}},
		{"webhook.namespacePolicy", "strict"},
		{"webhook.namespacePolicy", "Required"},
		{"sidecar.defaultCredentialsMode", "Endpoint"},
		{"sidecar.defaultCredentialsMode", ""},
		{"webhook.extraArgs", []any{"-v"}},
		{"certs.mode", "vault"},
		{"certs.certManager.issuerRef", map[string]any{"kind": "ClusterIssuer"}},
		{"certs.certManager.duration", "90 days"},
		{"metrics.port", "8080"},
		{"metrics.serviceMonitor.interval", "often"},
		{"podDisruptionBudget.minAvailable", -1},
		{"podAntiAffinity", "always"},
		{"shutdownDelaySeconds", 600},
		{"resources.requests.cpu", "fast"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s=%v", c.path, c.value), func(t *testing.T) {
			_, err := Render(set(c.path, c.value))
			if err == nil {
				t.Fatalf("%s=%v accepted", c.path, c.value)
			}
			msg := err.Error()
			if !strings.Contains(msg, "don't meet the specifications of the schema") {
				t.Errorf("error is not a schema violation: %v", err)
			}
			// The message points at the key's JSON pointer, or names an
			// unknown key as not allowed.
			keys := strings.Split(c.path, ".")
			pointer := "at '/" + strings.Join(keys, "/")
			unknown := "additional properties '" + keys[len(keys)-1] + "' not allowed"
			if !strings.Contains(msg, pointer) && !strings.Contains(msg, unknown) {
				t.Errorf("error names neither %s' nor %q: %v", pointer, unknown, err)
			}
		})
	}
}
