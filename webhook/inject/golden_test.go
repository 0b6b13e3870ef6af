package inject_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
)

// testDefaults are the operator defaults every golden case is rendered with.
var testDefaults = annotations.Defaults{
	Audience:               "sts.amazonaws.com",
	TokenExpirationSeconds: 3600,
	CPURequest:             resource.MustParse("10m"),
	MemoryRequest:          resource.MustParse("16Mi"),
	MemoryLimit:            resource.MustParse("64Mi"),
}

func testInjector(native bool) inject.Injector {
	return inject.Injector{Image: "rolechain-sidecar:test", PullPolicy: corev1.PullIfNotPresent, NativeSidecars: native}
}

// caseSettings are the golden cases rendered with operator settings (webhook
// flags) other than testInjector's and testDefaults'.
var caseSettings = map[string]func(*inject.Injector, *annotations.Defaults){
	"operator-settings":          operatorSettings,
	"operator-settings-fallback": func(in *inject.Injector, d *annotations.Defaults) { operatorSettings(in, d); in.NativeSidecars = false },
}

// operatorSettings: --sidecar-uid=10001 --sidecar-gid=10002
// --session-tag-keys=team/namespace,team/pod,team/service-account.
func operatorSettings(in *inject.Injector, d *annotations.Defaults) {
	in.UID, in.GID = 10001, 10002
	d.SessionTagKeys = contract.SessionTagKeys{Namespace: "team/namespace", Pod: "team/pod", ServiceAccount: "team/service-account"}
}

// settingsFor returns the operator settings a golden case is rendered with.
func settingsFor(name string) (inject.Injector, annotations.Defaults) {
	in, d := testInjector(name != "fallback"), testDefaults
	if set, ok := caseSettings[name]; ok {
		set(&in, &d)
	}
	return in, d
}

// forEachCase runs fn as a subtest for every testdata/<case>.in.yaml, with
// the case's pod and (optional) ServiceAccount.
func forEachCase(t *testing.T, fn func(t *testing.T, name, in string, pod *corev1.Pod, sa *corev1.ServiceAccount)) {
	t.Helper()
	inputs, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			pod, sa := readCase(t, in)
			fn(t, name, in, pod, sa)
		})
	}
}

// TestGolden renders testdata/<case>.in.yaml (a pod, optionally followed by
// its ServiceAccount) and compares the result with <case>.out.yaml; with
// UPDATE_GOLDEN=1 it rewrites the expected files instead. Every case is run
// twice: the second pass over the output must change nothing.
func TestGolden(t *testing.T) {
	forEachCase(t, func(t *testing.T, name, in string, pod *corev1.Pod, sa *corev1.ServiceAccount) {
		injector, defaults := settingsFor(name)

		out, warnings := mutateWith(t, injector, defaults, pod, sa)
		got := render(t, out, warnings)
		compareGolden(t, strings.TrimSuffix(in, ".in.yaml")+".out.yaml", got)

		again, _ := mutateWith(t, injector, defaults, out, sa)
		if diff := cmp.Diff(out, again); diff != "" {
			t.Errorf("second pass changed the pod (-first +second):\n%s", diff)
		}
	})
}

func mutate(t *testing.T, in inject.Injector, pod *corev1.Pod, sa *corev1.ServiceAccount) (*corev1.Pod, []string) {
	t.Helper()
	return mutateWith(t, in, testDefaults, pod, sa)
}

func mutateWith(t *testing.T, in inject.Injector, d annotations.Defaults, pod *corev1.Pod, sa *corev1.ServiceAccount) (*corev1.Pod, []string) {
	t.Helper()
	cfg, errs, warnings := annotations.Parse(pod, sa, d)
	if len(errs) > 0 {
		t.Fatalf("Parse: %v", errs.ToAggregate())
	}
	before := pod.DeepCopy()
	out, _, err := in.Mutate(pod, cfg, nil)
	if err != nil {
		t.Fatalf("Mutate: %v", err)
	}
	if diff := cmp.Diff(before, pod); diff != "" {
		t.Fatalf("Mutate modified its input:\n%s", diff)
	}
	return out, warnings
}

func readCase(t *testing.T, path string) (*corev1.Pod, *corev1.ServiceAccount) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	var sa *corev1.ServiceAccount
	for _, doc := range bytes.Split(b, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch meta.Kind {
		case "Pod":
			pod = &corev1.Pod{}
			err = yaml.UnmarshalStrict(doc, pod)
		case "ServiceAccount":
			sa = &corev1.ServiceAccount{}
			err = yaml.UnmarshalStrict(doc, sa)
		default:
			err = fmt.Errorf("unexpected kind %q", meta.Kind)
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if pod == nil {
		t.Fatalf("%s: no Pod", path)
	}
	return pod, sa
}

// render writes the warnings as a YAML comment above the pod, so one golden
// file shows everything a user would see.
func render(t *testing.T, pod *corev1.Pod, warnings []string) []byte {
	t.Helper()
	b, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteString("# Generated by TestGolden from the .in.yaml beside it; UPDATE_GOLDEN=1 rewrites it.\n")
	for _, w := range warnings {
		buf.WriteString("# warning: " + w + "\n")
	}
	buf.Write(b)
	return buf.Bytes()
}

// compareGolden compares got with the expected file at path, or with
// UPDATE_GOLDEN=1 rewrites that file first: one mechanism for every
// golden test of the package.
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("output differs from %s (-want +got):\n%s", path, diff)
	}
}
