// Package chart renders the rolechain Helm chart with the Helm SDK, exactly
// as `helm install` would, decodes every rendered object with the Kubernetes
// API types (unknown kinds and unknown fields are errors), and generates the
// kustomize manifests under manifests/ from the chart's defaults.
//
// It lives in a module of its own so that Helm's dependency tree stays out of
// the product's go.mod.
package chart

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

const (
	// ReleaseName and Namespace are the release the manifests/ are rendered
	// for, and the defaults of every render in the tests.
	ReleaseName = "rolechain"
	Namespace   = "rolechain-system"
	// KubeVersion is the Kubernetes version the chart is rendered and linted
	// for: the version of the local cluster (test/cluster).
	KubeVersion = "v1.33.4"
)

// RepoRoot is the repository's root directory, found from this source file
// so that tests and the generator work from any working directory.
func RepoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("chart: cannot locate render.go")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ChartDir is charts/rolechain in the repository.
func ChartDir() string { return filepath.Join(RepoRoot(), "charts", "rolechain") }

// Scheme knows every kind the chart may render: the built-in API groups,
// cert-manager's Issuer and Certificate, and prometheus-operator's
// ServiceMonitor.
var Scheme = newScheme()

func newScheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{
		clientgoscheme.AddToScheme, certmanagerv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// strictDecoder fails on unknown fields and duplicate keys, so a misspelt or
// misplaced field in a template is an error instead of being dropped by the
// API server.
var strictDecoder = serializer.NewCodecFactory(Scheme, serializer.EnableStrict).UniversalDeserializer()

// Object is one rendered document.
type Object struct {
	// Template is the chart template it came from (rolechain/templates/…).
	Template string
	// YAML is the document as rendered, comments included.
	YAML string
	// Typed is the document decoded strictly into its API type.
	Typed k8sruntime.Object
	// U is the same document as an unstructured map, for generic checks.
	U *unstructured.Unstructured
}

// Key names the object uniquely within a render: Kind/namespace/name.
func (o Object) Key() string {
	return o.U.GetKind() + "/" + o.U.GetNamespace() + "/" + o.U.GetName()
}

// Rendered is the result of one render of the chart.
type Rendered struct {
	Objects []Object
	Notes   string
}

// Find returns the object of the given kind and name, or nil.
func (r *Rendered) Find(kind, name string) *Object {
	for i := range r.Objects {
		if r.Objects[i].U.GetKind() == kind && r.Objects[i].U.GetName() == name {
			return &r.Objects[i]
		}
	}
	return nil
}

// OfKind returns every object of kind.
func (r *Rendered) OfKind(kind string) []Object {
	var out []Object
	for _, o := range r.Objects {
		if o.U.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// Render renders the chart as `helm install --dry-run` would for release
// ReleaseName in Namespace, with values (nil for the defaults) merged over
// values.yaml and checked against values.schema.json.
func Render(values map[string]any) (*Rendered, error) {
	return RenderRelease(ReleaseName, Namespace, values)
}

// RenderRelease is Render for another release name or namespace.
func RenderRelease(release, namespace string, values map[string]any) (*Rendered, error) {
	ch, err := loader.Load(ChartDir())
	if err != nil {
		return nil, fmt.Errorf("loading chart: %w", err)
	}
	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, err
	}
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	install := action.NewInstall(cfg)
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = release
	install.Namespace = namespace
	install.KubeVersion = kv
	if values == nil {
		values = map[string]any{}
	}
	rel, err := install.Run(ch, values)
	if err != nil {
		return nil, err
	}
	objs, err := Decode(rel.Manifest)
	if err != nil {
		return nil, err
	}
	return &Rendered{Objects: objs, Notes: rel.Info.Notes}, nil
}

var (
	docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)
	sourceLine   = regexp.MustCompile(`(?m)^# Source: (\S+)`)
)

// Decode splits a multi-document manifest and decodes each document strictly.
// Empty documents are skipped.
func Decode(manifest string) ([]Object, error) {
	var objs []Object
	for _, doc := range docSeparator.Split(manifest, -1) {
		doc = strings.TrimSpace(doc)
		if isBlank(doc) {
			continue
		}
		o := Object{YAML: doc + "\n"}
		if m := sourceLine.FindStringSubmatch(doc); m != nil {
			o.Template = m[1]
		}
		typed, gvk, err := strictDecoder.Decode([]byte(doc), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w\n%s", o.Template, err, doc)
		}
		o.Typed = typed
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return nil, fmt.Errorf("decoding %s as unstructured: %w", o.Template, err)
		}
		u.SetGroupVersionKind(*gvk)
		o.U = &u
		objs = append(objs, o)
	}
	return objs, nil
}

// isBlank reports whether a document holds only comments and whitespace.
func isBlank(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// helmOnlyLabels are the labels that say "Helm made this"; the kustomize
// manifests leave them out because Helm does not manage those objects.
var helmOnlyLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by"}

// WithoutHelmLabels returns a copy of u without helmOnlyLabels.
func WithoutHelmLabels(u *unstructured.Unstructured) *unstructured.Unstructured {
	c := u.DeepCopy()
	labels := c.GetLabels()
	for _, l := range helmOnlyLabels {
		delete(labels, l)
	}
	c.SetLabels(labels)
	return c
}

// stripHelmLabelLines removes helmOnlyLabels from a rendered document's text,
// keeping its comments and key order. The chart writes each label on its own
// line under metadata.labels, so removing the lines is exact; the manifests
// test decodes the result and compares it with WithoutHelmLabels.
func stripHelmLabelLines(doc string) string {
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(doc, "\n") {
		t := strings.TrimSpace(line)
		drop := false
		for _, l := range helmOnlyLabels {
			if strings.HasPrefix(t, l+":") {
				drop = true
			}
		}
		if !drop {
			b.WriteString(line)
		}
	}
	return b.String()
}
