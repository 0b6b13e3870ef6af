package inject_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
)

// A co-tenant container that mounts the credentials volume itself, writable,
// could replace the keys the app reads: its mount is made read-only.
func TestAnAppsOwnMountOfTheCredentialsVolumeIsMadeReadOnly(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Annotations: map[string]string{annotations.RoleARN: "arn:aws:iam::222222222222:role/t"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "writer", VolumeMounts: []corev1.VolumeMount{{Name: inject.CredentialsVolume, MountPath: "/var/run/rolechain"}}}}}}
	cfg, errs, _ := annotations.Parse(pod, nil, testDefaults)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	out, _, err := testInjector(true).Mutate(pod, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range out.Spec.Containers[0].VolumeMounts {
		if m.Name == inject.CredentialsVolume && !m.ReadOnly {
			t.Fatal("container writer can write the credentials the app reads")
		}
	}
}
