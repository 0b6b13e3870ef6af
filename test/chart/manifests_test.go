package chart

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// manifests/ is what manifests/generate.sh writes from the chart today:
// editing the chart without regenerating (or editing manifests/ by hand)
// fails here.
func TestManifestsAreGeneratedFromTheChart(t *testing.T) {
	want, err := GenerateManifests()
	if err != nil {
		t.Fatal(err)
	}
	root := RepoRoot()
	for p, content := range want {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s: %v (run manifests/generate.sh)", p, err)
			continue
		}
		if string(got) != string(content) {
			t.Errorf("%s differs from the chart's rendering (run manifests/generate.sh)", p)
		}
	}
	onDisk, err := GeneratedFilesOnDisk(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range onDisk {
		if _, ok := want[p]; !ok {
			t.Errorf("%s is no longer rendered by the chart (run manifests/generate.sh)", p)
		}
	}
}

// Each overlay, built by kustomize, yields exactly the objects the chart
// renders for that mode (less the Helm-only labels), plus the namespace.
func TestManifestOverlaysBuildToTheChartsObjects(t *testing.T) {
	for _, ov := range Overlays {
		t.Run(ov.Name, func(t *testing.T) {
			k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
			res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(RepoRoot(), OverlayDir(ov.Name)))
			if err != nil {
				t.Fatalf("kustomize build: %v", err)
			}
			out, err := res.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			built, err := Decode(string(out))
			if err != nil {
				t.Fatalf("kustomize output does not decode: %v", err)
			}
			chart, err := Render(ov.Values)
			if err != nil {
				t.Fatal(err)
			}
			byKey := map[string]Object{}
			for _, o := range built {
				byKey[o.Key()] = o
			}
			if ns, ok := byKey["Namespace//"+Namespace]; !ok {
				t.Errorf("overlay does not create namespace %s", Namespace)
			} else if ns.U.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("namespace %s does not enforce the restricted Pod Security level", Namespace)
			}
			delete(byKey, "Namespace//"+Namespace)
			for _, want := range chart.Objects {
				got, ok := byKey[want.Key()]
				if !ok {
					t.Errorf("%s rendered by the chart is missing from the overlay", want.Key())
					continue
				}
				delete(byKey, want.Key())
				if !equality.Semantic.DeepEqual(WithoutHelmLabels(want.U).Object, got.U.Object) {
					t.Errorf("%s differs between chart and overlay:\nchart:   %v\noverlay: %v", want.Key(), WithoutHelmLabels(want.U).Object, got.U.Object)
				}
			}
			for key := range byKey {
				t.Errorf("overlay has %s, which the chart does not render", key)
			}
		})
	}
}
