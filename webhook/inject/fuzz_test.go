package inject_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
)

// FuzzMutate feeds arbitrary pods (as YAML; the golden inputs and outputs
// are the seeds). For every pod the parser accepts, Mutate must not panic,
// must leave its input alone (and a second pass the first one's output),
// must be stable under a second pass, and must produce a pod with exactly
// one sidecar and no duplicate mount path.
func FuzzMutate(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		// The pod is the first document.
		doc, _, _ := cutDoc(b)
		f.Add(doc, true)
		f.Add(doc, false)
	}
	f.Fuzz(func(t *testing.T, podYAML []byte, native bool) {
		pod := &corev1.Pod{}
		if err := yaml.Unmarshal(podYAML, pod); err != nil || !annotations.Requested(pod) {
			return
		}
		cfg, errs, _ := annotations.Parse(pod, nil, testDefaults)
		if len(errs) > 0 {
			return
		}
		in := testInjector(native)
		before := pod.DeepCopy()
		out, _, err := in.Mutate(pod, cfg, nil)
		var mismatch *inject.MismatchError
		if errors.As(err, &mismatch) && carriesRolechain(pod) {
			// A pod that brings rolechain's containers or volumes of its
			// own may be denied; the second pass below, over what the
			// first rendered, never is.
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(before, pod) {
			t.Fatal("Mutate modified its input")
		}
		// The output shares parts with the input; a second pass must
		// leave it alone too.
		firstOut := out.DeepCopy()
		again, _, err := in.Mutate(out, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(firstOut, out) || !cmp.Equal(before, pod) {
			t.Fatal("a second pass modified its input or the first pass's")
		}
		if diff := cmp.Diff(out, again); diff != "" {
			t.Fatalf("second pass changed the pod:\n%s", diff)
		}
		all := append(slices.Clone(out.Spec.InitContainers), out.Spec.Containers...)
		sidecars := 0
		for _, c := range all {
			if c.Name == inject.SidecarName {
				sidecars++
			}
			paths := map[string]bool{}
			for _, m := range c.VolumeMounts {
				if m.MountPath == contract.OutputDir && paths[m.MountPath] {
					t.Fatalf("container %q mounts %s twice", c.Name, m.MountPath)
				}
				paths[m.MountPath] = true
			}
		}
		if sidecars == 0 {
			t.Fatal("no sidecar")
		}
	})
}

func cutDoc(b []byte) ([]byte, []byte, bool) {
	for i := 0; i+5 <= len(b); i++ {
		if string(b[i:i+5]) == "\n---\n" {
			return b[:i], b[i+5:], true
		}
	}
	return b, nil, false
}

// carriesRolechain reports whether the pod has one of rolechain's
// containers or volumes, or mounts its token volume.
func carriesRolechain(pod *corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Name == inject.CredentialsVolume || v.Name == inject.TokenVolume {
			return true
		}
	}
	for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
		if c.Name == inject.SidecarName || c.Name == inject.InitName {
			return true
		}
		for _, m := range c.VolumeMounts {
			if m.Name == inject.TokenVolume {
				return true
			}
		}
	}
	return false
}
