package chart

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Every optional kind the chart can render is defined, at the apiVersion
// it is rendered with, by the CRD files the cluster dry run installs.
func TestOptionalCRDsDefineTheChartsOptionalKinds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	served := map[string]bool{} // "group/version Kind"
	for _, src := range optionalCRDs {
		dir, err := moduleDir(ctx, src.module, src.typesModule)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range src.files {
			crds, err := readCRDs(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			for _, crd := range crds {
				if labels := crd.GetLabels(); len(labels) > 0 {
					t.Errorf("%s keeps labels %v (Helm template text)", crd.GetName(), labels)
				}
				group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
				kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
				versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
				for _, v := range versions {
					m, _ := v.(map[string]any)
					if m["served"] == true {
						served[group+"/"+m["name"].(string)+" "+kind] = true
					}
				}
			}
		}
	}
	var optional []string
	for name, vals := range valueSets {
		for _, o := range mustRender(t, vals).Objects {
			gvk := o.U.GroupVersionKind()
			if gvk.Group == "" || slices.Contains([]string{"apps", "policy", "rbac.authorization.k8s.io", "admissionregistration.k8s.io", "networking.k8s.io"}, gvk.Group) {
				continue
			}
			optional = append(optional, gvk.GroupVersion().String()+" "+gvk.Kind)
			if !served[gvk.GroupVersion().String()+" "+gvk.Kind] {
				t.Errorf("value set %q renders %s %s, which no optional CRD serves", name, gvk.GroupVersion(), gvk.Kind)
			}
		}
	}
	for _, want := range []string{"cert-manager.io/v1 Issuer", "cert-manager.io/v1 Certificate", "monitoring.coreos.com/v1 ServiceMonitor"} {
		if !slices.Contains(optional, want) {
			t.Errorf("no value set renders %s: the CRD list may be stale", want)
		}
	}
}
