package mutation_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rolechain/rolechain/test/ekswebhook/mutation"
)

func env(kv ...string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func sa(annotations map[string]string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", Annotations: annotations}}
}

// The stand-in must do what EKS's webhook does, or the e2e specs built on
// it prove nothing: the shapes below are those of EKS's README and handler.
func TestIRSAMutationIsEKSs(t *testing.T) {
	cfg := mutation.Defaults()
	cfg.Region, cfg.RegionalSTS = "us-west-2", true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"eks.amazonaws.com/skip-containers": "skipped"}},
		Spec: corev1.PodSpec{
			Volumes:        []corev1.Volume{{Name: "data"}},
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers: []corev1.Container{
				{Name: "app"},
				{Name: "own-region", Env: env("AWS_REGION", "eu-west-1")},
				{Name: "skipped"},
				{Name: "complete", Env: env("AWS_ROLE_ARN", "mine", "AWS_DEFAULT_REGION", "x", "AWS_STS_REGIONAL_ENDPOINTS", "legacy")},
			},
		},
	}
	out, changed := mutation.Mutate(pod, sa(map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::111111111111:role/web"}), cfg)
	if !changed {
		t.Fatal("nothing changed")
	}
	mount := corev1.VolumeMount{Name: "aws-iam-token", MountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount", ReadOnly: true}
	full := env("AWS_STS_REGIONAL_ENDPOINTS", "regional", "AWS_DEFAULT_REGION", "us-west-2", "AWS_REGION", "us-west-2",
		"AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/web", "AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/eks.amazonaws.com/serviceaccount/token")
	want := []corev1.Container{
		{Name: "app", Env: full, VolumeMounts: []corev1.VolumeMount{mount}},
		// A container with a region of its own gets no region.
		{Name: "own-region", Env: append(env("AWS_REGION", "eu-west-1"), append(full[:1:1], full[3:]...)...), VolumeMounts: []corev1.VolumeMount{mount}},
		{Name: "skipped"},
		// Credentials, region and STS all set: EKS leaves it alone, mount included.
		{Name: "complete", Env: env("AWS_ROLE_ARN", "mine", "AWS_DEFAULT_REGION", "x", "AWS_STS_REGIONAL_ENDPOINTS", "legacy")},
	}
	if diff := cmp.Diff(want, out.Spec.Containers); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]corev1.Container{{Name: "init", Env: full, VolumeMounts: []corev1.VolumeMount{mount}}}, out.Spec.InitContainers); diff != "" {
		t.Errorf("init containers (-want +got):\n%s", diff)
	}
	wantVolumes := []corev1.Volume{{Name: "aws-iam-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "sts.amazonaws.com", ExpirationSeconds: ptr.To[int64](86400), Path: "token"}}},
	}}}, {Name: "data"}}
	if diff := cmp.Diff(wantVolumes, out.Spec.Volumes); diff != "" {
		t.Errorf("volumes: EKS's goes first (-want +got):\n%s", diff)
	}
	again, changed := mutation.Mutate(out, sa(map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::111111111111:role/web"}), cfg)
	if changed || !cmp.Equal(out, again) {
		t.Errorf("a second call changed the pod: %s", cmp.Diff(out, again))
	}
}

func TestPodIdentityMutationIsEKSsAndWinsOverIRSA(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		NodeSelector: map[string]string{"kubernetes.io/os": "windows"},
		Containers:   []corev1.Container{{Name: "app"}},
	}}
	out, _ := mutation.Mutate(pod, sa(map[string]string{
		"eks.amazonaws.com/role-arn": "arn:aws:iam::111111111111:role/web", mutation.AssociationAnnotation: "true",
	}), mutation.Defaults())
	want := corev1.Container{Name: "app",
		Env: env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials",
			"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", `C:\var\run\secrets\pods.eks.amazonaws.com\serviceaccount\eks-pod-identity-token`),
		VolumeMounts: []corev1.VolumeMount{{Name: "eks-pod-identity-token", MountPath: "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount", ReadOnly: true}},
	}
	if diff := cmp.Diff(want, out.Spec.Containers[0]); diff != "" {
		t.Errorf("container (-want +got):\n%s", diff)
	}
	if v := out.Spec.Volumes; len(v) != 1 || v[0].Name != "eks-pod-identity-token" || v[0].Projected.Sources[0].ServiceAccountToken.Audience != "pods.eks.amazonaws.com" {
		t.Errorf("volumes %+v", v)
	}
	if out.Labels["eks.amazonaws.com/pod-identity"] != "enabled" {
		t.Errorf("labels %v", out.Labels)
	}
}

func TestWithoutRoleOrAssociationNothingChanges(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	if out, changed := mutation.Mutate(pod, sa(nil), mutation.Defaults()); changed || out != pod {
		t.Fatal("a pod without IRSA or Pod Identity was changed")
	}
}
