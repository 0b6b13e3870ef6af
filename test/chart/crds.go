package chart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// optionalCRDs are the release files of the CRDs behind the chart's optional
// kinds, read from the modules whose Go types this module's tests decode
// them with, at the same versions: cert-manager's Issuer and Certificate
// (certManager.enabled) and prometheus-operator's ServiceMonitor
// (metrics.serviceMonitor.enabled). typesModule is the module of go.mod whose
// version picks module's.
var optionalCRDs = []struct {
	module, typesModule string
	files               []string
}{
	{"github.com/cert-manager/cert-manager", "github.com/cert-manager/cert-manager",
		[]string{"deploy/crds/crd-issuers.yaml", "deploy/crds/crd-certificates.yaml"}},
	{"github.com/prometheus-operator/prometheus-operator", "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring",
		[]string{"example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"}},
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallOptionalCRDs creates (server-side apply) the CRDs of optionalCRDs
// in the cluster behind cfg and waits until each is established, so that a
// dry run validates the chart's optional objects against their real
// schemas. The module files come through the Go module proxy (go mod
// download). It changes the cluster: meant for a test cluster.
func InstallOptionalCRDs(ctx context.Context, cfg *rest.Config) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var names []string
	for _, src := range optionalCRDs {
		dir, err := moduleDir(ctx, src.module, src.typesModule)
		if err != nil {
			return err
		}
		for _, f := range src.files {
			crds, err := readCRDs(filepath.Join(dir, f))
			if err != nil {
				return err
			}
			for _, crd := range crds {
				body, err := json.Marshal(crd.Object)
				if err != nil {
					return err
				}
				force := true
				if _, err := dyn.Resource(crdResource).Patch(ctx, crd.GetName(), types.ApplyPatchType, body,
					metav1.PatchOptions{FieldManager: "rolechain-chart-test", Force: &force}); err != nil {
					return fmt.Errorf("applying CRD %s from %s: %w", crd.GetName(), f, err)
				}
				names = append(names, crd.GetName())
			}
		}
	}
	for _, name := range names {
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			crd, err := dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", name, err)
		}
	}
	return nil
}

// moduleDir downloads module at the version go.mod requires of typesModule
// and returns its directory in the module cache.
func moduleDir(ctx context.Context, module, typesModule string) (string, error) {
	version, err := goJSON(ctx, "list", "-m", "-json", typesModule)
	if err != nil {
		return "", err
	}
	dl, err := goJSON(ctx, "mod", "download", "-json", module+"@"+version["Version"])
	if err != nil {
		return "", err
	}
	if dl["Dir"] == "" {
		return "", fmt.Errorf("go mod download %s@%s: no directory (%s)", module, version["Version"], dl["Error"])
	}
	return dl["Dir"], nil
}

func goJSON(ctx context.Context, args ...string) (map[string]string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var fields map[string]any
	if err := json.Unmarshal(out, &fields); err != nil {
		return nil, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	m := map[string]string{}
	for k, v := range fields {
		if s, ok := v.(string); ok {
			m[k] = s
		}
	}
	return m, nil
}

// readCRDs reads the CustomResourceDefinitions of a YAML file. cert-manager
// ships its CRDs as Helm templates whose directives sit in YAML comments,
// except in metadata.labels: labels are dropped.
func readCRDs(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var crds []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if obj == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() != "CustomResourceDefinition" {
			return nil, fmt.Errorf("%s: a %s, want CustomResourceDefinitions only", path, u.GetKind())
		}
		unstructured.RemoveNestedField(u.Object, "metadata", "labels")
		crds = append(crds, u)
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("%s: no CustomResourceDefinition", path)
	}
	return crds, nil
}
