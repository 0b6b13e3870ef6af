package patch_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rolechain/rolechain/webhook/patch"
)

func basePod() *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "web-", Namespace: "team-a",
			Labels:      map[string]string{"app": "web"},
			Annotations: map[string]string{"rolechain.dev/role-arn": "arn:aws:iam::222222222222:role/target"},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "migrate", Image: "migrate:1"}},
			Containers: []corev1.Container{{
				Name: "app", Image: "app:1",
				Env: []corev1.EnvVar{
					{Name: "A", Value: "1"},
					{Name: "AWS_ROLE_ARN", Value: "arn:aws:iam::111111111111:role/irsa"},
					{Name: "AWS_WEB_IDENTITY_TOKEN_FILE", Value: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"},
					{Name: "B", Value: "2"},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
					{Name: "aws-iam-token", MountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount", ReadOnly: true},
				},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
			}},
			Volumes: []corev1.Volume{
				{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
				{Name: "aws-iam-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
			},
		},
	}
}

type op struct{ Op, Path string }

func opsOf(t *testing.T, from, to *corev1.Pod) []op {
	t.Helper()
	ops, err := patch.Diff(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var out []op
	for _, o := range ops {
		out = append(out, op{o.Operation, o.Path})
	}
	return out
}

// The operations say what changed, where it changed, and nothing else; and
// every patch turns the JSON of the first pod into that of the second.
func TestDiffNamesWhatChanged(t *testing.T) {
	cases := map[string]struct {
		edit func(p *corev1.Pod)
		want []op
	}{
		"nothing": {func(*corev1.Pod) {}, nil},
		"sidecar inserted before the init containers": {
			func(p *corev1.Pod) {
				p.Spec.InitContainers = slices.Insert(p.Spec.InitContainers, 0, corev1.Container{Name: "rolechain-sidecar"})
			},
			[]op{{"add", "/spec/initContainers/0"}},
		},
		"the last init container removed": {
			func(p *corev1.Pod) { p.Spec.InitContainers = nil },
			[]op{{"remove", "/spec/initContainers"}},
		},
		"env appended": {
			func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "AWS_CONFIG_FILE", Value: "/x"})
			},
			[]op{{"add", "/spec/containers/0/env/4"}},
		},
		"EKS's env, mount and volume removed": {
			func(p *corev1.Pod) {
				c := &p.Spec.Containers[0]
				c.Env = slices.Delete(c.Env, 1, 3)
				c.VolumeMounts = c.VolumeMounts[:1]
				p.Spec.Volumes = p.Spec.Volumes[:1]
			},
			[]op{
				{"remove", "/spec/volumes/1"},
				{"remove", "/spec/containers/0/env/2"}, {"remove", "/spec/containers/0/env/1"},
				{"remove", "/spec/containers/0/volumeMounts/1"},
			},
		},
		"removed and added in one list": {
			func(p *corev1.Pod) {
				c := &p.Spec.Containers[0]
				c.Env = []corev1.EnvVar{{Name: "NEW0", Value: "0"}, c.Env[0], {Name: "NEW", Value: "x"}, c.Env[3]}
			},
			[]op{
				{"remove", "/spec/containers/0/env/2"}, {"remove", "/spec/containers/0/env/1"},
				{"add", "/spec/containers/0/env/0"}, {"add", "/spec/containers/0/env/2"},
			},
		},
		"a value changed in place": {
			func(p *corev1.Pod) { p.Spec.Containers[0].Env[3].Value = "3" },
			[]op{{"add", "/spec/containers/0/env/3/value"}},
		},
		"annotation added, with its key escaped": {
			func(p *corev1.Pod) { p.Annotations["rolechain.dev/status"] = "{}" },
			[]op{{"add", "/metadata/annotations/rolechain.dev~1status"}},
		},
		"labels replaced, keys escaped": {
			func(p *corev1.Pod) { p.Labels = map[string]string{"a~b": "1", "x/y": "2"} },
			[]op{{"remove", "/metadata/labels/app"}, {"add", "/metadata/labels/a~0b"}, {"add", "/metadata/labels/x~1y"}},
		},
		"an annotation removed": {
			func(p *corev1.Pod) { delete(p.Annotations, "rolechain.dev/role-arn") },
			[]op{{"remove", "/metadata/annotations"}},
		},
		"a quantity": {
			func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("128Mi")
			},
			[]op{{"add", "/spec/containers/0/resources/limits/memory"}},
		},
		"a pointer set": {
			func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}
			},
			[]op{{"add", "/spec/containers/0/securityContext"}},
		},
		"a field of an inlined struct": {
			func(p *corev1.Pod) { p.Spec.Volumes[0].Projected.DefaultMode = ptr.To[int32](0o400) },
			[]op{{"add", "/spec/volumes/0/projected/defaultMode"}},
		},
		"containers reordered: by position": {
			func(p *corev1.Pod) {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b"})
				p.Spec.Containers[0], p.Spec.Containers[1] = p.Spec.Containers[1], p.Spec.Containers[0]
			},
			nil, // checked by the round trip only
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			from := basePod()
			to := from.DeepCopy()
			c.edit(to)
			if c.want != nil || name == "nothing" {
				if diff := cmp.Diff(c.want, opsOf(t, from, to)); diff != "" {
					t.Errorf("operations (-want +got):\n%s", diff)
				}
			}
			assertPatchTurns(t, from, to)
			assertPatchTurns(t, to, from)
		})
	}
}

// A member the API server sent that this package's types do not know (a
// field newer than k8s.io/api) survives the patch: a diff of two
// serialized pods would remove it.
func TestUnknownFieldsSurvive(t *testing.T) {
	from := basePod()
	to := from.DeepCopy()
	to.Spec.InitContainers = slices.Insert(to.Spec.InitContainers, 0, corev1.Container{Name: "rolechain-sidecar"})
	to.Spec.Containers[0].Env = append(to.Spec.Containers[0].Env, corev1.EnvVar{Name: "X", Value: "1"})
	to.Annotations["rolechain.dev/status"] = "{}"

	raw, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	future := strings.Replace(string(raw), `"spec":{`, `"spec":{"futureField":{"on":true},`, 1)
	future = strings.Replace(future, `"name":"app",`, `"name":"app","futureContainerField":7,`, 1)
	got := apply(t, from, to, []byte(future))
	for _, want := range []string{`"futureField":{"on":true}`, `"futureContainerField":7`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("patched pod lost %s:\n%s", want, got)
		}
	}
	var pod corev1.Pod
	if err := json.Unmarshal(got, &pod); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(to, &pod); diff != "" {
		t.Errorf("patched pod (-want +got):\n%s", diff)
	}
}

func TestDiffRejectsMismatchedTypes(t *testing.T) {
	for _, args := range [][2]any{
		{&corev1.Pod{}, &corev1.Service{}},
		{corev1.Pod{}, corev1.Pod{}},
		{(*corev1.Pod)(nil), &corev1.Pod{}},
	} {
		if _, err := patch.Diff(args[0], args[1]); err == nil {
			t.Errorf("Diff(%T, %T) gave no error", args[0], args[1])
		}
	}
}

// A result that shares parts with its input, as inject.Mutate's does: the
// shared parts give no operation, and a slice sharing its array but
// shorter still gives its removal.
func TestDiffOfSharedParts(t *testing.T) {
	from := basePod()
	to := *from
	to.Annotations = maps.Clone(from.Annotations)
	to.Annotations["rolechain.dev/status"] = "{}"
	to.Spec.Containers = slices.Clone(from.Spec.Containers)
	to.Spec.Containers[0].Env = append(slices.Clone(from.Spec.Containers[0].Env), corev1.EnvVar{Name: "X", Value: "1"})
	to.Spec.Volumes = from.Spec.Volumes[:1]

	want := []op{
		{"add", "/metadata/annotations/rolechain.dev~1status"},
		{"remove", "/spec/volumes/1"},
		{"add", "/spec/containers/0/env/4"},
	}
	if diff := cmp.Diff(want, opsOf(t, from, &to)); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
	assertPatchTurns(t, from, &to)
}
