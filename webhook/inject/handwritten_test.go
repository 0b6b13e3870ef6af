package inject_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
)

// rendered returns the pod as the webhook renders it for ann, and its
// configuration.
func rendered(t *testing.T, ann map[string]string) (*corev1.Pod, annotations.Config) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Annotations: ann},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
	cfg, errs, _ := annotations.Parse(pod, nil, testDefaults)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	out, _, err := testInjector(true).Mutate(pod, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out, cfg
}

// A pod author who keeps an allowed role-arn annotation but writes their
// own rolechain-sidecar (another image, or another ROLECHAIN_PROFILES with
// roles the namespace's policy never judged) is denied, naming the field.
func TestAHandWrittenSidecarThatDiffersFromTheRenderingIsDenied(t *testing.T) {
	allowed := map[string]string{annotations.RoleARN: "arn:aws:iam::222222222222:role/allowed"}
	cases := map[string]func(p *corev1.Pod){
		"image": func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "evil/sidecar:1" },
		"env": func(p *corev1.Pod) {
			e := p.Spec.InitContainers[0].Env
			e[0].Value = `[{"name":"default","webIdentityRoleARN":"arn:aws:iam::222222222222:role/team-b"}]`
		},
		"an extra ROLECHAIN_ variable": func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Env = append(p.Spec.InitContainers[0].Env, corev1.EnvVar{Name: "ROLECHAIN_ROLE_ARN", Value: "arn:aws:iam::222222222222:role/team-b"})
		},
		"command":         func(p *corev1.Pod) { p.Spec.InitContainers[0].Command = []string{"/bin/sh"} },
		"securityContext": func(p *corev1.Pod) { p.Spec.InitContainers[0].SecurityContext = nil },
		"token volume": func(p *corev1.Pod) {
			p.Spec.Volumes[len(p.Spec.Volumes)-1].Projected.Sources[0].ServiceAccountToken.Audience = "other"
		},
		"token mounted by the app": func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: inject.TokenVolume, MountPath: "/t"})
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			pod, cfg := rendered(t, allowed)
			change(pod)
			_, _, err := testInjector(true).Mutate(pod, cfg, nil)
			var mismatch *inject.MismatchError
			if !errors.As(err, &mismatch) || !strings.Contains(err.Error(), "spec.") {
				t.Fatalf("got %v, want a MismatchError naming the field", err)
			}
		})
	}
	// The rendering itself, passed again (reinvocation), is admitted.
	pod, cfg := rendered(t, allowed)
	if _, _, err := testInjector(true).Mutate(pod, cfg, nil); err != nil {
		t.Fatalf("the webhook's own rendering refused on a second pass: %v", err)
	}
}

func TestAnAppsOwnMountOfTheCredentialsVolumeIsMadeReadOnly(t *testing.T) {
	pod, cfg := rendered(t, map[string]string{annotations.RoleARN: "arn:aws:iam::222222222222:role/t"})
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "writer", VolumeMounts: []corev1.VolumeMount{{Name: inject.CredentialsVolume, MountPath: "/var/run/rolechain"}}})
	out, _, err := testInjector(true).Mutate(pod, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range out.Spec.Containers[1].VolumeMounts {
		if m.Name == inject.CredentialsVolume && !m.ReadOnly {
			t.Fatal("container writer can write the credentials the app reads")
		}
	}
}
